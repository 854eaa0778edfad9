//! Mentoring programs: mentors (or admins) open them with a capacity and a price in
//! points, edit them, close them while nobody is accepted, or cancel them (accepted
//! mentees are refunded in the same transaction). Everyone lists and views them.

use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use serde::Serialize;
use surge_kernel::auth::{AuthUser, Role};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ports::NewNotification;
use surge_kernel::{new_id, rfc3339, ApiError, Millis};
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::{refund_key, skill_key, ApplicationStatus, ProgramStatus, Skills};
use crate::entities::{application, ledger, program};
use crate::points::{apply, Applied, Change};

/// A validated program (see `http::ProgramDraft`).
#[derive(Debug, Clone)]
pub struct NewProgram {
    pub title: String,
    pub description: String,
    pub skills: Skills,
    pub capacity: i32,
    pub cost_points: i64,
    pub starts_at: Millis,
    pub ends_at: Millis,
}

/// Validated changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProgramChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub skills: Option<Skills>,
    pub capacity: Option<i32>,
    pub cost_points: Option<i64>,
    pub starts_at: Option<Millis>,
    pub ends_at: Option<Millis>,
}

#[derive(Debug, Clone, Default)]
pub struct ProgramListing {
    /// Default: open programs.
    pub status: Option<ProgramStatus>,
    pub mentor: Option<Uuid>,
    pub skill: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProgramView {
    pub id: Uuid,
    pub mentor_id: Uuid,
    pub title: String,
    pub description: String,
    pub skills: Vec<String>,
    pub capacity: i32,
    pub accepted: i32,
    pub cost_points: i64,
    pub starts_at: String,
    pub ends_at: String,
    pub status: ProgramStatus,
    pub created_at: String,
}

pub(crate) async fn load_program(
    db: &DatabaseConnection,
    id: Uuid,
) -> Result<program::Model, ApiError> {
    program::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such program"))
}

/// Only the program's mentor or an admin manages it.
pub(crate) fn may_manage(who: &AuthUser, p: &program::Model) -> Result<(), ApiError> {
    if who.id == p.mentor_id || who.is_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "forbidden",
            "only the program's mentor or an admin",
        ))
    }
}

pub(crate) fn program_closed(p: &program::Model) -> ApiError {
    ApiError::conflict("program_closed", "the program takes no more changes").with(
        "current_status",
        serde_json::to_value(p.status).unwrap_or_default(),
    )
}

pub struct Programs {
    deps: Arc<Deps>,
}

impl Programs {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Self { deps }
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id))]
    pub async fn create(&self, who: &AuthUser, p: NewProgram) -> Result<ProgramView, ApiError> {
        if !matches!(who.role, Role::Mentor | Role::Admin) {
            return Err(ApiError::forbidden(
                "forbidden",
                "only mentors and admins open programs",
            ));
        }
        let now = self.deps.clock.now_ms();
        let m = program::ActiveModel {
            id: Set(new_id()),
            mentor_id: Set(who.id),
            title: Set(p.title),
            description: Set(p.description),
            skills: Set(serde_json::Value::from(p.skills.as_slice().to_vec()).to_string()),
            tags: Set(p.skills.tags()),
            capacity: Set(p.capacity),
            accepted: Set(0),
            cost_points: Set(p.cost_points),
            starts_at: Set(p.starts_at),
            ends_at: Set(p.ends_at),
            status: Set(ProgramStatus::Open),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.deps.db)
        .await?;
        to_view(m)
    }

    /// A program as stored on the primary: the answer to a write just made here
    /// (read-your-writes; a replica may not have it yet).
    #[tracing::instrument(skip(self))]
    pub async fn get(&self, id: Uuid) -> Result<ProgramView, ApiError> {
        to_view(load_program(&self.deps.db, id).await?)
    }

    /// A program for anyone who asks (`GET /mentoring/programs/{id}`): from the read
    /// database.
    #[tracing::instrument(skip(self))]
    pub async fn read(&self, id: Uuid) -> Result<ProgramView, ApiError> {
        to_view(load_program(&self.deps.read_db, id).await?)
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id, program_id = %id))]
    pub async fn update(
        &self,
        who: &AuthUser,
        id: Uuid,
        c: ProgramChanges,
    ) -> Result<ProgramView, ApiError> {
        let p = load_program(&self.deps.db, id).await?;
        may_manage(who, &p)?;
        if p.status != ProgramStatus::Open {
            return Err(program_closed(&p));
        }
        let starts = c.starts_at.unwrap_or(p.starts_at);
        let ends = c.ends_at.unwrap_or(p.ends_at);
        if ends <= starts {
            return Err(crate::domain::InvalidInput::Period.into());
        }
        let mut upd = program::Entity::update_many()
            .col_expr(program::Column::StartsAt, Expr::value(starts))
            .col_expr(program::Column::EndsAt, Expr::value(ends))
            .col_expr(
                program::Column::UpdatedAt,
                Expr::value(self.deps.clock.now_ms()),
            )
            .filter(program::Column::Id.eq(id))
            .filter(program::Column::Status.eq(ProgramStatus::Open));
        if let Some(t) = c.title {
            upd = upd.col_expr(program::Column::Title, Expr::value(t));
        }
        if let Some(d) = c.description {
            upd = upd.col_expr(program::Column::Description, Expr::value(d));
        }
        if let Some(s) = &c.skills {
            let json = serde_json::Value::from(s.as_slice().to_vec()).to_string();
            upd = upd
                .col_expr(program::Column::Skills, Expr::value(json))
                .col_expr(program::Column::Tags, Expr::value(s.tags()));
        }
        if let Some(p) = c.cost_points {
            upd = upd.col_expr(program::Column::CostPoints, Expr::value(p));
        }
        if let Some(cap) = c.capacity {
            // Conditional: an accept racing this edit never leaves more mentees than places.
            upd = upd
                .col_expr(program::Column::Capacity, Expr::value(cap))
                .filter(program::Column::Accepted.lte(cap));
        }
        if upd.exec(&self.deps.db).await?.rows_affected != 1 {
            let now = load_program(&self.deps.db, id).await?;
            if now.status == ProgramStatus::Open {
                return Err(ApiError::conflict(
                    "capacity_below_accepted",
                    format!("{} mentees are already accepted", now.accepted),
                )
                .with("accepted", now.accepted));
            }
            return Err(program_closed(&now));
        }
        self.get(id).await
    }

    /// Closes an open program while nobody is accepted; pending applications are
    /// rejected with it.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, program_id = %id))]
    pub async fn close(&self, who: &AuthUser, id: Uuid) -> Result<ProgramView, ApiError> {
        let p = load_program(&self.deps.db, id).await?;
        may_manage(who, &p)?;
        if !p.status.can_become(ProgramStatus::Closed) {
            return Err(program_closed(&p));
        }
        let now = self.deps.clock.now_ms();
        let txn = self.deps.db.begin().await?;
        let closed = program::Entity::update_many()
            .col_expr(program::Column::Status, Expr::value(ProgramStatus::Closed))
            .col_expr(program::Column::UpdatedAt, Expr::value(now))
            .filter(program::Column::Id.eq(id))
            .filter(program::Column::Status.eq(ProgramStatus::Open))
            .filter(program::Column::Accepted.eq(0))
            .exec(&txn)
            .await?;
        if closed.rows_affected != 1 {
            txn.rollback().await?;
            let now = load_program(&self.deps.db, id).await?;
            if now.status == ProgramStatus::Open {
                return Err(ApiError::conflict(
                    "program_has_mentees",
                    "a program with accepted mentees can only be cancelled",
                )
                .with("accepted", now.accepted));
            }
            return Err(program_closed(&now));
        }
        let rejected = end_applications(
            &txn,
            id,
            ApplicationStatus::Pending,
            ApplicationStatus::Rejected,
            now,
        )
        .await?;
        txn.commit().await?;
        for user in rejected {
            self.deps
                .tell(
                    user,
                    NewNotification {
                        kind: "mentoring_closed".into(),
                        title: "A mentoring program closed".into(),
                        body: format!("{} — your application ended.", p.title),
                        data: serde_json::json!({"program_id": id}),
                    },
                )
                .await;
        }
        self.get(id).await
    }

    /// Cancels a program: accepted mentees get their points back and pending
    /// applications end, all in one transaction; then everyone is told.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, program_id = %id))]
    pub async fn cancel(&self, who: &AuthUser, id: Uuid) -> Result<ProgramView, ApiError> {
        let p = load_program(&self.deps.db, id).await?;
        may_manage(who, &p)?;
        if !p.status.can_become(ProgramStatus::Cancelled) {
            return Err(program_closed(&p));
        }
        let now = self.deps.clock.now_ms();
        let txn = self.deps.db.begin().await?;
        let cancelled = program::Entity::update_many()
            .col_expr(
                program::Column::Status,
                Expr::value(ProgramStatus::Cancelled),
            )
            .col_expr(program::Column::UpdatedAt, Expr::value(now))
            .filter(program::Column::Id.eq(id))
            .filter(program::Column::Status.is_in([ProgramStatus::Open, ProgramStatus::Closed]))
            .exec(&txn)
            .await?;
        if cancelled.rows_affected != 1 {
            txn.rollback().await?;
            return Err(program_closed(&load_program(&self.deps.db, id).await?));
        }
        let accepted = application::Entity::find()
            .filter(application::Column::ProgramId.eq(id))
            .filter(application::Column::Status.eq(ApplicationStatus::Accepted))
            // Balances are locked in user order, so two cancels sharing mentees never
            // wait for each other in a circle.
            .order_by_asc(application::Column::UserId)
            .all(&txn)
            .await?;
        for a in &accepted {
            let paid: Option<i64> = ledger::Entity::find()
                .select_only()
                .column(ledger::Column::Delta)
                .filter(ledger::Column::ChangeKey.eq(crate::domain::fee_key(a.id)))
                .into_tuple()
                .one(&txn)
                .await?;
            let paid = -paid.unwrap_or(0);
            if paid > 0 {
                let refund = Change {
                    user: a.user_id,
                    delta: paid,
                    reason: "refund",
                    key: refund_key(a.id),
                    subject: Some(id),
                    note: p.title.clone(),
                };
                // A refund is applied once per application: the status move below
                // happens once, under the program row this transaction holds.
                if !matches!(apply(&txn, &refund, now).await?, Applied::Done(_)) {
                    txn.rollback().await?;
                    return Err(ApiError::internal(anyhow::anyhow!(
                        "refund of application {} could not be applied",
                        a.id
                    )));
                }
            }
        }
        let refunded = end_applications(
            &txn,
            id,
            ApplicationStatus::Accepted,
            ApplicationStatus::Refunded,
            now,
        )
        .await?;
        let pending = end_applications(
            &txn,
            id,
            ApplicationStatus::Pending,
            ApplicationStatus::Cancelled,
            now,
        )
        .await?;
        txn.commit().await?;
        for (user, refunded) in refunded
            .into_iter()
            .map(|u| (u, true))
            .chain(pending.into_iter().map(|u| (u, false)))
        {
            let body = if refunded {
                format!("{} — your points were refunded.", p.title)
            } else {
                format!("{} — your application ended.", p.title)
            };
            self.deps
                .tell(
                    user,
                    NewNotification {
                        kind: "mentoring_cancelled".into(),
                        title: "A mentoring program was cancelled".into(),
                        body,
                        data: serde_json::json!({"program_id": id}),
                    },
                )
                .await;
        }
        self.get(id).await
    }

    #[tracing::instrument(skip_all)]
    pub async fn list(
        &self,
        f: &ProgramListing,
        page: &PageQuery,
    ) -> Result<Page<ProgramView>, ApiError> {
        let limit = page.limit()?;
        let mut q = program::Entity::find()
            .filter(program::Column::Status.eq(f.status.unwrap_or(ProgramStatus::Open)));
        if let Some(m) = f.mentor {
            q = q.filter(program::Column::MentorId.eq(m));
        }
        if let Some(s) = &f.skill {
            q = q.filter(program::Column::Tags.like(format!("%|{}|%", skill_key(s))));
        }
        if let Some(c) = page.uuid_cursor()? {
            q = q.filter(program::Column::Id.lt(c));
        }
        let rows = q
            .order_by_desc(program::Column::Id)
            .limit(limit + 1)
            .all(&self.deps.read_db)
            .await?;
        let views = rows
            .into_iter()
            .map(to_view)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(views, limit, |p: &ProgramView| {
            p.id.to_string()
        }))
    }
}

/// Moves every `from` application of a program to `to` (ending its live key); returns
/// their mentees.
async fn end_applications(
    txn: &sea_orm::DatabaseTransaction,
    program: Uuid,
    from: ApplicationStatus,
    to: ApplicationStatus,
    now: Millis,
) -> Result<Vec<Uuid>, ApiError> {
    debug_assert!(from.can_become(to));
    let users: Vec<Uuid> = application::Entity::find()
        .select_only()
        .column(application::Column::UserId)
        .filter(application::Column::ProgramId.eq(program))
        .filter(application::Column::Status.eq(from))
        .into_tuple()
        .all(txn)
        .await?;
    application::Entity::update_many()
        .col_expr(application::Column::Status, Expr::value(to))
        .col_expr(
            application::Column::LiveKey,
            Expr::value(Option::<String>::None),
        )
        .col_expr(application::Column::UpdatedAt, Expr::value(now))
        .filter(application::Column::ProgramId.eq(program))
        .filter(application::Column::Status.eq(from))
        .exec(txn)
        .await?;
    Ok(users)
}

pub(crate) fn to_view(p: program::Model) -> Result<ProgramView, ApiError> {
    let skills: Vec<String> = serde_json::from_str(&p.skills)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored program skills: {e}")))?;
    Ok(ProgramView {
        id: p.id,
        mentor_id: p.mentor_id,
        title: p.title,
        description: p.description,
        skills,
        capacity: p.capacity,
        accepted: p.accepted,
        cost_points: p.cost_points,
        starts_at: rfc3339(p.starts_at),
        ends_at: rfc3339(p.ends_at),
        status: p.status,
        created_at: rfc3339(p.created_at),
    })
}
