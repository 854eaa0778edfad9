//! `EventBus` adapters. The in-process bus hands each event to every subscribed
//! consumer at once and returns when each has handled it or, failing that, has a retry
//! row recorded ([`Deliveries`]): the outbox row is deleted only then, so every effect
//! happens at least once, even across a crash, with no broker. A consumer's failure
//! holds up only that consumer's failed event, never the relay or another consumer.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use futures::future::join_all;
use surge_kernel::events::EventEnvelope;
use surge_kernel::ports::{EventBus, EventHandler};

use crate::delivery::Deliveries;

struct Subscription {
    consumer: String,
    topics: Vec<String>,
    handler: Arc<dyn EventHandler>,
}

pub struct LocalBus {
    subs: RwLock<Vec<Arc<Subscription>>>,
    deliveries: Arc<Deliveries>,
}

impl LocalBus {
    /// Failed deliveries go to `deliveries` (run its worker beside the bus).
    pub fn new(deliveries: Arc<Deliveries>) -> Self {
        Self {
            subs: RwLock::new(Vec::new()),
            deliveries,
        }
    }
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let targets: Vec<Arc<Subscription>> = self
            .subs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|s| s.topics.contains(&event.topic))
            .cloned()
            .collect();
        let results = join_all(targets.iter().map(|s| {
            self.deliveries
                .deliver(&s.consumer, s.handler.as_ref(), event)
        }))
        .await;
        // Only a failure to record a failure fails the publish (and the relay retries).
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(())
    }

    async fn subscribe(
        &self,
        consumer: &str,
        topics: &[&str],
        handler: Arc<dyn EventHandler>,
    ) -> anyhow::Result<()> {
        self.deliveries.register(consumer, handler.clone());
        let mut subs = self.subs.write().unwrap_or_else(|p| p.into_inner());
        // A durable name is one consumer: subscribing again replaces it.
        subs.retain(|s| s.consumer != consumer);
        subs.push(Arc::new(Subscription {
            consumer: consumer.to_owned(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            handler,
        }));
        Ok(())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }
}
