//! Careers routes under `/api/v1/careers`; request bodies live in `http/bodies.rs`.

mod bodies;
mod sources;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use surge_kernel::auth::{AdminUser, AuthUser};
use surge_kernel::error::Problem;
use surge_kernel::extract::{Json, Path, Query};
use surge_kernel::idempotency::{self, Idempotency};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ApiError;
use utoipa::OpenApi;
use uuid::Uuid;

pub use bodies::{
    GrantDraft, OpenFilter, PostingDraft, PostingFilter, PostingPatch, ProgramDraft, ProgramFilter,
    ProgramPatch,
};
pub use sources::SourcesApi;

use crate::applications::ApplicationView;
use crate::domain::{ApplicationStatus, EmploymentType, PostingSort, PostingStatus, ProgramStatus};
use crate::points::{LedgerView, PointsView};
use crate::postings::PostingView;
use crate::programs::ProgramView;
use crate::scraps::{ScrapView, ScrappedPosting};
use crate::search::{FacetCount, Facets, Highlights, PostingHit, PostingResults};
use crate::Careers;

type St = State<Arc<Careers>>;

/// Every POST may carry an `Idempotency-Key`: a retried grant, application or accept
/// replays its first answer instead of granting or applying twice.
pub fn router(c: Arc<Careers>, idem: Idempotency) -> Router {
    let routes = Router::new()
        .route("/postings", get(list_postings).post(create_posting))
        .route(
            "/postings/{id}",
            get(get_posting).patch(update_posting).delete(close_posting),
        )
        .route("/postings/{id}/scrap", put(scrap).delete(unscrap))
        .route("/scraps", get(my_scraps))
        .route("/points/me", get(my_points))
        .route("/points/grants", post(grant_points))
        .route(
            "/mentoring/programs",
            get(list_programs).post(create_program),
        )
        .route(
            "/mentoring/programs/{id}",
            get(get_program).patch(update_program),
        )
        .route("/mentoring/programs/{id}/close", post(close_program))
        .route("/mentoring/programs/{id}/cancel", post(cancel_program))
        .route(
            "/mentoring/programs/{id}/applications",
            get(program_applications).post(apply_to_program),
        )
        .route(
            "/mentoring/applications/mine",
            get(my_mentoring_applications),
        )
        .route(
            "/mentoring/applications/{id}/accept",
            post(accept_application),
        )
        .route(
            "/mentoring/applications/{id}/reject",
            post(reject_application),
        )
        .route(
            "/mentoring/applications/{id}/cancel",
            post(cancel_mentoring_application),
        )
        .merge(sources::routes())
        .with_state(c)
        .layer(axum::middleware::from_fn_with_state(
            idem,
            idempotency::layer,
        ));
    Router::new().nest("/api/v1/careers", routes)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        list_postings, create_posting, get_posting, update_posting, close_posting, scrap,
        unscrap, my_scraps, my_points, grant_points, list_programs, create_program,
        get_program, update_program, close_program, cancel_program, program_applications,
        apply_to_program, my_mentoring_applications, accept_application, reject_application, cancel_mentoring_application
    ),
    components(schemas(
        PostingDraft, PostingPatch, PostingView, PostingResults, PostingHit, Highlights, Facets,
        FacetCount, PostingStatus, EmploymentType, PostingSort, OpenFilter,
        ScrapView, ScrappedPosting, PointsView, LedgerView, GrantDraft, ProgramDraft,
        ProgramPatch, ProgramView, ProgramStatus, ApplicationView, ApplicationStatus, Problem
    )),
    tags((name = "careers", description = "Job postings, scraps, points, mentoring"))
)]
pub struct CareersApi;

fn created<T: serde::Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

/// Postings (by default only open ones: `open=true`), with `facets` and `total` over
/// every posting that passes the filters, both answered by the search index (which
/// follows a change within about a second; a posting closed since is left off the page
/// at once). With `q`: full-text search (`relevance` order by default, `recent` and
/// `deadline` too), each item with `highlights`. Without `q`: `recent` (default;
/// `relevance` is the same without words) or `deadline` order.
#[utoipa::path(get, path = "/api/v1/careers/postings", tag = "careers", params(PageQuery, PostingFilter),
    responses((status = 200, body = PostingResults), (status = 400, description = "`invalid_cursor`, `invalid_limit`", body = Problem),
        (status = 422, description = "`validation_failed`: `q` longer than 200 characters", body = Problem)))]
async fn list_postings(
    State(c): St,
    Query(page): Query<PageQuery>,
    Query(f): Query<PostingFilter>,
) -> Result<Json<PostingResults>, ApiError> {
    let f = f.try_into_domain()?;
    let results = match &f.q {
        Some(q) => c.search.search(q, &f, &page).await?,
        None => c.search.list(&f, &page).await?,
    };
    Ok(Json(results))
}

/// Adds a posting by hand (admins; source `manual`).
#[utoipa::path(post, path = "/api/v1/careers/postings", tag = "careers", request_body = PostingDraft,
    security(("bearer" = ["ADMIN"])), responses((status = 201, body = PostingView), (status = 403, description = "`forbidden`", body = Problem),
        (status = 422, description = "`validation_failed` (names the `field`)", body = Problem)))]
async fn create_posting(
    State(c): St,
    _admin: AdminUser,
    Json(d): Json<PostingDraft>,
) -> Result<Response, ApiError> {
    Ok(created(c.postings.create(d.try_into_domain()?).await?))
}

/// One posting (closed ones too).
#[utoipa::path(get, path = "/api/v1/careers/postings/{id}", tag = "careers", params(("id" = Uuid, Path)),
    responses((status = 200, body = PostingView), (status = 404, description = "`not_found`", body = Problem)))]
async fn get_posting(State(c): St, Path(id): Path<Uuid>) -> Result<Json<PostingView>, ApiError> {
    Ok(Json(c.postings.read(id).await?))
}

/// Edits a posting (admins); `status` closes or reopens it.
#[utoipa::path(patch, path = "/api/v1/careers/postings/{id}", tag = "careers", request_body = PostingPatch,
    params(("id" = Uuid, Path)), security(("bearer" = ["ADMIN"])),
    responses((status = 200, body = PostingView), (status = 403, description = "`forbidden`", body = Problem), (status = 404, description = "`not_found`", body = Problem),
        (status = 422, description = "`validation_failed` (names the `field`)", body = Problem)))]
async fn update_posting(
    State(c): St,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
    Json(d): Json<PostingPatch>,
) -> Result<Json<PostingView>, ApiError> {
    Ok(Json(c.postings.update(id, d.try_into_domain()?).await?))
}

/// Closes a posting (admins): it stays readable for those who scrapped it.
#[utoipa::path(delete, path = "/api/v1/careers/postings/{id}", tag = "careers", params(("id" = Uuid, Path)),
    security(("bearer" = ["ADMIN"])), responses((status = 204), (status = 403, description = "`forbidden`", body = Problem), (status = 404, description = "`not_found`", body = Problem)))]
async fn close_posting(
    State(c): St,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    c.postings.close(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Scraps a posting (idempotent); the first-ever scrap earns 50 points once.
#[utoipa::path(put, path = "/api/v1/careers/postings/{id}/scrap", tag = "careers", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = ScrapView), (status = 404, description = "`not_found`", body = Problem), (status = 409, description = "`posting_closed`: a closed posting takes no new scraps", body = Problem)))]
async fn scrap(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<ScrapView>, ApiError> {
    Ok(Json(c.scraps.scrap(&who, id).await?))
}

/// Removes a scrap (idempotent).
#[utoipa::path(delete, path = "/api/v1/careers/postings/{id}/scrap", tag = "careers", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 204), (status = 404, description = "`not_found`", body = Problem)))]
async fn unscrap(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    c.scraps.unscrap(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// My scraps, the latest first.
#[utoipa::path(get, path = "/api/v1/careers/scraps", tag = "careers", params(PageQuery),
    security(("bearer" = [])), responses((status = 200, body = Page<ScrappedPosting>)))]
async fn my_scraps(
    State(c): St,
    who: AuthUser,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<ScrappedPosting>>, ApiError> {
    Ok(Json(c.scraps.mine(&who, &page).await?))
}

/// My balance and ledger (newest first, cursor pages of the history).
#[utoipa::path(get, path = "/api/v1/careers/points/me", tag = "careers", params(PageQuery),
    security(("bearer" = [])), responses((status = 200, body = PointsView)))]
async fn my_points(
    State(c): St,
    who: AuthUser,
    Query(page): Query<PageQuery>,
) -> Result<Json<PointsView>, ApiError> {
    Ok(Json(c.points.mine(&who, &page).await?))
}

/// Grants points to a user (admins).
#[utoipa::path(post, path = "/api/v1/careers/points/grants", tag = "careers", request_body = GrantDraft,
    security(("bearer" = ["ADMIN"])), responses((status = 201, body = LedgerView), (status = 403, description = "`forbidden`", body = Problem), (status = 404, description = "`not_found`: no such user", body = Problem),
        (status = 422, description = "`validation_failed` (names the `field`)", body = Problem)))]
async fn grant_points(
    State(c): St,
    AdminUser(admin): AdminUser,
    Json(d): Json<GrantDraft>,
) -> Result<Response, ApiError> {
    Ok(created(c.points.grant(&admin, d.try_into_domain()?).await?))
}

/// Mentoring programs (default: open ones), newest first.
#[utoipa::path(get, path = "/api/v1/careers/mentoring/programs", tag = "careers", params(PageQuery, ProgramFilter),
    responses((status = 200, body = Page<ProgramView>), (status = 422, description = "`validation_failed` (`reason`: `invalid_skills`)", body = Problem)))]
async fn list_programs(
    State(c): St,
    Query(page): Query<PageQuery>,
    Query(f): Query<ProgramFilter>,
) -> Result<Json<Page<ProgramView>>, ApiError> {
    Ok(Json(c.programs.list(&f.try_into_domain()?, &page).await?))
}

/// Opens a program (mentors and admins).
#[utoipa::path(post, path = "/api/v1/careers/mentoring/programs", tag = "careers", request_body = ProgramDraft,
    security(("bearer" = ["MENTOR", "ADMIN"])), responses((status = 201, body = ProgramView), (status = 403, description = "`forbidden`: not a mentor", body = Problem),
        (status = 422, description = "`validation_failed` (names the `field`)", body = Problem)))]
async fn create_program(
    State(c): St,
    who: AuthUser,
    Json(d): Json<ProgramDraft>,
) -> Result<Response, ApiError> {
    Ok(created(
        c.programs.create(&who, d.try_into_domain()?).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/careers/mentoring/programs/{id}", tag = "careers", params(("id" = Uuid, Path)),
    responses((status = 200, body = ProgramView), (status = 404, description = "`not_found`", body = Problem)))]
async fn get_program(State(c): St, Path(id): Path<Uuid>) -> Result<Json<ProgramView>, ApiError> {
    Ok(Json(c.programs.read(id).await?))
}

/// Edits an open program (its mentor or an admin); capacity never below the accepted.
#[utoipa::path(patch, path = "/api/v1/careers/mentoring/programs/{id}", tag = "careers", request_body = ProgramPatch,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = ProgramView), (status = 403, description = "`forbidden`", body = Problem),
        (status = 409, description = "`program_closed`, `capacity_below_accepted`", body = Problem),
        (status = 422, description = "`validation_failed` (names the `field`)", body = Problem), (status = 404, description = "`not_found`", body = Problem)))]
async fn update_program(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(d): Json<ProgramPatch>,
) -> Result<Json<ProgramView>, ApiError> {
    Ok(Json(
        c.programs.update(&who, id, d.try_into_domain()?).await?,
    ))
}

/// Closes a program while nobody is accepted (pending applications are rejected).
#[utoipa::path(post, path = "/api/v1/careers/mentoring/programs/{id}/close", tag = "careers", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = ProgramView), (status = 403, description = "`forbidden`", body = Problem),
        (status = 409, description = "`program_has_mentees`, `program_closed`", body = Problem), (status = 404, description = "`not_found`", body = Problem)))]
async fn close_program(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<ProgramView>, ApiError> {
    Ok(Json(c.programs.close(&who, id).await?))
}

/// Cancels a program: accepted mentees are refunded in the same transaction.
#[utoipa::path(post, path = "/api/v1/careers/mentoring/programs/{id}/cancel", tag = "careers", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = ProgramView), (status = 403, description = "`forbidden`", body = Problem),
        (status = 409, description = "`program_closed`", body = Problem), (status = 404, description = "`not_found`", body = Problem)))]
async fn cancel_program(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<ProgramView>, ApiError> {
    Ok(Json(c.programs.cancel(&who, id).await?))
}

/// The applications to a program (its mentor or an admin).
#[utoipa::path(get, path = "/api/v1/careers/mentoring/programs/{id}/applications", tag = "careers",
    params(("id" = Uuid, Path), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<ApplicationView>), (status = 403, description = "`forbidden`", body = Problem), (status = 404, description = "`not_found`", body = Problem)))]
async fn program_applications(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<ApplicationView>>, ApiError> {
    Ok(Json(c.applications.of_program(&who, id, &page).await?))
}

/// Applies to a program: one live application per program.
#[utoipa::path(post, path = "/api/v1/careers/mentoring/programs/{id}/applications", tag = "careers",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 201, body = ApplicationView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`already_applied`, `program_closed`, `own_program`", body = Problem)))]
async fn apply_to_program(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    Ok(created(c.applications.apply(&who, id).await?))
}

/// My applications, newest first.
#[utoipa::path(get, path = "/api/v1/careers/mentoring/applications/mine", tag = "careers", params(PageQuery),
    security(("bearer" = [])), responses((status = 200, body = Page<ApplicationView>)))]
async fn my_mentoring_applications(
    State(c): St,
    who: AuthUser,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<ApplicationView>>, ApiError> {
    Ok(Json(c.applications.mine(&who, &page).await?))
}

/// Accepts: takes a place and the mentee's points, atomically.
#[utoipa::path(post, path = "/api/v1/careers/mentoring/applications/{id}/accept", tag = "careers",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = ApplicationView), (status = 403, description = "`forbidden`", body = Problem),
        (status = 409, description = "`program_full`, `insufficient_points`, `application_not_pending`, `program_closed`", body = Problem), (status = 404, description = "`not_found`", body = Problem)))]
async fn accept_application(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<ApplicationView>, ApiError> {
    Ok(Json(c.applications.accept(&who, id).await?))
}

#[utoipa::path(post, path = "/api/v1/careers/mentoring/applications/{id}/reject", tag = "careers",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = ApplicationView), (status = 403, description = "`forbidden`", body = Problem),
        (status = 409, description = "`application_not_pending`", body = Problem), (status = 404, description = "`not_found`", body = Problem)))]
async fn reject_application(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<ApplicationView>, ApiError> {
    Ok(Json(c.applications.reject(&who, id).await?))
}

/// The mentee cancels a pending application.
#[utoipa::path(post, path = "/api/v1/careers/mentoring/applications/{id}/cancel", tag = "careers",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = ApplicationView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`application_not_pending`", body = Problem)))]
async fn cancel_mentoring_application(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<ApplicationView>, ApiError> {
    Ok(Json(c.applications.cancel(&who, id).await?))
}
