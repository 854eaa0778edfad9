//! `EventBus` adapters. The in-process bus hands each event to every subscribed
//! consumer and returns only once all of them handled it, so the outbox row stays
//! unpublished (and is retried) until every effect happened: at least once, even
//! across a crash, with no broker.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use futures::future::join_all;
use surge_kernel::events::EventEnvelope;
use surge_kernel::ports::{EventBus, EventHandler};

struct Subscription {
    consumer: String,
    topics: Vec<String>,
    handler: Arc<dyn EventHandler>,
}

#[derive(Default)]
pub struct LocalBus {
    subs: RwLock<Vec<Arc<Subscription>>>,
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
        let results = join_all(targets.iter().map(|s| async move {
            s.handler.handle(event).await.map_err(|e| {
                tracing::warn!(consumer = %s.consumer, topic = %event.topic, event_id = %event.id, error = ?e, "event handler failed; will retry");
                e
            })
        }))
        .await;
        results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
        Ok(())
    }

    async fn subscribe(
        &self,
        consumer: &str,
        topics: &[&str],
        handler: Arc<dyn EventHandler>,
    ) -> anyhow::Result<()> {
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
