//! Daily missions: admins define them per slot (morning, afternoon, evening); a user
//! asks for today's mission of a slot and gets one at random among the active missions
//! of that slot not given to them today, the same one when asking again. The unique
//! (user, KST day, slot) key makes concurrent asks give one mission.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDate;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::clock::kst;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::sql::insert_if_absent;
use surge_kernel::{new_id, rfc3339, ApiError};
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::{MissionDraft, MissionState, Slot};
use crate::entities::{mission, mission_history as history};
use crate::posts::image_url;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MissionView {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub points: i64,
    pub slot: Slot,
    pub active: bool,
}

impl From<mission::Model> for MissionView {
    fn from(m: mission::Model) -> Self {
        MissionView {
            id: m.id,
            title: m.title,
            description: m.description,
            points: m.points,
            slot: m.slot,
            active: m.active,
        }
    }
}

/// A mission given to the caller for one slot of one day, and where its proof stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MissionHistoryView {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The KST day, `YYYY-MM-DD`.
    pub day: String,
    pub slot: Slot,
    pub status: MissionState,
    /// What approval awards.
    pub points: i64,
    pub mission_id: Uuid,
    pub title: String,
    pub description: String,
    /// The proof photo (cleaned of EXIF), once sent.
    pub proof_url: Option<String>,
    pub submitted_at: Option<String>,
    pub decided_at: Option<String>,
    pub reject_reason: Option<String>,
    /// `ADMIN` or `VERIFIER` (the automatic check), once decided.
    pub decided_by: Option<DecidedBy>,
    /// Why the automatic verifier left this proof to the admins (uncertain, unreachable).
    pub verifier_note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DecidedBy {
    Admin,
    Verifier,
}

pub(crate) fn history_view(h: history::Model, m: Option<&mission::Model>) -> MissionHistoryView {
    MissionHistoryView {
        id: h.id,
        user_id: h.user_id,
        day: h.day,
        slot: h.slot,
        status: h.status,
        points: h.points,
        mission_id: h.mission_id,
        title: m.map(|m| m.title.clone()).unwrap_or_default(),
        description: m.map(|m| m.description.clone()).unwrap_or_default(),
        proof_url: h.proof_image_id.map(image_url),
        submitted_at: h.submitted_at.map(rfc3339),
        decided_at: h.decided_at.map(rfc3339),
        reject_reason: h.reject_reason,
        decided_by: h.decided_at.map(|_| match h.decided_by {
            Some(_) => DecidedBy::Admin,
            None => DecidedBy::Verifier,
        }),
        verifier_note: h.verifier_note,
    }
}

/// The missions of `rows`, by id, in one query.
pub(crate) async fn missions_of(
    db: &impl sea_orm::ConnectionTrait,
    rows: &[history::Model],
) -> Result<HashMap<Uuid, mission::Model>, ApiError> {
    let ids: HashSet<Uuid> = rows.iter().map(|h| h.mission_id).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(mission::Entity::find()
        .filter(mission::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect())
}

pub struct Missions {
    deps: Arc<Deps>,
}

impl Missions {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Missions { deps }
    }

    #[tracing::instrument(skip_all)]
    pub async fn create(&self, d: MissionDraft) -> Result<MissionView, ApiError> {
        let now = self.deps.clock.now_ms();
        let m = mission::ActiveModel {
            id: Set(new_id()),
            title: Set(d.title),
            description: Set(d.description),
            points: Set(d.points),
            slot: Set(d.slot),
            active: Set(d.active),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.deps.db)
        .await?;
        Ok(m.into())
    }

    /// Replaces a mission's fields. Missions already given keep the points they had.
    #[tracing::instrument(skip(self, d))]
    pub async fn update(&self, id: Uuid, d: MissionDraft) -> Result<MissionView, ApiError> {
        let found = mission::Entity::find_by_id(id)
            .one(&self.deps.db)
            .await?
            .ok_or_else(|| ApiError::not_found("no such mission"))?;
        let mut m: mission::ActiveModel = found.into();
        m.title = Set(d.title);
        m.description = Set(d.description);
        m.points = Set(d.points);
        m.slot = Set(d.slot);
        m.active = Set(d.active);
        m.updated_at = Set(self.deps.clock.now_ms());
        Ok(m.update(&self.deps.db).await?.into())
    }

    /// Every mission, newest first (an admin's list).
    #[tracing::instrument(skip_all)]
    pub async fn list(&self, q: &PageQuery) -> Result<Page<MissionView>, ApiError> {
        let limit = q.limit()?;
        let mut query = mission::Entity::find().order_by_desc(mission::Column::Id);
        if let Some(id) = q.uuid_cursor()? {
            query = query.filter(mission::Column::Id.lt(id));
        }
        let rows = query.limit(limit + 1).all(&self.deps.read_db).await?;
        let views = rows.into_iter().map(MissionView::from).collect();
        Ok(Page::from_rows(views, limit, |m: &MissionView| {
            m.id.to_string()
        }))
    }

    /// The caller's mission for today's `slot`, given now if not yet.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, slot = ?slot))]
    pub async fn today(&self, who: &AuthUser, slot: Slot) -> Result<MissionHistoryView, ApiError> {
        let now = self.deps.clock.now_ms();
        let day = kst::day(now).to_string();
        let db = &self.deps.db;
        let given_today = history::Entity::find()
            .filter(history::Column::UserId.eq(who.id))
            .filter(history::Column::Day.eq(day.as_str()))
            .all(db)
            .await?;
        if let Some(h) = given_today.iter().find(|h| h.slot == slot) {
            return self.view_one(h.clone()).await;
        }
        let given: HashSet<Uuid> = given_today.iter().map(|h| h.mission_id).collect();
        let candidates: Vec<mission::Model> = mission::Entity::find()
            .filter(mission::Column::Slot.eq(slot))
            .filter(mission::Column::Active.eq(true))
            .all(db)
            .await?
            .into_iter()
            .filter(|m| !given.contains(&m.id))
            .collect();
        if candidates.is_empty() {
            return Err(ApiError::not_found("no active mission for this slot today")
                .with("reason", "no_mission_available"));
        }
        // The randomness a v4 id carries picks one.
        let pick = &candidates[(Uuid::new_v4().as_u128() % candidates.len() as u128) as usize];
        let insert = Query::insert()
            .into_table(history::Entity)
            .columns([
                history::Column::Id,
                history::Column::UserId,
                history::Column::MissionId,
                history::Column::Day,
                history::Column::Slot,
                history::Column::Status,
                history::Column::Points,
                history::Column::CreatedAt,
                history::Column::UpdatedAt,
            ])
            .values_panic([
                new_id().into(),
                who.id.into(),
                pick.id.into(),
                day.clone().into(),
                slot.into(),
                MissionState::Assigned.into(),
                pick.points.into(),
                now.into(),
                now.into(),
            ])
            .to_owned();
        // A concurrent ask of the same user may have given one first: theirs stands.
        insert_if_absent(db, insert, &["user_id", "day", "slot"]).await?;
        let h = history::Entity::find()
            .filter(history::Column::UserId.eq(who.id))
            .filter(history::Column::Day.eq(day.as_str()))
            .filter(history::Column::Slot.eq(slot))
            .one(db)
            .await?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the mission given is gone")))?;
        self.view_one(h).await
    }

    /// The caller's missions of a KST day (at most one per slot).
    #[tracing::instrument(skip_all, fields(user_id = %who.id))]
    pub async fn of_day(
        &self,
        who: &AuthUser,
        day: Option<NaiveDate>,
    ) -> Result<Vec<MissionHistoryView>, ApiError> {
        let day = day.unwrap_or_else(|| kst::day(self.deps.clock.now_ms()));
        let rows = history::Entity::find()
            .filter(history::Column::UserId.eq(who.id))
            .filter(history::Column::Day.eq(day.to_string()))
            .order_by_asc(history::Column::CreatedAt)
            .all(&self.deps.db)
            .await?;
        let missions = missions_of(&self.deps.db, &rows).await?;
        Ok(rows
            .into_iter()
            .map(|h| {
                let m = missions.get(&h.mission_id);
                history_view(h, m)
            })
            .collect())
    }

    /// One of the caller's missions (an admin may see anyone's).
    #[tracing::instrument(skip(self, who), fields(user_id = %who.id))]
    pub async fn history(&self, who: &AuthUser, id: Uuid) -> Result<MissionHistoryView, ApiError> {
        let h = history::Entity::find_by_id(id)
            .one(&self.deps.db)
            .await?
            .filter(|h| h.user_id == who.id || who.is_admin())
            .ok_or_else(|| ApiError::not_found("no such mission history"))?;
        self.view_one(h).await
    }

    async fn view_one(&self, h: history::Model) -> Result<MissionHistoryView, ApiError> {
        let m = mission::Entity::find_by_id(h.mission_id)
            .one(&self.deps.db)
            .await?;
        Ok(history_view(h, m.as_ref()))
    }
}
