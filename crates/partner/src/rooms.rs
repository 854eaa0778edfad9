//! Meal and study rooms: capacity that is never exceeded, members, completion into a
//! match. (Comments on rooms are in `comments.rs`.)
//!
//! Joining inserts the membership (unique per room and user) and takes a place with
//! `member_count = member_count + 1 WHERE member_count < capacity AND status = 'OPEN'`
//! in one transaction: never more members than capacity, under any concurrency.

use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ports::NewNotification;
use surge_kernel::{new_id, rfc3339, ApiError};
use uuid::Uuid;

use crate::deps::{stored_conditions, Deps};
use crate::domain::{
    meeting_time, Category, Conditions, Criteria, NewRoom, Place, RoomChanges, RoomStatus,
    StudyType, Way,
};
use crate::entities::{member, room};
use crate::matches::{create_match, MatchSource};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    /// Hidden in anonymous rooms (except your own).
    pub user_id: Option<Uuid>,
    pub nickname: String,
    pub is_author: bool,
    pub is_me: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoomView {
    pub id: Uuid,
    pub category: Category,
    pub title: String,
    pub body: String,
    pub capacity: i32,
    pub member_count: i32,
    pub meets_at: String,
    pub anonymous: bool,
    pub conditions: Conditions,
    /// OPEN or COMPLETED.
    pub status: RoomStatus,
    pub deleted: bool,
    /// Set once the room is completed.
    pub match_id: Option<Uuid>,
    /// In a room's own view; empty in lists.
    pub members: Vec<MemberView>,
    pub created_at: String,
}

/// Which rooms a list shows (not deleted ones).
#[derive(Debug, Clone, Copy)]
pub struct RoomListing {
    pub category: Option<Category>,
    pub status: RoomStatus,
    pub place: Option<Place>,
    pub way: Option<Way>,
    pub study_type: Option<StudyType>,
}

/// Open rooms of every category, with any conditions.
impl Default for RoomListing {
    fn default() -> Self {
        RoomListing {
            category: None,
            status: RoomStatus::Open,
            place: None,
            way: None,
            study_type: None,
        }
    }
}

pub struct Rooms {
    deps: Arc<Deps>,
}

pub(crate) fn room_closed(r: &room::Model) -> ApiError {
    if r.deleted {
        ApiError::not_found("no such room")
    } else {
        ApiError::conflict("room_closed", "this room is completed")
    }
}

fn anonymity_permanent() -> ApiError {
    ApiError::conflict(
        "anonymity_permanent",
        "an anonymous room stays anonymous: its members joined trusting that",
    )
}

/// A match needs people to meet: a room completes with at least this many members.
const MIN_MEMBERS_TO_COMPLETE: i32 = 2;

fn forbidden() -> ApiError {
    ApiError::forbidden(
        "forbidden",
        "only the room's author or an admin can do this",
    )
}

/// A room by id, deleted or not.
pub(crate) async fn load(db: &impl ConnectionTrait, id: Uuid) -> Result<room::Model, ApiError> {
    room::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such room"))
}

impl Rooms {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Rooms { deps }
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id, category = d.criteria.category().as_str()))]
    pub async fn create(&self, who: &AuthUser, d: NewRoom) -> Result<RoomView, ApiError> {
        let now = self.deps.clock.now_ms();
        let meets_at = meeting_time(d.meets_at, now)?;
        let conditions = d.criteria.conditions();
        let id = new_id();
        let txn = self.deps.db.begin().await?;
        let r = room::ActiveModel {
            id: Set(id),
            author_id: Set(who.id),
            category: Set(d.criteria.category()),
            title: Set(d.title.into_inner()),
            body: Set(d.body.into_inner()),
            capacity: Set(d.capacity.get()),
            member_count: Set(1),
            meets_at: Set(meets_at),
            anonymous: Set(d.anonymous),
            tags: Set(conditions.tags()),
            conditions: Set(conditions.to_json()),
            status: Set(RoomStatus::Open),
            deleted: Set(false),
            match_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        member::ActiveModel {
            room_id: Set(id),
            user_id: Set(who.id),
            joined_at: Set(now),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        self.view(Some(who), r, true).await
    }

    /// A room; a deleted one only for its author and admins.
    #[tracing::instrument(skip_all, fields(room_id = %id))]
    pub async fn get(&self, who: Option<&AuthUser>, id: Uuid) -> Result<RoomView, ApiError> {
        let r = load(&self.deps.db, id).await?;
        if r.deleted && !who.is_some_and(|w| w.id == r.author_id || w.is_admin()) {
            return Err(ApiError::not_found("no such room"));
        }
        self.view(who, r, false).await
    }

    /// A room with its members, their nicknames found in one lookup.
    /// `written`: this answers a write that has committed, so a failed name lookup
    /// degrades the names instead of failing the request (see `nicknames_after_write`).
    async fn view(
        &self,
        who: Option<&AuthUser>,
        r: room::Model,
        written: bool,
    ) -> Result<RoomView, ApiError> {
        let rows = member::Entity::find()
            .filter(member::Column::RoomId.eq(r.id))
            .order_by_asc(member::Column::JoinedAt)
            .all(&self.deps.db)
            .await?;
        let is_me = |m: &member::Model| who.is_some_and(|w| w.id == m.user_id);
        let shown: Vec<Uuid> = rows
            .iter()
            .filter(|m| !r.anonymous || is_me(m))
            .map(|m| m.user_id)
            .collect();
        let names = if written {
            self.deps.nicknames_after_write(&shown).await
        } else {
            self.deps.nicknames(&shown).await?
        };
        let members = rows
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let hidden = r.anonymous && !is_me(m);
                MemberView {
                    user_id: (!hidden).then_some(m.user_id),
                    nickname: if hidden {
                        format!("익명 {}", i + 1)
                    } else {
                        names.of(m.user_id)
                    },
                    is_author: m.user_id == r.author_id,
                    is_me: is_me(m),
                }
            })
            .collect();
        to_view(r, members)
    }

    #[tracing::instrument(skip_all)]
    pub async fn list(
        &self,
        f: &RoomListing,
        page: &PageQuery,
    ) -> Result<Page<RoomView>, ApiError> {
        let limit = page.limit()?;
        let mut q = room::Entity::find()
            .filter(room::Column::Deleted.eq(false))
            .filter(room::Column::Status.eq(f.status));
        if let Some(c) = f.category {
            q = q.filter(room::Column::Category.eq(c));
        }
        let tag = |v: Option<serde_json::Value>, any: &str| {
            v.and_then(|v| v.as_str().map(str::to_owned)).map(|t| {
                Condition::any()
                    .add(room::Column::Tags.like(format!("%|{t}|%")))
                    .add(room::Column::Tags.like(format!("%|{any}|%")))
            })
        };
        for cond in [
            tag(
                f.place.and_then(|p| serde_json::to_value(p).ok()),
                "ANY_PLACE",
            ),
            tag(f.way.and_then(|p| serde_json::to_value(p).ok()), "ANY_WAY"),
            tag(
                f.study_type.and_then(|p| serde_json::to_value(p).ok()),
                "ANY_STUDY_TYPE",
            ),
        ]
        .into_iter()
        .flatten()
        {
            q = q.filter(cond);
        }
        if let Some(c) = page.uuid_cursor()? {
            q = q.filter(room::Column::Id.lt(c));
        }
        let rows = q
            .order_by_desc(room::Column::Id)
            .limit(limit + 1)
            .all(&self.deps.read_db)
            .await?;
        let views = rows
            .into_iter()
            .map(|r| to_view(r, vec![]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(views, limit, |r: &RoomView| {
            r.id.to_string()
        }))
    }

    fn may_manage(who: &AuthUser, r: &room::Model) -> Result<(), ApiError> {
        if who.id == r.author_id || who.is_admin() {
            Ok(())
        } else {
            Err(forbidden())
        }
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id, room_id = %id))]
    pub async fn update(
        &self,
        who: &AuthUser,
        id: Uuid,
        p: RoomChanges,
    ) -> Result<RoomView, ApiError> {
        let r = load(&self.deps.db, id).await?;
        Self::may_manage(who, &r)?;
        if r.deleted || r.status != RoomStatus::Open {
            return Err(room_closed(&r));
        }
        let mut upd = room::Entity::update_many()
            .col_expr(
                room::Column::UpdatedAt,
                Expr::value(self.deps.clock.now_ms()),
            )
            .filter(room::Column::Id.eq(id))
            .filter(room::Column::Status.eq(RoomStatus::Open));
        if let Some(t) = p.title {
            upd = upd.col_expr(room::Column::Title, Expr::value(t.into_inner()));
        }
        if let Some(b) = p.body {
            upd = upd.col_expr(room::Column::Body, Expr::value(b.into_inner()));
        }
        if let Some(m) = p.meets_at {
            upd = upd.col_expr(room::Column::MeetsAt, Expr::value(m));
        }
        // Anonymity is one-way: members joined trusting their names stay hidden, so a
        // room can become anonymous but never stop being it.
        match p.anonymous {
            Some(true) => upd = upd.col_expr(room::Column::Anonymous, Expr::value(true)),
            Some(false) if r.anonymous => return Err(anonymity_permanent()),
            Some(false) => upd = upd.filter(room::Column::Anonymous.eq(false)),
            None => {}
        }
        if let Some(c) = p.conditions {
            let criteria = Criteria::new(r.category, c)?;
            let c = criteria.conditions();
            upd = upd
                .col_expr(room::Column::Tags, Expr::value(c.tags()))
                .col_expr(room::Column::Conditions, Expr::value(c.to_json()));
        }
        if let Some(c) = p.capacity {
            // Conditional: a join racing this edit can never leave more members than seats.
            upd = upd
                .col_expr(room::Column::Capacity, Expr::value(c.get()))
                .filter(room::Column::MemberCount.lte(c.get()));
        }
        if upd.exec(&self.deps.db).await?.rows_affected != 1 {
            let now = load(&self.deps.db, id).await?;
            if p.capacity.is_some_and(|c| c.get() < now.member_count) {
                return Err(ApiError::conflict(
                    "capacity_below_members",
                    format!("the room already has {} members", now.member_count),
                )
                .with("member_count", now.member_count));
            }
            if p.anonymous == Some(false) && now.anonymous {
                return Err(anonymity_permanent());
            }
            return Err(room_closed(&now));
        }
        self.view(Some(who), load(&self.deps.db, id).await?, true)
            .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id, room_id = %id))]
    pub async fn set_deleted(
        &self,
        who: &AuthUser,
        id: Uuid,
        deleted: bool,
    ) -> Result<RoomView, ApiError> {
        let r = load(&self.deps.db, id).await?;
        Self::may_manage(who, &r)?;
        room::Entity::update_many()
            .col_expr(room::Column::Deleted, Expr::value(deleted))
            .col_expr(
                room::Column::UpdatedAt,
                Expr::value(self.deps.clock.now_ms()),
            )
            .filter(room::Column::Id.eq(id))
            .exec(&self.deps.db)
            .await?;
        self.view(Some(who), load(&self.deps.db, id).await?, true)
            .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id, room_id = %id))]
    pub async fn join(&self, who: &AuthUser, id: Uuid) -> Result<RoomView, ApiError> {
        let now = self.deps.clock.now_ms();
        let txn = self.deps.db.begin().await?;
        let inserted = member::ActiveModel {
            room_id: Set(id),
            user_id: Set(who.id),
            joined_at: Set(now),
        }
        .insert(&txn)
        .await;
        if let Err(e) = inserted {
            txn.rollback().await?;
            return Err(match surge_kernel::error::unique_violation(&e) {
                Some(_) => ApiError::conflict("already_joined", "you are already in this room"),
                None => e.into(),
            });
        }
        let took = room::Entity::update_many()
            .col_expr(
                room::Column::MemberCount,
                Expr::col(room::Column::MemberCount).add(1),
            )
            .filter(room::Column::Id.eq(id))
            .filter(room::Column::Status.eq(RoomStatus::Open))
            .filter(room::Column::Deleted.eq(false))
            .filter(Expr::col(room::Column::MemberCount).lt(Expr::col(room::Column::Capacity)))
            .exec(&txn)
            .await?;
        if took.rows_affected != 1 {
            txn.rollback().await?;
            let r = load(&self.deps.db, id).await?;
            return Err(if r.deleted || r.status != RoomStatus::Open {
                room_closed(&r)
            } else {
                ApiError::conflict("room_full", "this room is full").with("capacity", r.capacity)
            });
        }
        txn.commit().await?;
        let r = load(&self.deps.db, id).await?;
        // The view names me (even in an anonymous room): the author hears that name.
        let view = self.view(Some(who), r.clone(), true).await?;
        let name = view
            .members
            .iter()
            .find(|m| m.is_me)
            .map(|m| m.nickname.clone())
            .unwrap_or_else(|| surge_kernel::ports::Nicknames::DELETED_USER.to_owned());
        self.tell_author(&r, &name, "room_joined", "Someone joined your room")
            .await;
        Ok(view)
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id, room_id = %id))]
    pub async fn leave(&self, who: &AuthUser, id: Uuid) -> Result<RoomView, ApiError> {
        let r = load(&self.deps.db, id).await?;
        if r.deleted || r.status != RoomStatus::Open {
            return Err(room_closed(&r));
        }
        if r.author_id == who.id {
            return Err(ApiError::conflict(
                "author_cannot_leave",
                "the author cannot leave; delete the room instead",
            ));
        }
        // Looked up before anything changes: a directory failure leaves the user in.
        let name = if r.anonymous {
            None
        } else {
            Some(self.deps.nicknames(&[who.id]).await?.of(who.id))
        };
        let txn = self.deps.db.begin().await?;
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
        let freed = room::Entity::update_many()
            .col_expr(
                room::Column::MemberCount,
                Expr::col(room::Column::MemberCount).sub(1),
            )
            .filter(room::Column::Id.eq(id))
            .filter(room::Column::Status.eq(RoomStatus::Open))
            .exec(&txn)
            .await?;
        if freed.rows_affected != 1 {
            txn.rollback().await?;
            return Err(room_closed(&load(&self.deps.db, id).await?));
        }
        txn.commit().await?;
        let r = load(&self.deps.db, id).await?;
        let name = name.unwrap_or_default();
        self.tell_author(&r, &name, "room_left", "Someone left your room")
            .await;
        self.view(Some(who), r, true).await
    }

    /// Tells the author who came or went (`익명` in an anonymous room).
    async fn tell_author(&self, r: &room::Model, name: &str, kind: &str, title: &str) {
        let name = if r.anonymous { "익명" } else { name };
        let _ = self
            .deps
            .notifier
            .notify(
                r.author_id,
                NewNotification {
                    kind: kind.into(),
                    title: title.into(),
                    body: format!("{name} · {} ({}/{})", r.title, r.member_count, r.capacity),
                    data: serde_json::json!({"room_id": r.id}),
                },
            )
            .await;
    }

    /// Closes the room and makes a match of its members (author or admin).
    #[tracing::instrument(skip_all, fields(user_id = %who.id, room_id = %id))]
    pub async fn complete(&self, who: &AuthUser, id: Uuid) -> Result<RoomView, ApiError> {
        let r = load(&self.deps.db, id).await?;
        Self::may_manage(who, &r)?;
        if r.deleted || !r.status.can_become(RoomStatus::Completed) {
            return Err(room_closed(&r));
        }
        let conditions = stored_conditions(&r.conditions)?;
        let now = self.deps.clock.now_ms();
        let txn = self.deps.db.begin().await?;
        let match_id = new_id();
        let closed = room::Entity::update_many()
            .col_expr(room::Column::Status, Expr::value(RoomStatus::Completed))
            .col_expr(room::Column::MatchId, Expr::value(Some(match_id)))
            .col_expr(room::Column::UpdatedAt, Expr::value(now))
            .filter(room::Column::Id.eq(id))
            .filter(room::Column::Status.eq(RoomStatus::Open))
            .filter(room::Column::Deleted.eq(false))
            // In the same conditional write: a member leaving at this moment cannot
            // leave a completed room of one.
            .filter(room::Column::MemberCount.gte(MIN_MEMBERS_TO_COMPLETE))
            .exec(&txn)
            .await?;
        if closed.rows_affected != 1 {
            txn.rollback().await?;
            let now = load(&self.deps.db, id).await?;
            if !now.deleted
                && now.status == RoomStatus::Open
                && now.member_count < MIN_MEMBERS_TO_COMPLETE
            {
                return Err(ApiError::conflict(
                    "room_too_small",
                    format!("a room needs at least {MIN_MEMBERS_TO_COMPLETE} members to complete"),
                )
                .with("member_count", now.member_count));
            }
            return Err(room_closed(&now));
        }
        let members: Vec<Uuid> = member::Entity::find()
            .select_only()
            .column(member::Column::UserId)
            .filter(member::Column::RoomId.eq(id))
            .into_tuple()
            .all(&txn)
            .await?;
        create_match(
            &txn,
            match_id,
            r.category,
            MatchSource::Room {
                id,
                author: r.author_id,
            },
            &conditions,
            &members,
            now,
        )
        .await?;
        txn.commit().await?;
        for m in &members {
            let _ = self
                .deps
                .notifier
                .notify(
                    *m,
                    NewNotification {
                        kind: "room_completed".into(),
                        title: "Your room is complete".into(),
                        body: format!(
                            "{} — see your match and review your partners later.",
                            r.title
                        ),
                        data: serde_json::json!({"room_id": id, "match_id": match_id}),
                    },
                )
                .await;
        }
        self.view(Some(who), load(&self.deps.db, id).await?, true)
            .await
    }
}

fn to_view(r: room::Model, members: Vec<MemberView>) -> Result<RoomView, ApiError> {
    Ok(RoomView {
        id: r.id,
        category: r.category,
        title: r.title,
        body: r.body,
        capacity: r.capacity,
        member_count: r.member_count,
        meets_at: rfc3339(r.meets_at),
        anonymous: r.anonymous,
        conditions: stored_conditions(&r.conditions)?,
        status: r.status,
        deleted: r.deleted,
        match_id: r.match_id,
        members,
        created_at: rfc3339(r.created_at),
    })
}
