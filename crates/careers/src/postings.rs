//! Job postings: admins create and edit them by hand (source `manual`; sources come
//! later and upsert by `(source, source_id)`), everyone lists and views them with SQL
//! filters and cursor pages. Deleting closes: a job board keeps a closed posting's page
//! so the people who scrapped it still find what they saved.
//!
//! Every change writes a [`POSTING_CHANGED`] event in its own transaction: the search
//! index of each instance (`search`) follows it.

use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set, TransactionTrait,
};
use serde::Serialize;
use surge_kernel::events::{enqueue, EventEnvelope};
use surge_kernel::{new_id, rfc3339, ApiError, Millis};
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::{
    deadline_key, reminder_due_at, skill_key, EmploymentType, Experience, PostingSort,
    PostingStatus, Skills,
};
use crate::entities::{posting, posting_skill};

/// A validated posting (see `http::PostingDraft`).
#[derive(Debug, Clone)]
pub struct NewPosting {
    pub title: String,
    pub company: String,
    pub location: String,
    pub district: String,
    pub category: String,
    pub skills: Skills,
    pub experience: Experience,
    pub newbie: bool,
    pub employment_type: EmploymentType,
    pub deadline: Option<Millis>,
    pub url: String,
    pub description: String,
    pub posted_at: Option<Millis>,
}

/// Validated changes; `None` leaves a field as it is (`deadline: Some(None)` clears it).
#[derive(Debug, Clone, Default)]
pub struct PostingChanges {
    pub title: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
    pub district: Option<String>,
    pub category: Option<String>,
    pub skills: Option<Skills>,
    pub experience_min: Option<i32>,
    pub experience_max: Option<Option<i32>>,
    pub newbie: Option<bool>,
    pub employment_type: Option<EmploymentType>,
    pub deadline: Option<Option<Millis>>,
    pub url: Option<String>,
    pub description: Option<String>,
    pub status: Option<PostingStatus>,
}

/// What a posting list is filtered and ordered by.
#[derive(Debug, Clone, Default)]
pub struct PostingListing {
    /// Full-text words (served by `search`); the SQL list ignores them.
    pub q: Option<String>,
    pub category: Option<String>,
    pub location: Option<String>,
    /// Lowercase; a posting must have all of them.
    pub skills: Vec<String>,
    pub newbie: Option<bool>,
    /// Years: postings whose range includes them.
    pub experience: Option<i32>,
    /// `Some(true)`: open and not past the deadline; `Some(false)`: the others.
    pub open: Option<bool>,
    pub sort: PostingSort,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PostingView {
    pub id: Uuid,
    pub source: String,
    pub source_id: String,
    pub title: String,
    pub company: String,
    pub location: String,
    pub district: String,
    pub category: String,
    pub skills: Vec<String>,
    pub experience_min: i32,
    pub experience_max: Option<i32>,
    pub newbie: bool,
    pub employment_type: EmploymentType,
    pub deadline: Option<String>,
    pub url: String,
    pub description: String,
    pub posted_at: String,
    pub status: PostingStatus,
}

pub struct Postings {
    deps: Arc<Deps>,
}

/// A posting was created, edited or closed: `{posting_id}`.
pub const POSTING_CHANGED: &str = "careers.posting_changed";

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct PostingChanged {
    pub posting_id: Uuid,
}

/// Writes [`POSTING_CHANGED`] for `id` on `conn` (the change's transaction).
pub(crate) async fn changed(
    conn: &impl ConnectionTrait,
    id: Uuid,
    now: Millis,
) -> Result<(), ApiError> {
    let payload = serde_json::to_value(PostingChanged { posting_id: id })
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    enqueue(conn, &EventEnvelope::new(POSTING_CHANGED, id, payload, now)).await?;
    Ok(())
}

/// The row of a new open posting (its skills and event are written beside it).
pub(crate) fn new_row(
    id: Uuid,
    source: &str,
    source_id: String,
    p: NewPosting,
    now: Millis,
) -> posting::ActiveModel {
    posting::ActiveModel {
        id: Set(id),
        source: Set(source.to_owned()),
        source_id: Set(source_id),
        title: Set(p.title),
        company: Set(p.company),
        location: Set(p.location),
        district: Set(p.district),
        category: Set(p.category),
        skills: Set(skills_json(&p.skills)),
        experience_min: Set(p.experience.min),
        experience_max: Set(p.experience.max),
        newbie: Set(p.newbie),
        employment_type: Set(p.employment_type),
        deadline: Set(p.deadline),
        deadline_key: Set(deadline_key(p.deadline)),
        remind_at: Set(p.deadline.map(reminder_due_at)),
        url: Set(p.url),
        description: Set(p.description),
        posted_at: Set(p.posted_at.unwrap_or(now)),
        status: Set(PostingStatus::Open),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Inserts a manual posting, its skills and its event in `txn`; returns its id.
async fn insert(
    txn: &sea_orm::DatabaseTransaction,
    p: NewPosting,
    now: Millis,
) -> Result<Uuid, ApiError> {
    let id = new_id();
    let skills = p.skills.clone();
    new_row(id, "manual", id.to_string(), p, now)
        .insert(txn)
        .await?;
    write_skills(txn, id, &skills).await?;
    changed(txn, id, now).await?;
    Ok(id)
}

pub(crate) async fn load(db: &DatabaseConnection, id: Uuid) -> Result<posting::Model, ApiError> {
    posting::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such posting"))
}

impl Postings {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Self { deps }
    }

    #[tracing::instrument(skip_all, fields(company = %p.company))]
    pub async fn create(&self, p: NewPosting) -> Result<PostingView, ApiError> {
        let now = self.deps.clock.now_ms();
        let txn = self.deps.db.begin().await?;
        let id = insert(&txn, p, now).await?;
        txn.commit().await?;
        self.deps.outbox.wake();
        self.get(id).await
    }

    /// Creates many postings (demo data, imports), 200 to a transaction, each with its
    /// event as [`Postings::create`] writes it. Returns how many it created.
    #[tracing::instrument(skip_all, fields(postings = ps.len()))]
    pub async fn create_many(&self, ps: Vec<NewPosting>) -> Result<u64, ApiError> {
        let now = self.deps.clock.now_ms();
        let mut created = 0;
        let mut ps = ps.into_iter().peekable();
        while ps.peek().is_some() {
            let txn = self.deps.db.begin().await?;
            for p in ps.by_ref().take(200) {
                insert(&txn, p, now).await?;
                created += 1;
            }
            txn.commit().await?;
        }
        self.deps.outbox.wake();
        Ok(created)
    }

    /// A posting as stored on the primary: the answer to a write just made here
    /// (read-your-writes; a replica may not have it yet).
    #[tracing::instrument(skip(self))]
    pub async fn get(&self, id: Uuid) -> Result<PostingView, ApiError> {
        to_view(load(&self.deps.db, id).await?)
    }

    /// A posting for anyone who asks (`GET /postings/{id}`): from the read database.
    #[tracing::instrument(skip(self))]
    pub async fn read(&self, id: Uuid) -> Result<PostingView, ApiError> {
        to_view(load(&self.deps.read_db, id).await?)
    }

    #[tracing::instrument(skip_all, fields(posting_id = %id))]
    pub async fn update(&self, id: Uuid, c: PostingChanges) -> Result<PostingView, ApiError> {
        let p = load(&self.deps.db, id).await?;
        let min = c.experience_min.unwrap_or(p.experience_min);
        let max = c.experience_max.unwrap_or(p.experience_max);
        let experience = Experience::new(min, max)?;
        if let Some(s) = c.status {
            if s != p.status && !p.status.can_become(s) {
                return Err(ApiError::conflict("invalid_transition", "no such move"));
            }
        }
        let now = self.deps.clock.now_ms();
        let mut m: posting::ActiveModel = p.into();
        macro_rules! put {
            ($($f:ident),*) => { $( if let Some(v) = c.$f { m.$f = Set(v); } )* };
        }
        put!(
            title,
            company,
            location,
            district,
            category,
            newbie,
            employment_type,
            url,
            description,
            status
        );
        m.experience_min = Set(experience.min);
        m.experience_max = Set(experience.max);
        if let Some(d) = c.deadline {
            m.deadline = Set(d);
            m.deadline_key = Set(deadline_key(d));
            m.remind_at = Set(d.map(reminder_due_at));
        }
        if let Some(s) = &c.skills {
            m.skills = Set(skills_json(s));
        }
        m.updated_at = Set(now);
        let txn = self.deps.db.begin().await?;
        m.update(&txn).await?;
        if let Some(s) = &c.skills {
            posting_skill::Entity::delete_many()
                .filter(posting_skill::Column::PostingId.eq(id))
                .exec(&txn)
                .await?;
            write_skills(&txn, id, s).await?;
        }
        changed(&txn, id, now).await?;
        txn.commit().await?;
        self.deps.posting_changed(id).await;
        self.get(id).await
    }

    /// Closes a posting (idempotent): it stays readable, leaves `open=true` lists and
    /// gets no more reminders.
    #[tracing::instrument(skip_all, fields(posting_id = %id))]
    pub async fn close(&self, id: Uuid) -> Result<(), ApiError> {
        load(&self.deps.db, id).await?;
        let now = self.deps.clock.now_ms();
        let txn = self.deps.db.begin().await?;
        posting::Entity::update_many()
            .col_expr(posting::Column::Status, Expr::value(PostingStatus::Closed))
            .col_expr(posting::Column::UpdatedAt, Expr::value(now))
            .filter(posting::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        changed(&txn, id, now).await?;
        txn.commit().await?;
        self.deps.posting_changed(id).await;
        Ok(())
    }
}

/// Whether a posting passes `f`'s filters at `now`: the rules of [`filtered`], for rows
/// already read by id (a search page), where SQL conditions beside `id IN (…)` can lead
/// a planner (SQLite's) to scan every open posting instead.
pub(crate) fn passes(f: &PostingListing, now: Millis, p: &posting::Model) -> bool {
    let open = p.status == PostingStatus::Open && p.deadline_key > now;
    let skills = || -> Vec<String> {
        serde_json::from_str::<Vec<String>>(&p.skills)
            .unwrap_or_default()
            .iter()
            .map(|s| skill_key(s))
            .collect()
    };
    f.category.as_ref().is_none_or(|c| *c == p.category)
        && f.location.as_ref().is_none_or(|l| *l == p.location)
        && f.newbie.is_none_or(|n| n == p.newbie)
        && f.experience
            .is_none_or(|y| p.experience_min <= y && p.experience_max.is_none_or(|m| m >= y))
        && f.open.is_none_or(|o| o == open)
        && (f.skills.is_empty() || {
            let have = skills();
            f.skills.iter().all(|s| have.contains(s))
        })
}

pub(crate) fn skills_json(s: &Skills) -> String {
    serde_json::Value::from(s.as_slice().to_vec()).to_string()
}

pub(crate) async fn write_skills(
    txn: &sea_orm::DatabaseTransaction,
    id: Uuid,
    s: &Skills,
) -> Result<(), ApiError> {
    if s.as_slice().is_empty() {
        return Ok(());
    }
    posting_skill::Entity::insert_many(s.keys().into_iter().map(|k| posting_skill::ActiveModel {
        posting_id: Set(id),
        skill: Set(k),
    }))
    .exec(txn)
    .await?;
    Ok(())
}

/// The skill filter of a list: lowercase keys.
pub fn skill_filter(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(skill_key)
        .filter(|s| !s.is_empty())
        .collect()
}

pub(crate) fn to_view(p: posting::Model) -> Result<PostingView, ApiError> {
    let skills: Vec<String> = serde_json::from_str(&p.skills)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored posting skills: {e}")))?;
    Ok(PostingView {
        id: p.id,
        source: p.source,
        source_id: p.source_id,
        title: p.title,
        company: p.company,
        location: p.location,
        district: p.district,
        category: p.category,
        skills,
        experience_min: p.experience_min,
        experience_max: p.experience_max,
        newbie: p.newbie,
        employment_type: p.employment_type,
        deadline: p.deadline.map(rfc3339),
        url: p.url,
        description: p.description,
        posted_at: rfc3339(p.posted_at),
        status: p.status,
    })
}
