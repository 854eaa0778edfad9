//! Mentee applications: one live application per program and mentee (`live_key`),
//! cancel while pending, and the mentor's accept or reject. Accepting is one
//! transaction: take a place (`accepted < capacity`), move the application
//! PENDING → ACCEPTED, pay the fee from the mentee's balance (never below zero) with its
//! ledger row; all or nothing, on every database. Both sides are told after the commit.

use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ports::NewNotification;
use surge_kernel::{new_id, rfc3339, ApiError};
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::{fee_key, ApplicationStatus, ProgramStatus};
use crate::entities::{application, program};
use crate::points::{apply, ensure_account, insufficient_points, Applied, Change};
use crate::programs::{load_program, may_manage, program_closed};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApplicationView {
    pub id: Uuid,
    pub program_id: Uuid,
    pub user_id: Uuid,
    pub status: ApplicationStatus,
    /// The price agreed when applying; accepting charges exactly this.
    pub cost_points: i64,
    pub created_at: String,
    pub updated_at: String,
}

async fn load(db: &DatabaseConnection, id: Uuid) -> Result<application::Model, ApiError> {
    application::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such application"))
}

fn not_pending(a: &application::Model) -> ApiError {
    ApiError::conflict(
        "application_not_pending",
        "the application is no longer pending",
    )
    .with(
        "current_status",
        serde_json::to_value(a.status).unwrap_or_default(),
    )
}

pub struct Applications {
    deps: Arc<Deps>,
}

impl Applications {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Self { deps }
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id, program_id = %program_id))]
    pub async fn apply(
        &self,
        who: &AuthUser,
        program_id: Uuid,
    ) -> Result<ApplicationView, ApiError> {
        let p = load_program(&self.deps.db, program_id).await?;
        if p.status != ProgramStatus::Open {
            return Err(program_closed(&p));
        }
        if p.mentor_id == who.id {
            return Err(ApiError::conflict(
                "own_program",
                "you cannot apply to your own program",
            ));
        }
        let now = self.deps.clock.now_ms();
        // The program row first (the lock order of accept and close/cancel): a program
        // being closed or cancelled cannot take an application in between, and the
        // price read under that lock is the one the application keeps.
        let txn = self.deps.db.begin().await?;
        let open = program::Entity::update_many()
            .col_expr(program::Column::UpdatedAt, Expr::value(now))
            .filter(program::Column::Id.eq(program_id))
            .filter(program::Column::Status.eq(ProgramStatus::Open))
            .filter(program::Column::EndsAt.gt(now))
            .exec(&txn)
            .await?;
        if open.rows_affected != 1 {
            txn.rollback().await?;
            return Err(not_open(
                &load_program(&self.deps.db, program_id).await?,
                now,
            ));
        }
        let p = program::Entity::find_by_id(program_id)
            .one(&txn)
            .await?
            .ok_or_else(|| ApiError::not_found("no such program"))?;
        let inserted = application::ActiveModel {
            id: Set(new_id()),
            program_id: Set(program_id),
            user_id: Set(who.id),
            status: Set(ApplicationStatus::Pending),
            cost_points: Set(p.cost_points),
            live_key: Set(Some(format!("{program_id}:{}", who.id))),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await;
        let a = match inserted {
            Ok(a) => a,
            Err(e) => {
                txn.rollback().await?;
                return Err(match surge_kernel::error::unique_violation(&e) {
                    Some(_) => ApiError::conflict(
                        "already_applied",
                        "you already have a live application to this program",
                    ),
                    None => e.into(),
                });
            }
        };
        txn.commit().await?;
        self.deps
            .tell(
                p.mentor_id,
                NewNotification {
                    kind: "mentoring_applied".into(),
                    title: "A new application to your program".into(),
                    body: p.title.clone(),
                    data: serde_json::json!({"program_id": program_id, "application_id": a.id}),
                },
            )
            .await;
        Ok(view(a))
    }

    /// The mentee cancels a pending application.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, application_id = %id))]
    pub async fn cancel(&self, who: &AuthUser, id: Uuid) -> Result<ApplicationView, ApiError> {
        let a = load(&self.deps.db, id).await?;
        if a.user_id != who.id {
            return Err(ApiError::not_found("no such application"));
        }
        self.end(a, ApplicationStatus::Cancelled).await
    }

    /// The mentor (or an admin) rejects a pending application.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, application_id = %id))]
    pub async fn reject(&self, who: &AuthUser, id: Uuid) -> Result<ApplicationView, ApiError> {
        let a = load(&self.deps.db, id).await?;
        let p = load_program(&self.deps.db, a.program_id).await?;
        may_manage(who, &p)?;
        let v = self.end(a, ApplicationStatus::Rejected).await?;
        self.deps
            .tell(
                v.user_id,
                NewNotification {
                    kind: "mentoring_rejected".into(),
                    title: "Your application was not accepted".into(),
                    body: p.title,
                    data: serde_json::json!({"program_id": p.id, "application_id": v.id}),
                },
            )
            .await;
        Ok(v)
    }

    async fn end(
        &self,
        a: application::Model,
        to: ApplicationStatus,
    ) -> Result<ApplicationView, ApiError> {
        if !a.status.can_become(to) {
            return Err(not_pending(&a));
        }
        let moved = application::Entity::update_many()
            .col_expr(application::Column::Status, Expr::value(to))
            .col_expr(
                application::Column::LiveKey,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                application::Column::UpdatedAt,
                Expr::value(self.deps.clock.now_ms()),
            )
            .filter(application::Column::Id.eq(a.id))
            .filter(application::Column::Status.eq(ApplicationStatus::Pending))
            .exec(&self.deps.db)
            .await?;
        let now = load(&self.deps.db, a.id).await?;
        if moved.rows_affected != 1 {
            return Err(not_pending(&now));
        }
        Ok(view(now))
    }

    /// The mentor (or an admin) accepts: a place, the fee and the state move together.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, application_id = %id))]
    pub async fn accept(&self, who: &AuthUser, id: Uuid) -> Result<ApplicationView, ApiError> {
        let a = load(&self.deps.db, id).await?;
        let p = load_program(&self.deps.db, a.program_id).await?;
        may_manage(who, &p)?;
        if !a.status.can_become(ApplicationStatus::Accepted) {
            return Err(not_pending(&a));
        }
        let now = self.deps.clock.now_ms();
        ensure_account(&self.deps.db, a.user_id, now).await?;
        // Rows are taken in one order everywhere (program, application, balance).
        let txn = self.deps.db.begin().await?;
        let took = program::Entity::update_many()
            .col_expr(
                program::Column::Accepted,
                Expr::col(program::Column::Accepted).add(1),
            )
            .col_expr(program::Column::UpdatedAt, Expr::value(now))
            .filter(program::Column::Id.eq(p.id))
            .filter(program::Column::Status.eq(ProgramStatus::Open))
            .filter(program::Column::EndsAt.gt(now))
            .filter(Expr::col(program::Column::Accepted).lt(Expr::col(program::Column::Capacity)))
            .exec(&txn)
            .await?;
        if took.rows_affected != 1 {
            txn.rollback().await?;
            let p = load_program(&self.deps.db, p.id).await?;
            return Err(if p.status != ProgramStatus::Open || p.ends_at <= now {
                not_open(&p, now)
            } else {
                ApiError::conflict("program_full", "every place is taken")
                    .with("capacity", p.capacity)
            });
        }
        let moved = application::Entity::update_many()
            .col_expr(
                application::Column::Status,
                Expr::value(ApplicationStatus::Accepted),
            )
            .col_expr(application::Column::UpdatedAt, Expr::value(now))
            .filter(application::Column::Id.eq(id))
            .filter(application::Column::Status.eq(ApplicationStatus::Pending))
            .exec(&txn)
            .await?;
        if moved.rows_affected != 1 {
            txn.rollback().await?;
            return Err(not_pending(&load(&self.deps.db, id).await?));
        }
        if a.cost_points > 0 {
            let fee = Change {
                user: a.user_id,
                delta: -a.cost_points,
                reason: "mentoring",
                key: fee_key(id),
                subject: Some(p.id),
                note: p.title.clone(),
            };
            match apply(&txn, &fee, now).await? {
                Applied::Done(_) => {}
                Applied::Insufficient => {
                    txn.rollback().await?;
                    return Err(insufficient_points(fee.delta));
                }
                Applied::Duplicate => {
                    txn.rollback().await?;
                    return Err(not_pending(&load(&self.deps.db, id).await?));
                }
            }
        }
        txn.commit().await?;
        let data = serde_json::json!({"program_id": p.id, "application_id": id});
        self.deps
            .tell(
                a.user_id,
                NewNotification {
                    kind: "mentoring_accepted".into(),
                    title: "You are in".into(),
                    body: format!("{} — {} points paid.", p.title, a.cost_points),
                    data: data.clone(),
                },
            )
            .await;
        self.deps
            .tell(
                p.mentor_id,
                NewNotification {
                    kind: "mentoring_mentee_joined".into(),
                    title: "A mentee joined your program".into(),
                    body: p.title.clone(),
                    data,
                },
            )
            .await;
        Ok(view(load(&self.deps.db, id).await?))
    }

    /// The applications to a program (its mentor or an admin), newest first.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, program_id = %program_id))]
    pub async fn of_program(
        &self,
        who: &AuthUser,
        program_id: Uuid,
        page: &PageQuery,
    ) -> Result<Page<ApplicationView>, ApiError> {
        let p = load_program(&self.deps.db, program_id).await?;
        may_manage(who, &p)?;
        self.page(application::Column::ProgramId, program_id, page)
            .await
    }

    /// My applications, newest first.
    #[tracing::instrument(skip_all, fields(user_id = %who.id))]
    pub async fn mine(
        &self,
        who: &AuthUser,
        page: &PageQuery,
    ) -> Result<Page<ApplicationView>, ApiError> {
        self.page(application::Column::UserId, who.id, page).await
    }

    async fn page(
        &self,
        by: application::Column,
        value: Uuid,
        page: &PageQuery,
    ) -> Result<Page<ApplicationView>, ApiError> {
        let limit = page.limit()?;
        let mut q = application::Entity::find().filter(by.eq(value));
        if let Some(c) = page.uuid_cursor()? {
            q = q.filter(application::Column::Id.lt(c));
        }
        let rows = q
            .order_by_desc(application::Column::Id)
            .limit(limit + 1)
            .all(&self.deps.db)
            .await?;
        Ok(Page::from_rows(
            rows.into_iter().map(view).collect(),
            limit,
            |a: &ApplicationView| a.id.to_string(),
        ))
    }
}

fn view(a: application::Model) -> ApplicationView {
    ApplicationView {
        id: a.id,
        program_id: a.program_id,
        user_id: a.user_id,
        status: a.status,
        cost_points: a.cost_points,
        created_at: rfc3339(a.created_at),
        updated_at: rfc3339(a.updated_at),
    }
}

/// Why a program takes no application or acceptance now: closed or cancelled
/// (`program_closed`, as before), or past its end (`program_ended`).
fn not_open(p: &program::Model, now: i64) -> ApiError {
    if p.status == ProgramStatus::Open && p.ends_at <= now {
        ApiError::conflict("program_ended", "this program has ended")
    } else {
        program_closed(p)
    }
}
