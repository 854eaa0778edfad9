//! Messages: stored before they are acknowledged, each with the next seq of its room,
//! then fanned out over pub/sub; history pages; the last 100 of a room in the cache.
//!
//! A message's transaction takes its seq with `UPDATE chat_rooms SET last_seq =
//! last_seq + 1 WHERE id = ? AND status = 'ACTIVE'` (the room row stays locked until
//! commit, so seqs commit in order, and a rolled-back message gives its seq back: no
//! gaps) and inserts the row, unique per (room, seq) and per (room, sender,
//! client_id): a resend of a stored message finds it and is acknowledged again with
//! its seq, never stored twice.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use surge_kernel::error::unique_violation;
use surge_kernel::{new_id, rfc3339, ApiError};
use uuid::Uuid;

use crate::deps::{room_channel, Deps};
use crate::domain::{ClientId, HistoryPage, MessageBody, RoomStatus};
use crate::entities::{member, message, room};
use crate::rooms::{load, membership, no_room, not_a_member, room_closed};

/// How many of a room's newest messages the cache keeps.
pub const RECENT: usize = 100;
/// How long an idle room's recent messages stay cached.
const RECENT_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageView {
    pub room_id: Uuid,
    /// The message's place in its room: 1, 2, 3 ... with no gaps.
    pub seq: i64,
    pub id: Uuid,
    /// The sender's user id.
    pub sender: Uuid,
    pub body: String,
    /// RFC 3339, UTC.
    pub sent_at: String,
}

impl From<message::Model> for MessageView {
    fn from(m: message::Model) -> Self {
        MessageView {
            room_id: m.room_id,
            seq: m.seq,
            id: m.id,
            sender: m.sender_id,
            body: m.body,
            sent_at: rfc3339(m.sent_at),
        }
    }
}

/// A page of history, oldest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryView {
    pub items: Vec<MessageView>,
    /// Pass as `before_seq` for the page before this one; absent at the room's start.
    pub next_before_seq: Option<i64>,
}

/// What goes out on a room's pub/sub channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Published {
    Message(MessageView),
    /// How many connections have the room open, on every instance.
    Presence {
        room_id: Uuid,
        online: i64,
    },
}

/// A send's outcome: stored now, or a resend of a message stored before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    New(MessageView),
    Again(MessageView),
}

impl Sent {
    pub fn message(&self) -> &MessageView {
        match self {
            Sent::New(m) | Sent::Again(m) => m,
        }
    }
}

/// The newest messages of a room, as cached: `items` ascending, complete up to `upto`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Window {
    pub upto: i64,
    pub items: Vec<MessageView>,
}

pub(crate) fn recent_key(room: Uuid) -> String {
    format!("chat:recent:{room}")
}

pub struct Messages {
    deps: Arc<Deps>,
}

impl Messages {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Messages { deps }
    }

    pub(crate) fn deps(&self) -> &Arc<Deps> {
        &self.deps
    }

    /// Stores a message (or finds the stored one this `client_id` names), publishes a
    /// new one to the room's channel, and returns it.
    #[tracing::instrument(skip_all, fields(room_id = %room_id, sender = %sender))]
    pub async fn send(
        &self,
        sender: Uuid,
        room_id: Uuid,
        client_id: &ClientId,
        body: &MessageBody,
    ) -> Result<Sent, ApiError> {
        let stored =
            surge_kernel::sql::with_retries(|| self.store(sender, room_id, client_id, body))
                .await?;
        let m = match stored {
            Stored::New(m) => m,
            Stored::Duplicate => {
                return self
                    .find_sent(sender, room_id, client_id)
                    .await?
                    .map(Sent::Again)
                    .ok_or_else(|| {
                        ApiError::internal(anyhow::anyhow!(
                            "a message broke a unique index but none is stored for its client_id"
                        ))
                    });
            }
            Stored::NoRoom => return Err(no_room()),
            Stored::NotMember => return Err(not_a_member()),
            // A resend of a message stored before the room closed gets its ack.
            Stored::Closed => {
                return match self.find_sent(sender, room_id, client_id).await? {
                    Some(m) => Ok(Sent::Again(m)),
                    None => Err(room_closed()),
                }
            }
        };
        let payload = serde_json::to_vec(&Published::Message(m.clone()))
            .map_err(|e| ApiError::internal(anyhow::Error::new(e)))?;
        // Stored is what counts: a lost publish is filled from the database by every
        // instance's feed when the next message shows the gap.
        if let Err(e) = self
            .deps
            .pubsub
            .publish(&room_channel(room_id), payload)
            .await
        {
            tracing::warn!(error = ?e, "publishing a chat message failed");
        }
        self.remember(&m).await;
        Ok(Sent::New(m))
    }

    async fn store(
        &self,
        sender: Uuid,
        room_id: Uuid,
        client_id: &ClientId,
        body: &MessageBody,
    ) -> Result<Stored, DbErr> {
        let now = self.deps.clock.now_ms();
        let txn = self.deps.db.begin().await?;
        let took = room::Entity::update_many()
            .col_expr(
                room::Column::LastSeq,
                Expr::col(room::Column::LastSeq).add(1),
            )
            .col_expr(room::Column::LastMessageAt, Expr::value(now))
            .filter(room::Column::Id.eq(room_id))
            .filter(room::Column::Status.eq(RoomStatus::Active))
            .exec(&txn)
            .await?;
        if took.rows_affected != 1 {
            let exists = room::Entity::find_by_id(room_id).one(&txn).await?.is_some();
            txn.rollback().await?;
            return Ok(if exists {
                Stored::Closed
            } else {
                Stored::NoRoom
            });
        }
        // This transaction holds the room row: the value read is the seq it took.
        let seq: Option<i64> = room::Entity::find_by_id(room_id)
            .select_only()
            .column(room::Column::LastSeq)
            .into_tuple()
            .one(&txn)
            .await?;
        let seq = seq.ok_or_else(|| DbErr::RecordNotFound("the locked room".into()))?;
        // Checked under the room's lock (leaving changes the room row too): a member who
        // left, even with a socket still open, sends nothing more.
        if member::Entity::find_by_id((room_id, sender))
            .one(&txn)
            .await?
            .is_none()
        {
            txn.rollback().await?;
            return Ok(Stored::NotMember);
        }
        let m = message::Model {
            id: new_id(),
            room_id,
            seq,
            sender_id: sender,
            client_id: client_id.as_str().to_owned(),
            body: body.as_str().to_owned(),
            sent_at: now,
        };
        let inserted = message::Entity::insert(message::ActiveModel::from(m.clone()))
            .exec_without_returning(&txn)
            .await;
        match inserted {
            Ok(_) => {
                txn.commit().await?;
                Ok(Stored::New(m.into()))
            }
            Err(e) if unique_violation(&e).is_some() => {
                txn.rollback().await?;
                Ok(Stored::Duplicate)
            }
            Err(e) => Err(e),
        }
    }

    async fn find_sent(
        &self,
        sender: Uuid,
        room_id: Uuid,
        client_id: &ClientId,
    ) -> Result<Option<MessageView>, ApiError> {
        Ok(message::Entity::find()
            .filter(message::Column::RoomId.eq(room_id))
            .filter(message::Column::SenderId.eq(sender))
            .filter(message::Column::ClientId.eq(client_id.as_str()))
            .one(&self.deps.db)
            .await?
            .map(MessageView::from))
    }

    /// A member's page of a room's history: the newest messages (from the cache), or
    /// those before `before_seq`.
    #[tracing::instrument(skip_all)]
    pub async fn history(
        &self,
        user: Uuid,
        room_id: Uuid,
        page: HistoryPage,
    ) -> Result<HistoryView, ApiError> {
        let r = load(&self.deps.read_db, room_id).await?;
        // On the primary: a member who just joined is a member, whatever a replica says.
        if membership(&self.deps.db, room_id, user).await?.is_none() {
            return Err(not_a_member());
        }
        let limit = page.limit as usize;
        let before = page.before.map(|s| s.get()).unwrap_or(i64::MAX);
        let window = self.window(&r).await?;
        let first_cached = window.items.first().map(|m| m.seq).unwrap_or(i64::MAX);
        let wanted_from = before.min(r.last_seq + 1) - limit as i64;
        let items: Vec<MessageView> = if wanted_from >= first_cached || first_cached == 1 {
            let upto: Vec<&MessageView> = window.items.iter().filter(|m| m.seq < before).collect();
            upto[upto.len().saturating_sub(limit)..]
                .iter()
                .map(|m| (*m).clone())
                .collect()
        } else {
            let mut rows: Vec<MessageView> = message::Entity::find()
                .filter(message::Column::RoomId.eq(room_id))
                .filter(message::Column::Seq.lt(before))
                .order_by_desc(message::Column::Seq)
                .limit(page.limit)
                .all(&self.deps.read_db)
                .await?
                .into_iter()
                .map(MessageView::from)
                .collect();
            rows.reverse();
            rows
        };
        let next_before_seq = items.first().map(|m| m.seq).filter(|s| *s > 1);
        Ok(HistoryView {
            items,
            next_before_seq,
        })
    }

    /// Up to `limit` messages of a room after `after`, in order: what a reconnecting
    /// socket missed. Served from the cached window when it reaches back far enough.
    pub(crate) async fn after(
        &self,
        room_id: Uuid,
        after: i64,
        limit: u64,
    ) -> Result<Vec<MessageView>, ApiError> {
        let r = load(&self.deps.db, room_id).await?;
        if after >= r.last_seq {
            return Ok(Vec::new());
        }
        let window = self.window(&r).await?;
        if window.items.first().is_some_and(|m| m.seq <= after + 1) {
            return Ok(window
                .items
                .into_iter()
                .filter(|m| m.seq > after)
                .take(limit as usize)
                .collect());
        }
        self.stored_after(room_id, after, limit).await
    }

    /// Messages after `after`, in order, straight from the primary.
    pub(crate) async fn stored_after(
        &self,
        room_id: Uuid,
        after: i64,
        limit: u64,
    ) -> Result<Vec<MessageView>, ApiError> {
        Ok(message::Entity::find()
            .filter(message::Column::RoomId.eq(room_id))
            .filter(message::Column::Seq.gt(after))
            .order_by_asc(message::Column::Seq)
            .limit(limit)
            .all(&self.deps.db)
            .await?
            .into_iter()
            .map(MessageView::from)
            .collect())
    }

    /// The room's newest messages: the cached window, completed from the database
    /// when it is behind the room's `last_seq` (a missed update, an evicted key, a
    /// race between two senders' updates), and stored back.
    pub(crate) async fn window(&self, r: &room::Model) -> Result<Window, ApiError> {
        let key = recent_key(r.id);
        let cached: Option<Window> = match self.deps.cache.get(&key).await {
            Ok(v) => v.and_then(|b| serde_json::from_slice(&b).ok()),
            Err(e) => {
                tracing::warn!(error = ?e, "reading recent chat messages from the cache failed");
                None
            }
        };
        let mut w = cached.unwrap_or_default();
        if w.upto >= r.last_seq {
            return Ok(w);
        }
        let from = w.upto.max(r.last_seq - RECENT as i64);
        w.items
            .retain(|m| m.seq <= from && m.seq > r.last_seq - RECENT as i64);
        let newer = self.stored_after(r.id, from, RECENT as u64).await?;
        w.items.extend(newer);
        let skip = w.items.len().saturating_sub(RECENT);
        w.items.drain(..skip);
        w.upto = w.items.last().map(|m| m.seq).unwrap_or(w.upto);
        self.store_window(r.id, &w).await;
        Ok(w)
    }

    /// Appends a just-stored message to the cached window when the window ends right
    /// before it; otherwise the next reader completes the window from the database.
    async fn remember(&self, m: &MessageView) {
        let key = recent_key(m.room_id);
        let Ok(Some(bytes)) = self.deps.cache.get(&key).await else {
            return;
        };
        let Ok(mut w) = serde_json::from_slice::<Window>(&bytes) else {
            return;
        };
        if w.upto != m.seq - 1 {
            return;
        }
        w.items.push(m.clone());
        let skip = w.items.len().saturating_sub(RECENT);
        w.items.drain(..skip);
        w.upto = m.seq;
        self.store_window(m.room_id, &w).await;
    }

    async fn store_window(&self, room_id: Uuid, w: &Window) {
        let Ok(bytes) = serde_json::to_vec(w) else {
            return;
        };
        if let Err(e) = self
            .deps
            .cache
            .set(&recent_key(room_id), &bytes, RECENT_TTL)
            .await
        {
            tracing::debug!(error = ?e, "caching recent chat messages failed");
        }
    }
}

enum Stored {
    New(MessageView),
    Duplicate,
    NoRoom,
    Closed,
    /// The sender is not (or no longer) a member.
    NotMember,
}
