//! Test support: `TestApp` runs the real router on 127.0.0.1:0 with a fresh database,
//! and `matrix!` runs a test on every backend configured through `SURGE_TEST_*_URL`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod backends;
pub mod contracts;
pub mod external;
pub mod job_boards;
pub mod smtp;
pub mod weather_api;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use surge_kernel::clock::{Clock, SystemClock};
use surge_server::App;
pub use surge_server::{config, Config};

pub use backends::{
    backends_required, configured_or_skip, eventually_timeout, nats_url, redis_url, s3_config,
    s3_url, Backend,
};
pub use {reqwest, serde_json};

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
    pub subscription_gateway: Option<Arc<surge_infra::payment::FakeGateway>>, // billing's PRO
    pub mailer: Option<Arc<surge_infra::mail::RecordingMailer>>,
    pub ticketing: Arc<surge_ticketing::Ticketing>,
    pub partner: Arc<surge_partner::Partner>,
    pub careers: Arc<surge_careers::Careers>,
    pub community: Arc<surge_community::Community>,
    pub billing: Arc<surge_billing::Billing>,
    pub resumes: Arc<surge_resumes::Resumes>,
    pub chat: Arc<surge_chat::Chat>,
    /// `[chat.weather_alerts] source = "fake"`: the offline source.
    pub weather_alerts: Option<Arc<surge_infra::weather::FakeWeatherAlerts>>,
    /// The `kind = "fake"` job sources configured, by name.
    pub job_boards: std::collections::BTreeMap<String, Arc<surge_infra::jobs::FakeJobBoard>>,
    config: Config,
    router: axum::Router,
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
            careers_remind_every_ms: 50,
            community_flush_views_every_ms: 50,
            resumes_flush_views_every_ms: 50,
            resumes_work_every_ms: 50,
            billing_schedule_every_secs: 0, // tests run the batch themselves
            chat_alert_tick_ms: 3_600_000,  // tests drive `chat.alerts.tick()` themselves
            // A busy test machine can answer a Redis command later than production's
            // 1 s bound (2,000 concurrent joins got 503 dependency_unavailable on 2
            // loaded cores); tests of that bound set it themselves (restarts.rs).
            redis_timeout_ms: 10_000,
            ..Config::default()
        };
        // No requests to the internet's tech blogs; politeness tests set their own gap.
        (cfg.careers.default_feeds, cfg.careers.feed_host_gap_ms) = (false, 0);
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
            if let Some(u) = s3_url() {
                cfg.s3 = Some(s3_config(&u).await);
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
        // The production server loop, with the configured connection limits.
        let limits = surge_server::listen::ConnLimits::from(&cfg);
        let server = tokio::spawn(async move {
            surge_server::listen::serve_with(listener, router, limits, std::future::pending())
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
            subscription_gateway: app.fake_subscriptions.clone(),
            mailer: app.recording_mailer.clone(),
            ticketing: app.ticketing.clone(),
            partner: app.partner.clone(),
            careers: app.careers.clone(),
            community: app.community.clone(),
            billing: app.billing.clone(),
            resumes: app.resumes.clone(),
            chat: app.chat.clone(),
            weather_alerts: app.weather_alerts.clone(),
            job_boards: app.job_boards.clone(),
            config: cfg,
            router: app.router.clone(),
            data_dir,
            nats,
            server,
            tasks,
        })
    }

    /// The ports of a second instance of this deployment. On PostgreSQL/MariaDB it is
    /// built from the same configuration with its own database pool, Redis and NATS
    /// clients, as a second process would be; embedded (one process by design) shares
    /// this instance's. Its data directory is its own (inside this one's), as each
    /// instance's is in scaled mode: it holds the instance's own search index.
    pub async fn another_instance(&self) -> surge_kernel::module::Foundation {
        if self.backend == Backend::Embedded {
            return self.app_foundation.clone();
        }
        let clock: Arc<dyn Clock> = self.clock.clone();
        let mut cfg = self.config.clone();
        cfg.data_dir = self
            .data_dir
            .join(format!("instance-{}", uuid::Uuid::new_v4().simple()));
        surge_server::build(&cfg, clock)
            .await
            .expect("a second instance starts")
            .foundation
    }

    /// A second instance of this deployment serving HTTP on a port of its own (for
    /// live connections spread over instances). On PostgreSQL/MariaDB it is a whole
    /// second app built from the same configuration, with its own pools, Redis and NATS
    /// clients, pub/sub subscriptions and background tasks; embedded (one process by
    /// design) serves this instance's router on a second port.
    pub async fn another_server(&self) -> OtherServer {
        let (router, tasks) = if self.backend == Backend::Embedded {
            (self.router.clone(), Vec::new())
        } else {
            let clock: Arc<dyn Clock> = self.clock.clone();
            let mut cfg = self.config.clone();
            cfg.data_dir = self
                .data_dir
                .join(format!("instance-{}", uuid::Uuid::new_v4().simple()));
            let mut app = surge_server::build(&cfg, clock)
                .await
                .expect("a second instance starts");
            let tasks = app.spawn_tasks();
            (app.router.clone(), tasks)
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let limits = surge_server::listen::ConnLimits::from(&self.config);
        let server = tokio::spawn(async move {
            surge_server::listen::serve_with(listener, router, limits, std::future::pending())
                .await
                .ok();
        });
        OtherServer {
            base: format!("http://{addr}"),
            server,
            tasks,
        }
    }

    /// One integer column of the row with this `id`, as stored (past every cache).
    pub async fn stored_i64(&self, table: &str, column: &str, id: &str) -> i64 {
        use sea_orm::sea_query::{Alias, Expr, Query};
        use sea_orm::ConnectionTrait;
        let id: uuid::Uuid = id.parse().expect("a UUID");
        let db = &self.app_foundation.db;
        let query = Query::select()
            .column(Alias::new(column))
            .from(Alias::new(table))
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .to_owned();
        let row = db
            .query_one(db.get_database_backend().build(&query))
            .await
            .expect("read")
            .unwrap_or_else(|| panic!("no {table} row {id}"));
        row.try_get_by_index::<i64>(0).expect("an integer")
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
        let field = |v: &Value, k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("login {email}: no {k} in {v}"))
                .to_owned()
        };
        Session {
            access: field(&tokens, "access_token"),
            refresh: field(&tokens, "refresh_token"),
            user_id: field(&me, "id"),
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

    /// Waits until `check` holds (up to [`eventually_timeout`]): for effects that
    /// happen after the outbox relay, a background task or another instance.
    pub async fn eventually<F, Fut>(&self, check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        eventually(check).await
    }
}

/// Polls `check` every 20 ms until it holds; panics after [`eventually_timeout`].
pub async fn eventually<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_some(|| {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// Polls `check` every 20 ms until it gives a value; panics after [`eventually_timeout`].
pub async fn eventually_some<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let limit = eventually_timeout();
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "condition did not hold within {limit:?} (SURGE_TEST_EVENTUALLY_SECS)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A second server of the same deployment ([`TestApp::another_server`]); stops on drop.
pub struct OtherServer {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    server: tokio::task::JoinHandle<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl OtherServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for OtherServer {
    fn drop(&mut self) {
        self.server.abort();
        for t in &self.tasks {
            t.abort();
        }
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
/// `SURGE_TEST_POSTGRES_URL` / `SURGE_TEST_MYSQL_URL` are set (with Redis and NATS when
/// `SURGE_TEST_REDIS_URL` / `SURGE_TEST_NATS_URL` are set), else SKIPPED (or failed
/// under `SURGE_TEST_REQUIRE_BACKENDS=1`). `#[config(|c| ...)]` before a test adjusts
/// its configuration on every backend.
#[macro_export]
macro_rules! matrix {
    ($( $(#[doc = $doc:expr])* $(#[config($tweak:expr)])? async fn $name:ident($app:ident) $body:block)*) => {
        $(
            $(#[doc = $doc])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($app: $crate::TestApp) $body

                #[allow(unused_variables)]
                fn tweak(config: &mut $crate::Config) {
                    $(
                        let tweak: fn(&mut $crate::Config) = $tweak;
                        tweak(config);
                    )?
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn embedded() {
                    let app = $crate::TestApp::spawn_on($crate::Backend::Embedded, tweak).await;
                    run(app.expect("the embedded backend is always there")).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    if let Some(app) = $crate::TestApp::spawn_on($crate::Backend::Postgres, tweak).await {
                        run(app).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn mysql() {
                    if let Some(app) = $crate::TestApp::spawn_on($crate::Backend::Mysql, tweak).await {
                        run(app).await;
                    }
                }
            }
        )*
    };
}
