//! `EventBus` on NATS JetStream: one stream per deployment, one durable pull consumer
//! per (consumer name, topic). Publishing waits for the stream's ack and sets
//! `Nats-Msg-Id` to the event id, so a relay retry inside the duplicate window is
//! stored once; consumers are idempotent for anything older.
//!
//! A handler failure naks its message with the retry policy's backoff, so JetStream
//! redelivers it later while the consumer's other messages go on; after the policy's
//! last attempt the event becomes a dead letter ([`Deliveries`]) and is acknowledged.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream, AckKind};
use async_trait::async_trait;
use futures::StreamExt;
use surge_kernel::events::EventEnvelope;
use surge_kernel::ports::{EventBus, EventHandler};

use crate::delivery::Deliveries;

/// How much longer than a handler may run JetStream waits for its ack before redelivering.
const ACK_WAIT_MARGIN: Duration = Duration::from_secs(30);

pub struct NatsBus {
    client: async_nats::Client,
    js: jetstream::Context,
    /// Subject prefix and stream name: lets deployments (and tests) share a server.
    prefix: String,
    stream: String,
    subscriptions: tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    deliveries: Arc<Deliveries>,
}

impl Drop for NatsBus {
    fn drop(&mut self) {
        if let Ok(subs) = self.subscriptions.try_lock() {
            subs.iter().for_each(tokio::task::JoinHandle::abort);
        }
    }
}

fn token(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl NatsBus {
    /// Connects and makes sure the stream `<PREFIX>_EVENTS` on `<prefix>.events.>` exists.
    /// Failed events end as dead letters in `deliveries` (run its worker for their retries).
    pub async fn connect(
        url: &str,
        prefix: &str,
        max_age: Duration,
        deliveries: Arc<Deliveries>,
    ) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        let js = jetstream::new(client.clone());
        let prefix = token(prefix);
        let stream = Self::stream_name(&prefix);
        js.get_or_create_stream(stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{prefix}.events.>")],
            max_age,
            duplicate_window: Duration::from_secs(120).min(max_age),
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await?;
        Ok(Self {
            client,
            js,
            prefix,
            stream,
            subscriptions: tokio::sync::Mutex::new(Vec::new()),
            deliveries,
        })
    }

    /// The stream name used for `prefix`.
    pub fn stream_name(prefix: &str) -> String {
        format!("{}_EVENTS", token(prefix).to_uppercase())
    }

    fn subject(&self, topic: &str) -> String {
        format!("{}.events.{topic}", self.prefix)
    }

    /// Removes the stream and its consumers (tests clean up with this).
    pub async fn delete_stream(&self) -> anyhow::Result<()> {
        self.js.delete_stream(&self.stream).await?;
        Ok(())
    }

    /// Removes the stream of `prefix` without a running bus.
    pub async fn delete_stream_of(url: &str, prefix: &str) -> anyhow::Result<()> {
        let client = async_nats::connect(url).await?;
        jetstream::new(client)
            .delete_stream(Self::stream_name(prefix))
            .await?;
        Ok(())
    }
}

impl NatsBus {
    /// A failed attempt: redelivered after the backoff, or parked and acknowledged once
    /// the attempts are used up (redelivered again if parking it failed).
    async fn failed(
        deliveries: &Deliveries,
        consumer: &str,
        msg: &jetstream::Message,
        event: &EventEnvelope,
        attempts: u32,
        error: &anyhow::Error,
    ) -> Result<(), async_nats::Error> {
        let policy = *deliveries.policy();
        deliveries.note_failure(consumer, event, attempts, error);
        if attempts < policy.max_attempts {
            return msg
                .ack_with(AckKind::Nak(Some(policy.delay_after(attempts))))
                .await;
        }
        match deliveries
            .dead_letter(consumer, event, attempts, error)
            .await
        {
            Ok(()) => msg.ack().await,
            Err(e) => {
                tracing::warn!(%consumer, error = ?e, "recording a dead letter failed; redelivering");
                msg.ack_with(AckKind::Nak(Some(policy.max_delay))).await
            }
        }
    }
}

#[async_trait]
impl EventBus for NatsBus {
    #[tracing::instrument(name = "nats.publish", level = "debug", skip_all, fields(topic = %event.topic, event_id = %event.id))]
    async fn publish(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", event.id.to_string().as_str());
        let payload = serde_json::to_vec(event)?;
        self.js
            .publish_with_headers(self.subject(&event.topic), headers, payload.into())
            .await?
            .await?;
        Ok(())
    }

    async fn subscribe(
        &self,
        consumer: &str,
        topics: &[&str],
        handler: Arc<dyn EventHandler>,
    ) -> anyhow::Result<()> {
        self.deliveries.register(consumer, handler.clone());
        let stream = self.js.get_stream(&self.stream).await?;
        for topic in topics {
            let durable = format!("{}__{}", token(consumer), token(topic));
            // Create or update: a durable made by an older release takes the current
            // ack wait. The wait outlasts the handler's time limit, so JetStream does not
            // redeliver an event whose handler is still running.
            let pull = stream
                .create_consumer(consumer::pull::Config {
                    durable_name: Some(durable.clone()),
                    filter_subject: self.subject(topic),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.deliveries.policy().handler_timeout + ACK_WAIT_MARGIN,
                    ..Default::default()
                })
                .await?;
            let handler = handler.clone();
            let name = durable.clone();
            let consumer = consumer.to_owned();
            let deliveries = self.deliveries.clone();
            let task = tokio::spawn(async move {
                loop {
                    let mut messages = match pull.messages().await {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::warn!(consumer = %name, error = %e, "NATS consumer failed; retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    };
                    while let Some(msg) = messages.next().await {
                        let Ok(msg) = msg else { break };
                        let event = match serde_json::from_slice::<EventEnvelope>(&msg.payload) {
                            Ok(event) => event,
                            Err(e) => {
                                // Unreadable forever: acknowledge so it does not block the consumer.
                                tracing::error!(consumer = %name, error = %e, "dropping an undecodable event");
                                if let Err(e) = msg.ack().await {
                                    tracing::warn!(consumer = %name, error = %e, "ack failed");
                                }
                                continue;
                            }
                        };
                        let ack = match deliveries.policy().run(handler.as_ref(), &event).await {
                            Ok(()) => msg.ack().await,
                            Err(e) => {
                                let attempts = msg
                                    .info()
                                    .map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX))
                                    .unwrap_or(1)
                                    .max(1);
                                Self::failed(&deliveries, &consumer, &msg, &event, attempts, &e)
                                    .await
                            }
                        };
                        if let Err(e) = ack {
                            tracing::warn!(consumer = %name, error = %e, "ack failed; the event will be redelivered");
                        }
                    }
                }
            });
            self.subscriptions.lock().await.push(task);
        }
        Ok(())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.client.flush().await?;
        Ok(())
    }
}
