//! Resume routes under `/api/v1/resumes`. Bodies become domain values with
//! `try_into_domain()` before a use case runs; a POST may carry an `Idempotency-Key`
//! (a retried request replays its first answer instead of taking a second use).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::Router;
use serde::Deserialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::error::Problem;
use surge_kernel::extract::{client_ip, Json, Path, Peer, Query};
use surge_kernel::idempotency::{self, Idempotency};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::views::Viewer;
use surge_kernel::ApiError;
use utoipa::OpenApi;
use uuid::Uuid;

use crate::browse::{Filter, Sort};
use crate::comments::CommentView;
use crate::domain::{
    comment_body, highlights, instruction, InvalidInput, Login, Origin, Position, ResumeStatus,
    SchoolType, Sections, Visibility,
};
use crate::likes::{LikeView, Want};
use crate::resumes::{NewResume, ResumeCard, ResumeView, VersionView};
use crate::writer::Brief;
use crate::Resumes;

type St = State<Arc<Resumes>>;

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        ApiError::validation(e.to_string())
            .with("field", e.field())
            .with("reason", e.code())
    }
}

pub fn router(r: Arc<Resumes>, idem: Idempotency) -> Router {
    let routes = Router::new()
        .route("/resumes", get(list).post(create))
        .route("/resumes/mine", get(mine))
        .route(
            "/resumes/{id}",
            get(read).put(replace).patch(share).delete(withdraw),
        )
        .route("/resumes/{id}/edit", post(edit))
        .route("/resumes/{id}/versions", get(versions))
        .route("/resumes/{id}/likes", post(toggle_like))
        .route("/resumes/{id}/like", put(like).delete(unlike))
        .route("/resumes/{id}/comments", get(comments).post(comment))
        .route(
            "/resumes/{id}/comments/{cid}",
            patch(edit_comment).delete(delete_comment),
        )
        .with_state(r)
        .layer(axum::middleware::from_fn_with_state(
            idem,
            idempotency::layer,
        ));
    Router::new().nest("/api/v1", routes)
}

#[derive(OpenApi)]
#[openapi(
    paths(list, create, mine, read, replace, share, withdraw, edit, versions, toggle_like, like,
        unlike, comments, comment, edit_comment, delete_comment),
    components(schemas(
        CreateBody, EditBody, ShareBody, CommentBody, ResumeView, ResumeCard, VersionView,
        LikeView, CommentView, Sections, crate::domain::Project, crate::domain::Experience,
        Position, SchoolType, Visibility, ResumeStatus, Origin, Sort, Problem
    )),
    tags((name = "resumes", description = "Resumes written from GitHub work, versions, sharing, likes, comments"))
)]
pub struct ResumesApi;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateBody {
    /// The GitHub login whose public work the resume is written from; absent: the
    /// GitHub account you signed in with.
    pub github_username: Option<String>,
    pub position: Position,
    pub school_type: Option<SchoolType>,
    /// Your own notes for the writer: at most 10, each 1..=300 characters.
    #[serde(default)]
    pub highlights: Vec<String>,
}

impl CreateBody {
    pub fn try_into_domain(self) -> Result<NewResume, InvalidInput> {
        Ok(NewResume {
            login: self
                .github_username
                .as_deref()
                .map(Login::parse)
                .transpose()?,
            brief: Brief {
                position: self.position,
                school_type: self.school_type,
                highlights: highlights(&self.highlights)?,
            },
        })
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EditBody {
    /// What the model should change, 1..=1000 characters.
    pub instruction: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ShareBody {
    pub visibility: Visibility,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CommentBody {
    /// 1..=1000 characters.
    pub body: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub position: Option<Position>,
    pub school_type: Option<SchoolType>,
    /// `recent` (default), `likes` or `views`.
    pub sort: Option<Sort>,
    /// `true`: only the resumes you liked (signed in).
    pub liked: Option<bool>,
}

fn accepted<T: serde::Serialize>(v: T) -> Response {
    (StatusCode::ACCEPTED, Json(v)).into_response()
}

/// Public resumes with a written version, newest first or by likes or views.
#[utoipa::path(get, path = "/api/v1/resumes", tag = "resumes", operation_id = "resumes_list", params(ListQuery, PageQuery),
    responses((status = 200, body = Page<ResumeCard>),
        (status = 400, description = "`invalid_query`, `invalid_cursor`, `invalid_limit`", body = Problem),
        (status = 401, description = "`unauthenticated` (`liked=true` only)", body = Problem)))]
async fn list(
    State(r): St,
    who: Option<AuthUser>,
    Query(q): Query<ListQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<ResumeCard>>, ApiError> {
    let liked_by = match q.liked {
        Some(true) => Some(
            who.ok_or_else(|| {
                ApiError::unauthorized("unauthenticated", "liked=true needs a signed-in user")
            })?
            .id,
        ),
        _ => None,
    };
    let f = Filter {
        position: q.position,
        school_type: q.school_type,
        sort: q.sort.unwrap_or_default(),
        liked_by,
    };
    Ok(Json(r.browse.list(&f, &page).await?))
}

/// Asks for a resume written from a GitHub user's public work: one use of today's
/// quota; 202 with the resume GENERATING, READY (or FAILED with a reason) later.
#[utoipa::path(post, path = "/api/v1/resumes", tag = "resumes", operation_id = "resumes_create", request_body = CreateBody,
    security(("bearer" = [])), responses((status = 202, body = ResumeView),
        (status = 422, description = "`validation_failed` (names the `field`)", body = Problem),
        (status = 429, description = "`quota_exceeded`: today's uses are used up (`limit`, `plan`, `resets_at`)", body = Problem)))]
async fn create(
    State(r): St,
    who: AuthUser,
    Json(b): Json<CreateBody>,
) -> Result<Response, ApiError> {
    Ok(accepted(
        r.resumes.create(&who, b.try_into_domain()?).await?,
    ))
}

/// Your resumes, newest first, in every state.
#[utoipa::path(get, path = "/api/v1/resumes/mine", tag = "resumes", operation_id = "resumes_mine", params(PageQuery),
    security(("bearer" = [])), responses((status = 200, body = Page<ResumeCard>)))]
async fn mine(
    State(r): St,
    who: AuthUser,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<ResumeCard>>, ApiError> {
    Ok(Json(r.resumes.mine(&who, &page).await?))
}

/// One resume: yours in any state, or a public one; reading another's counts a view
/// (once per viewer per hour).
#[utoipa::path(get, path = "/api/v1/resumes/{id}", tag = "resumes", operation_id = "resumes_get", params(("id" = Uuid, Path)),
    responses((status = 200, body = ResumeView), (status = 404, description = "`not_found`", body = Problem)))]
async fn read(
    State(r): St,
    who: Option<AuthUser>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<Json<ResumeView>, ApiError> {
    let v = r.resumes.get(id, who.as_ref()).await?;
    if who.as_ref().map(|w| w.id) != Some(v.owner_id) {
        let viewer = match &who {
            Some(w) => Viewer::User(w.id),
            None => Viewer::Address(client_ip(&headers, peer, r.trusted_proxy_hops)),
        };
        r.views.record(id, &viewer).await;
    }
    Ok(Json(v))
}

/// Replaces the sections with your own text: the next version.
#[utoipa::path(put, path = "/api/v1/resumes/{id}", tag = "resumes", operation_id = "resumes_replace", request_body = Sections,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = ResumeView), (status = 403, description = "`not_owner`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`resume_busy`, `resume_not_ready`, `resume_changed`", body = Problem),
        (status = 422, description = "`validation_failed` (names the `field`)", body = Problem)))]
async fn replace(
    State(r): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(s): Json<Sections>,
) -> Result<Json<ResumeView>, ApiError> {
    Ok(Json(r.resumes.replace(&who, id, s.validated()?).await?))
}

/// Shares the resume (PUBLIC) or takes it back (PRIVATE).
#[utoipa::path(patch, path = "/api/v1/resumes/{id}", tag = "resumes", operation_id = "resumes_share", request_body = ShareBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = ResumeView), (status = 403, description = "`not_owner`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`resume_not_ready`: nothing written to share yet", body = Problem)))]
async fn share(
    State(r): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<ShareBody>,
) -> Result<Json<ResumeView>, ApiError> {
    Ok(Json(
        r.resumes.set_visibility(&who, id, b.visibility).await?,
    ))
}

/// Deletes the resume (a job in progress gives its use back).
#[utoipa::path(delete, path = "/api/v1/resumes/{id}", tag = "resumes", operation_id = "resumes_delete", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 204), (status = 403, description = "`not_owner`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem)))]
async fn withdraw(
    State(r): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    r.resumes.delete(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Asks the model to revise the resume: one use of today's quota; 202 with the resume
/// EDITING, the edit landing as the next version.
#[utoipa::path(post, path = "/api/v1/resumes/{id}/edit", tag = "resumes", operation_id = "resumes_edit", request_body = EditBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 202, body = ResumeView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`resume_busy`, `resume_not_ready`, `ai_edit_unavailable` (no language model configured)", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
        (status = 429, description = "`quota_exceeded`", body = Problem)))]
async fn edit(
    State(r): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<EditBody>,
) -> Result<Response, ApiError> {
    let i = instruction(&b.instruction)?;
    Ok(accepted(r.resumes.request_edit(&who, id, i).await?))
}

/// Every version of your resume, newest first.
#[utoipa::path(get, path = "/api/v1/resumes/{id}/versions", tag = "resumes", operation_id = "resumes_versions",
    params(("id" = Uuid, Path), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<VersionView>), (status = 404, description = "`not_found`", body = Problem)))]
async fn versions(
    State(r): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<VersionView>>, ApiError> {
    Ok(Json(r.resumes.versions(&who, id, &page).await?))
}

/// Likes the resume if you do not yet, else takes the like back.
#[utoipa::path(post, path = "/api/v1/resumes/{id}/likes", tag = "resumes", operation_id = "resumes_toggle_like",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = LikeView), (status = 404, description = "`not_found`", body = Problem)))]
async fn toggle_like(
    State(r): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<LikeView>, ApiError> {
    Ok(Json(r.likes.set(&who, id, Want::Toggle).await?))
}

/// Likes the resume (idempotent).
#[utoipa::path(put, path = "/api/v1/resumes/{id}/like", tag = "resumes", operation_id = "resumes_like",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = LikeView), (status = 404, description = "`not_found`", body = Problem)))]
async fn like(
    State(r): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<LikeView>, ApiError> {
    Ok(Json(r.likes.set(&who, id, Want::Like).await?))
}

/// Takes your like back (idempotent).
#[utoipa::path(delete, path = "/api/v1/resumes/{id}/like", tag = "resumes", operation_id = "resumes_unlike",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = LikeView), (status = 404, description = "`not_found`", body = Problem)))]
async fn unlike(
    State(r): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<LikeView>, ApiError> {
    Ok(Json(r.likes.set(&who, id, Want::Unlike).await?))
}

/// The comments, oldest first.
#[utoipa::path(get, path = "/api/v1/resumes/{id}/comments", tag = "resumes", operation_id = "resumes_comments",
    params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = Page<CommentView>), (status = 404, description = "`not_found`", body = Problem)))]
async fn comments(
    State(r): St,
    who: Option<AuthUser>,
    Path(id): Path<Uuid>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<CommentView>>, ApiError> {
    Ok(Json(r.comments.list(who.as_ref(), id, &page).await?))
}

/// Comments on a resume (its owner is told).
#[utoipa::path(post, path = "/api/v1/resumes/{id}/comments", tag = "resumes", operation_id = "resumes_comment", request_body = CommentBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 201, body = CommentView), (status = 404, description = "`not_found`", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem)))]
async fn comment(
    State(r): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<CommentBody>,
) -> Result<Response, ApiError> {
    let body = comment_body(&b.body)?;
    Ok((
        StatusCode::CREATED,
        Json(r.comments.add(&who, id, body).await?),
    )
        .into_response())
}

/// Edits your comment.
#[utoipa::path(patch, path = "/api/v1/resumes/{id}/comments/{cid}", tag = "resumes", operation_id = "resumes_edit_comment", request_body = CommentBody,
    params(("id" = Uuid, Path), ("cid" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommentView), (status = 403, description = "`not_author`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem), (status = 422, description = "`validation_failed`", body = Problem)))]
async fn edit_comment(
    State(r): St,
    who: AuthUser,
    Path((id, cid)): Path<(Uuid, Uuid)>,
    Json(b): Json<CommentBody>,
) -> Result<Json<CommentView>, ApiError> {
    let body = comment_body(&b.body)?;
    Ok(Json(r.comments.edit(&who, id, cid, body).await?))
}

/// Deletes a comment (its author, the resume's owner or an admin).
#[utoipa::path(delete, path = "/api/v1/resumes/{id}/comments/{cid}", tag = "resumes", operation_id = "resumes_delete_comment",
    params(("id" = Uuid, Path), ("cid" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, description = "`not_author`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem)))]
async fn delete_comment(
    State(r): St,
    who: AuthUser,
    Path((id, cid)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    r.comments.delete(&who, id, cid).await?;
    Ok(StatusCode::NO_CONTENT)
}
