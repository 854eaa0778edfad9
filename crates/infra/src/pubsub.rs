//! `PubSub` adapters: a local hub of broadcast channels (embedded), and Redis pub/sub
//! feeding the same local hub, so each instance holds one Redis subscription however
//! many SSE or chat connections it serves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use surge_kernel::ports::PubSub;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

const CHANNEL_CAPACITY: usize = 256;

/// In-process fan-out. Slow subscribers skip what they missed rather than block others.
#[derive(Clone, Default)]
pub struct LocalPubSub {
    channels: Arc<Mutex<HashMap<String, broadcast::Sender<Vec<u8>>>>>,
}

impl LocalPubSub {
    /// Delivers to local subscribers only.
    pub fn deliver(&self, channel: &str, payload: Vec<u8>) {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = channels.get(channel) {
            if tx.send(payload).is_err() {
                channels.remove(channel);
            }
        }
    }

    fn receiver(&self, channel: &str) -> broadcast::Receiver<Vec<u8>> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels
            .entry(channel.to_owned())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe()
    }

    fn stream(&self, channel: &str) -> BoxStream<'static, Vec<u8>> {
        BroadcastStream::new(self.receiver(channel))
            .filter_map(|m| std::future::ready(m.ok()))
            .boxed()
    }
}

#[async_trait]
impl PubSub for LocalPubSub {
    async fn publish(&self, channel: &str, payload: Vec<u8>) -> anyhow::Result<()> {
        self.deliver(channel, payload);
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> anyhow::Result<BoxStream<'static, Vec<u8>>> {
        Ok(self.stream(channel))
    }

    async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Redis pub/sub across instances; one `PSUBSCRIBE prefix*` per instance.
pub struct RedisPubSub {
    conn: ConnectionManager,
    prefix: String,
    local: LocalPubSub,
    ready: tokio::sync::watch::Receiver<bool>,
}

impl RedisPubSub {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client.clone()).await?;
        let local = LocalPubSub::default();
        let (ready_tx, ready) = tokio::sync::watch::channel(false);
        tokio::spawn(forward(client, prefix.to_owned(), local.clone(), ready_tx));
        let mut r = ready.clone();
        // Subscriptions made before the forwarder listens would miss messages.
        tokio::time::timeout(Duration::from_secs(5), r.wait_for(|up| *up)).await??;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            local,
            ready,
        })
    }
}

/// Reads the instance's Redis subscription into the local hub, reconnecting on loss.
async fn forward(
    client: redis::Client,
    prefix: String,
    local: LocalPubSub,
    ready: tokio::sync::watch::Sender<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut conn = match client.get_async_pubsub().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "redis pub/sub connect failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(e) = conn.psubscribe(format!("{prefix}*")).await {
            tracing::warn!(error = %e, "redis psubscribe failed");
            tokio::time::sleep(backoff).await;
            continue;
        }
        backoff = Duration::from_millis(100);
        ready.send_replace(true);
        let mut messages = conn.on_message();
        while let Some(msg) = messages.next().await {
            let channel = msg.get_channel_name();
            if let Some(name) = channel.strip_prefix(prefix.as_str()) {
                local.deliver(name, msg.get_payload_bytes().to_vec());
            }
        }
        ready.send_replace(false);
        if ready.is_closed() {
            return;
        }
        tracing::warn!("redis pub/sub connection lost; reconnecting");
    }
}

#[async_trait]
impl PubSub for RedisPubSub {
    async fn publish(&self, channel: &str, payload: Vec<u8>) -> anyhow::Result<()> {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(format!("{}{}", self.prefix, channel))
            .arg(payload)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> anyhow::Result<BoxStream<'static, Vec<u8>>> {
        Ok(self.local.stream(channel))
    }

    async fn ping(&self) -> anyhow::Result<()> {
        anyhow::ensure!(*self.ready.borrow(), "redis pub/sub subscription is down");
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}
