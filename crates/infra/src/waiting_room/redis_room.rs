//! The shared waiting room: Redis sorted sets and Lua scripts, one atomic step each.

use std::time::Duration;

use anyhow::{anyhow, bail};
use async_trait::async_trait;
use surge_kernel::waiting_room::{AdmissionPolicy, Place, RoomStats, WaitingRoom};
use uuid::Uuid;

use crate::redis_conn::RedisConnection;

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
    #[tracing::instrument(name = "waiting_room.join", level = "debug", skip(self))]
    async fn join(&self, sale: Uuid, user: Uuid, now_ms: i64) -> anyhow::Result<Place> {
        let mut inv = self.invocation(&self.scripts.join, sale);
        inv.arg(user.to_string()).arg(now_ms).arg(self.key_ttl_ms);
        let reply: Vec<i64> = invoke(&self.conn, inv).await?;
        decode_place(&reply)?.ok_or_else(|| anyhow!("waiting room: join returned no place"))
    }

    #[tracing::instrument(name = "waiting_room.place", level = "debug", skip(self))]
    async fn place(&self, sale: Uuid, user: Uuid, now_ms: i64) -> anyhow::Result<Option<Place>> {
        let mut inv = self.invocation(&self.scripts.place, sale);
        inv.arg(user.to_string()).arg(now_ms);
        let reply: Vec<i64> = invoke(&self.conn, inv).await?;
        decode_place(&reply)
    }

    #[tracing::instrument(name = "waiting_room.admit", level = "debug", skip(self, policy))]
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

    #[tracing::instrument(name = "waiting_room.leave", level = "debug", skip(self))]
    async fn leave(&self, sale: Uuid, user: Uuid) -> anyhow::Result<bool> {
        let mut inv = self.invocation(&self.scripts.leave, sale);
        inv.arg(user.to_string());
        let removed: i64 = invoke(&self.conn, inv).await?;
        Ok(removed > 0)
    }

    #[tracing::instrument(name = "waiting_room.stats", level = "debug", skip(self))]
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

    #[tracing::instrument(name = "waiting_room.clear", skip(self), err(level = "warn"))]
    async fn clear(&self, sale: Uuid) -> anyhow::Result<()> {
        let _: i64 = invoke(&self.conn, self.invocation(&self.scripts.clear, sale)).await?;
        Ok(())
    }
}
