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
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use surge_kernel::auth::AuthUser;
use surge_kernel::clock::Clock;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ports::{NewNotification, Notifier, UserDirectory};
use surge_kernel::{new_id, rfc3339, ApiError, Millis};
use uuid::Uuid;

use crate::domain::{Category, Conditions};
use crate::entities::{activity, match_member, matched, review};

/// Reviews open this long after the match.
pub const REVIEW_AFTER_MS: Millis = 30 * 60 * 1000;

pub enum MatchSource {
    Room { id: Uuid, author: Uuid },
    Random,
}

/// Points a reviewee gets for 1..=5 stars.
pub fn review_points(stars: i32) -> i32 {
    match stars {
        1 => -10,
        2 => 0,
        3 => 10,
        4 => 20,
        _ => 42,
    }
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
        MatchSource::Room { id, .. } => ("ROOM", Some(*id)),
        MatchSource::Random => ("RANDOM", None),
    };
    matched::Entity::insert(matched::ActiveModel {
        id: sea_orm::Set(id),
        category: sea_orm::Set(category.as_str().into()),
        source: sea_orm::Set(kind.into()),
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
    pub source: String,
    pub room_id: Option<Uuid>,
    /// What every member accepts.
    pub conditions: Conditions,
    pub members: Vec<MatchMember>,
    pub created_at: String,
    /// When reviews open.
    pub reviews_open_at: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReviewDraft {
    pub reviewee_id: Uuid,
    /// 1..=5.
    pub stars: i32,
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LeaderboardQuery {
    /// 1..=100 (default 20).
    pub limit: Option<u64>,
}

#[derive(FromQueryResult)]
struct ScoreRow {
    user_id: Uuid,
    score: i64,
}

pub struct Matches {
    db: DatabaseConnection,
    read_db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    users: Arc<dyn UserDirectory>,
    notifier: Arc<dyn Notifier>,
}

impl Matches {
    pub fn new(
        f: &surge_kernel::module::Foundation,
        users: Arc<dyn UserDirectory>,
        notifier: Arc<dyn Notifier>,
    ) -> Self {
        Matches {
            db: f.db.clone(),
            read_db: f.read_db.clone(),
            clock: f.clock.clone(),
            users,
            notifier,
        }
    }

    async fn views(&self, rows: Vec<matched::Model>) -> Result<Vec<MatchView>, ApiError> {
        let ids: Vec<Uuid> = rows.iter().map(|m| m.id).collect();
        let mut members: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for mm in match_member::Entity::find()
            .filter(match_member::Column::MatchId.is_in(ids))
            .all(&self.db)
            .await?
        {
            members.entry(mm.match_id).or_default().push(mm.user_id);
        }
        let mut out = Vec::new();
        for m in rows {
            let mut ms = Vec::new();
            for u in members.remove(&m.id).unwrap_or_default() {
                ms.push(MatchMember {
                    user_id: u,
                    nickname: crate::nickname(&*self.users, u).await,
                });
            }
            out.push(MatchView {
                id: m.id,
                category: Category::parse(&m.category).unwrap_or(Category::Meal),
                source: m.source,
                room_id: m.room_id,
                conditions: Conditions::from_json(&m.conditions),
                members: ms,
                created_at: rfc3339(m.created_at),
                reviews_open_at: rfc3339(m.created_at + REVIEW_AFTER_MS),
            });
        }
        Ok(out)
    }

    /// My matches, newest first.
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
            .all(&self.read_db)
            .await?;
        let mut rows = matched::Entity::find()
            .filter(matched::Column::Id.is_in(ids))
            .all(&self.read_db)
            .await?;
        rows.sort_by_key(|m| std::cmp::Reverse(m.id));
        let views = self.views(rows).await?;
        Ok(Page::from_rows(views, limit, |m: &MatchView| {
            m.id.to_string()
        }))
    }

    async fn member_of(&self, who: &AuthUser, id: Uuid) -> Result<matched::Model, ApiError> {
        let is_member = match_member::Entity::find_by_id((id, who.id))
            .one(&self.db)
            .await?
            .is_some();
        let m = matched::Entity::find_by_id(id).one(&self.db).await?;
        match m {
            Some(m) if is_member || who.is_admin() => Ok(m),
            _ => Err(ApiError::not_found("no such match")),
        }
    }

    /// One match, for its members (and admins); others get 404.
    pub async fn get(&self, who: &AuthUser, id: Uuid) -> Result<MatchView, ApiError> {
        let m = self.member_of(who, id).await?;
        let mut v = self.views(vec![m]).await?;
        v.pop().ok_or_else(|| ApiError::not_found("no such match"))
    }

    pub async fn review(
        &self,
        who: &AuthUser,
        match_id: Uuid,
        d: ReviewDraft,
    ) -> Result<ReviewView, ApiError> {
        let m = self.member_of(who, match_id).await?;
        if match_member::Entity::find_by_id((match_id, who.id))
            .one(&self.db)
            .await?
            .is_none()
        {
            return Err(ApiError::forbidden(
                "forbidden",
                "only members review each other",
            ));
        }
        if !(1..=5).contains(&d.stars) {
            return Err(ApiError::validation("stars must be 1..=5").with("field", "stars"));
        }
        if d.reviewee_id == who.id {
            return Err(
                ApiError::validation("you cannot review yourself").with("field", "reviewee_id")
            );
        }
        if match_member::Entity::find_by_id((match_id, d.reviewee_id))
            .one(&self.db)
            .await?
            .is_none()
        {
            return Err(ApiError::validation("the reviewee is not in this match")
                .with("field", "reviewee_id"));
        }
        let now = self.clock.now_ms();
        if now < m.created_at + REVIEW_AFTER_MS {
            return Err(ApiError::conflict(
                "review_not_open",
                "reviews open 30 minutes after the match",
            )
            .with("reviews_open_at", rfc3339(m.created_at + REVIEW_AFTER_MS)));
        }
        let id = new_id();
        let txn = sea_orm::TransactionTrait::begin(&self.db).await?;
        let inserted = review::Entity::insert(review::ActiveModel {
            id: sea_orm::Set(id),
            match_id: sea_orm::Set(match_id),
            reviewer_id: sea_orm::Set(who.id),
            reviewee_id: sea_orm::Set(d.reviewee_id),
            stars: sea_orm::Set(d.stars),
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
        record(
            &txn,
            d.reviewee_id,
            "reviewed_by",
            id,
            review_points(d.stars),
            now,
        )
        .await?;
        record(&txn, who.id, "wrote_review", id, 20, now).await?;
        txn.commit().await?;
        let _ = self
            .notifier
            .notify(
                d.reviewee_id,
                NewNotification {
                    kind: "review_received".into(),
                    title: "A partner reviewed you".into(),
                    body: format!("{} star(s)", d.stars),
                    data: serde_json::json!({"match_id": match_id}),
                },
            )
            .await;
        Ok(ReviewView {
            id,
            match_id,
            reviewee_id: d.reviewee_id,
            stars: d.stars,
            created_at: rfc3339(now),
        })
    }

    pub async fn activity(&self, user: Uuid) -> Result<ActivityView, ApiError> {
        let rows = activity::Entity::find()
            .filter(activity::Column::UserId.eq(user))
            .all(&self.read_db)
            .await?;
        Ok(ActivityView {
            user_id: user,
            score: rows.iter().map(|r| r.points as i64).sum(),
            matches: rows.iter().filter(|r| r.reason == "participated").count() as i64,
            reviews_written: rows.iter().filter(|r| r.reason == "wrote_review").count() as i64,
        })
    }

    pub async fn leaderboard(&self, limit: Option<u64>) -> Result<Vec<LeaderboardEntry>, ApiError> {
        let limit = limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_limit",
                "limit must be between 1 and 100",
            ));
        }
        let score = Alias::new("score");
        let backend = self.read_db.get_database_backend();
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
            .all(&self.read_db)
            .await?;
        let mut out = Vec::new();
        for (i, r) in rows.into_iter().enumerate() {
            out.push(LeaderboardEntry {
                rank: i + 1,
                user_id: r.user_id,
                nickname: crate::nickname(&*self.users, r.user_id).await,
                score: r.score,
            });
        }
        Ok(out)
    }
}
