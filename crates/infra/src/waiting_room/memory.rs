//! The embedded waiting room: every sale's queue in this process's memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use anyhow::anyhow;
use async_trait::async_trait;
use surge_kernel::waiting_room::{AdmissionPolicy, Place, RoomStats, WaitingRoom};
use uuid::Uuid;

use super::{refill, MILLI};

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
}
