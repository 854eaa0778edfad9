//! The inbox: storing, listing, counting and marking notifications, and pushing them
//! to the user's live streams. Also the `Notifier` other modules send through.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use surge_kernel::clock::Clock;
use surge_kernel::page::{encode_cursor, Page, PageQuery};
use surge_kernel::ports::{NewNotification, Notifier, PubSub};
use surge_kernel::{new_id, rfc3339, ApiError};
use uuid::Uuid;

use crate::domain::{ListCursor, MarkSelection};
use crate::entities::notification;

/// How many missed notifications a reconnecting stream replays at most.
pub const REPLAY_LIMIT: u64 = 500;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationView {
    pub id: Uuid,
    pub kind: String,
    pub title: String,
    pub body: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub read: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl TryFrom<notification::Model> for NotificationView {
    type Error = sea_orm::DbErr;

    /// Stored `data` that is not JSON is an error (a 500), never silently `null`.
    fn try_from(n: notification::Model) -> Result<Self, sea_orm::DbErr> {
        let data = serde_json::from_str(&n.data).map_err(|e| {
            sea_orm::DbErr::Custom(format!("notification {} has unreadable data: {e}", n.id))
        })?;
        Ok(NotificationView {
            id: n.id,
            kind: n.kind,
            title: n.title,
            body: n.body,
            data,
            read: n.read_at.is_some(),
            created_at: rfc3339(n.created_at),
        })
    }
}

pub fn channel(user: Uuid) -> String {
    format!("notifications:{user}")
}

pub struct NotificationService {
    pub(crate) db: DatabaseConnection,
    read_db: DatabaseConnection,
    pub(crate) pubsub: Arc<dyn PubSub>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl NotificationService {
    pub fn new(f: &surge_kernel::module::Foundation) -> Self {
        Self {
            db: f.db.clone(),
            read_db: f.read_db.clone(),
            pubsub: f.pubsub.clone(),
            clock: f.clock.clone(),
        }
    }

    /// Stores a notification on `conn` (pass a transaction to make it part of one).
    #[tracing::instrument(skip(self, conn, n), fields(kind = %n.kind))]
    pub async fn store(
        &self,
        conn: &impl ConnectionTrait,
        user: Uuid,
        n: NewNotification,
    ) -> Result<NotificationView, sea_orm::DbErr> {
        let model = notification::ActiveModel {
            id: Set(new_id()),
            user_id: Set(user),
            kind: Set(n.kind),
            title: Set(n.title),
            body: Set(n.body),
            data: Set(n.data.to_string()),
            read_at: Set(None),
            created_at: Set(self.clock.now_ms()),
        }
        .insert(conn)
        .await?;
        model.try_into()
    }

    /// Pushes a stored notification to the user's live streams (best effort: a client
    /// that misses it gets it from the list or the `Last-Event-ID` replay).
    pub async fn push(&self, user: Uuid, view: &NotificationView) {
        match serde_json::to_vec(view) {
            Ok(bytes) => {
                if let Err(e) = self.pubsub.publish(&channel(user), bytes).await {
                    tracing::warn!(error = ?e, "pushing a notification failed");
                }
            }
            Err(e) => tracing::warn!(error = ?e, "serializing a notification failed"),
        }
    }

    /// Unread first, newest first within each part.
    #[tracing::instrument(skip(self, q))]
    pub async fn list(
        &self,
        user: Uuid,
        q: &PageQuery,
    ) -> Result<Page<NotificationView>, ApiError> {
        let limit = q.limit()?;
        let cursor = match q.cursor()? {
            None => None,
            Some(c) => Some(ListCursor::parse(&c).ok_or_else(surge_kernel::page::invalid_cursor)?),
        };
        let mut rows = Vec::new();
        if !matches!(cursor, Some(ListCursor::Read(_))) {
            let mut unread = notification::Entity::find()
                .filter(notification::Column::UserId.eq(user))
                .filter(notification::Column::ReadAt.is_null())
                .order_by_desc(notification::Column::Id)
                .limit(limit + 1);
            if let Some(ListCursor::Unread(id)) = cursor {
                unread = unread.filter(notification::Column::Id.lt(id));
            }
            rows.extend(unread.all(&self.read_db).await?);
        }
        if (rows.len() as u64) <= limit {
            let mut read = notification::Entity::find()
                .filter(notification::Column::UserId.eq(user))
                .filter(notification::Column::ReadAt.is_not_null())
                .order_by_desc(notification::Column::Id)
                .limit(limit + 1 - rows.len() as u64);
            if let Some(ListCursor::Read(id)) = cursor {
                read = read.filter(notification::Column::Id.lt(id));
            }
            rows.extend(read.all(&self.read_db).await?);
        }
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last()
                .map(|n| encode_cursor(&ListCursor::after(n.id, n.read_at.is_some()).encode()))
        } else {
            None
        };
        Ok(Page {
            items: rows
                .into_iter()
                .map(NotificationView::try_from)
                .collect::<Result<_, _>>()?,
            next_cursor,
        })
    }

    #[tracing::instrument(skip(self))]
    pub async fn unread_count(&self, user: Uuid) -> Result<u64, ApiError> {
        Ok(notification::Entity::find()
            .filter(notification::Column::UserId.eq(user))
            .filter(notification::Column::ReadAt.is_null())
            .count(&self.read_db)
            .await?)
    }

    /// Marks the given notifications (or all) of `user` read; returns how many changed.
    #[tracing::instrument(skip(self, which))]
    pub async fn mark_read(&self, user: Uuid, which: &MarkSelection) -> Result<u64, ApiError> {
        let mut q = notification::Entity::update_many()
            .col_expr(
                notification::Column::ReadAt,
                Expr::value(self.clock.now_ms()),
            )
            .filter(notification::Column::UserId.eq(user))
            .filter(notification::Column::ReadAt.is_null());
        if let MarkSelection::These(ids) = which {
            if ids.is_empty() {
                return Ok(0);
            }
            q = q.filter(notification::Column::Id.is_in(ids.iter().copied()));
        }
        Ok(q.exec(&self.db).await?.rows_affected)
    }

    /// What a stream reconnecting after `last` missed, oldest first.
    #[tracing::instrument(skip(self))]
    pub async fn since(&self, user: Uuid, last: Uuid) -> Result<Vec<NotificationView>, ApiError> {
        // Read from the primary: a replica may lag behind what was already pushed.
        Ok(notification::Entity::find()
            .filter(notification::Column::UserId.eq(user))
            .filter(notification::Column::Id.gt(last))
            .order_by_asc(notification::Column::Id)
            .limit(REPLAY_LIMIT)
            .all(&self.db)
            .await?
            .into_iter()
            .map(NotificationView::try_from)
            .collect::<Result<Vec<_>, _>>()?)
    }
}

#[async_trait]
impl Notifier for NotificationService {
    async fn notify(&self, user: Uuid, n: NewNotification) -> anyhow::Result<Uuid> {
        let view = self.store(&self.db, user, n).await?;
        self.push(user, &view).await;
        Ok(view.id)
    }
}
