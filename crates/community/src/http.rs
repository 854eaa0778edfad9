//! Community routes under `/api/v1/community`; request bodies live in `http/bodies.rs`.

mod bodies;
mod images;
mod missions;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, put};
use axum::Router;
use surge_kernel::auth::AuthUser;
use surge_kernel::error::Problem;
use surge_kernel::extract::{client_ip, Json, Path, Peer, Query};
use surge_kernel::idempotency::{self, Idempotency};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ApiError;
use utoipa::OpenApi;
use uuid::Uuid;

pub use bodies::{
    CommentDraft, CommentPatch, PostDraft, PostFilter, PostListing, PostPatch, VoteBody,
};

use crate::comments::CommentView;
use crate::domain::VoteKind;
use crate::images::ImageView;
use crate::posts::{ImageRef, PostView};
use crate::views::Viewer;
use crate::votes::VoteView;
use crate::Community;

type St = State<Arc<Community>>;

/// A POST may carry an `Idempotency-Key`: a retried post or comment replays its first
/// answer instead of writing twice.
pub fn router(c: Arc<Community>, idem: Idempotency) -> Router {
    let max_image = c.images.rules.max_bytes;
    let routes = Router::new()
        .route("/posts", get(list_posts).post(create_post))
        .route(
            "/posts/{id}",
            get(get_post).patch(update_post).delete(delete_post),
        )
        .route("/posts/{id}/vote", put(vote).delete(unvote))
        .route("/posts/{id}/comments", get(list_comments).post(add_comment))
        .route("/comments/{id}", patch(edit_comment).delete(delete_comment))
        .merge(images::image_routes(max_image))
        .merge(missions::mission_routes(max_image))
        .with_state(c)
        .layer(axum::middleware::from_fn_with_state(
            idem,
            idempotency::layer,
        ));
    Router::new().nest("/api/v1/community", routes)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        list_posts, create_post, get_post, update_post, delete_post, vote, unvote,
        list_comments, add_comment, edit_comment, delete_comment, images::upload_image,
        images::get_image, missions::create_mission, missions::update_mission,
        missions::list_missions, missions::today, missions::histories, missions::history,
        missions::submit_proof, missions::pending_proofs, missions::approve, missions::reject,
        missions::my_points, missions::rankings
    ),
    components(schemas(
        PostDraft, PostPatch, PostView, ImageRef, VoteBody, VoteKind, VoteView, CommentDraft,
        CommentPatch, CommentView, ImageView, images::ImageUpload, Problem,
        missions::MissionBody, missions::TodayBody, missions::RejectBody, missions::ProofUpload,
        crate::missions::MissionView, crate::missions::MissionHistoryView,
        crate::domain::Slot, crate::domain::MissionState, crate::domain::Period,
        crate::points::MyPoints, crate::points::PointEntryView, crate::points::Rankings,
        crate::points::RankedUser
    )),
    tags((name = "community", description = "Posts near me, votes, views, comments, images, daily missions, points, rankings"))
)]
pub struct CommunityApi;

fn created<T: serde::Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

/// Posts near a point (`latitude`, `longitude`, `radius_m` up to 50 km, default 5 km),
/// newest first with `distance_m`; or `mine=true`: the caller's own posts.
#[utoipa::path(get, path = "/api/v1/community/posts", tag = "community", operation_id = "community_list_posts", params(PostFilter, PageQuery),
    responses((status = 200, body = Page<PostView>),
        (status = 400, description = "`invalid_coordinates`, `invalid_radius`, `location_required`, `invalid_query`, `invalid_cursor`, `invalid_limit`", body = Problem),
        (status = 401, description = "`unauthenticated` (`mine=true` only)", body = Problem)))]
async fn list_posts(
    State(c): St,
    who: Option<AuthUser>,
    Query(f): Query<PostFilter>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<PostView>>, ApiError> {
    match f.try_into_domain()? {
        PostListing::Mine => {
            let who = who.ok_or_else(|| {
                ApiError::unauthorized("unauthenticated", "mine=true needs a signed-in user")
            })?;
            Ok(Json(c.posts.mine(&who, &page).await?))
        }
        PostListing::Near(at, radius) => Ok(Json(
            c.nearby
                .search(at, radius, &page, who.map(|w| w.id))
                .await?,
        )),
    }
}

/// Writes a post at a place.
#[utoipa::path(post, path = "/api/v1/community/posts", tag = "community", operation_id = "community_create_post", request_body = PostDraft,
    security(("bearer" = [])), responses((status = 201, body = PostView),
        (status = 400, description = "`invalid_coordinates`", body = Problem),
        (status = 422, description = "`validation_failed` (names the `field`)", body = Problem)))]
async fn create_post(
    State(c): St,
    who: AuthUser,
    Json(d): Json<PostDraft>,
) -> Result<Response, ApiError> {
    Ok(created(c.posts.create(&who, d.try_into_domain()?).await?))
}

/// One post; reading it counts a view (once per viewer per hour).
#[utoipa::path(get, path = "/api/v1/community/posts/{id}", tag = "community", operation_id = "community_get_post", params(("id" = Uuid, Path)),
    responses((status = 200, body = PostView), (status = 404, description = "`not_found`", body = Problem)))]
async fn get_post(
    State(c): St,
    who: Option<AuthUser>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<Json<PostView>, ApiError> {
    let view = c.posts.get(id, who.map(|w| w.id)).await?;
    let viewer = match who {
        Some(w) => Viewer::User(w.id),
        None => Viewer::Address(client_ip(&headers, peer, c.trusted_proxy_hops)),
    };
    c.views.record(id, &viewer).await;
    Ok(Json(view))
}

/// Edits a post (its author or an admin).
#[utoipa::path(patch, path = "/api/v1/community/posts/{id}", tag = "community", operation_id = "community_update_post", request_body = PostPatch,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = PostView), (status = 403, description = "`not_author`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
        (status = 422, description = "`validation_failed` (names the `field`)", body = Problem)))]
async fn update_post(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(d): Json<PostPatch>,
) -> Result<Json<PostView>, ApiError> {
    Ok(Json(c.posts.update(&who, id, d.try_into_domain()?).await?))
}

/// Withdraws a post (its author or an admin).
#[utoipa::path(delete, path = "/api/v1/community/posts/{id}", tag = "community", operation_id = "community_delete_post", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 204), (status = 403, description = "`not_author`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem)))]
async fn delete_post(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    c.posts.delete(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Votes UP or DOWN: the same again changes nothing, the other switches.
#[utoipa::path(put, path = "/api/v1/community/posts/{id}/vote", tag = "community", operation_id = "community_vote", request_body = VoteBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = VoteView), (status = 404, description = "`not_found`", body = Problem),
        (status = 422, description = "`invalid_body`: `type` is not UP or DOWN", body = Problem)))]
async fn vote(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(b): Json<VoteBody>,
) -> Result<Json<VoteView>, ApiError> {
    Ok(Json(c.votes.vote(&who, id, b.kind).await?))
}

/// Takes the caller's vote back (idempotent).
#[utoipa::path(delete, path = "/api/v1/community/posts/{id}/vote", tag = "community", operation_id = "community_unvote",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = VoteView), (status = 404, description = "`not_found`", body = Problem)))]
async fn unvote(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<VoteView>, ApiError> {
    Ok(Json(c.votes.unvote(&who, id).await?))
}

/// The post's top-level comments, oldest first, each with its replies.
#[utoipa::path(get, path = "/api/v1/community/posts/{id}/comments", tag = "community", operation_id = "community_list_comments",
    params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = Page<CommentView>), (status = 404, description = "`not_found`", body = Problem)))]
async fn list_comments(
    State(c): St,
    Path(id): Path<Uuid>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<CommentView>>, ApiError> {
    Ok(Json(c.comments.list(id, &page).await?))
}

/// Comments on a post, or replies to a top-level comment (`parent_id`).
#[utoipa::path(post, path = "/api/v1/community/posts/{id}/comments", tag = "community", operation_id = "community_add_comment", request_body = CommentDraft,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 201, body = CommentView), (status = 404, description = "`not_found`", body = Problem),
        (status = 422, description = "`validation_failed` (`field`: `body` or `parent_id`)", body = Problem)))]
async fn add_comment(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(d): Json<CommentDraft>,
) -> Result<Response, ApiError> {
    let (body, parent) = d.try_into_domain()?;
    Ok(created(c.comments.add(&who, id, parent, body).await?))
}

/// Edits a comment (its author or an admin).
#[utoipa::path(patch, path = "/api/v1/community/comments/{id}", tag = "community", operation_id = "community_edit_comment", request_body = CommentPatch,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommentView), (status = 403, description = "`not_author`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem), (status = 422, description = "`validation_failed`", body = Problem)))]
async fn edit_comment(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(d): Json<CommentPatch>,
) -> Result<Json<CommentView>, ApiError> {
    Ok(Json(c.comments.edit(&who, id, d.try_into_domain()?).await?))
}

/// Deletes a comment and its replies (its author or an admin).
#[utoipa::path(delete, path = "/api/v1/community/comments/{id}", tag = "community", operation_id = "community_delete_comment",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, description = "`not_author`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem)))]
async fn delete_comment(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    c.comments.delete(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
