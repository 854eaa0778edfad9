//! Partner routes under `/api/v1/partner`, and their request bodies: each converts
//! with `try_into_domain()` into validated domain types before reaching a use case.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::Router;
use serde::Deserialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::error::Problem;
use surge_kernel::extract::{Json, Path, Query};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::{parse_rfc3339, ApiError};
use utoipa::{IntoParams, OpenApi};
use uuid::Uuid;

use crate::comments::CommentView;
use crate::domain::{
    ApplicationStatus, Capacity, Category, Conditions, Criteria, InvalidInput, MatchKind,
    NewReview, NewRoom, Place, RoomChanges, RoomStatus, Stars, StudyType, Text, Title, Way,
};
use crate::matches::{ActivityView, LeaderboardEntry, MatchMember, MatchView, ReviewView};
use crate::matching::{ApplicationView, WaitingCount};
use crate::rooms::{MemberView, RoomListing, RoomView};
use crate::Partner;

/// An invalid input answers 422 `validation_failed`, naming the field.
impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        ApiError::validation(e.to_string()).with("field", e.field())
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RoomDraft {
    pub category: Category,
    pub title: String,
    #[serde(default)]
    pub body: String,
    /// 2..=20, the author included.
    pub capacity: i32,
    /// RFC 3339.
    pub meets_at: String,
    #[serde(default)]
    pub anonymous: bool,
    #[serde(default)]
    pub conditions: Conditions,
}

impl RoomDraft {
    pub fn try_into_domain(self) -> Result<NewRoom, ApiError> {
        let criteria = Criteria::new(self.category, self.conditions)?;
        let meets_at = parse_rfc3339(&self.meets_at, "meets_at")?;
        Ok(NewRoom {
            criteria,
            title: Title::new(&self.title)?,
            body: Text::new(&self.body, "body")?,
            capacity: Capacity::new(self.capacity)?,
            meets_at,
            anonymous: self.anonymous,
        })
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RoomPatch {
    pub title: Option<String>,
    pub body: Option<String>,
    /// Never below the current number of members.
    pub capacity: Option<i32>,
    pub meets_at: Option<String>,
    pub anonymous: Option<bool>,
    pub conditions: Option<Conditions>,
}

impl RoomPatch {
    pub fn try_into_domain(self) -> Result<RoomChanges, ApiError> {
        Ok(RoomChanges {
            title: self.title.as_deref().map(Title::new).transpose()?,
            body: self
                .body
                .as_deref()
                .map(|b| Text::new(b, "body"))
                .transpose()?,
            capacity: self.capacity.map(Capacity::new).transpose()?,
            meets_at: self
                .meets_at
                .as_deref()
                .map(|m| parse_rfc3339(m, "meets_at"))
                .transpose()?,
            anonymous: self.anonymous,
            conditions: self.conditions,
        })
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct RoomFilter {
    pub category: Option<Category>,
    /// `open` (default) or `completed`.
    pub status: Option<String>,
    pub place: Option<Place>,
    pub way: Option<Way>,
    pub study_type: Option<StudyType>,
}

impl RoomFilter {
    pub fn try_into_domain(self) -> Result<RoomListing, ApiError> {
        let status = match self
            .status
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("open") => RoomStatus::Open,
            Some("completed") => RoomStatus::Completed,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_filter",
                    "status is open or completed",
                ))
            }
        };
        Ok(RoomListing {
            category: self.category,
            status,
            place: self.place,
            way: self.way,
            study_type: self.study_type,
        })
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CommentDraft {
    pub body: String,
    /// Reply to this top-level comment.
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CommentPatch {
    pub body: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ApplicationDraft {
    pub category: Category,
    #[serde(flatten)]
    pub conditions: Conditions,
}

impl ApplicationDraft {
    pub fn try_into_domain(self) -> Result<Criteria, ApiError> {
        Ok(Criteria::new(self.category, self.conditions)?)
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReviewDraft {
    pub reviewee_id: Uuid,
    /// 1..=5.
    pub stars: i32,
}

impl ReviewDraft {
    pub fn try_into_domain(self) -> Result<NewReview, ApiError> {
        Ok(NewReview {
            reviewee: self.reviewee_id,
            stars: Stars::new(self.stars)?,
        })
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LeaderboardQuery {
    /// 1..=100 (default 20).
    pub limit: Option<u64>,
}

impl LeaderboardQuery {
    fn limit(&self) -> Result<u64, ApiError> {
        match self.limit.unwrap_or(20) {
            n @ 1..=100 => Ok(n),
            _ => Err(ApiError::bad_request(
                "invalid_limit",
                "limit must be between 1 and 100",
            )),
        }
    }
}

type St = State<Arc<Partner>>;

pub fn router(p: Arc<Partner>) -> Router {
    let routes = Router::new()
        .route("/rooms", get(list_rooms).post(create_room))
        .route(
            "/rooms/{id}",
            get(get_room).patch(update_room).delete(delete_room),
        )
        .route("/rooms/{id}/restore", post(restore_room))
        .route("/rooms/{id}/join", post(join_room))
        .route("/rooms/{id}/leave", post(leave_room))
        .route("/rooms/{id}/complete", post(complete_room))
        .route("/rooms/{id}/comments", get(list_comments).post(add_comment))
        .route("/comments/{id}", patch(edit_comment).delete(delete_comment))
        .route("/random-matches", post(apply))
        .route("/random-matches/mine", get(my_applications))
        .route("/random-matches/count", get(waiting_count))
        .route("/random-matches/{category}", delete(cancel_application))
        .route("/matches", get(my_matches))
        .route("/matches/{id}", get(get_match))
        .route("/matches/{id}/reviews", post(review))
        .route("/activity/me", get(my_activity))
        .route("/activity/leaderboard", get(leaderboard))
        .with_state(p);
    Router::new().nest("/api/v1/partner", routes)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        list_rooms, create_room, get_room, update_room, delete_room, restore_room, join_room,
        leave_room, complete_room, list_comments, add_comment, edit_comment, delete_comment,
        apply, my_applications, waiting_count, cancel_application, my_matches, get_match,
        review, my_activity, leaderboard
    ),
    components(schemas(
        RoomDraft, RoomPatch, RoomView, MemberView, Conditions, Category, Place, Way, StudyType,
        RoomStatus, ApplicationStatus, MatchKind, CommentDraft, CommentPatch, CommentView, ApplicationDraft, ApplicationView, WaitingCount,
        MatchView, MatchMember, ReviewDraft, ReviewView, ActivityView, LeaderboardEntry, Problem
    )),
    tags((name = "partner", description = "Meal and study rooms, random matching, reviews"))
)]
pub struct PartnerApi;

#[derive(Deserialize, IntoParams)]
pub struct CountQuery {
    category: Category,
}

fn category(s: &str) -> Result<Category, ApiError> {
    Category::parse(s).ok_or_else(|| ApiError::not_found("no such category (MEAL or STUDY)"))
}

/// Rooms, newest first; filter by category, status and conditions.
#[utoipa::path(get, path = "/api/v1/partner/rooms", tag = "partner", params(PageQuery, RoomFilter),
    responses((status = 200, body = Page<RoomView>), (status = 400, description = "`invalid_filter`", body = Problem)))]
async fn list_rooms(
    State(p): St,
    Query(page): Query<PageQuery>,
    Query(f): Query<RoomFilter>,
) -> Result<Json<Page<RoomView>>, ApiError> {
    Ok(Json(p.rooms.list(&f.try_into_domain()?, &page).await?))
}

/// Opens a room; the author is its first member.
#[utoipa::path(post, path = "/api/v1/partner/rooms", tag = "partner", request_body = RoomDraft,
    security(("bearer" = [])), responses((status = 201, body = RoomView), (status = 422, description = "`validation_failed` (names the `field`)", body = Problem)))]
async fn create_room(
    State(p): St,
    who: AuthUser,
    Json(d): Json<RoomDraft>,
) -> Result<Response, ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(p.rooms.create(&who, d.try_into_domain()?).await?),
    )
        .into_response())
}

/// A room with its members (anonymous rooms hide names).
#[utoipa::path(get, path = "/api/v1/partner/rooms/{id}", tag = "partner", params(("id" = Uuid, Path)),
    security((), ("bearer" = [])), responses((status = 200, body = RoomView), (status = 404, description = "`not_found`", body = Problem)))]
async fn get_room(
    State(p): St,
    who: Option<AuthUser>,
    Path(id): Path<Uuid>,
) -> Result<Json<RoomView>, ApiError> {
    Ok(Json(p.rooms.get(who.as_ref(), id).await?))
}

/// Edits a room (author or admin); capacity never below the members.
#[utoipa::path(patch, path = "/api/v1/partner/rooms/{id}", tag = "partner", request_body = RoomPatch,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = RoomView), (status = 403, description = "`forbidden`: only the author or an admin", body = Problem), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`capacity_below_members`, `room_closed`", body = Problem),
        (status = 422, description = "`validation_failed` (names the `field`)", body = Problem)))]
async fn update_room(
    State(p): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(d): Json<RoomPatch>,
) -> Result<Json<RoomView>, ApiError> {
    Ok(Json(p.rooms.update(&who, id, d.try_into_domain()?).await?))
}

/// Soft-deletes a room (author or admin).
#[utoipa::path(delete, path = "/api/v1/partner/rooms/{id}", tag = "partner", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 204), (status = 403, description = "`forbidden`: only the author or an admin", body = Problem), (status = 404, description = "`not_found`", body = Problem)))]
async fn delete_room(
    State(p): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    p.rooms.set_deleted(&who, id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restores a deleted room (author or admin).
#[utoipa::path(post, path = "/api/v1/partner/rooms/{id}/restore", tag = "partner", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = RoomView), (status = 403, description = "`forbidden`: only the author or an admin", body = Problem), (status = 404, description = "`not_found`", body = Problem)))]
async fn restore_room(
    State(p): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<RoomView>, ApiError> {
    Ok(Json(p.rooms.set_deleted(&who, id, false).await?))
}

/// Joins a room: never more members than capacity.
#[utoipa::path(post, path = "/api/v1/partner/rooms/{id}/join", tag = "partner", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = RoomView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`room_full`, `already_joined`, `room_closed`", body = Problem)))]
async fn join_room(
    State(p): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<RoomView>, ApiError> {
    Ok(Json(p.rooms.join(&who, id).await?))
}

/// Leaves a room (not its author).
#[utoipa::path(post, path = "/api/v1/partner/rooms/{id}/leave", tag = "partner", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = RoomView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`author_cannot_leave`, `not_a_member`, `room_closed`", body = Problem)))]
async fn leave_room(
    State(p): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<RoomView>, ApiError> {
    Ok(Json(p.rooms.leave(&who, id).await?))
}

/// Closes the room and makes a match of its members (author or admin).
#[utoipa::path(post, path = "/api/v1/partner/rooms/{id}/complete", tag = "partner", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = RoomView), (status = 403, description = "`forbidden`: only the author or an admin", body = Problem), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`room_closed`", body = Problem)))]
async fn complete_room(
    State(p): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<RoomView>, ApiError> {
    Ok(Json(p.rooms.complete(&who, id).await?))
}

/// Comments, oldest first, each with its replies.
#[utoipa::path(get, path = "/api/v1/partner/rooms/{id}/comments", tag = "partner", params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = Page<CommentView>), (status = 404, description = "`not_found`", body = Problem)))]
async fn list_comments(
    State(p): St,
    Path(id): Path<Uuid>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<CommentView>>, ApiError> {
    Ok(Json(p.comments.list(id, &page).await?))
}

/// Comments on a room, or replies to a top-level comment.
#[utoipa::path(post, path = "/api/v1/partner/rooms/{id}/comments", tag = "partner", request_body = CommentDraft,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 201, body = CommentView), (status = 404, description = "`not_found`", body = Problem),
        (status = 422, description = "`validation_failed` (names the `field`)", body = Problem)))]
async fn add_comment(
    State(p): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(d): Json<CommentDraft>,
) -> Result<Response, ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(
            p.comments
                .add(&who, id, Text::comment(&d.body)?, d.parent_id)
                .await?,
        ),
    )
        .into_response())
}

/// Edits my comment.
#[utoipa::path(patch, path = "/api/v1/partner/comments/{id}", tag = "partner", request_body = CommentPatch,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommentView), (status = 403, description = "`forbidden`: not your comment", body = Problem), (status = 404, description = "`not_found`", body = Problem),
        (status = 422, description = "`validation_failed` (names the `field`)", body = Problem)))]
async fn edit_comment(
    State(p): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(d): Json<CommentPatch>,
) -> Result<Json<CommentView>, ApiError> {
    Ok(Json(
        p.comments.edit(&who, id, Text::comment(&d.body)?).await?,
    ))
}

/// Deletes my comment (or any, for admins); replies stay.
#[utoipa::path(delete, path = "/api/v1/partner/comments/{id}", tag = "partner", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 403, description = "`forbidden`: not your comment", body = Problem), (status = 404, description = "`not_found`", body = Problem)))]
async fn delete_comment(
    State(p): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    p.comments.delete(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Applies for a random match (202: the matcher runs right after).
#[utoipa::path(post, path = "/api/v1/partner/random-matches", tag = "partner", request_body = ApplicationDraft,
    security(("bearer" = [])),
    responses((status = 202, body = ApplicationView), (status = 409, description = "`already_applied`", body = Problem),
        (status = 422, description = "`validation_failed` (conditions that do not apply to the category)", body = Problem)))]
async fn apply(
    State(p): St,
    who: AuthUser,
    Json(d): Json<ApplicationDraft>,
) -> Result<Response, ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(p.matcher.apply(&who, d.try_into_domain()?).await?),
    )
        .into_response())
}

/// My random-match applications, newest first.
#[utoipa::path(get, path = "/api/v1/partner/random-matches/mine", tag = "partner", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApplicationView>)))]
async fn my_applications(
    State(p): St,
    who: AuthUser,
) -> Result<Json<Vec<ApplicationView>>, ApiError> {
    Ok(Json(p.matcher.mine(&who).await?))
}

/// How many wait in a category.
#[utoipa::path(get, path = "/api/v1/partner/random-matches/count", tag = "partner", params(CountQuery),
    responses((status = 200, body = WaitingCount)))]
async fn waiting_count(
    State(p): St,
    Query(q): Query<CountQuery>,
) -> Result<Json<WaitingCount>, ApiError> {
    Ok(Json(p.matcher.count(q.category).await?))
}

/// Cancels my waiting application in a category.
#[utoipa::path(delete, path = "/api/v1/partner/random-matches/{category}", tag = "partner",
    params(("category" = Category, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404, description = "`not_found`: no such category, or no waiting application", body = Problem)))]
async fn cancel_application(
    State(p): St,
    who: AuthUser,
    Path(c): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.matcher.cancel(&who, category(&c)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// My matches, newest first.
#[utoipa::path(get, path = "/api/v1/partner/matches", tag = "partner", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<MatchView>)))]
async fn my_matches(
    State(p): St,
    who: AuthUser,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<MatchView>>, ApiError> {
    Ok(Json(p.matches.mine(&who, &page).await?))
}

/// One match (members only).
#[utoipa::path(get, path = "/api/v1/partner/matches/{id}", tag = "partner", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = MatchView), (status = 404, description = "`not_found`", body = Problem)))]
async fn get_match(
    State(p): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<MatchView>, ApiError> {
    Ok(Json(p.matches.get(&who, id).await?))
}

/// Reviews another member, 1–5 stars, from 30 minutes after the match, once per pair.
#[utoipa::path(post, path = "/api/v1/partner/matches/{id}/reviews", tag = "partner", request_body = ReviewDraft,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 201, body = ReviewView), (status = 403, description = "`forbidden`", body = Problem), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`review_not_open`, `already_reviewed`", body = Problem),
        (status = 422, description = "`validation_failed` (names the `field`)", body = Problem)))]
async fn review(
    State(p): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(d): Json<ReviewDraft>,
) -> Result<Response, ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(p.matches.review(&who, id, d.try_into_domain()?).await?),
    )
        .into_response())
}

/// My activity score.
#[utoipa::path(get, path = "/api/v1/partner/activity/me", tag = "partner", security(("bearer" = [])),
    responses((status = 200, body = ActivityView)))]
async fn my_activity(State(p): St, who: AuthUser) -> Result<Json<ActivityView>, ApiError> {
    Ok(Json(p.matches.activity(who.id).await?))
}

/// The highest activity scores.
#[utoipa::path(get, path = "/api/v1/partner/activity/leaderboard", tag = "partner", params(LeaderboardQuery),
    responses((status = 200, body = Vec<LeaderboardEntry>), (status = 400, description = "`invalid_limit`", body = Problem)))]
async fn leaderboard(
    State(p): St,
    Query(q): Query<LeaderboardQuery>,
) -> Result<Json<Vec<LeaderboardEntry>>, ApiError> {
    Ok(Json(p.matches.leaderboard(q.limit()?).await?))
}
