//! The instance's one Redis command connection, shared by the cache, pub/sub publishing
//! and the waiting room.
//!
//! It replaces `redis::aio::ConnectionManager`, which lost Redis for good after a restart
//! under load: its reconnect backoff (backon with a 1 s first delay multiplied by the
//! configured "factor" of 100, capped at 60 s) waits 1-2 s, then 60-120 s per attempt,
//! and every command meanwhile awaits that one reconnect future; a reconnect that ends
//! in anything but an I/O error is never retried at all. Here instead:
//! - every connect attempt and every reply is bounded by the configured timeout;
//! - a connection-level failure (refused, reset, timed out) drops the connection, and
//!   the next command reconnects; while Redis stays down, attempts are spaced 100 ms
//!   doubling to at most 1 s, and commands in between fail at once;
//! - such failures are `DependencyUnavailable` errors, which the HTTP layer answers
//!   with a 503 `dependency_unavailable` (a server's error reply stays an ordinary error).

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError, RedisResult};
use surge_kernel::error::DependencyUnavailable;

/// The first pause between reconnect attempts while Redis is down; it doubles per failure.
pub const RECONNECT_MIN: Duration = Duration::from_millis(100);
/// The longest pause between reconnect attempts: Redis is used again at most this long
/// (plus one connect) after it answers.
pub const RECONNECT_MAX: Duration = Duration::from_secs(1);
/// Connect and reply timeout when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

const DEPENDENCY: &str = "the cache (Redis)";

fn unavailable(detail: impl std::fmt::Display) -> DependencyUnavailable {
    DependencyUnavailable {
        dependency: DEPENDENCY,
        detail: detail.to_string(),
    }
}

/// Whether the connection itself failed (as opposed to Redis answering with an error).
fn connection_failed(e: &RedisError) -> bool {
    e.is_io_error() || e.is_unrecoverable_error()
}

/// A cheap handle (clone freely) on the shared, self-healing connection.
#[derive(Clone)]
pub struct RedisConnection {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    config: AsyncConnectionConfig,
    timeout: Duration,
    state: Mutex<State>,
    /// One connect attempt at a time; the others wait for its outcome.
    connecting: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    /// The live connection and its generation (so a stale failure cannot drop a newer one).
    conn: Option<(u64, MultiplexedConnection)>,
    generation: u64,
    /// While down: no attempt before this instant.
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Why Redis is down, for the errors given meanwhile.
    last_error: String,
    down_since: Option<Instant>,
}

impl RedisConnection {
    /// Connects, failing if Redis does not answer (a wrong URL should stop the start).
    pub async fn connect(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = Client::open(url)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        let this = Self {
            inner: Arc::new(Inner {
                client,
                config,
                timeout,
                state: Mutex::new(State::default()),
                connecting: tokio::sync::Mutex::new(()),
            }),
        };
        this.get().await?;
        Ok(this)
    }

    /// The client, for connections of other kinds (the pub/sub subscription).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The connect and reply timeout.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live connection; `None` when an attempt is due; an error while backing off.
    fn current(&self) -> Result<Option<(u64, MultiplexedConnection)>, DependencyUnavailable> {
        let s = self.state();
        if let Some(c) = &s.conn {
            return Ok(Some(c.clone()));
        }
        match s.retry_at {
            Some(at) if Instant::now() < at => Err(unavailable(&s.last_error)),
            _ => Ok(None),
        }
    }

    async fn get(&self) -> Result<(u64, MultiplexedConnection), DependencyUnavailable> {
        if let Some(c) = self.current()? {
            return Ok(c);
        }
        let _one = self.inner.connecting.lock().await;
        // Whoever held the lock may have connected, or failed and set a backoff.
        if let Some(c) = self.current()? {
            return Ok(c);
        }
        let attempt = tokio::time::timeout(
            self.inner.timeout,
            self.inner
                .client
                .get_multiplexed_async_connection_with_config(&self.inner.config),
        )
        .await;
        let mut s = self.state();
        let error = match attempt {
            Ok(Ok(conn)) => {
                s.generation += 1;
                s.conn = Some((s.generation, conn.clone()));
                s.retry_at = None;
                s.backoff = Duration::ZERO;
                if let Some(since) = s.down_since.take() {
                    tracing::info!(
                        down_ms = since.elapsed().as_millis() as u64,
                        "redis connection restored"
                    );
                }
                return Ok((s.generation, conn));
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no connection within {:?}", self.inner.timeout),
        };
        s.backoff = (s.backoff * 2).clamp(RECONNECT_MIN, RECONNECT_MAX);
        s.retry_at = Some(Instant::now() + s.backoff);
        s.down_since.get_or_insert_with(Instant::now);
        tracing::warn!(%error, retry_in_ms = s.backoff.as_millis() as u64, "redis connect failed");
        s.last_error = error;
        Err(unavailable(&s.last_error))
    }

    /// Forgets connection `generation` after it failed; the next command reconnects.
    fn lost(&self, generation: u64, e: &RedisError) {
        let mut s = self.state();
        if matches!(&s.conn, Some((g, _)) if *g == generation) {
            tracing::warn!(error = %e, "redis connection lost; reconnecting");
            s.conn = None;
            s.retry_at = None;
            s.last_error = e.to_string();
            s.down_since = Some(Instant::now());
        }
    }

    /// Runs `op` once. Use for commands that must not run twice (INCR, scripts, PUBLISH).
    pub async fn run<T, F, Fut>(&self, op: F) -> anyhow::Result<T>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        self.attempt(&op).await.map_err(Failure::into_error)
    }

    /// Runs `op`, and once more on a fresh connection if the connection it used turned out
    /// to be dead (e.g. Redis restarted while the instance was idle). Only for commands
    /// that are safe to repeat (GET, SET with a TTL, DEL, PTTL, PING).
    pub async fn run_idempotent<T, F, Fut>(&self, op: F) -> anyhow::Result<T>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        match self.attempt(&op).await {
            Err(Failure::Lost(_)) => self.attempt(&op).await.map_err(Failure::into_error),
            other => other.map_err(Failure::into_error),
        }
    }

    async fn attempt<T, F, Fut>(&self, op: &F) -> Result<T, Failure>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let (generation, conn) = self.get().await.map_err(Failure::Down)?;
        match op(conn).await {
            Ok(v) => Ok(v),
            Err(e) if connection_failed(&e) => {
                self.lost(generation, &e);
                Err(Failure::Lost(unavailable(e)))
            }
            // Restarted with a dataset to load: up soon, on this same connection.
            Err(e) if e.kind() == redis::ErrorKind::BusyLoadingError => {
                Err(Failure::Down(unavailable(e)))
            }
            Err(e) => Err(Failure::Reply(e)),
        }
    }
}

enum Failure {
    /// Redis was already known to be down: nothing was sent.
    Down(DependencyUnavailable),
    /// The connection failed under the command (it may or may not have run).
    Lost(DependencyUnavailable),
    /// Redis answered with an error.
    Reply(RedisError),
}

impl Failure {
    fn into_error(self) -> anyhow::Error {
        match self {
            Failure::Down(e) | Failure::Lost(e) => e.into(),
            Failure::Reply(e) => e.into(),
        }
    }
}
