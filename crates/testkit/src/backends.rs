//! Which backends a suite runs on, from the `SURGE_TEST_*` variables, and how a
//! missing one is reported (SKIPPED, or a failure under `SURGE_TEST_REQUIRE_BACKENDS=1`).

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

    /// The server URL to use, or `None` when this backend is not configured (the
    /// test then says SKIPPED, or fails under `SURGE_TEST_REQUIRE_BACKENDS=1`).
    pub fn server_url(self) -> Option<String> {
        configured_or_skip(self.env()?)
    }
}

/// Whether a missing `SURGE_TEST_*_URL` fails the run instead of skipping (CI sets it
/// for the pass against the real services, so a typo cannot turn tests into no-ops).
pub fn backends_required() -> bool {
    std::env::var("SURGE_TEST_REQUIRE_BACKENDS").is_ok_and(|v| v == "1" || v == "true")
}

/// The value of `var`, or `None` after a SKIPPED line on the terminal (written past
/// the test harness's capture, so a skip is visible even when the test "passes").
/// Panics instead when backends are required.
pub fn configured_or_skip(var: &str) -> Option<String> {
    if let Some(v) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
        return Some(v);
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_owned();
    assert!(
        !backends_required(),
        "{test}: {var} is not set, and SURGE_TEST_REQUIRE_BACKENDS=1 requires it"
    );
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {var} is not set");
    None
}

/// Redis for the scaled backends; required alongside them under `SURGE_TEST_REQUIRE_BACKENDS=1`.
pub fn redis_url() -> Option<String> {
    optional_service("SURGE_TEST_REDIS_URL")
}

/// NATS for the scaled backends; required alongside them under `SURGE_TEST_REQUIRE_BACKENDS=1`.
pub fn nats_url() -> Option<String> {
    optional_service("SURGE_TEST_NATS_URL")
}

/// An S3-compatible service (moto in CI) for the scaled backends' objects; required
/// alongside them under `SURGE_TEST_REQUIRE_BACKENDS=1`.
pub fn s3_url() -> Option<String> {
    optional_service("SURGE_TEST_S3_URL")
}

/// A bucket on the S3 service at `url`, created if missing (moto takes an unsigned
/// `PUT /bucket`; once per process), with a prefix of its own: one test's objects apart
/// from another's.
pub async fn s3_config(url: &str) -> surge_infra::objects::S3Config {
    let url = url.trim_end_matches('/');
    let bucket = "surge-test";
    // Once per test process, not once per app.
    static CREATED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CREATED
        .get_or_init(|| async {
            let created = reqwest::Client::new()
                .put(format!("{url}/{bucket}"))
                .send()
                .await
                .unwrap_or_else(|e| panic!("the S3 service at {url} is unreachable: {e}"));
            assert!(
                created.status().is_success() || created.status() == reqwest::StatusCode::CONFLICT,
                "creating bucket {bucket} at {url}: {}",
                created.status()
            );
        })
        .await;
    surge_infra::objects::S3Config {
        endpoint: Some(url.to_owned()),
        bucket: bucket.into(),
        region: "us-east-1".into(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".to_owned().into(),
        prefix: format!("t-{}", uuid::Uuid::new_v4().simple()),
        path_style: true,
        timeout_ms: 10_000,
        retries: 2,
    }
}

fn optional_service(var: &str) -> Option<String> {
    let v = std::env::var(var).ok().filter(|v| !v.is_empty());
    assert!(
        v.is_some() || !backends_required(),
        "{var} is not set, and SURGE_TEST_REQUIRE_BACKENDS=1 requires it"
    );
    v
}

/// How long `eventually` waits: `SURGE_TEST_EVENTUALLY_SECS` (default 10) for slow machines.
pub fn eventually_timeout() -> std::time::Duration {
    let secs = std::env::var("SURGE_TEST_EVENTUALLY_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(10);
    std::time::Duration::from_secs(secs)
}

/// One test per backend (`embedded`, `postgres`, `mysql`) for each story: a function
/// `async fn story(backend: Backend)` next to the invocation. A scaled backend that is
/// not configured is skipped by the story's `spawn_on` (a failure under
/// `SURGE_TEST_REQUIRE_BACKENDS=1`).
#[macro_export]
macro_rules! on_every_backend {
    ($($story:ident),* $(,)?) => {
        $(
            mod $story {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn embedded() {
                    super::$story($crate::Backend::Embedded).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$story($crate::Backend::Postgres).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn mysql() {
                    super::$story($crate::Backend::Mysql).await;
                }
            }
        )*
    };
}
