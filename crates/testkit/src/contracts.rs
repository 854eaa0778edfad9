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
    use surge_kernel::payment::{PaymentApproved, PaymentError, PaymentRequest};

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
    let other = g.ready(&req).await.unwrap();
    assert_ne!(other.tid, ready.tid, "every ready gets its own tid");

    let approved = g
        .approve(&ready.tid, &req.order_id, &req.user_id, approve_token)
        .await
        .unwrap();
    assert_eq!(
        approved,
        PaymentApproved {
            tid: ready.tid.clone(),
            amount: req.amount
        },
        "the approved amount is the requested one"
    );
    let again = g
        .approve(&ready.tid, &req.order_id, &req.user_id, approve_token)
        .await
        .unwrap();
    assert_eq!(again, approved, "approving twice answers like the first");

    g.cancel(&ready.tid, req.amount).await.unwrap();
    g.cancel(&ready.tid, req.amount)
        .await
        .expect("cancelling twice is a no-op success");

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
