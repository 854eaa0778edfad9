//! Admin routes of the job sources: configured sources with their last run, starting a
//! run, and the runs with their counts.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use surge_kernel::auth::AdminUser;
use surge_kernel::error::Problem;
use surge_kernel::extract::{Json, Path, Query};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ApiError;
use uuid::Uuid;

use crate::domain::{SyncStatus, SyncTrigger};
use crate::sources::{NewsFilter, NewsView, SourceView, SyncRunView, SyncStarted};
use crate::Careers;

type St = State<Arc<Careers>>;

pub(super) fn routes() -> Router<Arc<Careers>> {
    Router::new()
        .route("/sources", get(list_sources))
        .route("/sources/{name}/sync", post(start_sync))
        .route("/sync-runs", get(list_runs))
        .route("/sync-runs/{id}", get(get_run))
        .route("/news", get(list_news))
        .route("/news/feeds/{name}/refresh", post(refresh_feed))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_sources, start_sync, list_runs, get_run, list_news, refresh_feed),
    components(schemas(
        SourceView,
        SyncRunView,
        SyncStarted,
        SyncStatus,
        SyncTrigger,
        NewsView,
        Problem
    ))
)]
pub struct SourcesApi;

/// The configured job sources and the latest run of each (admins).
#[utoipa::path(get, path = "/api/v1/careers/sources", tag = "careers", security(("bearer" = ["ADMIN"])),
    responses((status = 200, body = [SourceView]), (status = 403, description = "`forbidden`", body = Problem)))]
async fn list_sources(State(c): St, _admin: AdminUser) -> Result<Json<Vec<SourceView>>, ApiError> {
    Ok(Json(c.sources.list().await?))
}

/// Starts a sync of a source now (admins); it runs in the background: follow it at
/// `/sync-runs/{run_id}`.
#[utoipa::path(post, path = "/api/v1/careers/sources/{name}/sync", tag = "careers", params(("name" = String, Path)),
    security(("bearer" = ["ADMIN"])), responses((status = 202, body = SyncStarted), (status = 403, description = "`forbidden`", body = Problem),
        (status = 404, description = "`unknown_source`", body = Problem), (status = 409, description = "`sync_in_progress`: a run of this source is going on (on any instance)", body = Problem)))]
async fn start_sync(
    State(c): St,
    _admin: AdminUser,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let run_id = c.sources.trigger(&name, SyncTrigger::Admin).await?;
    Ok((StatusCode::ACCEPTED, Json(SyncStarted { run_id })).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunFilter {
    /// Only the runs of this source.
    pub source: Option<String>,
}

/// Sync runs, newest first (admins).
#[utoipa::path(get, path = "/api/v1/careers/sync-runs", tag = "careers", params(PageQuery, RunFilter),
    security(("bearer" = ["ADMIN"])), responses((status = 200, body = Page<SyncRunView>), (status = 403, description = "`forbidden`", body = Problem),
        (status = 400, description = "`invalid_cursor`, `invalid_limit`", body = Problem)))]
async fn list_runs(
    State(c): St,
    _admin: AdminUser,
    Query(page): Query<PageQuery>,
    Query(f): Query<RunFilter>,
) -> Result<Json<Page<SyncRunView>>, ApiError> {
    let source = f.source.as_deref().map(str::trim).filter(|s| !s.is_empty());
    Ok(Json(c.sources.runs(source, &page).await?))
}

/// One sync run (admins).
#[utoipa::path(get, path = "/api/v1/careers/sync-runs/{id}", tag = "careers", params(("id" = Uuid, Path)),
    security(("bearer" = ["ADMIN"])), responses((status = 200, body = SyncRunView), (status = 403, description = "`forbidden`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem)))]
async fn get_run(
    State(c): St,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
) -> Result<Json<SyncRunView>, ApiError> {
    Ok(Json(c.sources.run(id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NewsQuery {
    /// Words that must all appear in the title or summary (at most 200 characters).
    pub q: Option<String>,
    /// Only items naming this company (one with postings here).
    pub company: Option<String>,
}

/// Tech news from the configured feeds, newest first.
#[utoipa::path(get, path = "/api/v1/careers/news", tag = "careers", params(PageQuery, NewsQuery),
    responses((status = 200, body = Page<NewsView>), (status = 400, description = "`invalid_cursor`, `invalid_limit`", body = Problem),
        (status = 422, description = "`validation_failed`: `q` or `company` too long", body = Problem)))]
async fn list_news(
    State(c): St,
    Query(page): Query<PageQuery>,
    Query(f): Query<NewsQuery>,
) -> Result<Json<Page<NewsView>>, ApiError> {
    let q = f.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    let company = f
        .company
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > 200)
        || company.as_ref().is_some_and(|c| c.chars().count() > 100)
    {
        return Err(ApiError::validation(
            "q is at most 200 characters, company at most 100",
        ));
    }
    Ok(Json(c.news.list(&NewsFilter { q, company }, &page).await?))
}

/// Fetches a news feed now (admins), to the end: the run, as in `/sync-runs`.
#[utoipa::path(post, path = "/api/v1/careers/news/feeds/{name}/refresh", tag = "careers", params(("name" = String, Path)),
    security(("bearer" = ["ADMIN"])), responses((status = 200, body = SyncRunView), (status = 403, description = "`forbidden`", body = Problem),
        (status = 404, description = "`unknown_feed`", body = Problem), (status = 409, description = "`sync_in_progress`", body = Problem)))]
async fn refresh_feed(
    State(c): St,
    _admin: AdminUser,
    Path(name): Path<String>,
) -> Result<Json<SyncRunView>, ApiError> {
    Ok(Json(c.news.refresh(&name, SyncTrigger::Admin).await?))
}
