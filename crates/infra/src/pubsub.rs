//! `PubSub` adapters: a local hub of broadcast channels (embedded), and Redis pub/sub
//! feeding the same local hub, so each instance holds one Redis subscription however
//! many SSE or chat connections it serves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use surge_kernel::ports::PubSub;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use crate::redis_conn::{RedisConnection, RECONNECT_MAX, RECONNECT_MIN};

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

/// Redis pub/sub across instances; one `PSUBSCRIBE prefix*` per instance. Publishing
/// uses the instance's shared command connection.
pub struct RedisPubSub {
    conn: RedisConnection,
    prefix: String,
    local: LocalPubSub,
    ready: tokio::sync::watch::Receiver<bool>,
}

impl RedisPubSub {
    /// Pub/sub on its own connection (the server shares one: see [`RedisPubSub::new`]).
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let conn = RedisConnection::connect(url, crate::redis_conn::DEFAULT_TIMEOUT).await?;
        Self::new(conn, prefix).await
    }

    /// Starts the subscription and waits until it listens.
    pub async fn new(conn: RedisConnection, prefix: &str) -> anyhow::Result<Self> {
        let local = LocalPubSub::default();
        let (ready_tx, ready) = tokio::sync::watch::channel(false);
        tokio::spawn(forward(
            conn.clone(),
            prefix.to_owned(),
            local.clone(),
            ready_tx,
        ));
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

/// Reads the instance's Redis subscription into the local hub, reconnecting on loss
/// (attempts spaced like the command connection's: 100 ms doubling to 1 s).
async fn forward(
    conn: RedisConnection,
    prefix: String,
    local: LocalPubSub,
    ready: tokio::sync::watch::Sender<bool>,
) {
    let mut backoff = RECONNECT_MIN;
    loop {
        let subscribed = async {
            let mut sub = conn.client().get_async_pubsub().await?;
            sub.psubscribe(format!("{prefix}*")).await?;
            anyhow::Ok(sub)
        };
        let mut sub = match tokio::time::timeout(conn.timeout(), subscribed).await {
            Ok(Ok(sub)) => sub,
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                tracing::warn!(%error, "redis psubscribe failed");
                if ready.is_closed() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RECONNECT_MAX);
                continue;
            }
        };
        backoff = RECONNECT_MIN;
        ready.send_replace(true);
        let mut messages = sub.on_message();
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
        let cmd = redis::cmd("PUBLISH")
            .arg(format!("{}{}", self.prefix, channel))
            .arg(payload)
            .to_owned();
        let cmd = &cmd;
        let _: i64 = self
            .conn
            .run(|mut c| async move { cmd.query_async(&mut c).await })
            .await?;
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> anyhow::Result<BoxStream<'static, Vec<u8>>> {
        Ok(self.local.stream(channel))
    }

    async fn ping(&self) -> anyhow::Result<()> {
        anyhow::ensure!(*self.ready.borrow(), "redis pub/sub subscription is down");
        let ping = &redis::cmd("PING");
        let _: String = self
            .conn
            .run_idempotent(|mut c| async move { ping.query_async(&mut c).await })
            .await?;
        Ok(())
    }
}
