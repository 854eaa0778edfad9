//! `Cache` adapters: moka in-process (embedded) and Redis (shared by instances).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use surge_kernel::ports::Cache;

use crate::redis_conn::RedisConnection;

#[derive(Clone)]
struct Entry {
    value: Vec<u8>,
    deadline: Instant,
}

impl Entry {
    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
    fn live(self) -> Option<Self> {
        (self.deadline > Instant::now()).then_some(self)
    }
}

struct ByDeadline;

impl Expiry<String, Entry> for ByDeadline {
    fn expire_after_create(&self, _: &String, v: &Entry, _: Instant) -> Option<Duration> {
        Some(v.remaining())
    }
    fn expire_after_update(
        &self,
        _: &String,
        v: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.remaining())
    }
}

/// In-process cache with a per-entry TTL, bounded in entries.
pub struct MokaCache {
    inner: moka::future::Cache<String, Entry>,
}

impl MokaCache {
    pub fn new(max_entries: u64) -> Self {
        Self {
            inner: moka::future::Cache::builder()
                .max_capacity(max_entries)
                .expire_after(ByDeadline)
                .build(),
        }
    }
}

impl MokaCache {
    /// Entries leave only when they expire, never to make room: for security state,
    /// which other traffic must not be able to push out.
    pub fn unbounded() -> Self {
        Self {
            inner: moka::future::Cache::builder()
                .expire_after(ByDeadline)
                .build(),
        }
    }
}

impl Default for MokaCache {
    fn default() -> Self {
        Self::new(1_000_000)
    }
}

#[async_trait]
impl Cache for MokaCache {
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self
            .inner
            .get(key)
            .await
            .and_then(Entry::live)
            .map(|e| e.value))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> anyhow::Result<()> {
        let entry = Entry {
            value: value.to_vec(),
            deadline: Instant::now() + ttl,
        };
        self.inner.insert(key.to_owned(), entry).await;
        Ok(())
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.inner.invalidate(key).await;
        Ok(())
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> anyhow::Result<bool> {
        let fresh = Entry {
            value: value.to_vec(),
            deadline: Instant::now() + ttl,
        };
        let mut stored = false;
        self.inner
            .entry(key.to_owned())
            .and_compute_with(|current| {
                let op = match current.map(|e| e.into_value()).and_then(Entry::live) {
                    Some(_) => moka::ops::compute::Op::Nop,
                    None => {
                        stored = true;
                        moka::ops::compute::Op::Put(fresh)
                    }
                };
                std::future::ready(op)
            })
            .await;
        Ok(stored)
    }

    async fn take(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self
            .inner
            .remove(key)
            .await
            .and_then(Entry::live)
            .map(|e| e.value))
    }

    async fn incr(&self, key: &str, ttl: Duration) -> anyhow::Result<i64> {
        let entry = self
            .inner
            .entry(key.to_owned())
            .and_upsert_with(|current| {
                let next = match current.map(|e| e.into_value()).and_then(Entry::live) {
                    Some(e) => Entry {
                        value: (count(&e.value) + 1).to_string().into_bytes(),
                        deadline: e.deadline,
                    },
                    None => Entry {
                        value: b"1".to_vec(),
                        deadline: Instant::now() + ttl,
                    },
                };
                std::future::ready(next)
            })
            .await;
        Ok(count(&entry.value().value))
    }

    async fn decr(&self, key: &str) -> anyhow::Result<()> {
        self.inner
            .entry(key.to_owned())
            .and_compute_with(|current| {
                let op = match current.map(|e| e.into_value()).and_then(Entry::live) {
                    Some(e) => moka::ops::compute::Op::Put(Entry {
                        value: (count(&e.value) - 1).to_string().into_bytes(),
                        deadline: e.deadline,
                    }),
                    None => moka::ops::compute::Op::Nop,
                };
                std::future::ready(op)
            })
            .await;
        Ok(())
    }

    async fn ttl_secs(&self, key: &str) -> anyhow::Result<Option<u64>> {
        Ok(self
            .inner
            .get(key)
            .await
            .and_then(Entry::live)
            .map(|e| e.remaining().as_secs_f64().ceil() as u64))
    }

    async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

fn count(bytes: &[u8]) -> i64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Redis cache. Every key is prefixed, so tests (and deployments) can share one server.
#[derive(Clone)]
pub struct RedisCache {
    conn: RedisConnection,
    prefix: String,
}

const INCR_WITH_TTL: &str = r"
local v = redis.call('INCR', KEYS[1])
if v == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v";

const DECR_IF_EXISTS: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0";

impl RedisCache {
    /// A cache on its own connection (the server shares one: see [`RedisCache::new`]).
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let conn = RedisConnection::connect(url, crate::redis_conn::DEFAULT_TIMEOUT).await?;
        Ok(Self::new(conn, prefix))
    }

    pub fn new(conn: RedisConnection, prefix: &str) -> Self {
        Self {
            conn,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// Sends a command that is safe to repeat.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> anyhow::Result<T> {
        self.conn
            .run_idempotent(|mut c| async move { cmd.query_async(&mut c).await })
            .await
    }

    /// Sends a command that must not run twice.
    async fn query_once<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> anyhow::Result<T> {
        self.conn
            .run(|mut c| async move { cmd.query_async(&mut c).await })
            .await
    }
}

fn millis(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        self.query(redis::cmd("GET").arg(self.key(key))).await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> anyhow::Result<()> {
        let cmd = redis::cmd("PSETEX")
            .arg(self.key(key))
            .arg(millis(ttl))
            .arg(value)
            .to_owned();
        self.query(&cmd).await
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.query(redis::cmd("DEL").arg(self.key(key))).await
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> anyhow::Result<bool> {
        let cmd = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .to_owned();
        let res: Option<String> = self.query_once(&cmd).await?;
        Ok(res.is_some())
    }

    async fn take(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        self.query_once(redis::cmd("GETDEL").arg(self.key(key)))
            .await
    }

    async fn incr(&self, key: &str, ttl: Duration) -> anyhow::Result<i64> {
        let script = redis::Script::new(INCR_WITH_TTL);
        let mut inv = script.prepare_invoke();
        inv.key(self.key(key)).arg(millis(ttl));
        let inv = &inv;
        self.conn
            .run(|mut c| async move { inv.invoke_async(&mut c).await })
            .await
    }

    async fn decr(&self, key: &str) -> anyhow::Result<()> {
        let script = redis::Script::new(DECR_IF_EXISTS);
        let mut inv = script.prepare_invoke();
        inv.key(self.key(key));
        let inv = &inv;
        let _: i64 = self
            .conn
            .run(|mut c| async move { inv.invoke_async(&mut c).await })
            .await?;
        Ok(())
    }

    async fn ttl_secs(&self, key: &str) -> anyhow::Result<Option<u64>> {
        let ms: i64 = self.query(redis::cmd("PTTL").arg(self.key(key))).await?;
        Ok((ms > 0).then(|| (ms as u64).div_ceil(1000)))
    }

    async fn ping(&self) -> anyhow::Result<()> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }
}
