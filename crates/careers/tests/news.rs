//! Tech news feeds fetched through the real server, on every backend, against local
//! fakes: the feeds of one host take turns (one request in flight, the configured gap
//! between them, as the fake saw them arrive), and a feed that fails twice with 503 is
//! retried with doubling waits and then read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use surge_infra::news::FeedConfig;
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{Backend, Session, TestApp};

surge_testkit::on_every_backend!(
    feeds_of_one_host_take_turns_with_the_gap,
    a_failing_feed_is_retried_with_backoff_then_read,
);

fn rss(n: u32) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>블로그 {n}</title><link>https://tech.example.com</link><description>개발</description>
<item><title>글 {n}-1</title><link>https://tech.example.com/{n}/1</link><guid>{n}-1</guid><description>첫 글</description></item>
<item><title>글 {n}-2</title><link>https://tech.example.com/{n}/2</link><guid>{n}-2</guid><description>둘째 글</description></item>
</channel></rss>"#
    )
}

/// A feed server that notes when each request arrived, fails the first `failures`
/// requests with 503 and answers the rest after `delay`.
#[derive(Clone)]
struct Noting {
    arrivals: Arc<Mutex<Vec<(String, Instant)>>>,
    failures: Arc<AtomicUsize>,
    delay: Duration,
}

impl Noting {
    fn new(failures: usize, delay: Duration) -> Self {
        Self {
            arrivals: Arc::default(),
            failures: Arc::new(AtomicUsize::new(failures)),
            delay,
        }
    }

    fn arrivals(&self) -> Vec<(String, Instant)> {
        self.arrivals.lock().unwrap().clone()
    }
}

impl wiremock::Respond for Noting {
    fn respond(&self, req: &wiremock::Request) -> wiremock::ResponseTemplate {
        self.arrivals
            .lock()
            .unwrap()
            .push((req.url.path().to_owned(), Instant::now()));
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return wiremock::ResponseTemplate::new(503);
        }
        let n = if req.url.path().contains('b') { 2 } else { 1 };
        wiremock::ResponseTemplate::new(200)
            .insert_header("content-type", "application/rss+xml")
            .set_body_string(rss(n))
            .set_delay(self.delay)
    }
}

async fn refresh(app: &TestApp, admin: &Session, feed: &str) -> Value {
    let (s, run) = app
        .post(
            &format!("/api/v1/careers/news/feeds/{feed}/refresh"),
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{run}");
    run
}

fn feed(url: String, retry_base_ms: u64) -> FeedConfig {
    let mut f = FeedConfig::new(url);
    f.interval_secs = 0;
    f.retry_base_ms = retry_base_ms;
    f
}

async fn feeds_of_one_host_take_turns_with_the_gap(backend: Backend) {
    const GAP: Duration = Duration::from_millis(400);
    const ANSWER_TAKES: Duration = Duration::from_millis(200);
    let server = wiremock::MockServer::start().await;
    let fake = Noting::new(0, ANSWER_TAKES);
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(fake.clone())
        .mount(&server)
        .await;
    let (a, b) = (
        feed(format!("{}/a.xml", server.uri()), 10),
        feed(format!("{}/b.xml", server.uri()), 10),
    );
    let Some(app) = TestApp::spawn_on(backend, move |c| {
        c.careers.feed_host_gap_ms = GAP.as_millis() as u64;
        c.careers.feeds.insert("blog-a".into(), a);
        c.careers.feeds.insert("blog-b".into(), b);
    })
    .await
    else {
        return;
    };
    let admin = app.admin("news-admin@example.com").await;
    // Both feeds at once, twice: four requests to one host.
    for _ in 0..2 {
        let (ra, rb) = tokio::join!(
            refresh(&app, &admin, "blog-a"),
            refresh(&app, &admin, "blog-b")
        );
        assert_eq!(
            (ra["status"].as_str(), rb["status"].as_str()),
            (Some("SUCCEEDED"), Some("SUCCEEDED")),
            "{ra} {rb}"
        );
    }
    let arrivals = fake.arrivals();
    assert_eq!(arrivals.len(), 4, "{arrivals:?}");
    let mut paths: Vec<&str> = arrivals.iter().map(|(p, _)| p.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/a.xml", "/a.xml", "/b.xml", "/b.xml"]);
    // The next request to the host arrived only after the previous answer (which took
    // ANSWER_TAKES) and the gap: never two in flight, never closer than the gap.
    for w in arrivals.windows(2) {
        let apart = w[1].1 - w[0].1;
        assert!(
            apart >= ANSWER_TAKES + GAP,
            "{} then {} only {apart:?} apart",
            w[0].0,
            w[1].0
        );
    }
    let (_, news) = app.get("/api/v1/careers/news", None).await;
    assert_eq!(news["items"].as_array().unwrap().len(), 4, "{news}");
}

async fn a_failing_feed_is_retried_with_backoff_then_read(backend: Backend) {
    const BASE: Duration = Duration::from_millis(150);
    let server = wiremock::MockServer::start().await;
    let flaky = Noting::new(2, Duration::ZERO);
    wiremock::Mock::given(wiremock::matchers::path("/flaky.xml"))
        .respond_with(flaky.clone())
        .mount(&server)
        .await;
    let down = Noting::new(usize::MAX, Duration::ZERO);
    wiremock::Mock::given(wiremock::matchers::path("/down.xml"))
        .respond_with(down.clone())
        .mount(&server)
        .await;
    let flaky_feed = feed(
        format!("{}/flaky.xml", server.uri()),
        BASE.as_millis() as u64,
    );
    let down_feed = feed(format!("{}/down.xml", server.uri()), 10);
    let Some(app) = TestApp::spawn_on(backend, move |c| {
        c.careers.feeds.insert("flaky".into(), flaky_feed);
        c.careers.feeds.insert("down".into(), down_feed);
    })
    .await
    else {
        return;
    };
    let admin = app.admin("news-admin@example.com").await;
    let run = refresh(&app, &admin, "flaky").await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert_eq!(run["new"], 2, "{run}");
    // 503, wait BASE, 503, wait 2 x BASE, 200.
    let at: Vec<Instant> = flaky.arrivals().into_iter().map(|(_, t)| t).collect();
    assert_eq!(at.len(), 3, "two failures and the answer");
    assert!(at[1] - at[0] >= BASE, "first wait {:?}", at[1] - at[0]);
    assert!(at[2] - at[1] >= BASE * 2, "second wait {:?}", at[2] - at[1]);
    let (_, news) = app.get("/api/v1/careers/news", None).await;
    assert_eq!(news["items"].as_array().unwrap().len(), 2, "{news}");

    // Down for good: the attempts (3 by default) run out, the run fails, nothing stored.
    let run = refresh(&app, &admin, "down").await;
    assert_eq!(run["status"], "FAILED", "{run}");
    let error = run["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("503") && error.contains("3 attempts"),
        "{run}"
    );
    assert_eq!(down.arrivals().len(), 3);
    let (_, news) = app.get("/api/v1/careers/news", None).await;
    assert_eq!(news["items"].as_array().unwrap().len(), 2, "{news}");
}
