//! Billing routes under `/api/v1/billing`, and the batch runs under `/api/v1/admin`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use surge_kernel::auth::{AdminUser, AuthUser};
use surge_kernel::error::Problem;
use surge_kernel::extract::{Json, Path};
use surge_kernel::idempotency::{self, Idempotency};
use surge_kernel::plans::Plan;
use surge_kernel::{rfc3339, ApiError};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::{RunState, SubscriptionStatus};
use crate::subscriptions::{SubscriptionStarted, SubscriptionView};
use crate::Billing;

#[derive(Clone)]
struct Ctx {
    billing: Arc<Billing>,
    deps: Arc<Deps>,
}

type St = State<Ctx>;

pub fn router(billing: Arc<Billing>, deps: Arc<Deps>, idem: Idempotency) -> Router {
    let ctx = Ctx { billing, deps };
    let creating = Router::new()
        .route("/subscriptions", post(start))
        .layer(axum::middleware::from_fn_with_state(
            idem,
            idempotency::layer,
        ))
        .with_state(ctx.clone());
    let routes = Router::new()
        .route("/usage/me", get(usage_me))
        .route("/subscriptions/{id}/approve", post(approve))
        .route("/subscriptions/me", get(mine).delete(cancel))
        .with_state(ctx.clone())
        .merge(creating);
    let admin = Router::new()
        .route("/batch-runs", get(batch_runs))
        .with_state(ctx);
    Router::new()
        .nest("/api/v1/billing", routes)
        .nest("/api/v1/admin", admin)
}

#[derive(OpenApi)]
#[openapi(
    paths(usage_me, start, approve, mine, cancel, batch_runs),
    components(schemas(UsageView, Plan, Problem, StartSubscription, Approve, SubscriptionView,
        SubscriptionStarted, SubscriptionStatus, BatchRunView, RunState)),
    tags((name = "billing", description = "Plans, the daily quota, PRO subscriptions and the nightly batch"))
)]
pub struct BillingApi;

/// Where I stand today (the Korean day).
#[derive(Serialize, ToSchema)]
pub struct UsageView {
    plan: Plan,
    used: i64,
    limit: i64,
    /// When the count starts again (00:00 KST of the next day).
    resets_at: String,
}

/// My plan and today's metered uses.
#[utoipa::path(get, path = "/api/v1/billing/usage/me", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = UsageView), (status = 401, body = Problem)))]
async fn usage_me(State(s): St, who: AuthUser) -> Result<Json<UsageView>, ApiError> {
    let u = s.billing.quota.usage(who.id, s.deps.clock.now_ms()).await?;
    Ok(Json(UsageView {
        plan: u.plan,
        used: u.used,
        limit: u.limit,
        resets_at: rfc3339(u.resets_at),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct StartSubscription {
    /// `PRO` (the only plan sold).
    plan: Plan,
}

#[derive(Deserialize, ToSchema)]
pub struct Approve {
    /// The token the provider gave the buyer on approval.
    pg_token: String,
}

impl Approve {
    fn try_into_domain(self) -> Result<String, ApiError> {
        let t = self.pg_token.trim();
        if t.is_empty() || t.len() > 200 {
            return Err(ApiError::validation("pg_token must be 1 to 200 characters"));
        }
        Ok(t.to_owned())
    }
}

/// Starts PRO: answers where the buyer approves the first payment.
#[utoipa::path(post, path = "/api/v1/billing/subscriptions", tag = "billing", request_body = StartSubscription,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key replays the first answer")),
    security(("bearer" = [])),
    responses((status = 201, body = SubscriptionStarted),
        (status = 409, description = "`already_subscribed`; `idempotency_in_progress`", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
        (status = 502, description = "`payment_unavailable`", body = Problem),
        (status = 503, description = "`subscriptions_unavailable`", body = Problem)))]
async fn start(
    State(s): St,
    who: AuthUser,
    Json(req): Json<StartSubscription>,
) -> Result<(StatusCode, Json<SubscriptionStarted>), ApiError> {
    let started = s.billing.subscriptions.start(who.id, req.plan).await?;
    Ok((StatusCode::CREATED, Json(started)))
}

/// Completes the first payment with the provider's `pg_token`: the subscription is ACTIVE.
#[utoipa::path(post, path = "/api/v1/billing/subscriptions/{id}/approve", tag = "billing", request_body = Approve,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = SubscriptionView),
        (status = 402, description = "`payment_declined`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`invalid_transition`, `payment_not_started`, `already_subscribed`", body = Problem),
        (status = 502, description = "`payment_unavailable` (retry)", body = Problem)))]
async fn approve(
    State(s): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<Approve>,
) -> Result<Json<SubscriptionView>, ApiError> {
    let token = req.try_into_domain()?;
    Ok(Json(
        s.billing.subscriptions.approve(who.id, id, &token).await?,
    ))
}

/// My live subscription, else my latest one.
#[utoipa::path(get, path = "/api/v1/billing/subscriptions/me", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = SubscriptionView), (status = 404, description = "`not_found`", body = Problem)))]
async fn mine(State(s): St, who: AuthUser) -> Result<Json<SubscriptionView>, ApiError> {
    Ok(Json(s.billing.subscriptions.mine(who.id).await?))
}

/// Cancels at the end of the paid period (PRO until then; CANCELLING).
#[utoipa::path(delete, path = "/api/v1/billing/subscriptions/me", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = SubscriptionView), (status = 404, description = "`not_found`", body = Problem),
        (status = 502, description = "`payment_unavailable` (retry)", body = Problem)))]
async fn cancel(State(s): St, who: AuthUser) -> Result<Json<SubscriptionView>, ApiError> {
    Ok(Json(s.billing.subscriptions.cancel(who.id).await?))
}

/// One run of a batch job.
#[derive(Serialize, ToSchema)]
pub struct BatchRunView {
    id: Uuid,
    job: String,
    /// The Korean day it ran for.
    day: String,
    state: RunState,
    charged: i64,
    failed: i64,
    downgraded: i64,
    skipped: i64,
    /// Charges whose answer was lost, held for reconciliation (never sent again).
    held: i64,
    deleted_usage: i64,
    started_at: String,
    finished_at: Option<String>,
    duration_ms: Option<i64>,
    error: Option<String>,
}

/// The latest 100 batch runs, newest first (admins).
#[utoipa::path(get, path = "/api/v1/admin/batch-runs", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = Vec<BatchRunView>), (status = 403, description = "`forbidden`", body = Problem)))]
async fn batch_runs(State(s): St, _admin: AdminUser) -> Result<Json<Vec<BatchRunView>>, ApiError> {
    let runs = s.billing.batch.runs(100).await?;
    Ok(Json(
        runs.into_iter()
            .map(|r| BatchRunView {
                id: r.id,
                job: r.job,
                day: r.day,
                state: r.state,
                charged: r.charged,
                failed: r.failed,
                downgraded: r.downgraded,
                skipped: r.skipped,
                held: r.held,
                deleted_usage: r.deleted_usage,
                started_at: rfc3339(r.started_at),
                finished_at: r.finished_at.map(rfc3339),
                duration_ms: r.finished_at.map(|f| f - r.started_at),
                error: r.error,
            })
            .collect(),
    ))
}
