//! Rooms: admins open and close them; users list the active ones, join and leave, see
//! the members, and keep a read marker per room (unread = the room's last seq minus
//! the marker). A membership is unique per (room, user); the member count moves in
//! the membership's transaction, conditional on the room being active.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::{new_id, rfc3339, ApiError};
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::{self, NewRoom, RoomKind, RoomStatus, Seq};
use crate::entities::{member, room};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoomView {
    pub id: Uuid,
    pub kind: RoomKind,
    pub name: String,
    pub description: String,
    /// ACTIVE rooms take messages; CLOSED ones keep their history.
    pub status: RoomStatus,
    /// The seq of the newest message (0: none yet).
    pub last_seq: i64,
    pub member_count: i32,
    pub created_at: String,
    pub last_message_at: String,
    /// A weather-alert room's province (`L1100000`), one room per province.
    pub province_code: Option<String>,
}

impl From<room::Model> for RoomView {
    fn from(r: room::Model) -> Self {
        RoomView {
            id: r.id,
            kind: r.kind,
            name: r.name,
            description: r.description,
            status: r.status,
            last_seq: r.last_seq,
            member_count: r.member_count,
            created_at: rfc3339(r.created_at),
            last_message_at: rfc3339(r.last_message_at),
            province_code: r.province_code,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub user_id: Uuid,
    pub joined_at: String,
}

/// One of my rooms, with how much of it I have read.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MyRoomView {
    pub room: RoomView,
    pub last_read_seq: i64,
    pub unread: i64,
}

pub struct Rooms {
    deps: Arc<Deps>,
}

pub(crate) fn no_room() -> ApiError {
    ApiError::not_found("no such room")
}

pub(crate) fn room_closed() -> ApiError {
    ApiError::conflict("room_closed", "this room is closed")
}

pub(crate) fn not_a_member() -> ApiError {
    ApiError::forbidden("not_a_member", "join the room first")
}

/// A room by id.
pub(crate) async fn load(db: &impl ConnectionTrait, id: Uuid) -> Result<room::Model, ApiError> {
    room::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(no_room)
}

/// The caller's membership of a room, if any.
pub(crate) async fn membership(
    db: &impl ConnectionTrait,
    room_id: Uuid,
    user: Uuid,
) -> Result<Option<member::Model>, ApiError> {
    Ok(member::Entity::find_by_id((room_id, user)).one(db).await?)
}

impl Rooms {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Rooms { deps }
    }

    #[tracing::instrument(skip_all, fields(admin = %who.id))]
    pub async fn create(&self, who: &AuthUser, d: NewRoom) -> Result<RoomView, ApiError> {
        let now = self.deps.clock.now_ms();
        let r = room::Model {
            id: new_id(),
            kind: RoomKind::General,
            name: d.name.into_inner(),
            description: d.description,
            status: RoomStatus::Active,
            last_seq: 0,
            member_count: 0,
            created_by: who.id,
            created_at: now,
            last_message_at: now,
            province_code: None,
            closed_at: None,
        };
        room::Entity::insert(room::ActiveModel::from(r.clone()))
            .exec_without_returning(&self.deps.db)
            .await?;
        Ok(r.into())
    }

    /// Closes a room: it leaves the list and takes no more messages; history stays.
    #[tracing::instrument(skip_all, fields(room_id = %id))]
    pub async fn close(&self, id: Uuid) -> Result<RoomView, ApiError> {
        let r = load(&self.deps.db, id).await?;
        if !r.status.can_become(RoomStatus::Closed) {
            return Err(room_closed());
        }
        let done = room::Entity::update_many()
            .col_expr(room::Column::Status, Expr::value(RoomStatus::Closed))
            .col_expr(
                room::Column::ClosedAt,
                Expr::value(self.deps.clock.now_ms()),
            )
            .filter(room::Column::Id.eq(id))
            .filter(room::Column::Status.eq(RoomStatus::Active))
            .exec(&self.deps.db)
            .await?;
        if done.rows_affected != 1 {
            return Err(room_closed());
        }
        Ok(load(&self.deps.db, id).await?.into())
    }

    /// Active rooms, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn list_active(&self, page: &PageQuery) -> Result<Page<RoomView>, ApiError> {
        let limit = page.limit()?;
        let mut q = room::Entity::find()
            .filter(room::Column::Status.eq(RoomStatus::Active))
            .order_by_desc(room::Column::Id)
            .limit(limit + 1);
        if let Some(c) = page.uuid_cursor()? {
            q = q.filter(room::Column::Id.lt(c));
        }
        let rows: Vec<RoomView> = q
            .all(&self.deps.read_db)
            .await?
            .into_iter()
            .map(RoomView::from)
            .collect();
        Ok(Page::from_rows(rows, limit, |r| r.id.to_string()))
    }

    #[tracing::instrument(skip_all, fields(room_id = %id))]
    pub async fn get(&self, id: Uuid) -> Result<RoomView, ApiError> {
        Ok(load(&self.deps.read_db, id).await?.into())
    }

    /// Joins an active room; joining again changes nothing and answers the same.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, room_id = %id))]
    pub async fn join(&self, who: &AuthUser, id: Uuid) -> Result<MyRoomView, ApiError> {
        let now = self.deps.clock.now_ms();
        let txn = self.deps.db.begin().await?;
        let r = load(&txn, id).await?;
        let insert = sea_orm::sea_query::Query::insert()
            .into_table(member::Entity)
            .columns([
                member::Column::RoomId,
                member::Column::UserId,
                member::Column::LastReadSeq,
                member::Column::JoinedAt,
            ])
            // A new member starts with everything before them read.
            .values_panic([id.into(), who.id.into(), r.last_seq.into(), now.into()])
            .to_owned();
        let inserted =
            surge_kernel::sql::insert_if_absent(&txn, insert, &["room_id", "user_id"]).await?;
        if inserted {
            let counted = room::Entity::update_many()
                .col_expr(
                    room::Column::MemberCount,
                    Expr::col(room::Column::MemberCount).add(1),
                )
                .filter(room::Column::Id.eq(id))
                .filter(room::Column::Status.eq(RoomStatus::Active))
                .exec(&txn)
                .await?;
            if counted.rows_affected != 1 {
                txn.rollback().await?;
                return Err(room_closed());
            }
        }
        txn.commit().await?;
        self.my_room(who.id, id).await
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id, room_id = %id))]
    pub async fn leave(&self, who: &AuthUser, id: Uuid) -> Result<(), ApiError> {
        let txn = self.deps.db.begin().await?;
        load(&txn, id).await?;
        let gone = member::Entity::delete_many()
            .filter(member::Column::RoomId.eq(id))
            .filter(member::Column::UserId.eq(who.id))
            .exec(&txn)
            .await?;
        if gone.rows_affected != 1 {
            txn.rollback().await?;
            return Err(ApiError::conflict(
                "not_a_member",
                "you are not in this room",
            ));
        }
        room::Entity::update_many()
            .col_expr(
                room::Column::MemberCount,
                Expr::col(room::Column::MemberCount).sub(1),
            )
            .filter(room::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// A room's members, in the order they joined.
    #[tracing::instrument(skip_all, fields(room_id = %id))]
    pub async fn members(&self, id: Uuid, page: &PageQuery) -> Result<Page<MemberView>, ApiError> {
        load(&self.deps.read_db, id).await?;
        let limit = page.limit()?;
        let mut q = member::Entity::find()
            .filter(member::Column::RoomId.eq(id))
            .order_by_asc(member::Column::UserId)
            .limit(limit + 1);
        if let Some(c) = page.uuid_cursor()? {
            q = q.filter(member::Column::UserId.gt(c));
        }
        let rows: Vec<MemberView> = q
            .all(&self.deps.read_db)
            .await?
            .into_iter()
            .map(|m| MemberView {
                user_id: m.user_id,
                joined_at: rfc3339(m.joined_at),
            })
            .collect();
        Ok(Page::from_rows(rows, limit, |m| m.user_id.to_string()))
    }

    /// The rooms I am in, each with my unread count.
    #[tracing::instrument(skip_all, fields(user_id = %user))]
    pub async fn mine(&self, user: Uuid, page: &PageQuery) -> Result<Page<MyRoomView>, ApiError> {
        let limit = page.limit()?;
        let mut q = member::Entity::find()
            .filter(member::Column::UserId.eq(user))
            .order_by_asc(member::Column::RoomId)
            .limit(limit + 1);
        if let Some(c) = page.uuid_cursor()? {
            q = q.filter(member::Column::RoomId.gt(c));
        }
        let memberships = q.all(&self.deps.read_db).await?;
        let ids: Vec<Uuid> = memberships.iter().map(|m| m.room_id).collect();
        let rooms: HashMap<Uuid, room::Model> = room::Entity::find()
            .filter(room::Column::Id.is_in(ids))
            .all(&self.deps.read_db)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let rows: Vec<MyRoomView> = memberships
            .into_iter()
            .filter_map(|m| {
                let r = rooms.get(&m.room_id)?.clone();
                Some(MyRoomView {
                    unread: domain::unread(r.last_seq, m.last_read_seq),
                    last_read_seq: m.last_read_seq,
                    room: r.into(),
                })
            })
            .collect();
        Ok(Page::from_rows(rows, limit, |m| m.room.id.to_string()))
    }

    /// Marks everything up to `seq` read (capped at the room's newest message). A marker
    /// never moves back: an older `seq` (a late request from another device) changes
    /// nothing.
    #[tracing::instrument(skip_all, fields(user_id = %user, room_id = %id))]
    pub async fn mark_read(&self, user: Uuid, id: Uuid, seq: Seq) -> Result<MyRoomView, ApiError> {
        let r = load(&self.deps.db, id).await?;
        let upto = seq.get().min(r.last_seq);
        let moved = member::Entity::update_many()
            .col_expr(member::Column::LastReadSeq, Expr::value(upto))
            .filter(member::Column::RoomId.eq(id))
            .filter(member::Column::UserId.eq(user))
            .filter(member::Column::LastReadSeq.lt(upto))
            .exec(&self.deps.db)
            .await?;
        if moved.rows_affected == 0 && membership(&self.deps.db, id, user).await?.is_none() {
            return Err(not_a_member());
        }
        self.my_room(user, id).await
    }

    async fn my_room(&self, user: Uuid, id: Uuid) -> Result<MyRoomView, ApiError> {
        let r = load(&self.deps.db, id).await?;
        let m = membership(&self.deps.db, id, user)
            .await?
            .ok_or_else(not_a_member)?;
        Ok(MyRoomView {
            unread: domain::unread(r.last_seq, m.last_read_seq),
            last_read_seq: m.last_read_seq,
            room: r.into(),
        })
    }
}
