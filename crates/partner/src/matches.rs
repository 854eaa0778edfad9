//! Matches (from a completed room or the random matcher), reviews between members,
//! and activity scores.
//!
//! Scores follow the original's rules: a review of 1..5 stars gives the reviewee
//! −10 / 0 / +10 / +20 / +42, writing a review +20, taking part in a match +10,
//! authoring a completed room +42. Each change is a row keyed by (user, reason,
//! subject), so an effect replayed never counts twice; a score is their sum.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ports::NewNotification;
use surge_kernel::{new_id, rfc3339, ApiError, Millis};
use uuid::Uuid;

use crate::deps::{stored_conditions, Deps};
use crate::domain::{Category, Conditions, InvalidInput, MatchKind, NewReview};
use crate::entities::{activity, match_member, matched, review};

/// Reviews open this long after the match.
pub const REVIEW_AFTER_MS: Millis = 30 * 60 * 1000;

pub enum MatchSource {
    Room { id: Uuid, author: Uuid },
    Random,
}

/// Adds a score change once: (user, reason, subject) is the key.
pub(crate) async fn record(
    conn: &impl ConnectionTrait,
    user: Uuid,
    reason: &str,
    subject: Uuid,
    points: i32,
    now: Millis,
) -> Result<(), DbErr> {
    let stmt = Query::insert()
        .into_table(activity::Entity)
        .columns([
            activity::Column::UserId,
            activity::Column::Reason,
            activity::Column::SubjectId,
            activity::Column::Points,
            activity::Column::CreatedAt,
        ])
        .values([
            user.into(),
            reason.into(),
            subject.into(),
            points.into(),
            now.into(),
        ])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    surge_kernel::sql::insert_if_absent(conn, stmt, &["user_id", "reason", "subject_id"]).await?;
    Ok(())
}

/// Writes a match of `members` (in the caller's transaction) and their activity.
pub(crate) async fn create_match(
    conn: &impl ConnectionTrait,
    id: Uuid,
    category: Category,
    source: MatchSource,
    conditions: &Conditions,
    members: &[Uuid],
    now: Millis,
) -> Result<(), DbErr> {
    let (kind, room_id) = match &source {
        MatchSource::Room { id, .. } => (MatchKind::Room, Some(*id)),
        MatchSource::Random => (MatchKind::Random, None),
    };
    matched::Entity::insert(matched::ActiveModel {
        id: sea_orm::Set(id),
        category: sea_orm::Set(category),
        source: sea_orm::Set(kind),
        room_id: sea_orm::Set(room_id),
        conditions: sea_orm::Set(conditions.to_json()),
        created_at: sea_orm::Set(now),
    })
    .exec(conn)
    .await?;
    match_member::Entity::insert_many(members.iter().map(|u| match_member::ActiveModel {
        match_id: sea_orm::Set(id),
        user_id: sea_orm::Set(*u),
    }))
    .exec(conn)
    .await?;
    for u in members {
        record(conn, *u, "participated", id, 10, now).await?;
    }
    if let MatchSource::Room { id: room, author } = source {
        record(conn, author, "authored", room, 42, now).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MatchMember {
    pub user_id: Uuid,
    pub nickname: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MatchView {
    pub id: Uuid,
    pub category: Category,
    /// ROOM or RANDOM.
    pub source: MatchKind,
    pub room_id: Option<Uuid>,
    /// What every member accepts.
    pub conditions: Conditions,
    pub members: Vec<MatchMember>,
    pub created_at: String,
    /// When reviews open.
    pub reviews_open_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewView {
    pub id: Uuid,
    pub match_id: Uuid,
    pub reviewee_id: Uuid,
    pub stars: i32,
    pub created_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActivityView {
    pub user_id: Uuid,
    pub score: i64,
    pub matches: i64,
    pub reviews_written: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeaderboardEntry {
    pub rank: usize,
    pub user_id: Uuid,
    pub nickname: String,
    pub score: i64,
}

#[derive(FromQueryResult)]
struct ScoreRow {
    user_id: Uuid,
    score: i64,
}

pub struct Matches {
    deps: Arc<Deps>,
}

impl Matches {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Matches { deps }
    }

    /// Matches with their members, every member's nickname found in one lookup.
    async fn views(&self, rows: Vec<matched::Model>) -> Result<Vec<MatchView>, ApiError> {
        let ids: Vec<Uuid> = rows.iter().map(|m| m.id).collect();
        let mut members: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        let mut everyone = Vec::new();
        for mm in match_member::Entity::find()
            .filter(match_member::Column::MatchId.is_in(ids))
            .all(&self.deps.db)
            .await?
        {
            everyone.push(mm.user_id);
            members.entry(mm.match_id).or_default().push(mm.user_id);
        }
        let names = self.deps.nicknames(&everyone).await?;
        let mut out = Vec::new();
        for m in rows {
            let ms = members
                .remove(&m.id)
                .unwrap_or_default()
                .into_iter()
                .map(|u| MatchMember {
                    user_id: u,
                    nickname: names.of(u),
                })
                .collect();
            out.push(MatchView {
                id: m.id,
                category: m.category,
                source: m.source,
                room_id: m.room_id,
                conditions: stored_conditions(&m.conditions)?,
                members: ms,
                created_at: rfc3339(m.created_at),
                reviews_open_at: rfc3339(m.created_at + REVIEW_AFTER_MS),
            });
        }
        Ok(out)
    }

    /// My matches, newest first.
    #[tracing::instrument(skip_all, fields(user_id = %who.id))]
    pub async fn mine(
        &self,
        who: &AuthUser,
        page: &PageQuery,
    ) -> Result<Page<MatchView>, ApiError> {
        let limit = page.limit()?;
        let mut q = match_member::Entity::find().filter(match_member::Column::UserId.eq(who.id));
        if let Some(c) = page.uuid_cursor()? {
            q = q.filter(match_member::Column::MatchId.lt(c));
        }
        let ids: Vec<Uuid> = q
            .select_only()
            .column(match_member::Column::MatchId)
            .order_by_desc(match_member::Column::MatchId)
            .limit(limit + 1)
            .into_tuple()
            .all(&self.deps.read_db)
            .await?;
        let mut rows = matched::Entity::find()
            .filter(matched::Column::Id.is_in(ids))
            .all(&self.deps.read_db)
            .await?;
        rows.sort_by_key(|m| std::cmp::Reverse(m.id));
        let views = self.views(rows).await?;
        Ok(Page::from_rows(views, limit, |m: &MatchView| {
            m.id.to_string()
        }))
    }

    async fn member_of(&self, who: &AuthUser, id: Uuid) -> Result<matched::Model, ApiError> {
        let is_member = match_member::Entity::find_by_id((id, who.id))
            .one(&self.deps.db)
            .await?
            .is_some();
        let m = matched::Entity::find_by_id(id).one(&self.deps.db).await?;
        match m {
            Some(m) if is_member || who.is_admin() => Ok(m),
            _ => Err(ApiError::not_found("no such match")),
        }
    }

    /// One match, for its members (and admins); others get 404.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, match_id = %id))]
    pub async fn get(&self, who: &AuthUser, id: Uuid) -> Result<MatchView, ApiError> {
        let m = self.member_of(who, id).await?;
        let mut v = self.views(vec![m]).await?;
        v.pop().ok_or_else(|| ApiError::not_found("no such match"))
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id, match_id = %match_id, reviewee_id = %d.reviewee))]
    pub async fn review(
        &self,
        who: &AuthUser,
        match_id: Uuid,
        d: NewReview,
    ) -> Result<ReviewView, ApiError> {
        let m = self.member_of(who, match_id).await?;
        if match_member::Entity::find_by_id((match_id, who.id))
            .one(&self.deps.db)
            .await?
            .is_none()
        {
            return Err(ApiError::forbidden(
                "forbidden",
                "only members review each other",
            ));
        }
        if d.reviewee == who.id {
            return Err(InvalidInput::SelfReview.into());
        }
        if match_member::Entity::find_by_id((match_id, d.reviewee))
            .one(&self.deps.db)
            .await?
            .is_none()
        {
            return Err(ApiError::validation("the reviewee is not in this match")
                .with("field", "reviewee_id"));
        }
        let now = self.deps.clock.now_ms();
        if now < m.created_at + REVIEW_AFTER_MS {
            return Err(ApiError::conflict(
                "review_not_open",
                "reviews open 30 minutes after the match",
            )
            .with("reviews_open_at", rfc3339(m.created_at + REVIEW_AFTER_MS)));
        }
        let id = new_id();
        let txn = sea_orm::TransactionTrait::begin(&self.deps.db).await?;
        let inserted = review::Entity::insert(review::ActiveModel {
            id: sea_orm::Set(id),
            match_id: sea_orm::Set(match_id),
            reviewer_id: sea_orm::Set(who.id),
            reviewee_id: sea_orm::Set(d.reviewee),
            stars: sea_orm::Set(d.stars.get()),
            created_at: sea_orm::Set(now),
        })
        .exec(&txn)
        .await;
        if let Err(e) = inserted {
            txn.rollback().await?;
            return Err(match surge_kernel::error::unique_violation(&e) {
                Some(_) => ApiError::conflict(
                    "already_reviewed",
                    "you already reviewed this partner for this match",
                ),
                None => e.into(),
            });
        }
        record(&txn, d.reviewee, "reviewed_by", id, d.stars.points(), now).await?;
        record(&txn, who.id, "wrote_review", id, 20, now).await?;
        txn.commit().await?;
        let _ = self
            .deps
            .notifier
            .notify(
                d.reviewee,
                NewNotification {
                    kind: "review_received".into(),
                    title: "A partner reviewed you".into(),
                    body: format!("{} star(s)", d.stars.get()),
                    data: serde_json::json!({"match_id": match_id}),
                },
            )
            .await;
        Ok(ReviewView {
            id,
            match_id,
            reviewee_id: d.reviewee,
            stars: d.stars.get(),
            created_at: rfc3339(now),
        })
    }

    #[tracing::instrument(skip(self))]
    pub async fn activity(&self, user: Uuid) -> Result<ActivityView, ApiError> {
        let rows = activity::Entity::find()
            .filter(activity::Column::UserId.eq(user))
            .all(&self.deps.read_db)
            .await?;
        Ok(ActivityView {
            user_id: user,
            score: rows.iter().map(|r| r.points as i64).sum(),
            matches: rows.iter().filter(|r| r.reason == "participated").count() as i64,
            reviews_written: rows.iter().filter(|r| r.reason == "wrote_review").count() as i64,
        })
    }

    #[tracing::instrument(skip(self))]
    /// The `limit` best scores (`http.rs` bounds it to 1..=100).
    pub async fn leaderboard(&self, limit: u64) -> Result<Vec<LeaderboardEntry>, ApiError> {
        let score = Alias::new("score");
        let backend = self.deps.read_db.get_database_backend();
        // SUM of an INT is DECIMAL on MySQL: cast it back to a 64-bit integer.
        let sum = match backend {
            sea_orm::DbBackend::MySql => "CAST(SUM(points) AS SIGNED)",
            sea_orm::DbBackend::Postgres => "CAST(SUM(points) AS BIGINT)",
            sea_orm::DbBackend::Sqlite => "SUM(points)",
        };
        let stmt = Query::select()
            .column(activity::Column::UserId)
            .expr_as(Expr::cust(sum), score.clone())
            .from(activity::Entity)
            .group_by_col(activity::Column::UserId)
            .order_by(score, sea_orm::Order::Desc)
            .order_by(activity::Column::UserId, sea_orm::Order::Asc)
            .limit(limit)
            .to_owned();
        let rows = ScoreRow::find_by_statement(backend.build(&stmt))
            .all(&self.deps.read_db)
            .await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.user_id).collect();
        let names = self.deps.nicknames(&ids).await?;
        Ok(rows
            .into_iter()
            .enumerate()
            .map(|(i, r)| LeaderboardEntry {
                rank: i + 1,
                user_id: r.user_id,
                nickname: names.of(r.user_id),
                score: r.score,
            })
            .collect())
    }
}
