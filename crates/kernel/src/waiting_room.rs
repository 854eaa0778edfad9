//! The `WaitingRoom` port: a FIFO queue per sale with rate-limited admission.
//!
//! Joining takes the next sequence number (joining again keeps the place). Admission
//! moves the oldest waiters to "active" with an expiry, never more than `max_active`
//! active at once, at most `rate_per_sec` per second *across all instances* (the
//! store keeps the token bucket, so every instance may call `admit` freely). An
//! active place ends when its expiry passes, or at `finish`/`leave`.
//! Adapters: in-memory (embedded) and Redis (sorted sets + Lua), one contract suite.

use async_trait::async_trait;
use uuid::Uuid;

/// The admission rules of one sale, passed on every admission step so the store
/// holds no configuration of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionPolicy {
    /// Users admitted per second (token bucket, burst of one second's worth).
    pub rate_per_sec: u32,
    /// Most users admitted-and-active at once.
    pub max_active: u32,
    /// How long an admitted place (and its pass) lasts, in milliseconds.
    pub pass_ttl_ms: i64,
}

/// Where a user stands in one sale's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// `position` is 1-based: 1 means next in line. `seq` is the join number.
    Waiting { seq: u64, position: u64 },
    /// Admitted until `expires_at_ms`; `admitted_at_ms` is when the store let them in.
    Admitted {
        seq: u64,
        admitted_at_ms: i64,
        expires_at_ms: i64,
    },
}

impl Place {
    pub fn seq(&self) -> u64 {
        match self {
            Place::Waiting { seq, .. } | Place::Admitted { seq, .. } => *seq,
        }
    }
}

/// Live figures of one sale's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, utoipa::ToSchema)]
pub struct RoomStats {
    pub waiting: u64,
    /// Admitted and not yet expired, finished or left.
    pub active: u64,
    /// Admitted since the sale opened.
    pub admitted_total: u64,
    /// Joins since the sale opened (the last sequence number handed out).
    pub joined_total: u64,
}

#[async_trait]
pub trait WaitingRoom: Send + Sync + 'static {
    /// Joins `sale`'s queue, or returns the place already held (waiting, or admitted
    /// and not expired). A user whose admission expired or who left joins at the back.
    async fn join(&self, sale: Uuid, user: Uuid, now_ms: i64) -> anyhow::Result<Place>;
    /// The user's place, or `None` if they are not in the queue (never joined, left,
    /// finished, or their admission expired).
    async fn place(&self, sale: Uuid, user: Uuid, now_ms: i64) -> anyhow::Result<Option<Place>>;
    /// One atomic admission step: drops expired active places, then admits the oldest
    /// waiters the token bucket and `max_active` allow. Returns how many it admitted.
    /// Safe to call from every instance at any frequency.
    async fn admit(&self, sale: Uuid, policy: AdmissionPolicy, now_ms: i64) -> anyhow::Result<u64>;
    /// Leaves the queue or gives up an active place; `true` if the user was in it.
    async fn leave(&self, sale: Uuid, user: Uuid) -> anyhow::Result<bool>;
    async fn stats(&self, sale: Uuid, now_ms: i64) -> anyhow::Result<RoomStats>;
    /// Forgets the sale's queue entirely (the sale closed).
    async fn clear(&self, sale: Uuid) -> anyhow::Result<()>;
}
