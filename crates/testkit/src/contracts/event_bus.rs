//! The `EventBus` contract: [`event_bus_contract!`](crate::event_bus_contract).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use surge_kernel::events::EventEnvelope;
use surge_kernel::ports::{EventBus, EventHandler};

/// One test per case of the `EventBus` contract for the adapter `$make` gives (see the
/// [module doc](crate::contracts)). Every case subscribes its own consumer to its own
/// topics.
#[macro_export]
macro_rules! event_bus_contract {
    ($name:ident, $make:expr $(, after = $after:path)? $(,)?) => {
        $crate::__contract_tests!(event_bus, $name, $make, [$($after)?], [
            a_failed_delivery_is_retried_by_the_bus_not_the_publisher,
            only_subscribed_topics_are_delivered,
            ping_answers,
        ]);
    };
}

/// Records every event it is handed; fails the first `fail_first` calls.
#[derive(Default)]
struct Recording {
    fail_first: usize,
    calls: AtomicUsize,
    handled: Mutex<Vec<EventEnvelope>>,
}

impl Recording {
    fn failing_first(n: usize) -> Arc<Self> {
        Arc::new(Self {
            fail_first: n,
            ..Self::default()
        })
    }

    fn handled(&self) -> Vec<EventEnvelope> {
        self.handled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait::async_trait]
impl EventHandler for Recording {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.fail_first {
            anyhow::bail!("transient failure");
        }
        self.handled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event.clone());
        Ok(())
    }
}

fn topic(name: &str) -> String {
    format!("contract.{name}.{}", uuid::Uuid::new_v4().simple())
}

fn consumer(name: &str) -> String {
    format!("contract-{name}-{}", uuid::Uuid::new_v4().simple())
}

pub async fn a_failed_delivery_is_retried_by_the_bus_not_the_publisher(bus: &dyn EventBus) {
    let topic = topic("happened");
    let handler = Recording::failing_first(1);
    bus.subscribe(&consumer("retried"), &[&topic], handler.clone())
        .await
        .unwrap();
    let ev = EventEnvelope::new(&topic, "k", serde_json::json!({"n": 1}), 0);
    // The handler fails the first delivery. The publish still succeeds: the bus owns the
    // retry (a retry row, or a redelivery), so the publisher must not publish again.
    bus.publish(&ev)
        .await
        .expect("a handler's failure does not fail the publish");
    crate::eventually(|| {
        let handler = handler.clone();
        async move { !handler.handled().is_empty() }
    })
    .await;
    let handled = handler.handled();
    assert_eq!(handled.len(), 1, "handled once");
    assert_eq!(handled[0].id, ev.id);
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        2,
        "the failed call and one retry"
    );
}

pub async fn only_subscribed_topics_are_delivered(bus: &dyn EventBus) {
    let (wanted, unrelated) = (topic("wanted"), topic("other"));
    let handler = Recording::failing_first(0);
    bus.subscribe(&consumer("topics"), &[&wanted], handler.clone())
        .await
        .unwrap();
    let other = EventEnvelope::new(&unrelated, "k", serde_json::json!({}), 0);
    let ev = EventEnvelope::new(&wanted, "k", serde_json::json!({"n": 1}), 0);
    bus.publish(&other).await.unwrap();
    bus.publish(&ev).await.unwrap();
    crate::eventually(|| {
        let handler = handler.clone();
        async move { !handler.handled().is_empty() }
    })
    .await;
    let topics: Vec<String> = handler.handled().into_iter().map(|e| e.topic).collect();
    assert_eq!(topics, vec![wanted], "the other topic was not delivered");
}

pub async fn ping_answers(bus: &dyn EventBus) {
    bus.ping().await.unwrap();
}
