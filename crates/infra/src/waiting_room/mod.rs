//! `WaitingRoom` adapters: in-process (embedded) and Redis (sorted sets + Lua, shared
//! by every instance).
//!
//! Both keep, per sale: the last sequence number handed out, the waiters ordered by
//! seq, the active (admitted) places with their expiry, the admitted count and the
//! token bucket (in milli-tokens, so refills are exact integers). The bucket starts
//! full (`rate_per_sec` tokens) at the first admission step and holds at most one
//! second's worth.
//!
//! `memory.rs` holds [`MemoryWaitingRoom`], `redis_room.rs` [`RedisWaitingRoom`].

mod memory;
mod redis_room;

pub use memory::MemoryWaitingRoom;
pub use redis_room::RedisWaitingRoom;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_at_the_rate_up_to_one_second() {
        assert_eq!(refill(None, 10, 5_000), (10_000, 5_000));
        assert_eq!(refill(Some((0, 5_000)), 10, 5_500), (5_000, 5_500));
        assert_eq!(refill(Some((0, 5_000)), 10, 99_000), (10_000, 99_000));
        // Time going backwards (another instance's clock) refills nothing.
        assert_eq!(refill(Some((3_000, 5_000)), 10, 4_000), (3_000, 5_000));
    }
}
