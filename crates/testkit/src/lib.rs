//! Test support: `TestApp` runs the real router on 127.0.0.1:0 with a fresh database,
//! and `matrix!` runs a test on every backend configured through `SURGE_TEST_*_URL`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod contracts;
pub mod smtp;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use surge_kernel::clock::{Clock, SystemClock};
use surge_server::{App, Config};

pub use reqwest;
pub use serde_json;

/// The backends a suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite + in-process cache, pub/sub and bus: always.
    Embedded,
    /// PostgreSQL (and Redis when `SURGE_TEST_REDIS_URL` is set).
    Postgres,
    /// MySQL/MariaDB (and Redis when set).
    Mysql,
}

impl Backend {
    fn env(self) -> Option<&'static str> {
        match self {
            Backend::Embedded => None,
            Backend::Postgres => Some("SURGE_TEST_POSTGRES_URL"),
            Backend::Mysql => Some("SURGE_TEST_MYSQL_URL"),
        }
    }

    /// The server URL to use, or `None` to skip (only the embedded backend is mandatory).
    pub fn server_url(self) -> Option<String> {
        let var = self.env()?;
        std::env::var(var).ok().filter(|v| !v.is_empty())
    }
}

pub fn redis_url() -> Option<String> {
    std::env::var("SURGE_TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

pub fn nats_url() -> Option<String> {
    std::env::var("SURGE_TEST_NATS_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// System time plus an offset the test can move forward.
#[derive(Default)]
pub struct TestClock(AtomicI64);

impl TestClock {
    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.0.load(Ordering::SeqCst)
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<TestClock>,
    pub backend: Backend,
    pub app_foundation: surge_kernel::module::Foundation,
    pub identity: Arc<surge_identity::IdentityService>,
    pub notifier: Arc<dyn surge_kernel::ports::Notifier>,
    pub gateway: Option<Arc<surge_infra::payment::FakeGateway>>,
    pub mailer: Option<Arc<surge_infra::mail::RecordingMailer>>,
    pub ticketing: Arc<surge_ticketing::Ticketing>,
    pub partner: Arc<surge_partner::Partner>,
    data_dir: std::path::PathBuf,
    /// (url, prefix) of this test's NATS stream, deleted on drop.
    nats: Option<(String, String)>,
    server: tokio::task::JoinHandle<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        for t in &self.tasks {
            t.abort();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some((url, prefix)) = self.nats.take() {
            // Drop cannot await: clean up on a short-lived runtime of its own.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    let _ =
                        rt.block_on(surge_infra::nats::NatsBus::delete_stream_of(&url, &prefix));
                }
            })
            .join();
        }
    }
}

/// A fresh, empty database on the server at `url` (same server, new database name).
pub async fn fresh_database(url: &str) -> String {
    use sea_orm::{ConnectionTrait, Database};
    let name = format!("surge_t_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(url)
        .await
        .unwrap_or_else(|e| panic!("test database server at {url} is unreachable: {e}"));
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let (server, _db) = base
        .rsplit_once('/')
        .expect("database URL has a database name");
    format!("{server}/{name}{query}")
}

impl TestApp {
    /// The embedded app with default configuration.
    pub async fn spawn() -> TestApp {
        Self::spawn_on(Backend::Embedded, |_| {})
            .await
            .expect("embedded backend")
    }

    /// The app on `backend`, or `None` if that backend is not configured.
    pub async fn spawn_on(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
        // Logs of a failing test, shown by `RUST_LOG=warn cargo test`.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let data_dir = std::env::temp_dir().join(format!("surge-test-{}", uuid::Uuid::new_v4()));
        let mut cfg = Config {
            data_dir: data_dir.clone(),
            secure_cookies: false,
            shop_sweep_every_ms: 100,
            ticketing_sweep_every_ms: 100,
            ticketing_admit_every_ms: 50,
            ticketing_stream_every_ms: 100,
            partner_match_every_ms: 50,
            ..Config::default()
        };
        let mut nats = None;
        if backend != Backend::Embedded {
            let server = backend.server_url()?;
            cfg.database_url = Some(SecretString::from(fresh_database(&server).await));
            cfg.database_max_connections = 10;
            cfg.jwt_secret = Some(SecretString::from(
                "test-secret-test-secret-test-secret-0123",
            ));
            let unique = uuid::Uuid::new_v4().simple().to_string();
            if let Some(r) = redis_url() {
                cfg.redis_url = Some(SecretString::from(r));
                cfg.redis_prefix = format!("surge-test:{unique}:");
            }
            if let Some(n) = nats_url() {
                nats = Some((n.clone(), format!("surge-test-{unique}")));
                cfg.nats_url = Some(SecretString::from(n));
                cfg.nats_prefix = format!("surge-test-{unique}");
                cfg.nats_max_age_secs = 600;
            }
        }
        tweak(&mut cfg);
        let clock = Arc::new(TestClock::default());
        let mut app: App = surge_server::build(&cfg, clock.clone())
            .await
            .expect("build app");
        let tasks = app.spawn_tasks();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = app.router.clone();
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .ok();
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64)
            .build()
            .expect("client");
        Some(TestApp {
            base: format!("http://{addr}"),
            client,
            clock,
            backend,
            app_foundation: app.foundation.clone(),
            identity: app.identity.clone(),
            notifier: app.notifier.clone(),
            gateway: app.fake_gateway.clone(),
            mailer: app.recording_mailer.clone(),
            ticketing: app.ticketing.clone(),
            partner: app.partner.clone(),
            data_dir,
            nats,
            server,
            tasks,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request; `body` is JSON when given. Returns status and parsed body
    /// (`Value::Null` when empty or not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Signs up and logs in; returns the session.
    pub async fn user(&self, email: &str, nickname: &str) -> Session {
        let password = "password-1234";
        let (s, user) = self
            .post(
                "/api/v1/identity/signup",
                None,
                json!({"email": email, "password": password, "nickname": nickname}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "signup {email}: {user}");
        self.login(email, password).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Session {
        let (s, tokens) = self
            .post(
                "/api/v1/identity/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "login {email}: {tokens}");
        let (_, me) = self
            .get("/api/v1/identity/me", tokens["access_token"].as_str())
            .await;
        Session {
            access: tokens["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            refresh: tokens["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            user_id: me["id"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// An ADMIN session (created directly, as `surge admin create` does).
    pub async fn admin(&self, email: &str) -> Session {
        use surge_identity::domain::{Email, Nickname, Password};
        let nick = email
            .split('@')
            .next()
            .unwrap_or("admin")
            .replace(['.', '+'], "_");
        self.identity
            .create_user(
                &Email::parse(email).unwrap(),
                Some(&Password::parse("password-1234").unwrap()),
                &Nickname::parse(&nick).unwrap(),
                surge_kernel::auth::Role::Admin,
            )
            .await
            .expect("create admin");
        self.login(email, "password-1234").await
    }

    /// `n` fresh accounts with open sessions, made without password hashing so that
    /// hundreds of concurrent buyers cost milliseconds to set up.
    pub async fn quick_users(&self, n: usize) -> Vec<Session> {
        use surge_identity::domain::{Email, Nickname};
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
        let made = futures::future::join_all((0..n).map(|i| async move {
            let email = Email::parse(&format!("buyer{i}-{tag}@example.com")).unwrap();
            let nick = Nickname::parse(&format!("b{i}_{tag}")).unwrap();
            let user = self
                .identity
                .create_user(&email, None, &nick, surge_kernel::auth::Role::User)
                .await
                .expect("create user");
            let tokens = self.identity.sign_in(user.id).await.expect("sign in");
            Session {
                access: tokens.access_token,
                refresh: tokens.refresh_token,
                user_id: user.id.to_string(),
            }
        }))
        .await;
        made
    }

    /// Waits (up to 5 s) until `check` holds: for effects that happen after the outbox relay.
    pub async fn eventually<F, Fut>(&self, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..100 {
            if check().await {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("condition did not hold within 5 s");
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
}

/// Asserts an RFC 9457 answer with this status and code.
pub fn assert_problem(status: StatusCode, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status.as_u16(), want_status, "status; body: {body}");
    assert_eq!(body["code"], want_code, "code; body: {body}");
    assert_eq!(body["status"], want_status, "problem status; body: {body}");
}

/// Runs each test on every backend: `embedded` always; `postgres` and `mysql` when
/// `SURGE_TEST_POSTGRES_URL` / `SURGE_TEST_MYSQL_URL` are set (with Redis when
/// `SURGE_TEST_REDIS_URL` is set).
#[macro_export]
macro_rules! matrix {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($app: $crate::TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn embedded() {
                    run($crate::TestApp::spawn().await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    if let Some(app) = $crate::TestApp::spawn_on($crate::Backend::Postgres, |_| {}).await {
                        run(app).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn mysql() {
                    if let Some(app) = $crate::TestApp::spawn_on($crate::Backend::Mysql, |_| {}).await {
                        run(app).await;
                    }
                }
            }
        )*
    };
}
