//! One event that a consumer can never handle must not hold up anything else: every
//! other event of that consumer and of every other consumer is handled within seconds;
//! the bad one is retried with backoff, then parked as a dead letter that an admin can
//! list and send back. Runs embedded (in-process bus) and on PostgreSQL / MySQL (on
//! NATS JetStream when `SURGE_TEST_NATS_URL` is set).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use surge_kernel::events::{enqueue, EventEnvelope};
use surge_kernel::ports::EventHandler;
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::json;
use surge_testkit::{assert_problem, Backend, TestApp};

const TOPIC: &str = "test.audit_happened";

/// Records the events it handled; fails `poison` until healed.
struct Recorder {
    seen: Mutex<HashSet<uuid::Uuid>>,
    poison: Option<uuid::Uuid>,
    healed: AtomicBool,
    poison_calls: AtomicUsize,
}

impl Recorder {
    fn new(poison: Option<uuid::Uuid>) -> Arc<Self> {
        Arc::new(Recorder {
            seen: Mutex::new(HashSet::new()),
            poison,
            healed: AtomicBool::new(false),
            poison_calls: AtomicUsize::new(0),
        })
    }
    fn saw(&self, id: uuid::Uuid) -> bool {
        self.seen.lock().unwrap().contains(&id)
    }
}

struct Handler(Arc<Recorder>);

#[async_trait::async_trait]
impl EventHandler for Handler {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        if Some(event.id) == self.0.poison {
            self.0.poison_calls.fetch_add(1, Ordering::SeqCst);
            if !self.0.healed.load(Ordering::SeqCst) {
                anyhow::bail!("recipient refused: x,y<z>@audit.test");
            }
        }
        self.0.seen.lock().unwrap().insert(event.id);
        Ok(())
    }
}

async fn one_bad_event_holds_up_nothing(app: TestApp) {
    let f = app.app_foundation.clone();
    let now = f.clock.now_ms();
    let poison = EventEnvelope::new(TOPIC, "poison", json!({"n": 0}), now);
    let failing = Recorder::new(Some(poison.id));
    let steady = Recorder::new(None);
    f.bus
        .subscribe("test.failing", &[TOPIC], Arc::new(Handler(failing.clone())))
        .await
        .unwrap();
    f.bus
        .subscribe("test.steady", &[TOPIC], Arc::new(Handler(steady.clone())))
        .await
        .unwrap();

    // The bad event is the oldest in the outbox; 20 good ones follow it.
    enqueue(&f.db, &poison).await.unwrap();
    let good: Vec<EventEnvelope> = (1..=20)
        .map(|n| EventEnvelope::new(TOPIC, format!("k{n}"), json!({"n": n}), now))
        .collect();
    for e in &good {
        enqueue(&f.db, e).await.unwrap();
    }
    f.outbox.wake();
    // And a real module's consumer, after it: the welcome notification of a new account.
    let user = app.user("later@example.com", "later").await;

    app.eventually(|| async {
        good.iter().all(|e| failing.saw(e.id) && steady.saw(e.id)) && steady.saw(poison.id)
    })
    .await;
    app.eventually(|| async {
        let (_, page) = app.get("/api/v1/notifications", Some(&user.access)).await;
        page["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|n| n["kind"] == "welcome"))
    })
    .await;

    // After its attempts (3 here) the bad event is a dead letter, with the error.
    let admin = app.admin("ops@example.com").await;
    let list = || async {
        let (s, page) = app
            .get("/api/v1/admin/dead-letters", Some(&admin.access))
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        page
    };
    app.eventually(|| async {
        list().await["items"]
            .as_array()
            .is_some_and(|i| i.len() == 1)
    })
    .await;
    let dead = list().await["items"][0].clone();
    assert_eq!(dead["consumer"], "test.failing", "{dead}");
    assert_eq!(dead["event_id"], poison.id.to_string());
    assert_eq!(dead["topic"], TOPIC);
    assert_eq!(dead["payload"], json!({"n": 0}));
    assert_eq!(dead["attempts"], 3, "{dead}");
    assert!(
        dead["error"]
            .as_str()
            .unwrap()
            .contains("recipient refused"),
        "{dead}"
    );
    assert_eq!(
        failing.poison_calls.load(Ordering::SeqCst),
        3,
        "no attempt after the last"
    );
    assert!(!failing.saw(poison.id));

    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("surge_event_dead_letters_total{consumer=\"test.failing\"}")),
        "dead letters are counted: {text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("surge_event_handler_failures_total{consumer=\"test.failing\"}")),
        "failures are counted"
    );

    // Only admins see or retry them; an unknown id is 404.
    let (s, b) = app
        .get("/api/v1/admin/dead-letters", Some(&user.access))
        .await;
    assert_problem(s, &b, 403, "forbidden");
    let id = dead["id"].as_str().unwrap().to_owned();
    let (s, b) = app
        .post(
            &format!("/api/v1/admin/dead-letters/{id}/retry"),
            Some(&user.access),
            json!({}),
        )
        .await;
    assert_problem(s, &b, 403, "forbidden");
    let unknown = uuid::Uuid::now_v7();
    let (s, b) = app
        .post(
            &format!("/api/v1/admin/dead-letters/{unknown}/retry"),
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert_problem(s, &b, 404, "not_found");
    let (s, b) = app
        .post(
            "/api/v1/admin/dead-letters/not-a-uuid/retry",
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert_eq!(s.as_u16(), 400, "{b}");

    // The cause is fixed; the retry reaches that one consumer, and the list empties.
    failing.healed.store(true, Ordering::SeqCst);
    let (s, b) = app
        .post(
            &format!("/api/v1/admin/dead-letters/{id}/retry"),
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    app.eventually(|| async { failing.saw(poison.id) }).await;
    let (_, page) = app
        .get("/api/v1/admin/dead-letters", Some(&admin.access))
        .await;
    assert_eq!(page["items"], json!([]), "{page}");
    let (s, b) = app
        .post(
            &format!("/api/v1/admin/dead-letters/{id}/retry"),
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert_problem(s, &b, 404, "not_found");
}

async fn spawn(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_on(backend, |cfg| {
        cfg.event_max_attempts = 3;
        cfg.event_retry_first_delay_ms = 100;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded() {
    one_bad_event_holds_up_nothing(spawn(Backend::Embedded).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres() {
    if let Some(app) = spawn(Backend::Postgres).await {
        one_bad_event_holds_up_nothing(app).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql() {
    if let Some(app) = spawn(Backend::Mysql).await {
        one_bad_event_holds_up_nothing(app).await;
    }
}
