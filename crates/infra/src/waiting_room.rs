//! `WaitingRoom` adapters: in-process (embedded) and Redis (sorted sets + Lua, shared
//! by every instance).
//!
//! Both keep, per sale: the last sequence number handed out, the waiters ordered by
//! seq, the active (admitted) places with their expiry, the admitted count and the
//! token bucket (in milli-tokens, so refills are exact integers). The bucket starts
//! full (`rate_per_sec` tokens) at the first admission step and holds at most one
//! second's worth.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{anyhow, bail};
use async_trait::async_trait;
use surge_kernel::waiting_room::{AdmissionPolicy, Place, RoomStats, WaitingRoom};
use uuid::Uuid;

use crate::redis_conn::RedisConnection;

/// Milli-tokens per admitted user.
const MILLI: u64 = 1000;

/// The token bucket after refilling it at `now_ms`: `(milli_tokens, last_ms)`.
fn refill(bucket: Option<(u64, i64)>, rate_per_sec: u32, now_ms: i64) -> (u64, i64) {
    let cap = u64::from(rate_per_sec) * MILLI;
    let (mut tokens, mut last) = bucket.unwrap_or((cap, now_ms));
    if now_ms > last {
        // A full second refills the whole bucket, so longer gaps add nothing.
        let elapsed = now_ms.saturating_sub(last).min(1000) as u64;
        tokens = tokens.saturating_add(elapsed * u64::from(rate_per_sec));
        last = now_ms;
    }
    (tokens.min(cap), last)
}

// ---------------------------------------------------------------------------------
// In-memory
// ---------------------------------------------------------------------------------

/// A Fenwick (binary indexed) tree over waiters' slots: counts who is still waiting,
/// so a waiter's exact position is a prefix sum, O(log n). Slots are only appended.
#[derive(Default)]
struct Fenwick {
    /// `tree[i - 1]` holds the sum over the slots `(i - lowbit(i), i]` (1-based).
    tree: Vec<u64>,
}

impl Fenwick {
    fn prefix(&self, mut i: usize) -> u64 {
        let mut sum = 0;
        while i > 0 {
            sum += self.tree[i - 1];
            i &= i - 1;
        }
        sum
    }

    /// Appends slot `len + 1` holding `value`.
    fn push(&mut self, value: u64) {
        let i = self.tree.len() + 1;
        let low = i & i.wrapping_neg();
        let covered = self.prefix(i - 1) - self.prefix(i - low);
        self.tree.push(value + covered);
    }

    fn sub(&mut self, mut i: usize, value: u64) {
        while i <= self.tree.len() {
            self.tree[i - 1] -= value;
            i += i & i.wrapping_neg();
        }
    }

    fn clear(&mut self) {
        self.tree.clear();
    }
}

#[derive(Clone, Copy)]
struct Admission {
    seq: u64,
    admitted_at_ms: i64,
    expires_at_ms: i64,
}

impl Admission {
    fn live(&self, now_ms: i64) -> bool {
        self.expires_at_ms > now_ms
    }

    fn place(&self) -> Place {
        Place::Admitted {
            seq: self.seq,
            admitted_at_ms: self.admitted_at_ms,
            expires_at_ms: self.expires_at_ms,
        }
    }
}

#[derive(Default)]
struct SaleQueue {
    /// The last sequence number handed out (0: none yet).
    last_seq: u64,
    /// Seq `base + i` lives in Fenwick slot `i`; moves up whenever the queue empties.
    base: u64,
    present: Fenwick,
    waiting: BTreeMap<u64, Uuid>,
    seq_of: HashMap<Uuid, u64>,
    active: HashMap<Uuid, Admission>,
    admitted_total: u64,
    /// `(milli_tokens, last_refill_ms)`, `None` until the first admission step.
    bucket: Option<(u64, i64)>,
}

impl SaleQueue {
    fn slot(&self, seq: u64) -> usize {
        (seq - self.base) as usize
    }

    fn waiting_place(&self, user: Uuid) -> Option<Place> {
        let seq = *self.seq_of.get(&user)?;
        Some(Place::Waiting {
            seq,
            position: self.present.prefix(self.slot(seq)),
        })
    }

    fn place(&self, user: Uuid, now_ms: i64) -> Option<Place> {
        self.waiting_place(user).or_else(|| {
            self.active
                .get(&user)
                .filter(|a| a.live(now_ms))
                .map(Admission::place)
        })
    }

    fn enqueue(&mut self, user: Uuid) -> Place {
        self.last_seq += 1;
        let seq = self.last_seq;
        self.present.push(1);
        self.waiting.insert(seq, user);
        self.seq_of.insert(user, seq);
        Place::Waiting {
            seq,
            position: self.waiting.len() as u64,
        }
    }

    fn forget_waiter(&mut self, seq: u64) {
        self.waiting.remove(&seq);
        self.present.sub(self.slot(seq), 1);
        if self.waiting.is_empty() {
            // Nobody left to rank: restart the tree so it stays as small as the queue.
            self.present.clear();
            self.base = self.last_seq;
        }
    }

    fn leave(&mut self, user: Uuid) -> bool {
        let was_active = self.active.remove(&user).is_some();
        match self.seq_of.remove(&user) {
            Some(seq) => {
                self.forget_waiter(seq);
                true
            }
            None => was_active,
        }
    }

    fn prune(&mut self, now_ms: i64) {
        self.active.retain(|_, a| a.live(now_ms));
    }

    fn admit(&mut self, policy: AdmissionPolicy, now_ms: i64) -> u64 {
        self.prune(now_ms);
        let (tokens, last) = refill(self.bucket, policy.rate_per_sec, now_ms);
        let room = u64::from(policy.max_active).saturating_sub(self.active.len() as u64);
        let n = (tokens / MILLI).min(room).min(self.waiting.len() as u64);
        let expires_at_ms = now_ms.saturating_add(policy.pass_ttl_ms);
        for _ in 0..n {
            let Some((&seq, &user)) = self.waiting.iter().next() else {
                break;
            };
            self.forget_waiter(seq);
            self.seq_of.remove(&user);
            self.active.insert(
                user,
                Admission {
                    seq,
                    admitted_at_ms: now_ms,
                    expires_at_ms,
                },
            );
        }
        self.admitted_total += n;
        self.bucket = Some((tokens - n * MILLI, last));
        n
    }

    fn stats(&self, now_ms: i64) -> RoomStats {
        RoomStats {
            waiting: self.waiting.len() as u64,
            active: self.active.values().filter(|a| a.live(now_ms)).count() as u64,
            admitted_total: self.admitted_total,
            joined_total: self.last_seq,
        }
    }
}

/// The embedded waiting room: every sale's queue in this process's memory. Positions
/// are exact and O(log n) (a Fenwick tree over sequence numbers).
#[derive(Default)]
pub struct MemoryWaitingRoom {
    sales: Mutex<HashMap<Uuid, SaleQueue>>,
}

impl MemoryWaitingRoom {
    pub fn new() -> Self {
        Self::default()
    }

    fn sales(&self) -> anyhow::Result<MutexGuard<'_, HashMap<Uuid, SaleQueue>>> {
        self.sales
            .lock()
            .map_err(|_| anyhow!("waiting room lock poisoned"))
    }
}

#[async_trait]
impl WaitingRoom for MemoryWaitingRoom {
    async fn join(&self, sale: Uuid, user: Uuid, now_ms: i64) -> anyhow::Result<Place> {
        let mut sales = self.sales()?;
        let q = sales.entry(sale).or_default();
        if let Some(place) = q.place(user, now_ms) {
            return Ok(place);
        }
        q.active.remove(&user);
        Ok(q.enqueue(user))
    }

    async fn place(&self, sale: Uuid, user: Uuid, now_ms: i64) -> anyhow::Result<Option<Place>> {
        Ok(self.sales()?.get(&sale).and_then(|q| q.place(user, now_ms)))
    }

    async fn admit(&self, sale: Uuid, policy: AdmissionPolicy, now_ms: i64) -> anyhow::Result<u64> {
        Ok(self.sales()?.entry(sale).or_default().admit(policy, now_ms))
    }

    async fn leave(&self, sale: Uuid, user: Uuid) -> anyhow::Result<bool> {
        Ok(self.sales()?.get_mut(&sale).is_some_and(|q| q.leave(user)))
    }

    async fn stats(&self, sale: Uuid, now_ms: i64) -> anyhow::Result<RoomStats> {
        Ok(self
            .sales()?
            .get(&sale)
            .map(|q| q.stats(now_ms))
            .unwrap_or_default())
    }

    async fn clear(&self, sale: Uuid) -> anyhow::Result<()> {
        self.sales()?.remove(&sale);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------

// Every script gets the sale's keys in this order:
//   KEYS[1] seq       INCR counter, the last seq handed out
//   KEYS[2] waiting   ZSET score = seq, member = user
//   KEYS[3] active    ZSET score = expires_at_ms, member = user
//   KEYS[4] info      HASH user -> "seq:admitted_at_ms" of each active user
//   KEYS[5] admitted  counter
//   KEYS[6] bucket    HASH tokens (milli-tokens), last_ms
// Replies for a place: {} (none), {0, seq, position} or {1, seq, admitted_at, expires_at}.

/// Lua helpers shared by the scripts (a macro so `concat!` can splice it in).
macro_rules! lua_prelude {
    () => {
        r"
local function admitted_place(user, expires)
  local info = redis.call('HGET', KEYS[4], user)
  if not info then return nil end
  local sep = string.find(info, ':', 1, true)
  return {1, tonumber(string.sub(info, 1, sep - 1)), tonumber(string.sub(info, sep + 1)),
          tonumber(expires)}
end
local function touch(ttl)
  for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ttl) end
end
"
    };
}

/// ARGV: user, now_ms, key_ttl_ms.
const JOIN: &str = concat!(
    lua_prelude!(),
    r"
local user, now = ARGV[1], tonumber(ARGV[2])
local rank = redis.call('ZRANK', KEYS[2], user)
if rank then
  return {0, tonumber(redis.call('ZSCORE', KEYS[2], user)), rank + 1}
end
local expires = redis.call('ZSCORE', KEYS[3], user)
if expires then
  if tonumber(expires) > now then
    local place = admitted_place(user, expires)
    if place then return place end
  end
  redis.call('ZREM', KEYS[3], user)
  redis.call('HDEL', KEYS[4], user)
end
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, user)
touch(ARGV[3])
return {0, seq, redis.call('ZCARD', KEYS[2])}
"
);

/// ARGV: user, now_ms.
const PLACE: &str = concat!(
    lua_prelude!(),
    r"
local user, now = ARGV[1], tonumber(ARGV[2])
local rank = redis.call('ZRANK', KEYS[2], user)
if rank then
  return {0, tonumber(redis.call('ZSCORE', KEYS[2], user)), rank + 1}
end
local expires = redis.call('ZSCORE', KEYS[3], user)
if expires and tonumber(expires) > now then
  local place = admitted_place(user, expires)
  if place then return place end
end
return {}
"
);

/// ARGV: now_ms, rate_per_sec, max_active, pass_ttl_ms, key_ttl_ms. Returns how many
/// it admitted.
const ADMIT: &str = concat!(
    lua_prelude!(),
    r"
local now = tonumber(ARGV[1])
local rate, max_active = tonumber(ARGV[2]), tonumber(ARGV[3])
local pass_ttl = tonumber(ARGV[4])

local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for i = 1, #expired, 1000 do
  redis.call('HDEL', KEYS[4], unpack(expired, i, math.min(i + 999, #expired)))
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now) end

local cap = rate * 1000
local tokens, last = cap, now
local bucket = redis.call('HMGET', KEYS[6], 'tokens', 'last_ms')
if bucket[1] and bucket[2] then
  tokens, last = tonumber(bucket[1]), tonumber(bucket[2])
end
if now > last then
  tokens = tokens + math.min(now - last, 1000) * rate
  last = now
end
if tokens > cap then tokens = cap end

local n = math.floor(tokens / 1000)
n = math.min(n, max_active - redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[2]))
if n < 0 then n = 0 end
if n > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[2], n)
  local expires = now + pass_ttl
  for i = 1, #popped, 2 do
    redis.call('ZADD', KEYS[3], expires, popped[i])
    redis.call('HSET', KEYS[4], popped[i], popped[i + 1] .. ':' .. ARGV[1])
  end
  redis.call('INCRBY', KEYS[5], n)
  tokens = tokens - n * 1000
end
redis.call('HSET', KEYS[6], 'tokens', tokens, 'last_ms', last)
touch(ARGV[5])
return n
"
);

/// ARGV: user. Returns 1 if the user was waiting or active.
const LEAVE: &str = r"
local removed = redis.call('ZREM', KEYS[2], ARGV[1]) + redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
return removed
";

/// ARGV: now_ms. Returns {waiting, active, admitted_total, joined_total}.
const STATS: &str = r"
return {
  redis.call('ZCARD', KEYS[2]),
  redis.call('ZCOUNT', KEYS[3], '(' .. ARGV[1], '+inf'),
  tonumber(redis.call('GET', KEYS[5]) or '0'),
  tonumber(redis.call('GET', KEYS[1]) or '0'),
}
";

const CLEAR: &str = r"
return redis.call('DEL', unpack(KEYS))
";

/// How long an untouched sale's keys live (every join and admission step refreshes it).
const DEFAULT_KEY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Clone)]
struct Scripts {
    join: redis::Script,
    place: redis::Script,
    admit: redis::Script,
    leave: redis::Script,
    stats: redis::Script,
    clear: redis::Script,
}

/// The scaled waiting room: each sale's queue in Redis, every multi-step operation one
/// Lua script, so admission is atomic and rate-limited across all instances. Keys are
/// `{prefix}wr:{<sale>}:…` (the braces are a Redis Cluster hash tag: one slot per sale).
#[derive(Clone)]
pub struct RedisWaitingRoom {
    conn: RedisConnection,
    prefix: String,
    key_ttl_ms: i64,
    scripts: Scripts,
}

impl RedisWaitingRoom {
    /// A waiting room on its own connection (the server shares one: see [`Self::new`]).
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let conn = RedisConnection::connect(url, crate::redis_conn::DEFAULT_TIMEOUT).await?;
        Ok(Self::new(conn, prefix))
    }

    pub fn new(conn: RedisConnection, prefix: &str) -> Self {
        Self {
            conn,
            prefix: prefix.to_owned(),
            key_ttl_ms: DEFAULT_KEY_TTL.as_millis() as i64,
            scripts: Scripts {
                join: redis::Script::new(JOIN),
                place: redis::Script::new(PLACE),
                admit: redis::Script::new(ADMIT),
                leave: redis::Script::new(LEAVE),
                stats: redis::Script::new(STATS),
                clear: redis::Script::new(CLEAR),
            },
        }
    }

    /// How long a sale's keys outlive its last join or admission step (7 days by default).
    pub fn with_key_ttl(mut self, ttl: Duration) -> Self {
        self.key_ttl_ms = (ttl.as_millis() as i64).max(1);
        self
    }

    fn keys(&self, sale: Uuid) -> [String; 6] {
        let base = format!("{}wr:{{{}}}:", self.prefix, sale);
        ["seq", "waiting", "active", "info", "admitted", "bucket"].map(|k| format!("{base}{k}"))
    }

    fn invocation<'a>(&self, script: &'a redis::Script, sale: Uuid) -> redis::ScriptInvocation<'a> {
        let mut inv = script.prepare_invoke();
        for key in self.keys(sale) {
            inv.key(key);
        }
        inv
    }
}

/// Runs a prepared script once (none of them may run twice: they count and admit).
async fn invoke<T: redis::FromRedisValue>(
    conn: &RedisConnection,
    inv: redis::ScriptInvocation<'_>,
) -> anyhow::Result<T> {
    let inv = &inv;
    conn.run(|mut c| async move { inv.invoke_async(&mut c).await })
        .await
}

fn unsigned(v: i64) -> anyhow::Result<u64> {
    u64::try_from(v).map_err(|_| anyhow!("waiting room: negative count {v} from Redis"))
}

fn decode_place(reply: &[i64]) -> anyhow::Result<Option<Place>> {
    Ok(match *reply {
        [] => None,
        [0, seq, position] => Some(Place::Waiting {
            seq: unsigned(seq)?,
            position: unsigned(position)?,
        }),
        [1, seq, admitted_at_ms, expires_at_ms] => Some(Place::Admitted {
            seq: unsigned(seq)?,
            admitted_at_ms,
            expires_at_ms,
        }),
        _ => bail!("waiting room: unexpected reply {reply:?} from Redis"),
    })
}

#[async_trait]
impl WaitingRoom for RedisWaitingRoom {
    async fn join(&self, sale: Uuid, user: Uuid, now_ms: i64) -> anyhow::Result<Place> {
        let mut inv = self.invocation(&self.scripts.join, sale);
        inv.arg(user.to_string()).arg(now_ms).arg(self.key_ttl_ms);
        let reply: Vec<i64> = invoke(&self.conn, inv).await?;
        decode_place(&reply)?.ok_or_else(|| anyhow!("waiting room: join returned no place"))
    }

    async fn place(&self, sale: Uuid, user: Uuid, now_ms: i64) -> anyhow::Result<Option<Place>> {
        let mut inv = self.invocation(&self.scripts.place, sale);
        inv.arg(user.to_string()).arg(now_ms);
        let reply: Vec<i64> = invoke(&self.conn, inv).await?;
        decode_place(&reply)
    }

    async fn admit(&self, sale: Uuid, policy: AdmissionPolicy, now_ms: i64) -> anyhow::Result<u64> {
        let mut inv = self.invocation(&self.scripts.admit, sale);
        inv.arg(now_ms)
            .arg(policy.rate_per_sec)
            .arg(policy.max_active)
            .arg(policy.pass_ttl_ms)
            .arg(self.key_ttl_ms);
        let n: i64 = invoke(&self.conn, inv).await?;
        unsigned(n)
    }

    async fn leave(&self, sale: Uuid, user: Uuid) -> anyhow::Result<bool> {
        let mut inv = self.invocation(&self.scripts.leave, sale);
        inv.arg(user.to_string());
        let removed: i64 = invoke(&self.conn, inv).await?;
        Ok(removed > 0)
    }

    async fn stats(&self, sale: Uuid, now_ms: i64) -> anyhow::Result<RoomStats> {
        let mut inv = self.invocation(&self.scripts.stats, sale);
        inv.arg(now_ms);
        let reply: Vec<i64> = invoke(&self.conn, inv).await?;
        let [waiting, active, admitted_total, joined_total] = reply[..] else {
            bail!("waiting room: unexpected stats reply {reply:?} from Redis");
        };
        Ok(RoomStats {
            waiting: unsigned(waiting)?,
            active: unsigned(active)?,
            admitted_total: unsigned(admitted_total)?,
            joined_total: unsigned(joined_total)?,
        })
    }

    async fn clear(&self, sale: Uuid) -> anyhow::Result<()> {
        let _: i64 = invoke(&self.conn, self.invocation(&self.scripts.clear, sale)).await?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fenwick_prefix_sums_follow_pushes_and_removals() {
        let mut f = Fenwick::default();
        for _ in 0..1000 {
            f.push(1);
        }
        for i in 0..=1000 {
            assert_eq!(f.prefix(i), i as u64);
        }
        for i in (3..=1000).step_by(3) {
            f.sub(i, 1);
        }
        for i in 0..=1000 {
            assert_eq!(f.prefix(i), (i - i / 3) as u64, "prefix({i})");
        }
        f.push(1);
        assert_eq!(f.prefix(1001), 1000 - 333 + 1);
    }

    #[tokio::test]
    async fn memory_positions_stay_exact_and_cheap_for_100k_waiters() {
        let room = MemoryWaitingRoom::new();
        let sale = Uuid::new_v4();
        let users: Vec<Uuid> = (0..100_000).map(|_| Uuid::new_v4()).collect();
        for &u in &users {
            room.join(sale, u, 0).await.unwrap();
        }
        for &u in users.iter().step_by(2) {
            assert!(room.leave(sale, u).await.unwrap());
        }
        let policy = AdmissionPolicy {
            rate_per_sec: 1_000,
            max_active: 1_000_000,
            pass_ttl_ms: 1_000,
        };
        assert_eq!(room.admit(sale, policy, 0).await.unwrap(), 1_000);
        // users[1] has seq 2; the odd-indexed remain, the first 1,000 of them admitted.
        for i in (2_001..100_000).step_by(2).take(2_000) {
            let seq = i as u64 + 1; // even: every even seq is still waiting
            let want = Place::Waiting {
                seq,
                position: seq / 2 - 1_000,
            };
            assert_eq!(room.place(sale, users[i], 0).await.unwrap(), Some(want));
        }
        // Draining the queue restarts the tree; later joins still rank from 1.
        for &u in users.iter().skip(1).step_by(2) {
            room.leave(sale, u).await.unwrap();
        }
        assert_eq!(
            room.join(sale, users[0], 0).await.unwrap(),
            Place::Waiting {
                seq: 100_001,
                position: 1
            }
        );
        assert_eq!(
            room.join(sale, users[1], 0).await.unwrap(),
            Place::Waiting {
                seq: 100_002,
                position: 2
            }
        );
        assert!(room.leave(sale, users[0]).await.unwrap());
        assert_eq!(
            room.place(sale, users[1], 0).await.unwrap(),
            Some(Place::Waiting {
                seq: 100_002,
                position: 1
            })
        );
    }

    #[test]
    fn bucket_refills_at_the_rate_up_to_one_second() {
        assert_eq!(refill(None, 10, 5_000), (10_000, 5_000));
        assert_eq!(refill(Some((0, 5_000)), 10, 5_500), (5_000, 5_500));
        assert_eq!(refill(Some((0, 5_000)), 10, 99_000), (10_000, 99_000));
        // Time going backwards (another instance's clock) refills nothing.
        assert_eq!(refill(Some((3_000, 5_000)), 10, 4_000), (3_000, 5_000));
    }
}
