//! The `WaitingRoom` contract: [`waiting_room_contract!`](crate::waiting_room_contract).
//!
//! Every instant is an explicit `now_ms` (never real time), and every case uses its own
//! sales and clears them, so adapters may be shared between runs.

use std::collections::HashMap;

use surge_kernel::waiting_room::{AdmissionPolicy, Place, RoomStats, WaitingRoom};
use uuid::Uuid;

/// One test per case of the `WaitingRoom` contract for the adapter `$make` gives (see the
/// [module doc](crate::contracts)).
#[macro_export]
macro_rules! waiting_room_contract {
    ($name:ident, $make:expr $(, after = $after:path)? $(,)?) => {
        $crate::__contract_tests!(waiting_room, $name, $make, [$($after)?], [
            joining_again_keeps_the_place_and_leavers_rejoin_at_the_back,
            concurrent_joins_get_every_seq_once,
            positions_shrink_exactly_when_waiters_leave,
            admission_takes_the_lowest_waiting_seqs_skipping_leavers,
            admission_follows_the_rate_and_skips_leavers,
            max_active_caps_admission_and_expiry_frees_slots,
            concurrent_admission_steps_share_one_bucket,
            sales_are_independent_and_clear_forgets_one,
        ]);
    };
}

const T0: i64 = 1_700_000_000_000;

fn users(n: usize) -> Vec<Uuid> {
    (0..n).map(|_| Uuid::new_v4()).collect()
}

fn waiting(seq: u64, position: u64) -> Option<Place> {
    Some(Place::Waiting { seq, position })
}

fn admitted(seq: u64, at: i64, ttl: i64) -> Option<Place> {
    Some(Place::Admitted {
        seq,
        admitted_at_ms: at,
        expires_at_ms: at + ttl,
    })
}

fn stats(waiting: u64, active: u64, admitted_total: u64, joined_total: u64) -> RoomStats {
    RoomStats {
        waiting,
        active,
        admitted_total,
        joined_total,
    }
}

pub async fn joining_again_keeps_the_place_and_leavers_rejoin_at_the_back(w: &dyn WaitingRoom) {
    let sale = Uuid::new_v4();
    let [a, b, c, stranger] = [0; 4].map(|_| Uuid::new_v4());
    assert_eq!(w.place(sale, a, T0).await.unwrap(), None, "never joined");
    assert_eq!(
        w.stats(sale, T0).await.unwrap(),
        RoomStats::default(),
        "an unknown sale has an empty room"
    );
    assert_eq!(w.join(sale, a, T0).await.unwrap(), waiting(1, 1).unwrap());
    assert_eq!(w.join(sale, b, T0).await.unwrap(), waiting(2, 2).unwrap());
    assert_eq!(
        w.join(sale, c, T0 + 5).await.unwrap(),
        waiting(3, 3).unwrap()
    );
    assert_eq!(
        w.join(sale, a, T0 + 10).await.unwrap(),
        waiting(1, 1).unwrap(),
        "joining again keeps the place"
    );
    assert_eq!(w.place(sale, b, T0 + 10).await.unwrap(), waiting(2, 2));
    assert_eq!(w.place(sale, stranger, T0).await.unwrap(), None);
    assert_eq!(w.stats(sale, T0).await.unwrap(), stats(3, 0, 0, 3));

    assert!(w.leave(sale, b).await.unwrap(), "b was waiting");
    assert!(!w.leave(sale, b).await.unwrap(), "b already left");
    assert!(!w.leave(sale, stranger).await.unwrap(), "never joined");
    assert_eq!(w.place(sale, b, T0).await.unwrap(), None, "b left");
    assert_eq!(
        w.place(sale, c, T0).await.unwrap(),
        waiting(3, 2),
        "a leaver ahead no longer counts"
    );
    assert_eq!(
        w.join(sale, b, T0 + 20).await.unwrap(),
        waiting(4, 3).unwrap(),
        "a leaver joins again at the back"
    );
    assert!(w.leave(sale, a).await.unwrap());
    assert_eq!(w.place(sale, c, T0).await.unwrap(), waiting(3, 1));
    assert_eq!(w.place(sale, b, T0).await.unwrap(), waiting(4, 2));
    assert_eq!(w.stats(sale, T0).await.unwrap(), stats(2, 0, 0, 4));
    w.clear(sale).await.unwrap();
}

/// 2,000 concurrent joins to `sale`: seqs 1..=2000, exact positions. Returns the crowd
/// and each one's seq.
async fn crowd(w: &dyn WaitingRoom, sale: Uuid) -> (Vec<Uuid>, HashMap<Uuid, u64>) {
    let crowd = users(2000);
    let joined = futures::future::join_all(crowd.iter().map(|&u| w.join(sale, u, T0))).await;
    let mut seq_of = HashMap::new();
    for (u, place) in crowd.iter().zip(joined) {
        let place = place.unwrap();
        let Place::Waiting { seq, position } = place else {
            panic!("a fresh join waits: {place:?}");
        };
        assert_eq!(
            position, seq,
            "nobody left or was admitted: position == seq"
        );
        seq_of.insert(*u, seq);
    }
    let mut seqs: Vec<u64> = seq_of.values().copied().collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=2000).collect::<Vec<_>>(),
        "concurrent joins get every seq exactly once"
    );
    let places = futures::future::join_all(crowd.iter().map(|&u| w.place(sale, u, T0 + 1))).await;
    for (u, place) in crowd.iter().zip(places) {
        let seq = seq_of[u];
        assert_eq!(place.unwrap(), waiting(seq, seq));
    }
    assert_eq!(w.stats(sale, T0).await.unwrap(), stats(2000, 0, 0, 2000));
    (crowd, seq_of)
}

/// Every third of the crowd leaves: positions shrink exactly. Returns those left, by seq.
async fn every_third_leaves(
    w: &dyn WaitingRoom,
    sale: Uuid,
    crowd: &[Uuid],
    seq_of: &HashMap<Uuid, u64>,
) -> Vec<Uuid> {
    let leavers: Vec<Uuid> = crowd
        .iter()
        .copied()
        .filter(|u| seq_of[u].is_multiple_of(3))
        .collect();
    for left in futures::future::join_all(leavers.iter().map(|&u| w.leave(sale, u))).await {
        assert!(left.unwrap());
    }
    let mut remaining: Vec<Uuid> = crowd
        .iter()
        .copied()
        .filter(|u| !seq_of[u].is_multiple_of(3))
        .collect();
    remaining.sort_by_key(|u| seq_of[u]);
    let places =
        futures::future::join_all(remaining.iter().map(|&u| w.place(sale, u, T0 + 2))).await;
    for (i, place) in places.into_iter().enumerate() {
        let seq = seq_of[&remaining[i]];
        assert_eq!(place.unwrap(), waiting(seq, seq - seq / 3));
        assert_eq!(seq - seq / 3, i as u64 + 1);
    }
    remaining
}

pub async fn concurrent_joins_get_every_seq_once(w: &dyn WaitingRoom) {
    let sale = Uuid::new_v4();
    crowd(w, sale).await;
    w.clear(sale).await.unwrap();
}

pub async fn positions_shrink_exactly_when_waiters_leave(w: &dyn WaitingRoom) {
    let sale = Uuid::new_v4();
    let (crowd, seq_of) = crowd(w, sale).await;
    every_third_leaves(w, sale, &crowd, &seq_of).await;
    w.clear(sale).await.unwrap();
}

pub async fn admission_takes_the_lowest_waiting_seqs_skipping_leavers(w: &dyn WaitingRoom) {
    let sale = Uuid::new_v4();
    let (crowd, seq_of) = crowd(w, sale).await;
    let remaining = every_third_leaves(w, sale, &crowd, &seq_of).await;
    let wide = AdmissionPolicy {
        rate_per_sec: 100,
        max_active: 10_000,
        pass_ttl_ms: 60_000,
    };
    assert_eq!(w.admit(sale, wide, T0 + 3).await.unwrap(), 100);
    let places =
        futures::future::join_all(remaining.iter().map(|&u| w.place(sale, u, T0 + 4))).await;
    for (i, place) in places.into_iter().enumerate() {
        let seq = seq_of[&remaining[i]];
        let want = if i < 100 {
            admitted(seq, T0 + 3, 60_000)
        } else {
            waiting(seq, i as u64 - 99)
        };
        assert_eq!(place.unwrap(), want, "the {i}th remaining (seq {seq})");
    }
    assert_eq!(
        w.stats(sale, T0 + 4).await.unwrap(),
        stats(remaining.len() as u64 - 100, 100, 100, 2000)
    );
    w.clear(sale).await.unwrap();
}

pub async fn admission_follows_the_rate_and_skips_leavers(w: &dyn WaitingRoom) {
    let sale = Uuid::new_v4();
    let q = users(30);
    for (i, &u) in q.iter().enumerate() {
        assert_eq!(w.join(sale, u, T0).await.unwrap().seq(), i as u64 + 1);
    }
    let policy = AdmissionPolicy {
        rate_per_sec: 10,
        max_active: 100,
        pass_ttl_ms: 60_000,
    };
    assert_eq!(
        w.admit(sale, policy, T0).await.unwrap(),
        10,
        "the bucket starts full: one second's worth"
    );
    for (i, &u) in q.iter().enumerate().take(10) {
        assert_eq!(
            w.place(sale, u, T0).await.unwrap(),
            admitted(i as u64 + 1, T0, 60_000)
        );
    }
    assert_eq!(
        w.join(sale, q[0], T0 + 1).await.unwrap(),
        admitted(1, T0, 60_000).unwrap(),
        "joining again keeps the admitted place"
    );
    assert_eq!(
        w.admit(sale, policy, T0).await.unwrap(),
        0,
        "the bucket is empty at the same instant"
    );
    assert_eq!(w.place(sale, q[10], T0).await.unwrap(), waiting(11, 1));
    assert_eq!(w.place(sale, q[29], T0).await.unwrap(), waiting(30, 20));
    assert!(w.leave(sale, q[10]).await.unwrap());
    assert!(w.leave(sale, q[11]).await.unwrap());
    assert_eq!(
        w.admit(sale, policy, T0 + 500).await.unwrap(),
        5,
        "half a second refills half the rate"
    );
    for (i, &u) in q.iter().enumerate().skip(12).take(5) {
        assert_eq!(
            w.place(sale, u, T0 + 500).await.unwrap(),
            admitted(i as u64 + 1, T0 + 500, 60_000),
            "leavers are skipped"
        );
    }
    assert_eq!(w.place(sale, q[10], T0 + 500).await.unwrap(), None);
    assert_eq!(
        w.place(sale, q[17], T0 + 500).await.unwrap(),
        waiting(18, 1)
    );
    assert_eq!(
        w.place(sale, q[29], T0 + 500).await.unwrap(),
        waiting(30, 13)
    );
    assert_eq!(w.admit(sale, policy, T0 + 500).await.unwrap(), 0);
    assert_eq!(
        w.stats(sale, T0 + 500).await.unwrap(),
        stats(13, 15, 15, 30)
    );
    assert_eq!(
        w.admit(sale, policy, T0 + 1_500).await.unwrap(),
        10,
        "a full second refills the whole bucket"
    );
    assert_eq!(
        w.place(sale, q[26], T0 + 1_500).await.unwrap(),
        admitted(27, T0 + 1_500, 60_000)
    );
    assert_eq!(
        w.place(sale, q[27], T0 + 1_500).await.unwrap(),
        waiting(28, 1)
    );
    assert_eq!(
        w.admit(sale, policy, T0 + 30_000).await.unwrap(),
        3,
        "the bucket never holds more than one second's worth, and only waiters are admitted"
    );
    assert_eq!(
        w.admit(sale, policy, T0 + 31_000).await.unwrap(),
        0,
        "nobody waits"
    );
    assert_eq!(
        w.stats(sale, T0 + 31_000).await.unwrap(),
        stats(0, 28, 28, 30)
    );
    w.clear(sale).await.unwrap();
}

pub async fn max_active_caps_admission_and_expiry_frees_slots(w: &dyn WaitingRoom) {
    let sale = Uuid::new_v4();
    let q = users(10);
    for &u in &q {
        w.join(sale, u, T0).await.unwrap();
    }
    let tight = AdmissionPolicy {
        rate_per_sec: 100,
        max_active: 3,
        pass_ttl_ms: 1_000,
    };
    assert_eq!(
        w.admit(sale, tight, T0).await.unwrap(),
        3,
        "max_active caps admission"
    );
    assert_eq!(
        w.admit(sale, tight, T0 + 100).await.unwrap(),
        0,
        "no free slot"
    );
    assert_eq!(w.stats(sale, T0 + 100).await.unwrap(), stats(7, 3, 3, 10));
    assert!(w.leave(sale, q[0]).await.unwrap(), "an active user leaves");
    assert_eq!(w.place(sale, q[0], T0 + 100).await.unwrap(), None);
    assert_eq!(
        w.admit(sale, tight, T0 + 100).await.unwrap(),
        1,
        "leaving frees the slot at once"
    );
    assert_eq!(
        w.place(sale, q[3], T0 + 100).await.unwrap(),
        admitted(4, T0 + 100, 1_000)
    );
    assert_eq!(
        w.place(sale, q[1], T0 + 999).await.unwrap(),
        admitted(2, T0, 1_000)
    );
    assert_eq!(
        w.place(sale, q[1], T0 + 1_000).await.unwrap(),
        None,
        "an admission ends when its expiry passes"
    );
    assert_eq!(w.stats(sale, T0 + 1_000).await.unwrap(), stats(6, 1, 4, 10));
    assert_eq!(
        w.admit(sale, tight, T0 + 1_000).await.unwrap(),
        2,
        "expired places free their slots"
    );
    assert_eq!(
        w.place(sale, q[4], T0 + 1_000).await.unwrap(),
        admitted(5, T0 + 1_000, 1_000)
    );
    assert_eq!(
        w.place(sale, q[5], T0 + 1_000).await.unwrap(),
        admitted(6, T0 + 1_000, 1_000)
    );
    assert_eq!(
        w.join(sale, q[1], T0 + 1_000).await.unwrap(),
        waiting(11, 5).unwrap(),
        "an expired user joins again at the back"
    );
    assert_eq!(
        w.join(sale, q[2], T0 + 1_000).await.unwrap(),
        waiting(12, 6).unwrap()
    );
    assert_eq!(
        w.join(sale, q[3], T0 + 1_050).await.unwrap(),
        admitted(4, T0 + 100, 1_000).unwrap(),
        "a live admission is kept on joining again"
    );
    assert_eq!(w.stats(sale, T0 + 1_050).await.unwrap(), stats(6, 3, 6, 12));
    w.clear(sale).await.unwrap();
}

pub async fn concurrent_admission_steps_share_one_bucket(w: &dyn WaitingRoom) {
    let sale = Uuid::new_v4();
    let q = users(50);
    for &u in &q {
        w.join(sale, u, T0).await.unwrap();
    }
    let ten = AdmissionPolicy {
        rate_per_sec: 10,
        max_active: 1_000,
        pass_ttl_ms: 60_000,
    };
    let steps = futures::future::join_all((0..20).map(|_| w.admit(sale, ten, T0))).await;
    let total: u64 = steps.into_iter().map(|n| n.unwrap()).sum();
    assert_eq!(total, 10, "concurrent steps never exceed the bucket");
    assert_eq!(w.stats(sale, T0).await.unwrap(), stats(40, 10, 10, 50));
    for (i, &u) in q.iter().enumerate().take(11) {
        let place = w.place(sale, u, T0).await.unwrap();
        let want = if i < 10 {
            admitted(i as u64 + 1, T0, 60_000)
        } else {
            waiting(11, 1)
        };
        assert_eq!(place, want);
    }
    w.clear(sale).await.unwrap();
}

pub async fn sales_are_independent_and_clear_forgets_one(w: &dyn WaitingRoom) {
    let (s1, s2) = (Uuid::new_v4(), Uuid::new_v4());
    let (u, v) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(w.join(s1, u, T0).await.unwrap(), waiting(1, 1).unwrap());
    assert_eq!(w.join(s1, v, T0).await.unwrap(), waiting(2, 2).unwrap());
    assert_eq!(w.join(s2, v, T0).await.unwrap(), waiting(1, 1).unwrap());
    assert_eq!(w.join(s2, u, T0).await.unwrap(), waiting(2, 2).unwrap());
    let one = AdmissionPolicy {
        rate_per_sec: 1,
        max_active: 10,
        pass_ttl_ms: 60_000,
    };
    assert_eq!(w.admit(s1, one, T0).await.unwrap(), 1);
    assert_eq!(w.place(s1, u, T0).await.unwrap(), admitted(1, T0, 60_000));
    assert_eq!(
        w.place(s2, u, T0).await.unwrap(),
        waiting(2, 2),
        "s2 untouched"
    );
    assert_eq!(
        w.admit(s2, one, T0).await.unwrap(),
        1,
        "each sale has its own bucket"
    );
    assert!(w.leave(s2, v).await.unwrap());
    assert_eq!(
        w.place(s1, v, T0).await.unwrap(),
        waiting(2, 1),
        "s1 untouched"
    );
    assert_eq!(w.stats(s1, T0).await.unwrap(), stats(1, 1, 1, 2));
    assert_eq!(w.place(s2, u, T0).await.unwrap(), waiting(2, 1));
    assert_eq!(w.stats(s2, T0).await.unwrap(), stats(1, 0, 1, 2));

    w.clear(s1).await.unwrap();
    assert_eq!(w.place(s1, u, T0).await.unwrap(), None, "cleared");
    assert_eq!(w.place(s1, v, T0).await.unwrap(), None, "cleared");
    assert_eq!(w.stats(s1, T0).await.unwrap(), RoomStats::default());
    assert_eq!(
        w.join(s1, v, T0).await.unwrap(),
        waiting(1, 1).unwrap(),
        "a cleared sale starts over"
    );
    assert_eq!(
        w.admit(s1, one, T0).await.unwrap(),
        1,
        "a cleared sale's bucket starts full again"
    );
    assert_eq!(
        w.stats(s2, T0).await.unwrap(),
        stats(1, 0, 1, 2),
        "s2 untouched"
    );
    w.clear(s1).await.unwrap();
    w.clear(s2).await.unwrap();
    assert_eq!(w.stats(s2, T0).await.unwrap(), RoomStats::default());
}
