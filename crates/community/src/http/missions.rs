//! Mission, proof, points and ranking routes, and their request bodies.

use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use chrono::NaiveDate;
use serde::Deserialize;
use surge_kernel::auth::{AdminUser, AuthUser};
use surge_kernel::error::Problem;
use surge_kernel::extract::{Json, Path, Query};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ApiError;
use uuid::Uuid;

use super::images::{file_part, FRAMING};
use crate::domain::{optional, InvalidInput, MissionDraft, Period, Slot};
use crate::missions::{MissionHistoryView, MissionView};
use crate::points::{MyPoints, Rankings};
use crate::proofs::Verdict;
use crate::Community;

type St = State<Arc<Community>>;

pub fn mission_routes(max_image: usize) -> Router<Arc<Community>> {
    Router::new()
        .route("/missions", get(list_missions).post(create_mission))
        .route("/missions/{id}", put(update_mission))
        .route("/missions/today", post(today))
        .route("/mission-histories", get(histories))
        .route("/mission-histories/{id}", get(history))
        .route(
            "/mission-histories/{id}/proof",
            post(submit_proof).layer(DefaultBodyLimit::max(max_image + FRAMING)),
        )
        .route("/admin/mission-proofs", get(pending_proofs))
        .route("/admin/mission-proofs/{id}/approve", post(approve))
        .route("/admin/mission-proofs/{id}/reject", post(reject))
        .route("/points/me", get(my_points))
        .route("/rankings", get(rankings))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MissionBody {
    /// 1..=100 characters.
    pub title: String,
    /// 1..=1000 characters: what the photo must show.
    pub description: String,
    /// 1..=10000.
    pub points: i64,
    pub slot: Slot,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

impl MissionBody {
    pub fn try_into_domain(self) -> Result<MissionDraft, InvalidInput> {
        MissionDraft::new(
            &self.title,
            &self.description,
            self.points,
            self.slot,
            self.active,
        )
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TodayBody {
    pub slot: Slot,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayQuery {
    /// A KST day, `YYYY-MM-DD` (default today).
    pub date: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RejectBody {
    /// Told to the user, at most 500 characters.
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RankingQuery {
    /// `day` (today, KST), `week` (this ISO week, KST) or `all` (default).
    pub period: Option<Period>,
    /// 1..=100 (default 10).
    pub limit: Option<u64>,
}

/// The multipart form of a proof: one photo part.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ProofUpload {
    /// A JPEG, PNG or WebP photo (sniffed from its bytes; stored without EXIF).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Defines a mission (ADMIN).
#[utoipa::path(post, path = "/api/v1/community/missions", tag = "community", operation_id = "community_create_mission",
    request_body = MissionBody, security(("bearer" = [])),
    responses((status = 201, body = MissionView),
        (status = 403, description = "`forbidden`: not an admin", body = Problem),
        (status = 422, description = "`validation_failed` (names the `field`)", body = Problem)))]
pub(crate) async fn create_mission(
    State(c): St,
    _admin: AdminUser,
    Json(b): Json<MissionBody>,
) -> Result<Response, ApiError> {
    let m = c.missions.create(b.try_into_domain()?).await?;
    Ok((StatusCode::CREATED, Json(m)).into_response())
}

/// Replaces a mission's fields (ADMIN). Missions already given keep their points.
#[utoipa::path(put, path = "/api/v1/community/missions/{id}", tag = "community", operation_id = "community_update_mission",
    request_body = MissionBody, params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = MissionView),
        (status = 403, description = "`forbidden`: not an admin", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
        (status = 422, description = "`validation_failed` (names the `field`)", body = Problem)))]
pub(crate) async fn update_mission(
    State(c): St,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
    Json(b): Json<MissionBody>,
) -> Result<Json<MissionView>, ApiError> {
    Ok(Json(c.missions.update(id, b.try_into_domain()?).await?))
}

/// Every mission, newest first (ADMIN).
#[utoipa::path(get, path = "/api/v1/community/missions", tag = "community", operation_id = "community_list_missions",
    params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<MissionView>),
        (status = 400, description = "`invalid_cursor`, `invalid_limit`", body = Problem),
        (status = 403, description = "`forbidden`: not an admin", body = Problem)))]
pub(crate) async fn list_missions(
    State(c): St,
    _admin: AdminUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<MissionView>>, ApiError> {
    Ok(Json(c.missions.list(&q).await?))
}

/// The caller's mission for a slot of today (KST): given at random the first time,
/// the same one after.
#[utoipa::path(post, path = "/api/v1/community/missions/today", tag = "community", operation_id = "community_mission_today",
    request_body = TodayBody, security(("bearer" = [])),
    responses((status = 200, body = MissionHistoryView),
        (status = 404, description = "`not_found` (`reason`: `no_mission_available`): no active mission in that slot", body = Problem),
        (status = 422, description = "`invalid_body`: `slot` is not MORNING, AFTERNOON or EVENING", body = Problem)))]
pub(crate) async fn today(
    State(c): St,
    who: AuthUser,
    Json(b): Json<TodayBody>,
) -> Result<Json<MissionHistoryView>, ApiError> {
    Ok(Json(c.missions.today(&who, b.slot).await?))
}

/// The caller's missions of a KST day.
#[utoipa::path(get, path = "/api/v1/community/mission-histories", tag = "community", operation_id = "community_mission_histories",
    params(DayQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<MissionHistoryView>),
        (status = 400, description = "`invalid_date`", body = Problem)))]
pub(crate) async fn histories(
    State(c): St,
    who: AuthUser,
    Query(q): Query<DayQuery>,
) -> Result<Json<Vec<MissionHistoryView>>, ApiError> {
    let day = q
        .date
        .as_deref()
        .map(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| InvalidInput::Date))
        .transpose()?;
    Ok(Json(c.missions.of_day(&who, day).await?))
}

/// One of the caller's missions (an admin may read any).
#[utoipa::path(get, path = "/api/v1/community/mission-histories/{id}", tag = "community", operation_id = "community_mission_history",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = MissionHistoryView), (status = 404, description = "`not_found`", body = Problem)))]
pub(crate) async fn history(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<MissionHistoryView>, ApiError> {
    Ok(Json(c.missions.history(&who, id).await?))
}

/// Proves a mission of today with a photo (multipart, part `file`) → PENDING_REVIEW.
/// A rejected mission may be proven again the same day.
#[utoipa::path(post, path = "/api/v1/community/mission-histories/{id}/proof", tag = "community", operation_id = "community_submit_proof",
    params(("id" = Uuid, Path)), request_body(content = ProofUpload, content_type = "multipart/form-data"), security(("bearer" = [])),
    responses((status = 200, body = MissionHistoryView),
        (status = 400, description = "`invalid_upload`: not a multipart form with a `file` part", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`proof_not_expected` (waiting for review or approved), `mission_expired` (not today's)", body = Problem),
        (status = 413, description = "`image_too_large`", body = Problem),
        (status = 415, description = "`unsupported_image`", body = Problem),
        (status = 422, description = "never: the body is multipart, not JSON", body = Problem)))]
pub(crate) async fn submit_proof(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Json<MissionHistoryView>, ApiError> {
    let photo = file_part(form, c.images.rules.max_bytes).await?;
    Ok(Json(c.proofs.submit(&who, id, photo).await?))
}

/// Proofs waiting for review, oldest first (ADMIN).
#[utoipa::path(get, path = "/api/v1/community/admin/mission-proofs", tag = "community", operation_id = "community_pending_proofs",
    params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<MissionHistoryView>),
        (status = 400, description = "`invalid_cursor`, `invalid_limit`", body = Problem),
        (status = 403, description = "`forbidden`: not an admin", body = Problem)))]
pub(crate) async fn pending_proofs(
    State(c): St,
    _admin: AdminUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<MissionHistoryView>>, ApiError> {
    Ok(Json(c.proofs.pending(&q).await?))
}

/// Approves a proof (ADMIN): the mission's points are awarded once; approving again
/// answers the approved mission.
#[utoipa::path(post, path = "/api/v1/community/admin/mission-proofs/{id}/approve", tag = "community", operation_id = "community_approve_proof",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = MissionHistoryView),
        (status = 403, description = "`forbidden`: not an admin", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`not_pending`: no proof waiting (not sent, or rejected)", body = Problem)))]
pub(crate) async fn approve(
    State(c): St,
    AdminUser(admin): AdminUser,
    Path(id): Path<Uuid>,
) -> Result<Json<MissionHistoryView>, ApiError> {
    Ok(Json(
        c.proofs
            .decide(Some(admin.id), id, Verdict::Approve)
            .await?,
    ))
}

/// Rejects a proof (ADMIN); the user may send another the same day.
#[utoipa::path(post, path = "/api/v1/community/admin/mission-proofs/{id}/reject", tag = "community", operation_id = "community_reject_proof",
    params(("id" = Uuid, Path)), request_body = RejectBody, security(("bearer" = [])),
    responses((status = 200, body = MissionHistoryView),
        (status = 403, description = "`forbidden`: not an admin", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`not_pending`: no proof waiting", body = Problem),
        (status = 422, description = "`validation_failed`: `reason` too long", body = Problem)))]
pub(crate) async fn reject(
    State(c): St,
    AdminUser(admin): AdminUser,
    Path(id): Path<Uuid>,
    Json(b): Json<RejectBody>,
) -> Result<Json<MissionHistoryView>, ApiError> {
    let reason = optional("reason", b.reason.as_deref(), 500)?;
    Ok(Json(
        c.proofs
            .decide(Some(admin.id), id, Verdict::Reject { reason })
            .await?,
    ))
}

/// The caller's points (all time, today, this week), level and awards.
#[utoipa::path(get, path = "/api/v1/community/points/me", tag = "community", operation_id = "community_my_points",
    params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = MyPoints),
        (status = 400, description = "`invalid_cursor`, `invalid_limit`", body = Problem)))]
pub(crate) async fn my_points(
    State(c): St,
    who: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<MyPoints>, ApiError> {
    Ok(Json(c.points.mine(&who, &q).await?))
}

/// The top users of today, this week or all time, and the caller's own rank.
#[utoipa::path(get, path = "/api/v1/community/rankings", tag = "community", operation_id = "community_rankings",
    params(RankingQuery),
    responses((status = 200, body = Rankings),
        (status = 400, description = "`invalid_limit`, `invalid_query`", body = Problem)))]
pub(crate) async fn rankings(
    State(c): St,
    who: Option<AuthUser>,
    Query(q): Query<RankingQuery>,
) -> Result<Json<Rankings>, ApiError> {
    Ok(Json(
        c.points
            .rankings(who.as_ref(), q.period.unwrap_or(Period::All), q.limit)
            .await?,
    ))
}
