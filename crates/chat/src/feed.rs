//! Each instance's live feed of a room: one pub/sub subscription per room with open
//! sockets on this instance, put back in seq order, handed to those sockets through a
//! bounded broadcast channel.
//!
//! Messages sent through several instances can reach the channel out of order, and
//! Redis pub/sub may drop one. The feed keeps `next` (the seq it delivers next) and
//! holds anything later; when a gap has not filled itself within [`GAP_WAIT`], it reads
//! what is missing from the database (a published seq means every smaller seq is
//! committed: seqs commit in order). So every socket sees each message once, in order.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use surge_kernel::ApiError;
use tokio::sync::broadcast;
use tokio::time::Instant;
use uuid::Uuid;

use crate::deps::{room_channel, Deps};
use crate::messages::{MessageView, Messages, Published};
use crate::protocol::ServerFrame;
use crate::rooms::load;

/// How long a feed waits for a missing seq to arrive before reading it from the database.
pub const GAP_WAIT: Duration = Duration::from_millis(50);
/// Messages read from the database per gap fill.
const FILL_BATCH: u64 = 500;
/// How long a room's online count lives without a change (see the README's limits).
const PRESENCE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// One frame for the sockets of a room: a message (with its seq) or a presence count.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub seq: Option<i64>,
    pub text: Utf8Bytes,
}

/// A room's feed on this instance, alive while a socket holds it.
pub(crate) struct Feed {
    tx: broadcast::Sender<Delivery>,
    task: tokio::task::AbortHandle,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) struct Feeds {
    deps: Arc<Deps>,
    messages: Arc<Messages>,
    live: tokio::sync::Mutex<HashMap<Uuid, Weak<Feed>>>,
    /// Frames a socket may fall behind its rooms' feeds before it catches up from the
    /// database.
    capacity: usize,
}

pub(crate) fn presence_key(room: Uuid) -> String {
    format!("chat:online:{room}")
}

impl Feeds {
    pub fn new(deps: Arc<Deps>, messages: Arc<Messages>, capacity: usize) -> Self {
        Feeds {
            deps,
            messages,
            live: Default::default(),
            capacity: capacity.max(16),
        }
    }

    /// The room's feed, and a receiver of everything it delivers from now on. Once this
    /// returns, every message committed later reaches the receiver; anything committed
    /// before is in the database.
    pub async fn watch(
        &self,
        room: Uuid,
    ) -> Result<(Arc<Feed>, broadcast::Receiver<Delivery>), ApiError> {
        let mut live = self.live.lock().await;
        if let Some(feed) = live.get(&room).and_then(Weak::upgrade) {
            let rx = feed.tx.subscribe();
            return Ok((feed, rx));
        }
        live.retain(|_, f| f.strong_count() > 0);
        // Subscribed before reading where the room is: nothing falls between the two.
        let stream = self.deps.pubsub.subscribe(&room_channel(room)).await?;
        let next = load(&self.deps.db, room).await?.last_seq + 1;
        let (tx, rx) = broadcast::channel(self.capacity);
        let ordering = Ordering {
            room,
            next,
            pending: BTreeMap::new(),
            tx: tx.clone(),
        };
        let task = tokio::spawn(ordering.run(stream, self.deps.clone(), self.messages.clone()));
        let feed = Arc::new(Feed {
            tx,
            task: task.abort_handle(),
        });
        live.insert(room, Arc::downgrade(&feed));
        Ok((feed, rx))
    }

    /// A socket opened the room: counts it and tells the room.
    pub async fn enter(&self, room: Uuid) {
        let online = self
            .deps
            .cache
            .incr(&presence_key(room), PRESENCE_TTL)
            .await;
        match online {
            Ok(n) => self.announce(room, n).await,
            Err(e) => tracing::debug!(error = ?e, "counting a chat socket failed"),
        }
    }

    /// A socket closed the room (left, or disconnected).
    pub async fn exit(&self, room: Uuid) {
        let key = presence_key(room);
        if let Err(e) = self.deps.cache.decr(&key).await {
            tracing::debug!(error = ?e, "uncounting a chat socket failed");
            return;
        }
        let online = match self.deps.cache.get(&key).await {
            Ok(Some(v)) => std::str::from_utf8(&v)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0),
            _ => 0,
        };
        self.announce(room, online).await;
    }

    async fn announce(&self, room: Uuid, online: i64) {
        let p = Published::Presence {
            room_id: room,
            online: online.max(0),
        };
        let Ok(payload) = serde_json::to_vec(&p) else {
            return;
        };
        if let Err(e) = self.deps.pubsub.publish(&room_channel(room), payload).await {
            tracing::debug!(error = ?e, "publishing chat presence failed");
        }
    }
}

/// The per-room task: puts published messages back in seq order.
struct Ordering {
    room: Uuid,
    /// The seq delivered next.
    next: i64,
    /// Messages that arrived ahead of `next`.
    pending: BTreeMap<i64, MessageView>,
    tx: broadcast::Sender<Delivery>,
}

impl Ordering {
    async fn run(
        mut self,
        mut stream: BoxStream<'static, Vec<u8>>,
        deps: Arc<Deps>,
        messages: Arc<Messages>,
    ) {
        let mut fill_at: Option<Instant> = None;
        loop {
            let gap = async {
                match fill_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                item = stream.next() => match item {
                    Some(bytes) => self.take(&bytes),
                    None => {
                        // The channel ended (the adapter went away): subscribe again
                        // and catch up from the database.
                        tokio::time::sleep(GAP_WAIT).await;
                        match deps.pubsub.subscribe(&room_channel(self.room)).await {
                            Ok(s) => stream = s,
                            Err(e) => tracing::warn!(error = ?e, "resubscribing a chat feed failed"),
                        }
                        fill_at = Some(Instant::now());
                        continue;
                    }
                },
                () = gap => {
                    match messages.stored_after(self.room, self.next - 1, FILL_BATCH).await {
                        Ok(found) => {
                            for m in found {
                                self.pending.insert(m.seq, m);
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "filling a chat feed's gap failed"),
                    }
                    fill_at = None;
                }
            }
            self.deliver_ready();
            if self.pending.is_empty() {
                fill_at = None;
            } else if fill_at.is_none() {
                fill_at = Some(Instant::now() + GAP_WAIT);
            }
        }
    }

    fn take(&mut self, bytes: &[u8]) {
        match serde_json::from_slice::<Published>(bytes) {
            Ok(Published::Message(m)) => {
                if m.seq >= self.next {
                    self.pending.insert(m.seq, m);
                }
            }
            Ok(Published::Presence { room_id, online }) => {
                let frame = ServerFrame::Presence { room_id, online };
                // No receiver right now is fine: the feed is about to go.
                let _ = self.tx.send(Delivery {
                    seq: None,
                    text: frame.to_text().into(),
                });
            }
            Err(e) => tracing::debug!(error = %e, "an unreadable chat publication"),
        }
    }

    fn deliver_ready(&mut self) {
        while let Some(m) = self.pending.remove(&self.next) {
            self.next += 1;
            let text = ServerFrame::Message(m).to_text();
            let _ = self.tx.send(Delivery {
                seq: Some(self.next - 1),
                text: text.into(),
            });
        }
        // Anything below `next` was delivered already (a fill raced a publication).
        let next = self.next;
        self.pending.retain(|seq, _| *seq >= next);
    }
}
