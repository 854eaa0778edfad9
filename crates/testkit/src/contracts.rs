//! One contract suite per port: every adapter must pass the same one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use surge_kernel::events::EventEnvelope;
use surge_kernel::ports::{Cache, EventBus, EventHandler, PubSub};

fn key(prefix: &str) -> String {
    format!("{prefix}:{}", uuid::Uuid::new_v4())
}

pub async fn cache(c: &dyn Cache) {
    let k = key("get-set");
    assert_eq!(c.get(&k).await.unwrap(), None, "missing key reads as None");
    c.set(&k, b"v1", Duration::from_secs(60)).await.unwrap();
    assert_eq!(c.get(&k).await.unwrap().as_deref(), Some(&b"v1"[..]));
    c.set(&k, b"v2", Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        c.get(&k).await.unwrap().as_deref(),
        Some(&b"v2"[..]),
        "set overwrites"
    );
    let ttl = c.ttl_secs(&k).await.unwrap().unwrap();
    assert!((1..=60).contains(&ttl), "ttl {ttl}");
    c.delete(&k).await.unwrap();
    assert_eq!(c.get(&k).await.unwrap(), None, "delete removes");

    let short = key("ttl");
    c.set(&short, b"x", Duration::from_millis(150))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(c.get(&short).await.unwrap(), None, "expired value is gone");

    let nx = key("nx");
    assert!(c
        .set_if_absent(&nx, b"first", Duration::from_secs(60))
        .await
        .unwrap());
    assert!(!c
        .set_if_absent(&nx, b"second", Duration::from_secs(60))
        .await
        .unwrap());
    assert_eq!(c.get(&nx).await.unwrap().as_deref(), Some(&b"first"[..]));

    // Many concurrent set_if_absent calls: exactly one wins.
    let race = key("nx-race");
    let wins = futures::future::join_all((0..50).map(|i| {
        let race = race.clone();
        async move {
            c.set_if_absent(&race, format!("{i}").as_bytes(), Duration::from_secs(60))
                .await
                .unwrap()
        }
    }))
    .await;
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "one winner");

    let once = key("take");
    c.set(&once, b"state", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(c.take(&once).await.unwrap().as_deref(), Some(&b"state"[..]));
    assert_eq!(c.take(&once).await.unwrap(), None, "a value is taken once");

    let counter = key("incr");
    let counts =
        futures::future::join_all((0..100).map(|_| c.incr(&counter, Duration::from_secs(60))))
            .await;
    let mut counts: Vec<i64> = counts.into_iter().map(Result::unwrap).collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=100).collect::<Vec<_>>(),
        "concurrent increments are atomic"
    );
    assert!(
        c.ttl_secs(&counter).await.unwrap().is_some(),
        "the counter has a TTL"
    );

    c.decr(&counter).await.unwrap();
    assert_eq!(
        c.incr(&counter, Duration::from_secs(60)).await.unwrap(),
        100,
        "decr takes one back"
    );
    let absent = key("decr-absent");
    c.decr(&absent).await.unwrap();
    assert_eq!(
        c.get(&absent).await.unwrap(),
        None,
        "decr never creates a key"
    );

    let window = key("incr-window");
    assert_eq!(
        c.incr(&window, Duration::from_millis(150)).await.unwrap(),
        1
    );
    assert_eq!(
        c.incr(&window, Duration::from_millis(150)).await.unwrap(),
        2
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        c.incr(&window, Duration::from_millis(150)).await.unwrap(),
        1,
        "window restarts"
    );

    c.ping().await.unwrap();
}

pub async fn pubsub(p: &dyn PubSub) {
    let ch = key("chan");
    let other = key("other");
    let mut a = p.subscribe(&ch).await.unwrap();
    let mut b = p.subscribe(&ch).await.unwrap();
    let mut c = p.subscribe(&other).await.unwrap();
    p.publish(&ch, b"hello".to_vec()).await.unwrap();
    p.publish(&ch, b"world".to_vec()).await.unwrap();
    for s in [&mut a, &mut b] {
        let got = tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .unwrap();
        assert_eq!(got.as_deref(), Some(&b"hello"[..]));
        let got = tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .unwrap();
        assert_eq!(
            got.as_deref(),
            Some(&b"world"[..]),
            "order kept per channel"
        );
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), c.next())
            .await
            .is_err(),
        "other channels receive nothing"
    );
    // Publishing with nobody subscribed is not an error.
    p.publish(&key("empty"), b"x".to_vec()).await.unwrap();
    p.ping().await.unwrap();
}

struct Counting(Arc<AtomicUsize>, Arc<AtomicUsize>);

#[async_trait::async_trait]
impl EventHandler for Counting {
    async fn handle(&self, _: &EventEnvelope) -> anyhow::Result<()> {
        // Fail the first delivery to check that the bus reports it (so it is retried).
        if self.1.fetch_add(1, Ordering::SeqCst) == 0 {
            anyhow::bail!("transient failure");
        }
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

pub async fn event_bus(bus: &dyn EventBus) {
    let handled = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let topic = "contract.happened";
    bus.subscribe(
        "contract-consumer",
        &[topic],
        Arc::new(Counting(handled.clone(), calls.clone())),
    )
    .await
    .unwrap();
    let ev = EventEnvelope::new(topic, "k", serde_json::json!({"n": 1}), 0);
    let unrelated = EventEnvelope::new("contract.other", "k", serde_json::json!({}), 0);
    bus.publish(&unrelated).await.unwrap();
    // The first attempt fails in the handler; a publisher retry delivers again.
    let first = bus.publish(&ev).await;
    if first.is_err() {
        bus.publish(&ev).await.unwrap();
    }
    for _ in 0..100 {
        if handled.load(Ordering::SeqCst) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        handled.load(Ordering::SeqCst),
        1,
        "delivered to the handler"
    );
    bus.ping().await.unwrap();
}

pub async fn payment_gateway(g: &dyn surge_kernel::payment::PaymentGateway, approve_token: &str) {
    use surge_kernel::payment::{PaymentError, PaymentRequest, PaymentStatus};

    let req = PaymentRequest {
        order_id: key("order"),
        user_id: key("user"),
        item_name: "contract item".into(),
        quantity: 2,
        amount: 12_000,
        approval_url: "https://surge.example/pay/approve".into(),
        cancel_url: "https://surge.example/pay/cancel".into(),
        fail_url: "https://surge.example/pay/fail".into(),
    };
    let ready = g.ready(&req).await.unwrap();
    assert!(!ready.tid.is_empty(), "ready gives a tid");
    assert!(!ready.redirect_url.is_empty(), "ready gives a redirect URL");
    assert!(
        ready.mobile_redirect_url.is_some() && ready.app_redirect_url.is_some(),
        "ready keeps the mobile web and app redirect URLs"
    );
    assert_eq!(g.status(&ready.tid).await.unwrap(), PaymentStatus::Pending);
    let other = g.ready(&req).await.unwrap();
    assert_ne!(other.tid, ready.tid, "every ready gets its own tid");

    // A payment that was never approved cannot be cancelled: nothing was charged.
    let void = g.cancel(&other.tid, req.amount).await;
    assert!(
        matches!(void, Err(PaymentError::Declined(_))),
        "cancelling a payment that was never approved is declined: {void:?}"
    );
    assert_eq!(g.status(&other.tid).await.unwrap(), PaymentStatus::Pending);

    let approved = g
        .approve(&ready.tid, &req.order_id, &req.user_id, approve_token)
        .await
        .unwrap();
    assert_eq!(
        (approved.tid.as_str(), approved.amount),
        (ready.tid.as_str(), req.amount),
        "the approved amount is the requested one"
    );
    let again = g
        .approve(&ready.tid, &req.order_id, &req.user_id, approve_token)
        .await
        .unwrap();
    assert_eq!(
        (again.tid, again.amount),
        (approved.tid.clone(), approved.amount),
        "approving twice answers like the first"
    );
    let stranger = g
        .approve(&ready.tid, &req.order_id, &key("user"), approve_token)
        .await;
    assert!(
        matches!(stranger, Err(PaymentError::Declined(_))),
        "another user's retry is declined: {stranger:?}"
    );
    assert_eq!(
        g.status(&ready.tid).await.unwrap(),
        PaymentStatus::Approved {
            amount: req.amount,
            refunded: 0
        }
    );

    g.cancel(&ready.tid, req.amount).await.unwrap();
    g.cancel(&ready.tid, req.amount)
        .await
        .expect("cancelling twice is a no-op success");
    assert_eq!(
        g.status(&ready.tid).await.unwrap(),
        PaymentStatus::Approved {
            amount: req.amount,
            refunded: req.amount
        },
        "refunded once"
    );

    let unknown = g
        .approve(
            &key("no-such-tid"),
            &req.order_id,
            &req.user_id,
            approve_token,
        )
        .await;
    assert!(
        matches!(unknown, Err(PaymentError::Declined(_))),
        "approving an unknown tid is declined: {unknown:?}"
    );
}

/// Recurring payments: the first payment's approval carries a `sid`; later charges need
/// no buyer; a deactivated subscription is not charged.
pub async fn subscription_gateway(
    g: &dyn surge_kernel::payment::SubscriptionGateway,
    approve_token: &str,
) {
    use surge_kernel::payment::{PaymentError, PaymentRequest, PaymentStatus, SubscriptionCharge};

    let user_id = key("user");
    let first = PaymentRequest {
        order_id: key("sub-order"),
        user_id: user_id.clone(),
        item_name: "PRO plan".into(),
        quantity: 1,
        amount: 9_900,
        approval_url: "https://surge.example/sub/approve".into(),
        cancel_url: "https://surge.example/sub/cancel".into(),
        fail_url: "https://surge.example/sub/fail".into(),
    };
    let ready = g.ready(&first).await.unwrap();
    let approved = g
        .approve(&ready.tid, &first.order_id, &user_id, approve_token)
        .await
        .unwrap();
    assert_eq!(approved.amount, 9_900);
    let sid = approved
        .sid
        .clone()
        .expect("the first approval carries a sid");
    assert!(g.subscription(&sid).await.unwrap().active);

    let charge = SubscriptionCharge {
        sid: sid.clone(),
        order_id: key("renewal"),
        user_id: user_id.clone(),
        item_name: "PRO plan".into(),
        quantity: 1,
        amount: 9_900,
    };
    let renewal = g.charge(&charge).await.unwrap();
    assert_eq!(renewal.amount, 9_900);
    assert_ne!(renewal.tid, ready.tid, "each charge is its own payment");
    assert_eq!(
        g.status(&renewal.tid).await.unwrap(),
        PaymentStatus::Approved {
            amount: 9_900,
            refunded: 0
        }
    );
    g.cancel(&renewal.tid, 9_900).await.unwrap();

    let unknown = g
        .charge(&SubscriptionCharge {
            sid: key("no-such-sid"),
            ..charge.clone()
        })
        .await;
    assert!(
        matches!(unknown, Err(PaymentError::Declined(_))),
        "{unknown:?}"
    );

    g.deactivate(&sid).await.unwrap();
    g.deactivate(&sid)
        .await
        .expect("ending a subscription twice is fine");
    assert!(!g.subscription(&sid).await.unwrap().active);
    let after = g
        .charge(&SubscriptionCharge {
            order_id: key("renewal"),
            ..charge
        })
        .await;
    assert!(
        matches!(after, Err(PaymentError::Declined(_))),
        "an ended subscription is not charged: {after:?}"
    );
}

/// The `WaitingRoom` contract. Every instant is an explicit `now_ms` (never real time),
/// and every scenario uses its own sales, so adapters may be shared between runs.
pub async fn waiting_room(w: &dyn surge_kernel::waiting_room::WaitingRoom) {
    use surge_kernel::waiting_room::{AdmissionPolicy, Place, RoomStats};
    use uuid::Uuid;

    const T0: i64 = 1_700_000_000_000;
    let users = |n: usize| (0..n).map(|_| Uuid::new_v4()).collect::<Vec<_>>();
    let waiting = |seq: u64, position: u64| Some(Place::Waiting { seq, position });
    let admitted = |seq: u64, at: i64, ttl: i64| {
        Some(Place::Admitted {
            seq,
            admitted_at_ms: at,
            expires_at_ms: at + ttl,
        })
    };
    let stats = |waiting, active, admitted_total, joined_total| RoomStats {
        waiting,
        active,
        admitted_total,
        joined_total,
    };

    // --- Joining, joining again, leaving -------------------------------------------
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

    // --- 2,000 concurrent joins: seqs 1..=2000, exact positions ---------------------
    let sale = Uuid::new_v4();
    let crowd = users(2000);
    let joined = futures::future::join_all(crowd.iter().map(|&u| w.join(sale, u, T0))).await;
    let mut seq_of = std::collections::HashMap::new();
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

    // Every third leaves: positions shrink exactly.
    let leavers: Vec<Uuid> = crowd
        .iter()
        .copied()
        .filter(|u| seq_of[u] % 3 == 0)
        .collect();
    for left in futures::future::join_all(leavers.iter().map(|&u| w.leave(sale, u))).await {
        assert!(left.unwrap());
    }
    let mut remaining: Vec<Uuid> = crowd
        .iter()
        .copied()
        .filter(|u| seq_of[u] % 3 != 0)
        .collect();
    remaining.sort_by_key(|u| seq_of[u]);
    let places =
        futures::future::join_all(remaining.iter().map(|&u| w.place(sale, u, T0 + 2))).await;
    for (i, place) in places.into_iter().enumerate() {
        let seq = seq_of[&remaining[i]];
        assert_eq!(place.unwrap(), waiting(seq, seq - seq / 3));
        assert_eq!(seq - seq / 3, i as u64 + 1);
    }

    // Admission takes the lowest seqs still waiting, skipping the leavers.
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

    // --- Rate, order, leavers skipped ------------------------------------------------
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

    // --- max_active, expiry, leaving an active place ---------------------------------
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

    // --- Concurrent admission steps share one bucket ---------------------------------
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

    // --- Sales are independent; clear forgets one ------------------------------------
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

/// The far end of a `Mailer` for [`mailer`]: what arrived, and a way to make sends fail.
#[async_trait::async_trait]
pub trait Inbox: Send + Sync {
    /// Every mail delivered so far, oldest first, once per recipient, decoded.
    async fn delivered(&self) -> Vec<surge_kernel::ports::Mail>;
    /// Makes the next `n` sends fail (an outage, a server refusing mail).
    async fn fail_next(&self, n: usize);
}

#[async_trait::async_trait]
impl Inbox for surge_infra::mail::RecordingMailer {
    async fn delivered(&self) -> Vec<surge_kernel::ports::Mail> {
        self.sent()
    }

    async fn fail_next(&self, n: usize) {
        surge_infra::mail::RecordingMailer::fail_next(self, n);
    }
}

/// `inbox` must be the far end of `m` and start empty of this suite's mails.
pub async fn mailer(m: &dyn surge_kernel::ports::Mailer, inbox: &dyn Inbox) {
    use surge_kernel::ports::Mail;

    let tag = uuid::Uuid::new_v4().simple().to_string();
    let to = |name: &str| format!("{name}-{tag}@example.com");
    let arrived = |to: String| async move {
        inbox
            .delivered()
            .await
            .into_iter()
            .filter(|m| m.to == to)
            .collect::<Vec<_>>()
    };

    // Korean text survives, long lines and a long subject included.
    let korean = Mail {
        to: to("korean"),
        subject: format!(
            "[Surge] 주문이 접수되었습니다: 한정판 초코파이 2개, 결제 금액 12,000원 ({tag})"
        ),
        text: format!(
            "안녕하세요, 홍길동님!\n\n주문 번호 {tag}의 결제가 완료되었습니다. \
             상품은 영업일 기준 2~3일 안에 발송됩니다. 문의는 고객센터로 연락해 주세요. \
             감사합니다 — Surge 드림 🙂\n\n.\n.로 시작하는 줄\n"
        ),
    };
    m.send(&korean).await.unwrap();
    assert_eq!(
        arrived(korean.to.clone()).await,
        vec![korean.clone()],
        "delivered once, subject and text intact"
    );

    // Plain ASCII goes unencoded: lines that start with "." must survive SMTP.
    let ascii = Mail {
        to: to("ascii"),
        subject: "Your code".into(),
        text: ".\n..\n.hidden\nend.\n\nno trailing newline".into(),
    };
    m.send(&ascii).await.unwrap();
    assert_eq!(arrived(ascii.to.clone()).await, vec![ascii.clone()]);

    // Mostly ASCII with a little Korean (SMTP encodes it as quoted-printable).
    let mixed = Mail {
        to: to("mixed"),
        subject: "Order 1234 confirmed - 감사합니다".into(),
        text: "Your order 1234 is confirmed and will ship within two business days; \
               this line is long enough to need a soft line break = and keeps going.\n\
               Thank you, 고객님!\n  indented line with trailing spaces   \n"
            .into(),
    };
    m.send(&mixed).await.unwrap();
    assert_eq!(arrived(mixed.to.clone()).await, vec![mixed.clone()]);

    // A recipient that is not an address is an error, and nothing goes out.
    for bad in [
        "",
        "not an address",
        "a@b@c",
        "<@>",
        "x@example.com\r\nBcc: y@example.com",
    ] {
        let mail = Mail {
            to: bad.into(),
            subject: format!("bad {tag}"),
            text: "x".into(),
        };
        assert!(m.send(&mail).await.is_err(), "recipient {bad:?} is refused");
    }
    assert!(
        !inbox
            .delivered()
            .await
            .iter()
            .any(|m| m.subject == format!("bad {tag}")),
        "nothing was delivered for invalid recipients"
    );

    // An outage is an error; the mail is not delivered, and sending works afterwards.
    let flaky = Mail {
        to: to("flaky"),
        subject: "다시 시도".into(),
        text: "재시도 후 도착".into(),
    };
    inbox.fail_next(2).await;
    assert!(m.send(&flaky).await.is_err(), "first failure surfaces");
    assert!(m.send(&flaky).await.is_err(), "second failure surfaces");
    assert!(
        arrived(flaky.to.clone()).await.is_empty(),
        "a failed send delivers nothing"
    );
    m.send(&flaky).await.unwrap();
    assert_eq!(
        arrived(flaky.to.clone()).await,
        vec![flaky.clone()],
        "the retry delivers once"
    );

    // Concurrent sends all arrive.
    let many: Vec<Mail> = (0..10)
        .map(|i| Mail {
            to: to(&format!("many{i}")),
            subject: format!("알림 {i}"),
            text: format!("본문 {i}"),
        })
        .collect();
    let results = futures::future::join_all(many.iter().map(|mail| m.send(mail))).await;
    for r in results {
        r.unwrap();
    }
    for mail in &many {
        assert_eq!(arrived(mail.to.clone()).await, vec![mail.clone()]);
    }
}

/// The far end of a `ChatNotifier` for [`chat_notifier`]: the channel as its readers see
/// it, and a way to make posts fail.
#[async_trait::async_trait]
pub trait ChatChannel: Send + Sync {
    /// Every message the channel shows so far, oldest first, as its readers see it: for
    /// Slack, the wire text with `&amp;`, `&lt;` and `&gt;` decoded (it should also check
    /// that the wire text has no raw `<` or `>` and no other `&`); for
    /// [`surge_infra::chat::RecordingChat`], the text as given (it stores it unescaped).
    async fn seen(&self) -> Vec<String>;
    /// Makes the next `n` posts fail (an outage, a refusal).
    async fn fail_next(&self, n: usize);
}

#[async_trait::async_trait]
impl ChatChannel for surge_infra::chat::RecordingChat {
    async fn seen(&self) -> Vec<String> {
        self.posted()
    }

    async fn fail_next(&self, n: usize) {
        surge_infra::chat::RecordingChat::fail_next(self, n);
    }
}

/// `channel` must be the far end of `c` and see only this suite's posts while it runs.
pub async fn chat_notifier(c: &dyn surge_kernel::ports::ChatNotifier, channel: &dyn ChatChannel) {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let arrived = |text: String| async move {
        channel
            .seen()
            .await
            .into_iter()
            .filter(|m| *m == text)
            .count()
    };

    // Korean text with Slack's control characters arrives exactly as written: no mention,
    // no link, no entity decoded twice.
    let korean = format!(
        "[Surge] 주문 <{tag}> 접수: 초코파이 & 우유 → 12,000원 > 10,000원 🙂\n\
         둘째 줄: <@U012AB3CD> <!channel> <https://evil.example|공식 링크> \
         &amp; &lt;b&gt; &#60; R&D \"따옴표\" 'x'"
    );
    c.post(&korean).await.unwrap();
    assert_eq!(arrived(korean.clone()).await, 1, "arrives once, intact");

    // A blank message is refused, and nothing arrives.
    let before = channel.seen().await.len();
    for blank in ["", " ", "\n\t "] {
        assert!(
            c.post(blank).await.is_err(),
            "blank text {blank:?} is refused"
        );
    }
    assert_eq!(
        channel.seen().await.len(),
        before,
        "nothing for blank texts"
    );

    // An outage is an error; the message does not arrive, and posting works afterwards.
    let flaky = format!("다시 시도 {tag}: 재고 < 10 & 대기열 > 100");
    channel.fail_next(2).await;
    assert!(c.post(&flaky).await.is_err(), "first failure surfaces");
    assert!(c.post(&flaky).await.is_err(), "second failure surfaces");
    assert_eq!(
        arrived(flaky.clone()).await,
        0,
        "a failed post shows nothing"
    );
    c.post(&flaky).await.unwrap();
    assert_eq!(arrived(flaky.clone()).await, 1, "the retry arrives once");

    // Concurrent posts all arrive.
    let many: Vec<String> = (0..10).map(|i| format!("알림 {i} <{tag}>")).collect();
    for r in futures::future::join_all(many.iter().map(|m| c.post(m))).await {
        r.unwrap();
    }
    for m in &many {
        assert_eq!(arrived(m.clone()).await, 1, "{m:?} arrives once");
    }
    assert_eq!(
        channel.seen().await.len(),
        before + 1 + many.len(),
        "exactly the successful posts arrived"
    );
}
