//! Backends restarting under load: a Redis or NATS server the test owns (its own process
//! on a spare port) is killed with SIGKILL while clients sign up and place orders, then
//! started again on the same port. The instance must answer requests that need the dead
//! backend with a fast 503 problem (or carry on where it does not need it), and be ready
//! again within seconds of the backend answering, without a restart.
//!
//! `redis-server` and `nats-server` must be installed: these tests fail, never skip,
//! without them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{Backend, Session, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the backend stays dead, as in the report that found the bug (4 s).
const OUTAGE: Duration = Duration::from_secs(3);
/// How soon after the backend answers again the instance must be ready.
const RECOVERY: Duration = Duration::from_secs(10);
/// The slowest acceptable refusal while a backend is down (the request timeout is 30 s).
const FAST_FAIL: Duration = Duration::from_secs(3);

fn spare_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a spare port")
        .port()
}

fn binary(name: &str) -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from));
    for dir in candidates {
        let path = dir.join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!("`{name}` is not installed: the restart tests need it (CI installs it)");
}

/// A server process owned by the test, killed when dropped.
struct Owned {
    program: PathBuf,
    args: Vec<String>,
    port: u16,
    child: Option<Child>,
    /// Removed on drop (NATS's JetStream store).
    dir: Option<PathBuf>,
}

impl Owned {
    async fn redis() -> Owned {
        let port = spare_port();
        let args = ["--port", &port.to_string(), "--bind", "127.0.0.1"]
            .into_iter()
            .chain(["--save", "", "--appendonly", "no"])
            .map(str::to_owned)
            .collect();
        Self::start(binary("redis-server"), args, port, None).await
    }

    async fn nats() -> Owned {
        let port = spare_port();
        let dir = std::env::temp_dir().join(format!("surge-nats-{}", uuid::Uuid::new_v4()));
        let args = ["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"]
            .into_iter()
            .map(str::to_owned)
            .chain([dir.display().to_string()])
            .collect();
        Self::start(binary("nats-server"), args, port, Some(dir)).await
    }

    async fn start(program: PathBuf, args: Vec<String>, port: u16, dir: Option<PathBuf>) -> Owned {
        let mut owned = Owned {
            program,
            args,
            port,
            child: None,
            dir,
        };
        owned.restart().await;
        owned
    }

    /// Starts the process and waits until it answers on its port.
    async fn restart(&mut self) {
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.program.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers().await {
            assert!(
                Instant::now() < deadline,
                "{} did not answer on port {} within 10 s",
                self.program.display(),
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the server speaks on its port: Redis answers PING, NATS greets with INFO.
    async fn answers(&self) -> bool {
        let probe = async {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
            s.write_all(b"PING\r\n").await?;
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await?;
            std::io::Result::Ok(&buf == b"+PONG" || &buf[..4] == b"INFO")
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(1), probe).await,
            Ok(Ok(true))
        )
    }

    /// SIGKILL: no goodbye to the clients, as in a crash.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill the owned server");
            child.wait().expect("reap the owned server");
        }
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// One answer the load got while the backend came and went.
struct Answer {
    what: &'static str,
    status: StatusCode,
    code: String,
    took: Duration,
}

/// Clients signing up (4) and placing orders (8) until told to stop.
struct Load {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    ok: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn timed(what: &'static str, req: surge_testkit::reqwest::RequestBuilder) -> Answer {
    let started = Instant::now();
    let (status, body) = match req.send().await {
        Ok(res) => {
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
        Err(e) => panic!("{what}: the instance did not answer: {e}"),
    };
    Answer {
        what,
        status,
        code: body["code"].as_str().unwrap_or_default().to_owned(),
        took: started.elapsed(),
    }
}

fn order_body(product: &str) -> Value {
    json!({
        "lines": [{"product_id": product, "quantity": 1}],
        "shipping_address": {"recipient": "홍길동", "phone": "010-1234-5678",
            "address": "서울시 강남구 테헤란로 1", "postal_code": "06236"},
    })
}

impl Load {
    fn start(app: &Arc<TestApp>, buyers: &[Session], product: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let ok = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        let record = |a: Answer, answers: &Mutex<Vec<Answer>>, ok: &AtomicUsize| {
            if a.status.is_success() {
                ok.fetch_add(1, Ordering::SeqCst);
            }
            answers.lock().unwrap().push(a);
        };
        for client in 0..4 {
            let (app, stop, answers, ok) = (app.clone(), stop.clone(), answers.clone(), ok.clone());
            tasks.push(tokio::spawn(async move {
                let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let email = format!("r{client}-{n}-{tag}@example.com");
                    let signup = app
                        .client
                        .post(app.url("/api/v1/identity/signup"))
                        .json(&json!({"email": email, "password": "password-1234",
                            "nickname": format!("r{client}_{n}_{tag}")}));
                    record(timed("signup", signup).await, &answers, &ok);
                    let login = app
                        .client
                        .post(app.url("/api/v1/identity/login"))
                        .json(&json!({"email": email, "password": "password-1234"}));
                    record(timed("login", login).await, &answers, &ok);
                }
            }));
        }
        for buyer in buyers.iter().cloned() {
            let (app, stop, answers, ok) = (app.clone(), stop.clone(), answers.clone(), ok.clone());
            let body = order_body(product);
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let order = app
                        .client
                        .post(app.url("/api/v1/shop/orders"))
                        .bearer_auth(&buyer.access)
                        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                        .json(&body);
                    record(timed("order", order).await, &answers, &ok);
                }
            }));
        }
        Load {
            stop,
            answers,
            ok,
            tasks,
        }
    }

    /// Waits until `more` further requests have succeeded.
    async fn succeeded(&self, more: usize) {
        let want = self.ok.load(Ordering::SeqCst) + more;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.ok.load(Ordering::SeqCst) < want {
            assert!(Instant::now() < deadline, "the load made no progress");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finish(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.expect("a load task panicked");
        }
        Arc::try_unwrap(self.answers)
            .ok()
            .expect("load tasks are done")
            .into_inner()
            .unwrap()
    }
}

/// Polls `/readyz` until it answers 200; returns how long that took.
async fn ready_within(app: &TestApp, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (s, b) = app.get("/readyz", None).await;
        if s == StatusCode::OK {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "/readyz still answers {s} {:.1} s after the backend came back: {b}",
            started.elapsed().as_secs_f64()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn shop(app: &TestApp) -> (Vec<Session>, String) {
    let admin = app.admin("restart-admin@example.com").await;
    let (s, p) = app
        .post(
            "/api/v1/shop/products",
            Some(&admin.access),
            json!({"name": "재시작", "description": "많음", "price": 1000,
                "stock": 1_000_000, "category": "limited"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    (
        app.quick_users(8).await,
        p["id"].as_str().unwrap().to_owned(),
    )
}

/// After recovery a brand-new account signs up, logs in, reads its profile and orders.
async fn a_newcomer_is_served(app: &TestApp, product: &str) {
    let who = app.user("after-restart@example.com", "after_restart").await;
    let (s, me) = app.get("/api/v1/identity/me", Some(&who.access)).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    let order = app
        .client
        .post(app.url("/api/v1/shop/orders"))
        .bearer_auth(&who.access)
        .header("Idempotency-Key", "after-restart")
        .json(&order_body(product));
    let a = timed("order", order).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.code);
}

fn describe(answers: &[Answer]) -> String {
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for a in answers {
        *by.entry(format!("{} {} {}", a.what, a.status.as_u16(), a.code))
            .or_default() += 1;
    }
    format!("{by:?}")
}

async fn redis_killed_under_load_recovers_without_a_restart(backend: Backend) {
    let mut redis = Owned::redis().await;
    let url = redis.url("redis");
    let Some(app) = TestApp::spawn_on(backend, |cfg| {
        cfg.redis_url = Some(SecretString::from(url));
        cfg.redis_prefix = "surge-restart:".into();
        // Production's bound on a Redis command, which FAST_FAIL relies on.
        cfg.redis_timeout_ms = 1_000;
        // The load keeps its buyers' orders unpaid: no cap on that here.
        cfg.shop_max_unpaid_units_per_product = 1_000_000;
    })
    .await
    else {
        return;
    };
    let app = Arc::new(app);
    let (buyers, product) = shop(&app).await;
    let load = Load::start(&app, &buyers, &product);
    load.succeeded(20).await;

    redis.kill();
    tokio::time::sleep(OUTAGE).await; // the outage itself, not a wait for a result
    let (s, b) = app.get("/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "Redis is down: {b}");
    redis.restart().await;

    let recovered = ready_within(&app, RECOVERY).await;
    eprintln!(
        "{backend:?}: ready {} ms after Redis answered again",
        recovered.as_millis()
    );
    load.succeeded(20).await;
    let answers = load.finish().await;
    a_newcomer_is_served(&app, &product).await;

    let summary = describe(&answers);
    eprintln!("{backend:?}: {summary}");
    for a in &answers {
        let refused =
            a.status == StatusCode::SERVICE_UNAVAILABLE && a.code == "dependency_unavailable";
        assert!(
            a.status.is_success() || refused,
            "{} answered {} `{}` while Redis restarted; all: {summary}",
            a.what,
            a.status,
            a.code
        );
        if refused {
            assert!(
                a.took < FAST_FAIL,
                "{} took {:?} to be refused",
                a.what,
                a.took
            );
        }
    }
    // Orders that checked their session against Redis's revocation markers just before
    // the outage went through; the others were refused (fail closed), and orders after it succeed.
    assert!(
        answers
            .iter()
            .any(|a| a.what == "order" && a.status.is_success()),
        "{summary}"
    );
}

async fn nats_killed_under_load_recovers_without_a_restart(backend: Backend) {
    let mut nats = Owned::nats().await;
    let url = nats.url("nats");
    let Some(app) = TestApp::spawn_on(backend, |cfg| {
        cfg.nats_url = Some(SecretString::from(url));
        cfg.nats_prefix = "surge-restart".into();
        cfg.nats_max_age_secs = 600;
        cfg.shop_max_unpaid_units_per_product = 1_000_000;
    })
    .await
    else {
        return;
    };
    let app = Arc::new(app);
    let (buyers, product) = shop(&app).await;
    let load = Load::start(&app, &buyers, &product);
    load.succeeded(20).await;

    nats.kill();
    tokio::time::sleep(OUTAGE).await; // the outage itself, not a wait for a result
    let (s, b) = app.get("/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "NATS is down: {b}");
    load.succeeded(10).await; // the outbox keeps taking writes while the bus is away
    nats.restart().await;

    let recovered = ready_within(&app, RECOVERY).await;
    eprintln!(
        "{backend:?}: ready {} ms after NATS answered again",
        recovered.as_millis()
    );
    load.succeeded(20).await;
    let answers = load.finish().await;
    a_newcomer_is_served(&app, &product).await;

    let summary = describe(&answers);
    eprintln!("{backend:?}: {summary}");
    assert!(
        answers.iter().all(|a| a.status.is_success()),
        "nothing may be refused while NATS restarts: {summary}"
    );
}

surge_testkit::on_every_backend!(
    redis_killed_under_load_recovers_without_a_restart,
    nats_killed_under_load_recovers_without_a_restart,
);
