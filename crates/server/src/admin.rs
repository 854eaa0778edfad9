//! Operator routes under `/api/v1/admin` (ADMIN role): events that a consumer kept
//! failing, parked as dead letters, and sending one back to its consumer.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use surge_infra::delivery::{DeadLetter, Deliveries};
use surge_kernel::auth::AdminUser;
use surge_kernel::error::Problem;
use surge_kernel::extract::{Json, Path, Query};
use surge_kernel::module::Module;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ApiError;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

type St = State<Arc<Deliveries>>;

pub fn module(deliveries: Arc<Deliveries>) -> Module {
    let routes = Router::new()
        .route("/dead-letters", get(list_dead_letters))
        .route("/dead-letters/{id}/retry", post(retry_dead_letter))
        .with_state(deliveries);
    Module {
        name: "admin",
        router: Router::new().nest("/api/v1/admin", routes),
        openapi: AdminApi::openapi(),
        workers: Vec::new(),
        subscriptions: Vec::new(),
    }
}

#[derive(OpenApi)]
#[openapi(
    paths(list_dead_letters, retry_dead_letter),
    components(schemas(DeadLetterView, Retried, Problem)),
    tags((name = "admin", description = "Operator tools: dead-lettered events"))
)]
pub struct AdminApi;

/// An event one consumer failed on every attempt.
#[derive(Serialize, ToSchema)]
pub struct DeadLetterView {
    id: Uuid,
    /// The consumer that failed (e.g. `ticketing.ticket-mail`).
    consumer: String,
    event_id: Uuid,
    topic: String,
    key: String,
    payload: serde_json::Value,
    /// When the event happened (epoch milliseconds).
    occurred_at: i64,
    attempts: i32,
    /// The last attempt's error.
    error: String,
    /// When it was dead-lettered (epoch milliseconds).
    dead_lettered_at: i64,
}

impl From<DeadLetter> for DeadLetterView {
    fn from(d: DeadLetter) -> Self {
        DeadLetterView {
            id: d.id,
            consumer: d.consumer,
            event_id: d.event_id,
            topic: d.topic,
            key: d.event_key,
            payload: serde_json::from_str(&d.payload)
                .unwrap_or(serde_json::Value::String(d.payload)),
            occurred_at: d.occurred_at,
            attempts: d.attempts,
            error: d.error,
            dead_lettered_at: d.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Retried {
    id: Uuid,
    /// Always `queued`: the consumer gets the event again within a second.
    status: &'static str,
}

/// Dead-lettered events, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/dead-letters", tag = "admin",
    params(PageQuery), security(("bearer" = ["ADMIN"])),
    responses((status = 200, body = Page<DeadLetterView>), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
async fn list_dead_letters(
    State(d): St,
    _admin: AdminUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<DeadLetterView>>, ApiError> {
    let limit = q.limit()?;
    let rows = d.list_dead(q.uuid_cursor()?, limit + 1).await?;
    let rows = rows.into_iter().map(DeadLetterView::from).collect();
    Ok(Json(Page::from_rows(rows, limit, |r| r.id.to_string())))
}

/// Sends a dead letter back to its consumer for a new round of attempts (the row leaves
/// the list; it comes back if every attempt fails again).
#[utoipa::path(post, path = "/api/v1/admin/dead-letters/{id}/retry", tag = "admin",
    params(("id" = Uuid, Path)), security(("bearer" = ["ADMIN"])),
    responses((status = 202, body = Retried), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn retry_dead_letter(
    State(d): St,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<Retried>), ApiError> {
    if !d.retry_dead(id).await? {
        return Err(ApiError::not_found("no such dead letter"));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(Retried {
            id,
            status: "queued",
        }),
    ))
}
