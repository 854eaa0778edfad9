//! Meal and study rooms: capacity that is never exceeded, members, completion into a
//! match, and comments with one level of replies.
//!
//! Joining inserts the membership (unique per room and user) and takes a place with
//! `member_count = member_count + 1 WHERE member_count < capacity AND status = 'OPEN'`
//! in one transaction: never more members than capacity, under any concurrency.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use surge_kernel::auth::AuthUser;
use surge_kernel::clock::Clock;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ports::{NewNotification, Notifier, UserDirectory};
use surge_kernel::{new_id, parse_rfc3339, rfc3339, ApiError};
use uuid::Uuid;

use crate::domain::{Category, Conditions, Place, StudyType, Way};
use crate::entities::{comment, member, room};
use crate::matches::{create_match, MatchSource};

pub const OPEN: &str = "OPEN";
pub const COMPLETED: &str = "COMPLETED";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RoomDraft {
    pub category: Category,
    pub title: String,
    #[serde(default)]
    pub body: String,
    /// 2..=20, the author included.
    pub capacity: i32,
    /// RFC 3339.
    pub meets_at: String,
    #[serde(default)]
    pub anonymous: bool,
    #[serde(default)]
    pub conditions: Conditions,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RoomPatch {
    pub title: Option<String>,
    pub body: Option<String>,
    /// Never below the current number of members.
    pub capacity: Option<i32>,
    pub meets_at: Option<String>,
    pub anonymous: Option<bool>,
    pub conditions: Option<Conditions>,
}

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
    pub status: String,
    pub deleted: bool,
    /// Set once the room is completed.
    pub match_id: Option<Uuid>,
    /// In a room's own view; empty in lists.
    pub members: Vec<MemberView>,
    pub created_at: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct RoomFilter {
    pub category: Option<Category>,
    /// `open` (default) or `completed`.
    pub status: Option<String>,
    pub place: Option<Place>,
    pub way: Option<Way>,
    pub study_type: Option<StudyType>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CommentDraft {
    pub body: String,
    /// Reply to this top-level comment.
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CommentPatch {
    pub body: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommentView {
    pub id: Uuid,
    pub room_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub author_id: Option<Uuid>,
    pub author: String,
    /// Empty once deleted.
    pub body: String,
    pub deleted: bool,
    pub created_at: String,
    pub updated_at: String,
    /// Replies (top-level comments only).
    #[schema(no_recursion)]
    pub replies: Vec<CommentView>,
}

pub struct Rooms {
    pub(crate) db: DatabaseConnection,
    read_db: DatabaseConnection,
    pub(crate) clock: Arc<dyn Clock>,
    users: Arc<dyn UserDirectory>,
    pub(crate) notifier: Arc<dyn Notifier>,
}

fn title(t: &str) -> Result<String, ApiError> {
    let t = t.trim();
    if t.is_empty() || t.chars().count() > 100 {
        return Err(ApiError::validation("title must be 1..=100 characters").with("field", "title"));
    }
    Ok(t.to_owned())
}

fn body(b: &str, field: &str) -> Result<String, ApiError> {
    if b.chars().count() > 5_000 {
        return Err(
            ApiError::validation(format!("{field} is at most 5,000 characters"))
                .with("field", field),
        );
    }
    Ok(b.trim().to_owned())
}

fn capacity(c: i32) -> Result<i32, ApiError> {
    if !(2..=20).contains(&c) {
        return Err(ApiError::validation("capacity must be 2..=20").with("field", "capacity"));
    }
    Ok(c)
}

fn room_closed(r: &room::Model) -> ApiError {
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

impl Rooms {
    pub fn new(
        f: &surge_kernel::module::Foundation,
        users: Arc<dyn UserDirectory>,
        notifier: Arc<dyn Notifier>,
    ) -> Self {
        Rooms {
            db: f.db.clone(),
            read_db: f.read_db.clone(),
            clock: f.clock.clone(),
            users,
            notifier,
        }
    }

    pub async fn create(&self, who: &AuthUser, d: RoomDraft) -> Result<RoomView, ApiError> {
        let conditions = d.conditions.normalized(d.category)?;
        let now = self.clock.now_ms();
        let meets_at = parse_rfc3339(&d.meets_at, "meets_at")?;
        if meets_at <= now {
            return Err(
                ApiError::validation("meets_at must be in the future").with("field", "meets_at")
            );
        }
        let id = new_id();
        let txn = self.db.begin().await?;
        let r = room::ActiveModel {
            id: Set(id),
            author_id: Set(who.id),
            category: Set(d.category.as_str().into()),
            title: Set(title(&d.title)?),
            body: Set(body(&d.body, "body")?),
            capacity: Set(capacity(d.capacity)?),
            member_count: Set(1),
            meets_at: Set(meets_at),
            anonymous: Set(d.anonymous),
            tags: Set(conditions.tags()),
            conditions: Set(conditions.to_json()),
            status: Set(OPEN.into()),
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
        self.view(who, r, true).await
    }

    pub(crate) async fn load(&self, id: Uuid) -> Result<room::Model, ApiError> {
        room::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::not_found("no such room"))
    }

    /// A room; a deleted one only for its author and admins.
    pub async fn get(&self, who: Option<&AuthUser>, id: Uuid) -> Result<RoomView, ApiError> {
        let r = self.load(id).await?;
        if r.deleted && !who.is_some_and(|w| w.id == r.author_id || w.is_admin()) {
            return Err(ApiError::not_found("no such room"));
        }
        self.view_for(who, r, true).await
    }

    async fn view(
        &self,
        who: &AuthUser,
        r: room::Model,
        members: bool,
    ) -> Result<RoomView, ApiError> {
        self.view_for(Some(who), r, members).await
    }

    async fn view_for(
        &self,
        who: Option<&AuthUser>,
        r: room::Model,
        with_members: bool,
    ) -> Result<RoomView, ApiError> {
        let mut members = Vec::new();
        if with_members {
            let rows = member::Entity::find()
                .filter(member::Column::RoomId.eq(r.id))
                .order_by_asc(member::Column::JoinedAt)
                .all(&self.db)
                .await?;
            for (i, m) in rows.iter().enumerate() {
                let is_me = who.is_some_and(|w| w.id == m.user_id);
                let hidden = r.anonymous && !is_me;
                members.push(MemberView {
                    user_id: (!hidden).then_some(m.user_id),
                    nickname: if hidden {
                        format!("익명 {}", i + 1)
                    } else {
                        crate::nickname(&*self.users, m.user_id).await
                    },
                    is_author: m.user_id == r.author_id,
                    is_me,
                });
            }
        }
        Ok(to_view(r, members))
    }

    pub async fn list(&self, f: &RoomFilter, page: &PageQuery) -> Result<Page<RoomView>, ApiError> {
        let limit = page.limit()?;
        let status = match f.status.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("open") => OPEN,
            Some("completed") => COMPLETED,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_filter",
                    "status is open or completed",
                ))
            }
        };
        let mut q = room::Entity::find()
            .filter(room::Column::Deleted.eq(false))
            .filter(room::Column::Status.eq(status));
        if let Some(c) = f.category {
            q = q.filter(room::Column::Category.eq(c.as_str()));
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
            .all(&self.read_db)
            .await?;
        let views = rows.into_iter().map(|r| to_view(r, vec![])).collect();
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

    pub async fn update(
        &self,
        who: &AuthUser,
        id: Uuid,
        p: RoomPatch,
    ) -> Result<RoomView, ApiError> {
        let r = self.load(id).await?;
        Self::may_manage(who, &r)?;
        if r.deleted || r.status != OPEN {
            return Err(room_closed(&r));
        }
        let category = Category::parse(&r.category).unwrap_or(Category::Meal);
        let mut upd = room::Entity::update_many()
            .col_expr(room::Column::UpdatedAt, Expr::value(self.clock.now_ms()))
            .filter(room::Column::Id.eq(id))
            .filter(room::Column::Status.eq(OPEN));
        if let Some(t) = &p.title {
            upd = upd.col_expr(room::Column::Title, Expr::value(title(t)?));
        }
        if let Some(b) = &p.body {
            upd = upd.col_expr(room::Column::Body, Expr::value(body(b, "body")?));
        }
        if let Some(m) = &p.meets_at {
            upd = upd.col_expr(
                room::Column::MeetsAt,
                Expr::value(parse_rfc3339(m, "meets_at")?),
            );
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
            let c = c.normalized(category)?;
            upd = upd
                .col_expr(room::Column::Tags, Expr::value(c.tags()))
                .col_expr(room::Column::Conditions, Expr::value(c.to_json()));
        }
        if let Some(c) = p.capacity {
            // Conditional: a join racing this edit can never leave more members than seats.
            upd = upd
                .col_expr(room::Column::Capacity, Expr::value(capacity(c)?))
                .filter(room::Column::MemberCount.lte(c));
        }
        if upd.exec(&self.db).await?.rows_affected != 1 {
            let now = self.load(id).await?;
            if p.capacity.is_some_and(|c| c < now.member_count) {
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
        self.view(who, self.load(id).await?, true).await
    }

    pub async fn set_deleted(
        &self,
        who: &AuthUser,
        id: Uuid,
        deleted: bool,
    ) -> Result<RoomView, ApiError> {
        let r = self.load(id).await?;
        Self::may_manage(who, &r)?;
        room::Entity::update_many()
            .col_expr(room::Column::Deleted, Expr::value(deleted))
            .col_expr(room::Column::UpdatedAt, Expr::value(self.clock.now_ms()))
            .filter(room::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        self.view(who, self.load(id).await?, true).await
    }

    pub async fn join(&self, who: &AuthUser, id: Uuid) -> Result<RoomView, ApiError> {
        let now = self.clock.now_ms();
        let txn = self.db.begin().await?;
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
            .filter(room::Column::Status.eq(OPEN))
            .filter(room::Column::Deleted.eq(false))
            .filter(Expr::col(room::Column::MemberCount).lt(Expr::col(room::Column::Capacity)))
            .exec(&txn)
            .await?;
        if took.rows_affected != 1 {
            txn.rollback().await?;
            let r = self.load(id).await?;
            return Err(if r.deleted || r.status != OPEN {
                room_closed(&r)
            } else {
                ApiError::conflict("room_full", "this room is full").with("capacity", r.capacity)
            });
        }
        txn.commit().await?;
        let r = self.load(id).await?;
        self.tell_author(&r, who.id, "room_joined", "Someone joined your room")
            .await;
        self.view(who, r, true).await
    }

    pub async fn leave(&self, who: &AuthUser, id: Uuid) -> Result<RoomView, ApiError> {
        let r = self.load(id).await?;
        if r.deleted || r.status != OPEN {
            return Err(room_closed(&r));
        }
        if r.author_id == who.id {
            return Err(ApiError::conflict(
                "author_cannot_leave",
                "the author cannot leave; delete the room instead",
            ));
        }
        let txn = self.db.begin().await?;
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
            .filter(room::Column::Status.eq(OPEN))
            .exec(&txn)
            .await?;
        if freed.rows_affected != 1 {
            txn.rollback().await?;
            return Err(room_closed(&self.load(id).await?));
        }
        txn.commit().await?;
        let r = self.load(id).await?;
        self.tell_author(&r, who.id, "room_left", "Someone left your room")
            .await;
        self.view(who, r, true).await
    }

    async fn tell_author(&self, r: &room::Model, who: Uuid, kind: &str, title: &str) {
        let name = if r.anonymous {
            "익명".to_owned()
        } else {
            crate::nickname(&*self.users, who).await
        };
        let _ = self
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
    pub async fn complete(&self, who: &AuthUser, id: Uuid) -> Result<RoomView, ApiError> {
        let r = self.load(id).await?;
        Self::may_manage(who, &r)?;
        if r.deleted || r.status != OPEN {
            return Err(room_closed(&r));
        }
        let now = self.clock.now_ms();
        let txn = self.db.begin().await?;
        let match_id = new_id();
        let closed = room::Entity::update_many()
            .col_expr(room::Column::Status, Expr::value(COMPLETED))
            .col_expr(room::Column::MatchId, Expr::value(Some(match_id)))
            .col_expr(room::Column::UpdatedAt, Expr::value(now))
            .filter(room::Column::Id.eq(id))
            .filter(room::Column::Status.eq(OPEN))
            .filter(room::Column::Deleted.eq(false))
            // In the same conditional write: a member leaving at this moment cannot
            // leave a completed room of one.
            .filter(room::Column::MemberCount.gte(MIN_MEMBERS_TO_COMPLETE))
            .exec(&txn)
            .await?;
        if closed.rows_affected != 1 {
            txn.rollback().await?;
            let now = self.load(id).await?;
            if !now.deleted && now.status == OPEN && now.member_count < MIN_MEMBERS_TO_COMPLETE {
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
        let category = Category::parse(&r.category).unwrap_or(Category::Meal);
        create_match(
            &txn,
            match_id,
            category,
            MatchSource::Room {
                id,
                author: r.author_id,
            },
            &Conditions::from_json(&r.conditions),
            &members,
            now,
        )
        .await?;
        txn.commit().await?;
        for m in &members {
            let _ = self
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
        self.view(who, self.load(id).await?, true).await
    }

    pub async fn comment(
        &self,
        who: &AuthUser,
        room_id: Uuid,
        d: CommentDraft,
    ) -> Result<CommentView, ApiError> {
        let r = self.load(room_id).await?;
        if r.deleted {
            return Err(ApiError::not_found("no such room"));
        }
        let text = body(&d.body, "body")?;
        if text.is_empty() {
            return Err(ApiError::validation("a comment needs a body").with("field", "body"));
        }
        let parent = match d.parent_id {
            Some(p) => Some(
                comment::Entity::find_by_id(p)
                    .one(&self.db)
                    .await?
                    .filter(|c| c.room_id == room_id && c.parent_id.is_none())
                    .ok_or_else(|| {
                        ApiError::validation("parent_id must be a top-level comment of this room")
                            .with("field", "parent_id")
                    })?,
            ),
            None => None,
        };
        let now = self.clock.now_ms();
        let c = comment::ActiveModel {
            id: Set(new_id()),
            room_id: Set(room_id),
            author_id: Set(who.id),
            parent_id: Set(d.parent_id),
            body: Set(text),
            deleted: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.db)
        .await?;
        if let Some(p) = parent.filter(|p| p.author_id != who.id && !p.deleted) {
            let _ = self
                .notifier
                .notify(
                    p.author_id,
                    NewNotification {
                        kind: "comment_replied".into(),
                        title: "New reply to your comment".into(),
                        body: c.body.chars().take(100).collect(),
                        data: serde_json::json!({"room_id": room_id, "comment_id": c.id}),
                    },
                )
                .await;
        }
        let mut names = HashMap::new();
        Ok(self.comment_view(&r, c, &mut names).await)
    }

    async fn comment_view(
        &self,
        r: &room::Model,
        c: comment::Model,
        names: &mut HashMap<Uuid, String>,
    ) -> CommentView {
        let author = if r.anonymous {
            "익명".to_owned()
        } else if let Some(n) = names.get(&c.author_id) {
            n.clone()
        } else {
            let n = crate::nickname(&*self.users, c.author_id).await;
            names.insert(c.author_id, n.clone());
            n
        };
        CommentView {
            id: c.id,
            room_id: c.room_id,
            parent_id: c.parent_id,
            author_id: (!r.anonymous).then_some(c.author_id),
            author,
            body: if c.deleted { String::new() } else { c.body },
            deleted: c.deleted,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
            replies: vec![],
        }
    }

    /// Top-level comments, oldest first, each with its replies.
    pub async fn comments(
        &self,
        room_id: Uuid,
        page: &PageQuery,
    ) -> Result<Page<CommentView>, ApiError> {
        let r = self.load(room_id).await?;
        if r.deleted {
            return Err(ApiError::not_found("no such room"));
        }
        let limit = page.limit()?;
        let mut q = comment::Entity::find()
            .filter(comment::Column::RoomId.eq(room_id))
            .filter(comment::Column::ParentId.is_null());
        if let Some(c) = page.uuid_cursor()? {
            q = q.filter(comment::Column::Id.gt(c));
        }
        let top = q
            .order_by_asc(comment::Column::Id)
            .limit(limit + 1)
            .all(&self.read_db)
            .await?;
        let ids: Vec<Uuid> = top.iter().map(|c| c.id).collect();
        let replies = comment::Entity::find()
            .filter(comment::Column::ParentId.is_in(ids))
            .order_by_asc(comment::Column::Id)
            .all(&self.read_db)
            .await?;
        let mut names = HashMap::new();
        let mut by_parent: HashMap<Uuid, Vec<CommentView>> = HashMap::new();
        for c in replies {
            let parent = c.parent_id.unwrap_or_default();
            let v = self.comment_view(&r, c, &mut names).await;
            by_parent.entry(parent).or_default().push(v);
        }
        let mut views = Vec::new();
        for c in top {
            let id = c.id;
            let mut v = self.comment_view(&r, c, &mut names).await;
            v.replies = by_parent.remove(&id).unwrap_or_default();
            views.push(v);
        }
        Ok(Page::from_rows(views, limit, |c: &CommentView| {
            c.id.to_string()
        }))
    }

    async fn own_comment(
        &self,
        who: &AuthUser,
        id: Uuid,
        admin_ok: bool,
    ) -> Result<(comment::Model, room::Model), ApiError> {
        let c = comment::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .filter(|c| !c.deleted)
            .ok_or_else(|| ApiError::not_found("no such comment"))?;
        if c.author_id != who.id && !(admin_ok && who.is_admin()) {
            return Err(ApiError::forbidden(
                "forbidden",
                "only the comment's author can do this",
            ));
        }
        let r = self.load(c.room_id).await?;
        Ok((c, r))
    }

    pub async fn edit_comment(
        &self,
        who: &AuthUser,
        id: Uuid,
        p: CommentPatch,
    ) -> Result<CommentView, ApiError> {
        let (c, r) = self.own_comment(who, id, false).await?;
        let text = body(&p.body, "body")?;
        if text.is_empty() {
            return Err(ApiError::validation("a comment needs a body").with("field", "body"));
        }
        let mut am: comment::ActiveModel = c.into();
        am.body = Set(text);
        am.updated_at = Set(self.clock.now_ms());
        let saved = am.update(&self.db).await?;
        Ok(self.comment_view(&r, saved, &mut HashMap::new()).await)
    }

    pub async fn delete_comment(&self, who: &AuthUser, id: Uuid) -> Result<(), ApiError> {
        self.own_comment(who, id, true).await?;
        comment::Entity::update_many()
            .col_expr(comment::Column::Deleted, Expr::value(true))
            .col_expr(comment::Column::UpdatedAt, Expr::value(self.clock.now_ms()))
            .filter(comment::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

fn to_view(r: room::Model, members: Vec<MemberView>) -> RoomView {
    RoomView {
        id: r.id,
        category: Category::parse(&r.category).unwrap_or(Category::Meal),
        title: r.title,
        body: r.body,
        capacity: r.capacity,
        member_count: r.member_count,
        meets_at: rfc3339(r.meets_at),
        anonymous: r.anonymous,
        conditions: Conditions::from_json(&r.conditions),
        status: r.status,
        deleted: r.deleted,
        match_id: r.match_id,
        members,
        created_at: rfc3339(r.created_at),
    }
}
