//! One live WebSocket connection: the rooms it has open, what it sends, and what it
//! receives, in seq order, exactly once per room.
//!
//! Opening a room subscribes to the room's feed first, then replays from the database
//! (or the cached window) every message after the client's `after_seq`; the newest seq
//! delivered is the room's watermark, and a live message at or below it is dropped, so
//! the replay and the live stream join with no gap and no duplicate.
//!
//! The connection never slows a room: frames go to a bounded queue that a writer task
//! drains into the socket; a client that lets the queue fill is disconnected
//! (`slow_consumer`). The session's end (logout, expiry, revocation) closes the socket.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{SinkExt, StreamExt};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use surge_kernel::auth::{AuthUser, StreamEnd};
use surge_kernel::ApiError;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamMap;
use uuid::Uuid;

use crate::domain::{ClientId, MessageBody, Seq};
use crate::feed::{Feed, Feeds};
use crate::messages::{Messages, Sent};
use crate::protocol::{ClientFrame, Command, ServerFrame};
use crate::rooms::{load, membership};

/// Messages replayed per database read.
const REPLAY_BATCH: u64 = 500;
/// How long a replay waits for the client to take frames before it counts as slow.
const REPLAY_PATIENCE: Duration = Duration::from_secs(10);
/// How long one frame may take to write before the client counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames written to the socket per flush.
const WRITE_BATCH: usize = 64;
/// Close code for a policy ending (RFC 6455 §7.4.1).
const POLICY: u16 = 1008;

/// Per-connection limits.
#[derive(Debug, Clone, Copy)]
pub struct SocketLimits {
    pub max_rooms: usize,
    /// Frames waiting to be written before the client counts as too slow.
    pub queue: usize,
    pub sends_per_second: u32,
    pub send_burst: u32,
}

pub(crate) struct Sockets {
    pub messages: Arc<Messages>,
    pub feeds: Feeds,
    pub limits: SocketLimits,
    /// Per-user send rate (per instance).
    sends: DefaultKeyedRateLimiter<Uuid>,
}

/// Why a connection ends.
enum End {
    /// The client closed or the connection broke.
    Gone,
    /// Closed by the server, with a reason for the close frame.
    Close(&'static str),
}

struct OpenRoom {
    _feed: Arc<Feed>,
    /// The newest seq this connection delivered in the room.
    watermark: i64,
}

struct Conn<'a> {
    sockets: &'a Sockets,
    who: AuthUser,
    out: mpsc::Sender<Message>,
    open: HashMap<Uuid, OpenRoom>,
    live: StreamMap<Uuid, BroadcastStream<crate::feed::Delivery>>,
}

impl Sockets {
    pub fn new(messages: Arc<Messages>, feeds: Feeds, limits: SocketLimits) -> Self {
        let rate = NonZeroU32::new(limits.sends_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.send_burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Sockets {
            messages,
            feeds,
            limits,
            sends: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// Forgets the send budgets of users idle long enough to have a full one again.
    pub async fn sweep(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            self.sends.retain_recent();
            self.sends.shrink_to_fit();
        }
    }

    /// Serves one upgraded connection until it closes.
    pub async fn serve(self: Arc<Self>, socket: WebSocket, who: AuthUser, end: StreamEnd) {
        let (sink, mut source) = socket.split();
        let (out, queue) = mpsc::channel::<Message>(self.limits.queue.max(1));
        let (kill, killed) = oneshot::channel::<&'static str>();
        let writer = tokio::spawn(write(sink, queue, killed));
        let mut conn = Conn {
            sockets: &self,
            who,
            out,
            open: HashMap::new(),
            live: StreamMap::new(),
        };
        let ended = conn.run(&mut source, end).await;
        for room in conn.open.keys() {
            self.feeds.exit(*room).await;
        }
        match ended {
            End::Close(reason) => {
                tracing::debug!(user_id = %who.id, reason, "closing a chat socket");
                let _ = kill.send(reason);
            }
            End::Gone => drop(kill),
        }
        drop(conn);
        let _ = writer.await;
    }
}

/// Writes queued frames to the socket (up to [`WRITE_BATCH`] per flush); on a kill,
/// closes it with the reason (within a second).
async fn write(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Message>,
    mut killed: oneshot::Receiver<&'static str>,
) {
    loop {
        tokio::select! {
            biased;
            reason = &mut killed => {
                if let Ok(reason) = reason {
                    // What is queued (the error frame saying why) goes first, if the
                    // client takes it within a second.
                    let close = async {
                        while let Ok(frame) = queue.try_recv() {
                            sink.feed(frame).await?;
                        }
                        sink.send(Message::Close(Some(CloseFrame {
                            code: POLICY,
                            reason: Utf8Bytes::from_static(reason),
                        })))
                        .await
                    };
                    let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
                }
                break;
            }
            frame = queue.recv() => match frame {
                Some(frame) => {
                    let batch = async {
                        sink.feed(frame).await?;
                        for _ in 1..WRITE_BATCH {
                            match queue.try_recv() {
                                Ok(more) => sink.feed(more).await?,
                                Err(_) => break,
                            }
                        }
                        sink.flush().await
                    };
                    match tokio::time::timeout(WRITE_TIMEOUT, batch).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "writing to a chat socket failed");
                            break;
                        }
                        Err(_) => {
                            tracing::debug!("a chat socket took no frame within the write timeout");
                            break;
                        }
                    }
                }
                None => {
                    let _ = sink.close().await;
                    break;
                }
            }
        }
    }
}

impl Conn<'_> {
    async fn run(
        &mut self,
        source: &mut futures::stream::SplitStream<WebSocket>,
        mut end: StreamEnd,
    ) -> End {
        loop {
            let flow = tokio::select! {
                () = &mut end => {
                    let _ = self.out.try_send(text(&ServerFrame::error(
                        "session_ended",
                        "the session behind this connection ended (logout, expiry, revocation, or more live connections than allowed)",
                    )));
                    return End::Close("session_ended");
                }
                frame = source.next() => match frame {
                    Some(Ok(Message::Text(t))) => self.on_text(t.as_str()).await,
                    Some(Ok(Message::Binary(_))) => {
                        self.push(&ServerFrame::error("invalid_frame", "frames are JSON text"))
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return End::Gone,
                },
                Some((room, item)) = self.live.next(), if !self.live.is_empty() => {
                    self.on_delivery(room, item).await
                }
            };
            if let Err(end) = flow {
                return end;
            }
        }
    }

    /// Queues a frame without waiting: a full queue means the client is too slow.
    fn push(&self, frame: &ServerFrame) -> Result<(), End> {
        self.push_raw(text(frame))
    }

    fn push_raw(&self, message: Message) -> Result<(), End> {
        match self.out.try_send(message) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(End::Close("slow_consumer")),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(End::Gone),
        }
    }

    /// Queues a frame, waiting a while for room (replays are larger than the queue).
    async fn push_waiting(&self, message: Message) -> Result<(), End> {
        match tokio::time::timeout(REPLAY_PATIENCE, self.out.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::Close("slow_consumer")),
        }
    }

    async fn on_text(&mut self, t: &str) -> Result<(), End> {
        let command = match ClientFrame::parse(t).and_then(ClientFrame::try_into_domain) {
            Ok(c) => c,
            Err(refused) => return self.push(&refused.into()),
        };
        match command {
            Command::Join { room_id, after } => self.join(room_id, after).await,
            Command::Leave { room_id } => self.leave(room_id).await,
            Command::Send {
                room_id,
                client_id,
                body,
            } => self.send(room_id, client_id, body).await,
        }
    }

    fn refuse(&self, room_id: Uuid, client_id: Option<&ClientId>, e: &ApiError) -> Result<(), End> {
        let code = if e.status.is_server_error() {
            "unavailable"
        } else {
            e.code
        };
        self.push(&ServerFrame::Error {
            code: code.to_owned(),
            detail: if e.status.is_server_error() {
                "try again shortly".to_owned()
            } else {
                e.detail.clone()
            },
            client_id: client_id.map(|c| c.as_str().to_owned()),
            room_id: Some(room_id),
        })
    }

    async fn join(&mut self, room_id: Uuid, after: Option<Seq>) -> Result<(), End> {
        let s = self.sockets;
        if self.open.contains_key(&room_id) {
            let e = ApiError::conflict("already_joined", "this room is open on this connection");
            return self.refuse(room_id, None, &e);
        }
        if self.open.len() >= s.limits.max_rooms {
            let e = ApiError::conflict(
                "too_many_rooms",
                format!("at most {} rooms per connection", s.limits.max_rooms),
            );
            return self.refuse(room_id, None, &e);
        }
        let db = &s.messages.deps().db;
        let room = match load(db, room_id).await {
            Ok(r) => r,
            Err(e) => return self.refuse(room_id, None, &e),
        };
        match membership(db, room_id, self.who.id).await {
            Ok(Some(_)) => {}
            Ok(None) => return self.refuse(room_id, None, &crate::rooms::not_a_member()),
            Err(e) => return self.refuse(room_id, None, &e),
        }
        let (feed, rx) = match s.feeds.watch(room_id).await {
            Ok(w) => w,
            Err(e) => return self.refuse(room_id, None, &e),
        };
        // An after_seq past the room's end (stale, or another room's) would hide the
        // next messages behind the watermark: replay from the end instead.
        let from = after
            .map(Seq::get)
            .unwrap_or(room.last_seq)
            .min(room.last_seq);
        self.push(&ServerFrame::Joined {
            room_id,
            last_seq: room.last_seq,
        })?;
        let watermark = self.replay(room_id, from).await?;
        self.open.insert(
            room_id,
            OpenRoom {
                _feed: feed,
                watermark,
            },
        );
        self.live.insert(room_id, BroadcastStream::new(rx));
        s.feeds.enter(room_id).await;
        Ok(())
    }

    /// Sends every stored message of the room after `after`, in order; returns the
    /// newest seq sent (or `after`).
    async fn replay(&self, room_id: Uuid, mut after: i64) -> Result<i64, End> {
        loop {
            let batch = match self
                .sockets
                .messages
                .after(room_id, after, REPLAY_BATCH)
                .await
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "replaying chat messages failed");
                    return Err(End::Close("replay_failed"));
                }
            };
            let full = batch.len() as u64 == REPLAY_BATCH;
            for m in batch {
                after = m.seq;
                self.push_waiting(text(&ServerFrame::Message(m))).await?;
            }
            if !full {
                return Ok(after);
            }
        }
    }

    async fn leave(&mut self, room_id: Uuid) -> Result<(), End> {
        if self.open.remove(&room_id).is_none() {
            let e = ApiError::conflict("not_joined", "this room is not open on this connection");
            return self.refuse(room_id, None, &e);
        }
        self.live.remove(&room_id);
        self.sockets.feeds.exit(room_id).await;
        self.push(&ServerFrame::Left { room_id })
    }

    async fn send(
        &mut self,
        room_id: Uuid,
        client_id: ClientId,
        body: MessageBody,
    ) -> Result<(), End> {
        if !self.open.contains_key(&room_id) {
            let e = ApiError::conflict("not_joined", "join the room on this connection first");
            return self.refuse(room_id, Some(&client_id), &e);
        }
        if self.sockets.sends.check_key(&self.who.id).is_err() {
            let e = ApiError::too_many(1, "too many messages; slow down");
            return self.refuse(room_id, Some(&client_id), &e);
        }
        match self
            .sockets
            .messages
            .send(self.who.id, room_id, &client_id, &body)
            .await
        {
            Ok(sent) => {
                let m = match &sent {
                    Sent::New(m) | Sent::Again(m) => m,
                };
                self.push(&ServerFrame::Ack {
                    room_id,
                    client_id: client_id.as_str().to_owned(),
                    seq: m.seq,
                    id: m.id,
                })
            }
            Err(e) => self.refuse(room_id, Some(&client_id), &e),
        }
    }

    async fn on_delivery(
        &mut self,
        room_id: Uuid,
        item: Result<crate::feed::Delivery, BroadcastStreamRecvError>,
    ) -> Result<(), End> {
        let Some(watermark) = self.open.get(&room_id).map(|o| o.watermark) else {
            return Ok(());
        };
        match item {
            Ok(d) => match d.seq {
                None => self.push_raw(Message::Text(d.text)),
                Some(seq) if seq <= watermark => Ok(()),
                Some(seq) => {
                    if seq > watermark + 1 {
                        // Not expected (the feed is gap-free), but never skip one.
                        self.catch_up(room_id, watermark).await?;
                    }
                    if self.open.get(&room_id).is_some_and(|o| o.watermark >= seq) {
                        return Ok(());
                    }
                    self.set_watermark(room_id, seq);
                    self.push_raw(Message::Text(d.text))
                }
            },
            // This connection fell behind its room's feed: what it missed is stored.
            Err(BroadcastStreamRecvError::Lagged(_)) => self.catch_up(room_id, watermark).await,
        }
    }

    async fn catch_up(&mut self, room_id: Uuid, watermark: i64) -> Result<(), End> {
        let newest = self.replay(room_id, watermark).await?;
        self.set_watermark(room_id, newest);
        Ok(())
    }

    fn set_watermark(&mut self, room_id: Uuid, seq: i64) {
        if let Some(o) = self.open.get_mut(&room_id) {
            o.watermark = o.watermark.max(seq);
        }
    }
}

fn text(frame: &ServerFrame) -> Message {
    Message::Text(frame.to_text().into())
}
