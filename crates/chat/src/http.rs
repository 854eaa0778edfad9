//! Chat routes under `/api/v1/chat`: rooms, membership, read markers, history, and the
//! live WebSocket (`/ws`, protocol in `protocol.rs` and the README).

use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::{Deserialize, Serialize};
use surge_kernel::auth::{AdminUser, AuthUser, StreamUser};
use surge_kernel::error::Problem;
use surge_kernel::extract::{Json, Path, Query};
use surge_kernel::idempotency::{self, Idempotency};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ApiError;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use crate::alerts::{ProvinceRoom, ProvinceView};
use crate::domain::{HistoryPage, InvalidInput, NewRoom, RoomKind, RoomStatus, Seq};
use crate::messages::{HistoryView, MessageView};
use crate::rooms::{MemberView, MyRoomView, RoomView};
use crate::Chat;

type St = State<Arc<Chat>>;

/// Largest frame a client may send: a 1,000-character body is at most 4 KB of UTF-8.
const MAX_FRAME_BYTES: usize = 16 * 1024;
/// A socket's read buffer (tungstenite fills its whole capacity on the first read, so
/// the default 128 KiB was resident per connection; frames are small) and the bytes
/// written before a flush.
const READ_BUFFER_BYTES: usize = 8 * 1024;
const WRITE_BUFFER_BYTES: usize = 16 * 1024;

pub fn router(c: Arc<Chat>, idem: Idempotency) -> Router {
    let routes = Router::new()
        .route("/rooms", get(chat_list_rooms).post(chat_create_room))
        .route("/rooms/mine", get(chat_my_rooms))
        .route("/rooms/{id}", get(chat_get_room))
        .route("/rooms/{id}/join", post(chat_join_room))
        .route("/rooms/{id}/leave", post(chat_leave_room))
        .route("/rooms/{id}/close", post(chat_close_room))
        .route("/rooms/{id}/members", get(chat_members))
        .route("/rooms/{id}/read", post(chat_mark_read))
        .route("/rooms/{id}/messages", get(chat_history))
        .route("/ws", get(chat_live))
        .route("/provinces", get(chat_provinces))
        .route(
            "/provinces/{code}/follow",
            put(chat_follow_province).delete(chat_unfollow_province),
        )
        .with_state(c)
        .layer(axum::middleware::from_fn_with_state(
            idem,
            idempotency::layer,
        ));
    Router::new().nest("/api/v1/chat", routes)
}

#[derive(OpenApi)]
#[openapi(
    paths(chat_list_rooms, chat_create_room, chat_my_rooms, chat_get_room, chat_join_room, chat_leave_room, chat_close_room, chat_members, chat_mark_read, chat_history, chat_live,
        chat_provinces, chat_follow_province, chat_unfollow_province),
    components(schemas(RoomDraft, RoomView, RoomKind, RoomStatus, MyRoomView, MemberView, ReadUpTo, HistoryView, MessageView, Problem,
        ProvinceList, ProvinceView, ProvinceRoom)),
    tags((name = "chat", description = "Chat rooms, history, unread counts and the live WebSocket"))
)]
pub struct ChatApi;

/// A rule an input broke: 422 with the rule's code (a page size is 400
/// `invalid_limit`, as on every paged route).
impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        let status = match e {
            InvalidInput::Limit => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RoomDraft {
    /// 1..=100 characters.
    pub name: String,
    /// Up to 500 characters.
    pub description: Option<String>,
}

impl RoomDraft {
    pub fn try_into_domain(self) -> Result<NewRoom, InvalidInput> {
        NewRoom::new(&self.name, self.description.as_deref())
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReadUpTo {
    /// Every message up to this seq is read (capped at the room's newest).
    pub seq: i64,
}

impl ReadUpTo {
    pub fn try_into_domain(self) -> Result<Seq, InvalidInput> {
        Seq::new(self.seq)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Messages before this seq; omit for the newest.
    pub before_seq: Option<i64>,
    /// 1..=100 (default 50).
    pub limit: Option<u64>,
}

impl HistoryQuery {
    pub fn try_into_domain(self) -> Result<HistoryPage, InvalidInput> {
        HistoryPage::new(self.before_seq, self.limit)
    }
}

/// Active rooms, newest first.
#[utoipa::path(get, path = "/api/v1/chat/rooms", tag = "chat", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<RoomView>), (status = 400, description = "`invalid_cursor`, `invalid_limit`", body = Problem)))]
async fn chat_list_rooms(
    State(c): St,
    _who: AuthUser,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<RoomView>>, ApiError> {
    Ok(Json(c.rooms.list_active(&page).await?))
}

/// Opens a general room (admins).
#[utoipa::path(post, path = "/api/v1/chat/rooms", tag = "chat", request_body = RoomDraft, security(("bearer" = ["ADMIN"])),
    responses((status = 201, body = RoomView),
        (status = 422, description = "`invalid_name`, `invalid_description`", body = Problem)))]
async fn chat_create_room(
    State(c): St,
    AdminUser(admin): AdminUser,
    Json(d): Json<RoomDraft>,
) -> Result<Response, ApiError> {
    let room = c.rooms.create(&admin, d.try_into_domain()?).await?;
    Ok((StatusCode::CREATED, Json(room)).into_response())
}

/// The rooms I am in, with my unread count in each.
#[utoipa::path(get, path = "/api/v1/chat/rooms/mine", tag = "chat", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<MyRoomView>), (status = 400, description = "`invalid_cursor`, `invalid_limit`", body = Problem)))]
async fn chat_my_rooms(
    State(c): St,
    who: AuthUser,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<MyRoomView>>, ApiError> {
    Ok(Json(c.rooms.mine(who.id, &page).await?))
}

/// One room (closed ones too).
#[utoipa::path(get, path = "/api/v1/chat/rooms/{id}", tag = "chat", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = RoomView), (status = 404, description = "`not_found`", body = Problem)))]
async fn chat_get_room(
    State(c): St,
    _who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<RoomView>, ApiError> {
    Ok(Json(c.rooms.get(id).await?))
}

/// Joins an active room (joining again answers the same).
#[utoipa::path(post, path = "/api/v1/chat/rooms/{id}/join", tag = "chat", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = MyRoomView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`room_closed`", body = Problem)))]
async fn chat_join_room(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<MyRoomView>, ApiError> {
    Ok(Json(c.rooms.join(&who, id).await?))
}

/// Leaves a room.
#[utoipa::path(post, path = "/api/v1/chat/rooms/{id}/leave", tag = "chat", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`not_a_member`", body = Problem)))]
async fn chat_leave_room(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    c.rooms.leave(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Closes a room (admins): it leaves the list and takes no more messages.
#[utoipa::path(post, path = "/api/v1/chat/rooms/{id}/close", tag = "chat", params(("id" = Uuid, Path)), security(("bearer" = ["ADMIN"])),
    responses((status = 200, body = RoomView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`room_closed`: closed already", body = Problem)))]
async fn chat_close_room(
    State(c): St,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
) -> Result<Json<RoomView>, ApiError> {
    Ok(Json(c.rooms.close(id).await?))
}

/// A room's members.
#[utoipa::path(get, path = "/api/v1/chat/rooms/{id}/members", tag = "chat", params(("id" = Uuid, Path), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<MemberView>), (status = 400, description = "`invalid_cursor`, `invalid_limit`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem)))]
async fn chat_members(
    State(c): St,
    _who: AuthUser,
    Path(id): Path<Uuid>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<MemberView>>, ApiError> {
    Ok(Json(c.rooms.members(id, &page).await?))
}

/// Marks a room read up to a seq; a marker never moves back.
#[utoipa::path(post, path = "/api/v1/chat/rooms/{id}/read", tag = "chat", params(("id" = Uuid, Path)), request_body = ReadUpTo,
    security(("bearer" = [])),
    responses((status = 200, body = MyRoomView), (status = 403, description = "`not_a_member`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem), (status = 422, description = "`invalid_seq`", body = Problem)))]
async fn chat_mark_read(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(r): Json<ReadUpTo>,
) -> Result<Json<MyRoomView>, ApiError> {
    Ok(Json(
        c.rooms.mark_read(who.id, id, r.try_into_domain()?).await?,
    ))
}

/// A room's history, oldest first: the newest messages (from the cache), or those
/// before `before_seq` (page back with `next_before_seq`). Members only.
#[utoipa::path(get, path = "/api/v1/chat/rooms/{id}/messages", tag = "chat", params(("id" = Uuid, Path), HistoryQuery),
    security(("bearer" = [])),
    responses((status = 200, body = HistoryView), (status = 403, description = "`not_a_member`", body = Problem),
        (status = 400, description = "`invalid_limit`: 1..=100", body = Problem),
        (status = 404, description = "`not_found`", body = Problem), (status = 422, description = "`invalid_seq`", body = Problem)))]
async fn chat_history(
    State(c): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<HistoryView>, ApiError> {
    Ok(Json(
        c.messages.history(who.id, id, q.try_into_domain()?).await?,
    ))
}

/// The live connection: a WebSocket speaking the JSON protocol in the README (join,
/// leave, send; message, ack, error, presence). Authenticate with the bearer header
/// or, from a browser, `?access_token=`.
#[utoipa::path(get, path = "/api/v1/chat/ws", tag = "chat",
    params(("access_token" = Option<String>, Query, description = "for browsers, which cannot set headers on a WebSocket")),
    security(("bearer" = [])),
    responses((status = 101, description = "switched to the WebSocket protocol"),
        (status = 400, description = "`websocket_required`: not a WebSocket upgrade request", body = Problem)))]
async fn chat_live(
    State(c): St,
    StreamUser(who, end): StreamUser,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|e| {
        ApiError::bad_request(
            "websocket_required",
            format!("this route takes a WebSocket upgrade: {e}"),
        )
    })?;
    let sockets = c.sockets.clone();
    Ok(upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| sockets.serve(socket, who, end)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProvinceList {
    pub items: Vec<ProvinceView>,
}

/// Every province (KMA's upper warning zones), whether I follow it, and its
/// weather-alert room if it has one.
#[utoipa::path(get, path = "/api/v1/chat/provinces", tag = "chat", security(("bearer" = [])),
    responses((status = 200, body = ProvinceList)))]
async fn chat_provinces(State(c): St, who: AuthUser) -> Result<Json<ProvinceList>, ApiError> {
    Ok(Json(ProvinceList {
        items: c.alerts.provinces(who.id).await?,
    }))
}

/// Follows a province: I am told when its weather-alert room opens (or reopens).
/// Following again changes nothing.
#[utoipa::path(put, path = "/api/v1/chat/provinces/{code}/follow", tag = "chat",
    params(("code" = String, Path, description = "e.g. `L1100000` (서울)")), security(("bearer" = [])),
    responses((status = 200, body = ProvinceView), (status = 404, description = "`unknown_province`", body = Problem)))]
async fn chat_follow_province(
    State(c): St,
    who: AuthUser,
    Path(code): Path<String>,
) -> Result<Json<ProvinceView>, ApiError> {
    Ok(Json(c.alerts.follow(who.id, &code).await?))
}

/// Stops following a province (not following it is fine).
#[utoipa::path(delete, path = "/api/v1/chat/provinces/{code}/follow", tag = "chat",
    params(("code" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404, description = "`unknown_province`", body = Problem)))]
async fn chat_unfollow_province(
    State(c): St,
    who: AuthUser,
    Path(code): Path<String>,
) -> Result<StatusCode, ApiError> {
    c.alerts.unfollow(who.id, &code).await?;
    Ok(StatusCode::NO_CONTENT)
}
