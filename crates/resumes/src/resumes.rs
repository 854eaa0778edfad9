//! A user's resumes (the `Folder`): asking for one (a use of the daily quota, taken in the
//! transaction that files the request; the writing happens in the background, see
//! `work.rs`), reading, asking for an AI edit, editing by hand (a new version each
//! time), sharing, deleting, and the versions kept.

use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::code_host::excerpt;
use surge_kernel::events::{enqueue, EventEnvelope};
use surge_kernel::page::{invalid_cursor, Page, PageQuery};
use surge_kernel::ports::Nicknames;
use surge_kernel::{new_id, rfc3339, ApiError};
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::{
    InvalidInput, Login, Origin, Position, ResumeStatus, SchoolType, Sections, Visibility,
};
use crate::entities::{like, resume, version};
use crate::writer::{Brief, Writer};

/// Asks the background writer to work on a resume (a generation or an AI edit).
pub const WRITE_REQUESTED: &str = "resumes.write_requested";

/// What `POST /api/v1/resumes` asks for, validated.
#[derive(Debug, Clone)]
pub struct NewResume {
    /// `None`: the login of the GitHub account the user signed in with.
    pub login: Option<Login>,
    pub brief: Brief,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResumeView {
    pub id: Uuid,
    pub owner_id: Uuid,
    /// The owner's nickname.
    pub owner: String,
    pub github_username: String,
    pub position: Position,
    pub school_type: Option<SchoolType>,
    pub highlights: Vec<String>,
    pub visibility: Visibility,
    pub status: ResumeStatus,
    /// Why the first version could not be written, or why the last AI edit failed (the
    /// current version stays as it was).
    pub failure: Option<String>,
    /// The current version (0 until the first one is written).
    pub version: i32,
    /// Who wrote the current version: `template` (the built-in writer, no AI),
    /// `model:<name>`, or `owner`.
    pub writer: String,
    /// Whether a language model wrote the current version.
    pub ai_written: bool,
    /// The current version's contents; absent until the first version is written.
    pub sections: Option<Sections>,
    pub likes: i64,
    pub comments: i64,
    pub views: i64,
    /// Whether the caller likes it (absent when not signed in).
    pub liked_by_me: Option<bool>,
    pub created_at: String,
    pub updated_at: String,
}

/// A resume in a list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResumeCard {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub owner: String,
    pub position: Position,
    pub school_type: Option<SchoolType>,
    pub visibility: Visibility,
    pub status: ResumeStatus,
    /// The first 200 characters of the summary.
    pub summary: String,
    /// The first 8 skills.
    pub skills: Vec<String>,
    pub writer: String,
    pub ai_written: bool,
    pub likes: i64,
    pub comments: i64,
    pub views: i64,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionView {
    pub version: i32,
    pub origin: Origin,
    pub writer: String,
    /// The instruction of an AI edit.
    pub instruction: Option<String>,
    pub sections: Sections,
    pub created_at: String,
}

pub(crate) fn sections_of(m: &resume::Model) -> Option<Sections> {
    m.sections
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
}

pub(crate) fn ai_written(writer: &str) -> bool {
    writer.starts_with("model:")
}

pub(crate) fn view(m: resume::Model, names: &Nicknames, liked: Option<bool>) -> ResumeView {
    ResumeView {
        sections: sections_of(&m),
        owner: names.of(m.owner_id),
        highlights: serde_json::from_str(&m.highlights).unwrap_or_default(),
        ai_written: ai_written(&m.writer),
        id: m.id,
        owner_id: m.owner_id,
        github_username: m.github_login,
        position: m.position,
        school_type: m.school_type,
        visibility: m.visibility,
        status: m.status,
        failure: m.failure,
        version: m.version,
        writer: m.writer,
        likes: m.like_count,
        comments: m.comment_count,
        views: m.view_count,
        liked_by_me: liked,
        created_at: rfc3339(m.created_at),
        updated_at: rfc3339(m.updated_at),
    }
}

pub(crate) fn card(m: resume::Model, names: &Nicknames) -> ResumeCard {
    let s = sections_of(&m).unwrap_or_default();
    ResumeCard {
        owner: names.of(m.owner_id),
        summary: excerpt(&s.summary, 200),
        skills: s.skills.into_iter().take(8).collect(),
        ai_written: ai_written(&m.writer),
        id: m.id,
        owner_id: m.owner_id,
        position: m.position,
        school_type: m.school_type,
        visibility: m.visibility,
        status: m.status,
        writer: m.writer,
        likes: m.like_count,
        comments: m.comment_count,
        views: m.view_count,
        created_at: rfc3339(m.created_at),
    }
}

/// A live resume the caller may read: their own (any state), an admin's view of any,
/// else a public one with a written version. Anything else is not found.
pub(crate) async fn readable(
    db: &impl ConnectionTrait,
    id: Uuid,
    who: Option<&AuthUser>,
) -> Result<resume::Model, ApiError> {
    let m = resume::Entity::find_by_id(id)
        .filter(resume::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such resume"))?;
    let own = who.is_some_and(|w| w.id == m.owner_id || w.is_admin());
    if own || (m.visibility == Visibility::Public && m.version > 0) {
        Ok(m)
    } else {
        Err(ApiError::not_found("no such resume"))
    }
}

/// The caller's own live resume (admins may change anyone's).
async fn owned(
    db: &impl ConnectionTrait,
    id: Uuid,
    who: &AuthUser,
) -> Result<resume::Model, ApiError> {
    let m = readable(db, id, Some(who)).await?;
    if m.owner_id != who.id && !who.is_admin() {
        return Err(ApiError::forbidden(
            "not_owner",
            "only its owner may change a resume",
        ));
    }
    Ok(m)
}

fn busy(m: &resume::Model) -> ApiError {
    ApiError::conflict(
        "resume_busy",
        "the resume is being written; try again when it is READY",
    )
    .with("status", serde_json::to_value(m.status).unwrap_or_default())
}

pub struct Folder {
    deps: Arc<Deps>,
    writer: Arc<dyn Writer>,
}

impl Folder {
    pub(crate) fn new(deps: Arc<Deps>, writer: Arc<dyn Writer>) -> Self {
        Folder { deps, writer }
    }

    /// Files a request for a resume: one use of today's quota, taken in the same
    /// transaction (so of ten concurrent requests with one use left, one is filed),
    /// and the background writer asked through the outbox.
    #[tracing::instrument(skip_all, fields(user_id = %who.id))]
    pub async fn create(&self, who: &AuthUser, r: NewResume) -> Result<ResumeView, ApiError> {
        let login = match r.login {
            Some(l) => l,
            None => self
                .deps
                .users
                .linked_login(who.id, "github")
                .await
                .map_err(ApiError::internal)?
                .and_then(|l| Login::parse(&l).ok())
                .ok_or(InvalidInput::LoginRequired)?,
        };
        let now = self.deps.clock.now_ms();
        let id = new_id();
        let txn = self.deps.db.begin().await?;
        self.deps.quota.take(&txn, who.id, now).await?;
        let row = resume::ActiveModel {
            id: Set(id),
            owner_id: Set(who.id),
            github_login: Set(login.as_str().to_owned()),
            position: Set(r.brief.position),
            school_type: Set(r.brief.school_type),
            highlights: Set(serde_json::to_string(&r.brief.highlights).unwrap_or_default()),
            visibility: Set(Visibility::Private),
            status: Set(ResumeStatus::Generating),
            failure: Set(None),
            version: Set(0),
            writer: Set(String::new()),
            sections: Set(None),
            pending_instruction: Set(None),
            attempts: Set(0),
            due_at: Set(Some(now)),
            use_taken_at: Set(Some(now)),
            like_count: Set(0),
            comment_count: Set(0),
            view_count: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
        };
        let m = row.insert(&txn).await?;
        enqueue(&txn, &write_requested(id, now)).await?;
        txn.commit().await?;
        self.deps.outbox.wake();
        let names = self.deps.nicknames(&[who.id], true).await?;
        Ok(view(m, &names, Some(false)))
    }

    /// One resume, as the caller may see it.
    pub async fn get(&self, id: Uuid, who: Option<&AuthUser>) -> Result<ResumeView, ApiError> {
        let m = readable(&self.deps.db, id, who).await?;
        let liked = match who {
            Some(w) => Some(
                like::Entity::find_by_id((id, w.id))
                    .one(&self.deps.db)
                    .await?
                    .is_some(),
            ),
            None => None,
        };
        let names = self.deps.nicknames(&[m.owner_id], false).await?;
        Ok(view(m, &names, liked))
    }

    /// The caller's resumes, newest first, whatever their state.
    pub async fn mine(
        &self,
        who: &AuthUser,
        page: &PageQuery,
    ) -> Result<Page<ResumeCard>, ApiError> {
        let limit = page.limit()?;
        let mut q = resume::Entity::find()
            .filter(resume::Column::OwnerId.eq(who.id))
            .filter(resume::Column::DeletedAt.is_null());
        if let Some(after) = page.uuid_cursor()? {
            q = q.filter(resume::Column::Id.lt(after));
        }
        let rows = q
            .order_by_desc(resume::Column::Id)
            .limit(limit + 1)
            .all(&self.deps.db)
            .await?;
        let names = self.deps.nicknames(&[who.id], false).await?;
        let cards = rows.into_iter().map(|m| card(m, &names)).collect();
        Ok(Page::from_rows(cards, limit, |c| c.id.to_string()))
    }

    /// Asks for an AI edit of a READY resume: one use of today's quota; the current
    /// version stays readable until the edit lands as the next version.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, resume_id = %id))]
    pub async fn request_edit(
        &self,
        who: &AuthUser,
        id: Uuid,
        instruction: String,
    ) -> Result<ResumeView, ApiError> {
        if !self.writer.edits() {
            // 409, not 503: nothing is down; this deployment has no model to ask.
            return Err(ApiError::conflict(
                "ai_edit_unavailable",
                "AI edits need a language model, and none is configured ([resumes.llm]); edit the resume by hand with PUT",
            ));
        }
        let now = self.deps.clock.now_ms();
        let txn = self.deps.db.begin().await?;
        let m = owned(&txn, id, who).await?;
        if !m.status.can_become(ResumeStatus::Editing) {
            return Err(if m.status.is_busy() {
                busy(&m)
            } else {
                ApiError::conflict("resume_not_ready", "the resume has no version to edit")
            });
        }
        self.deps.quota.take(&txn, m.owner_id, now).await?;
        let moved = resume::Entity::update_many()
            .col_expr(resume::Column::Status, Expr::value(ResumeStatus::Editing))
            .col_expr(resume::Column::PendingInstruction, Expr::value(instruction))
            .col_expr(resume::Column::Failure, Expr::value(Option::<String>::None))
            .col_expr(resume::Column::Attempts, Expr::value(0))
            .col_expr(resume::Column::DueAt, Expr::value(now))
            .col_expr(resume::Column::UseTakenAt, Expr::value(now))
            .col_expr(resume::Column::UpdatedAt, Expr::value(now))
            .filter(resume::Column::Id.eq(id))
            .filter(resume::Column::Status.eq(ResumeStatus::Ready))
            .exec(&txn)
            .await?;
        if moved.rows_affected == 0 {
            return Err(busy(&m)); // another request moved it first (the use is not taken)
        }
        enqueue(&txn, &write_requested(id, now)).await?;
        txn.commit().await?;
        self.deps.outbox.wake();
        self.get(id, Some(who)).await
    }

    /// The owner's own text as the next version (no quota: no model is asked).
    #[tracing::instrument(skip_all, fields(user_id = %who.id, resume_id = %id))]
    pub async fn replace(
        &self,
        who: &AuthUser,
        id: Uuid,
        sections: Sections,
    ) -> Result<ResumeView, ApiError> {
        let now = self.deps.clock.now_ms();
        let txn = self.deps.db.begin().await?;
        let m = owned(&txn, id, who).await?;
        if m.status != ResumeStatus::Ready {
            return Err(if m.status.is_busy() {
                busy(&m)
            } else {
                ApiError::conflict("resume_not_ready", "the resume has no version to edit")
            });
        }
        let json = serde_json::to_string(&sections).map_err(ApiError::internal)?;
        let next = m.version + 1;
        let moved = resume::Entity::update_many()
            .col_expr(resume::Column::Version, Expr::value(next))
            .col_expr(resume::Column::Sections, Expr::value(json.clone()))
            .col_expr(resume::Column::Writer, Expr::value(OWNER))
            .col_expr(resume::Column::Failure, Expr::value(Option::<String>::None))
            .col_expr(resume::Column::UpdatedAt, Expr::value(now))
            .filter(resume::Column::Id.eq(id))
            .filter(resume::Column::Status.eq(ResumeStatus::Ready))
            .filter(resume::Column::Version.eq(m.version))
            .exec(&txn)
            .await?;
        if moved.rows_affected == 0 {
            return Err(ApiError::conflict(
                "resume_changed",
                "the resume changed while this edit was sent; read it again and retry",
            ));
        }
        add_version(&txn, id, next, Origin::Manual, &json, None, OWNER, now).await?;
        txn.commit().await?;
        self.get(id, Some(who)).await
    }

    /// Shares a written resume with everyone, or takes it back.
    pub async fn set_visibility(
        &self,
        who: &AuthUser,
        id: Uuid,
        to: Visibility,
    ) -> Result<ResumeView, ApiError> {
        let m = owned(&self.deps.db, id, who).await?;
        if to == Visibility::Public && m.version == 0 {
            return Err(ApiError::conflict(
                "resume_not_ready",
                "a resume is shared once its first version is written",
            ));
        }
        resume::Entity::update_many()
            .col_expr(resume::Column::Visibility, Expr::value(to))
            .col_expr(
                resume::Column::UpdatedAt,
                Expr::value(self.deps.clock.now_ms()),
            )
            .filter(resume::Column::Id.eq(id))
            .exec(&self.deps.db)
            .await?;
        self.get(id, Some(who)).await
    }

    /// Withdraws a resume (soft). A job in progress is dropped and its use of the
    /// daily quota given back.
    pub async fn delete(&self, who: &AuthUser, id: Uuid) -> Result<(), ApiError> {
        let now = self.deps.clock.now_ms();
        let txn = self.deps.db.begin().await?;
        let m = owned(&txn, id, who).await?;
        let done = resume::Entity::update_many()
            .col_expr(resume::Column::DeletedAt, Expr::value(now))
            .col_expr(resume::Column::DueAt, Expr::value(Option::<i64>::None))
            .col_expr(resume::Column::UseTakenAt, Expr::value(Option::<i64>::None))
            .filter(resume::Column::Id.eq(id))
            .filter(resume::Column::DeletedAt.is_null())
            .filter(resume::Column::Status.eq(m.status))
            .filter(resume::Column::Attempts.eq(m.attempts))
            .exec(&txn)
            .await?;
        if done.rows_affected == 0 {
            return Err(ApiError::conflict(
                "resume_changed",
                "the resume changed meanwhile; try again",
            ));
        }
        if let (true, Some(taken)) = (m.status.is_busy(), m.use_taken_at) {
            self.deps.quota.give_back(&txn, m.owner_id, taken).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Every version of the caller's resume, newest first.
    pub async fn versions(
        &self,
        who: &AuthUser,
        id: Uuid,
        page: &PageQuery,
    ) -> Result<Page<VersionView>, ApiError> {
        owned(&self.deps.db, id, who).await?;
        let limit = page.limit()?;
        let mut q = version::Entity::find().filter(version::Column::ResumeId.eq(id));
        if let Some(c) = page.cursor()? {
            let before: i32 = c.parse().map_err(|_| invalid_cursor())?;
            q = q.filter(version::Column::Version.lt(before));
        }
        let rows = q
            .order_by_desc(version::Column::Version)
            .limit(limit + 1)
            .all(&self.deps.db)
            .await?;
        let items = rows
            .into_iter()
            .map(|v| VersionView {
                version: v.version,
                origin: v.origin,
                sections: serde_json::from_str(&v.sections).unwrap_or_default(),
                writer: v.writer,
                instruction: v.instruction,
                created_at: rfc3339(v.created_at),
            })
            .collect();
        Ok(Page::from_rows(items, limit, |v| v.version.to_string()))
    }
}

/// The writer of a version the owner wrote.
pub const OWNER: &str = "owner";

pub(crate) fn write_requested(id: Uuid, now: i64) -> EventEnvelope {
    EventEnvelope::new(
        WRITE_REQUESTED,
        id,
        serde_json::json!({ "resume_id": id }),
        now,
    )
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn add_version(
    txn: &impl ConnectionTrait,
    id: Uuid,
    number: i32,
    origin: Origin,
    sections_json: &str,
    instruction: Option<String>,
    writer: &str,
    now: i64,
) -> Result<(), sea_orm::DbErr> {
    version::Entity::insert(version::ActiveModel {
        resume_id: Set(id),
        version: Set(number),
        origin: Set(origin),
        sections: Set(sections_json.to_owned()),
        instruction: Set(instruction),
        writer: Set(writer.to_owned()),
        created_at: Set(now),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Moves one of the resume's counters by `by`: a relative update in the caller's
/// transaction (the one that writes the row counted).
pub(crate) async fn bump(
    txn: &impl ConnectionTrait,
    id: Uuid,
    counter: resume::Column,
    by: i64,
) -> Result<(), sea_orm::DbErr> {
    resume::Entity::update_many()
        .col_expr(counter, Expr::col(counter).add(by))
        .filter(resume::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}
