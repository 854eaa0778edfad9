//! Points, levels and rankings, read from the counters approvals maintain (`proofs.rs`):
//! a balance is one row, a rank is one count over the (period, points) index, never a
//! sum over history. Also community's answer to shop's "did this user complete a
//! mission today?" (`MissionCompletions`).

use std::sync::Arc;

use chrono::NaiveDate;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::clock::kst;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ports::MissionCompletions;
use surge_kernel::{rfc3339, ApiError};
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::{level_of, period_key, MissionState, Period};
use crate::entities::{mission_history as history, point_entry, point_total};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointEntryView {
    pub id: Uuid,
    pub points: i64,
    pub reason: String,
    pub mission_history_id: Uuid,
    pub created_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MyPoints {
    /// All-time points.
    pub balance: i64,
    pub today: i64,
    pub this_week: i64,
    pub level: u32,
    pub level_name: String,
    /// All-time points the next level needs; absent at the top level.
    pub next_level_at: Option<i64>,
    /// The caller's awards, newest first.
    pub history: Page<PointEntryView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RankedUser {
    /// 1 + the number of users with more points (equal points share a rank).
    pub rank: u64,
    pub user_id: Uuid,
    pub nickname: String,
    pub points: i64,
    pub level: u32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rankings {
    pub period: String,
    /// Most points first; equal points by user id.
    pub top: Vec<RankedUser>,
    /// The caller's own place (present when signed in).
    pub me: Option<RankedUser>,
}

pub const DEFAULT_RANKING_LIMIT: u64 = 10;
pub const MAX_RANKING_LIMIT: u64 = 100;

pub struct Points {
    deps: Arc<Deps>,
}

impl Points {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Points { deps }
    }

    async fn total(&self, key: &str, user: Uuid) -> Result<i64, ApiError> {
        Ok(point_total::Entity::find_by_id((key.to_owned(), user))
            .one(&self.deps.read_db)
            .await?
            .map_or(0, |t| t.points))
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id))]
    pub async fn mine(&self, who: &AuthUser, q: &PageQuery) -> Result<MyPoints, ApiError> {
        let limit = q.limit()?;
        let today = kst::day(self.deps.clock.now_ms());
        let balance = self.total(&period_key(Period::All, today), who.id).await?;
        let day = self.total(&period_key(Period::Day, today), who.id).await?;
        let week = self.total(&period_key(Period::Week, today), who.id).await?;
        let mut query = point_entry::Entity::find()
            .filter(point_entry::Column::UserId.eq(who.id))
            .order_by_desc(point_entry::Column::Id);
        if let Some(id) = q.uuid_cursor()? {
            query = query.filter(point_entry::Column::Id.lt(id));
        }
        let rows = query.limit(limit + 1).all(&self.deps.read_db).await?;
        let entries = rows
            .into_iter()
            .map(|e| PointEntryView {
                id: e.id,
                points: e.points,
                reason: e.reason,
                mission_history_id: e.history_id,
                created_at: rfc3339(e.created_at),
            })
            .collect();
        let (level, name, next) = level_of(balance);
        Ok(MyPoints {
            balance,
            today: day,
            this_week: week,
            level,
            level_name: name.to_owned(),
            next_level_at: next,
            history: Page::from_rows(entries, limit, |e| e.id.to_string()),
        })
    }

    /// The top `limit` users of a period (today, this ISO week, all time) and the
    /// caller's rank: 1 + how many have more points, one count over the index.
    #[tracing::instrument(skip(self, who))]
    pub async fn rankings(
        &self,
        who: Option<&AuthUser>,
        period: Period,
        limit: Option<u64>,
    ) -> Result<Rankings, ApiError> {
        let limit = match limit {
            None => DEFAULT_RANKING_LIMIT,
            Some(n) if (1..=MAX_RANKING_LIMIT).contains(&n) => n,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_limit",
                    format!("limit must be between 1 and {MAX_RANKING_LIMIT}"),
                ))
            }
        };
        let today = kst::day(self.deps.clock.now_ms());
        let key = period_key(period, today);
        let db = &self.deps.read_db;
        let rows = point_total::Entity::find()
            .filter(point_total::Column::Period.eq(key.as_str()))
            .filter(point_total::Column::Points.gt(0))
            .order_by_desc(point_total::Column::Points)
            .order_by_asc(point_total::Column::UserId)
            .limit(limit)
            .all(db)
            .await?;
        let mine = match who {
            Some(w) => {
                let points = self.total(&key, w.id).await?;
                Some((w.id, points, rank_of(db, &key, points).await?))
            }
            None => None,
        };
        let mut ids: Vec<Uuid> = rows.iter().map(|r| r.user_id).collect();
        ids.extend(mine.iter().map(|(id, _, _)| *id));
        let names = self.deps.nicknames(&ids, false).await?;
        let mut top = Vec::with_capacity(rows.len());
        let mut rank = 0;
        for (i, r) in rows.iter().enumerate() {
            // Sorted by points: a user's rank is where the first with equal points stands.
            if i == 0 || rows[i - 1].points != r.points {
                rank = i as u64 + 1;
            }
            top.push(RankedUser {
                rank,
                user_id: r.user_id,
                nickname: names.of(r.user_id),
                points: r.points,
                level: level_of(r.points).0,
            });
        }
        let me = mine.map(|(id, points, rank)| RankedUser {
            rank,
            user_id: id,
            nickname: names.of(id),
            points,
            level: level_of(points).0,
        });
        Ok(Rankings {
            period: key,
            top,
            me,
        })
    }
}

/// 1 + the number of users of the period with more than `points`.
async fn rank_of(db: &DatabaseConnection, key: &str, points: i64) -> Result<u64, ApiError> {
    let above = point_total::Entity::find()
        .filter(point_total::Column::Period.eq(key))
        .filter(point_total::Column::Points.gt(points))
        .count(db)
        .await?;
    Ok(above + 1)
}

/// Answers shop's question from community's own table.
pub struct Completions {
    db: DatabaseConnection,
}

impl Completions {
    pub fn new(db: DatabaseConnection) -> Self {
        Completions { db }
    }
}

#[async_trait::async_trait]
impl MissionCompletions for Completions {
    async fn completed_on(&self, user_id: Uuid, day: NaiveDate) -> anyhow::Result<bool> {
        let n = history::Entity::find()
            .filter(history::Column::UserId.eq(user_id))
            .filter(history::Column::Day.eq(day.to_string()))
            .filter(history::Column::Status.eq(MissionState::Approved))
            .count(&self.db)
            .await?;
        Ok(n > 0)
    }
}
