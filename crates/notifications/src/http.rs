//! Notification routes under `/api/v1/notifications`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use futures::stream::{self, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use surge_kernel::auth::{AuthUser, StreamUser};
use surge_kernel::error::Problem;
use surge_kernel::extract::{Json, Query};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ApiError;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use crate::domain::{InvalidInput, MarkSelection};
use crate::inbox::{channel, NotificationService, NotificationView};

type St = State<Arc<NotificationService>>;

pub fn router(svc: Arc<NotificationService>) -> Router {
    let routes = Router::new()
        .route("/", get(list))
        .route("/unread-count", get(unread_count))
        .route("/read", post(mark_read))
        .route("/stream", get(stream))
        .with_state(svc);
    Router::new().nest("/api/v1/notifications", routes)
}

#[derive(OpenApi)]
#[openapi(
    paths(list, unread_count, mark_read, stream),
    components(schemas(NotificationView, MarkRead, Marked, UnreadCount, Problem)),
    tags((name = "notifications", description = "Stored notifications and the live SSE stream"))
)]
pub struct NotificationsApi;

#[derive(Deserialize, ToSchema)]
pub struct MarkRead {
    /// These notifications; omit and send `all: true` for every one.
    ids: Option<Vec<Uuid>>,
    #[serde(default)]
    all: bool,
}

impl MarkRead {
    pub fn try_into_domain(self) -> Result<MarkSelection, InvalidInput> {
        MarkSelection::new(self.ids, self.all)
    }
}

/// A rule an input broke: 422 with the rule's code.
impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            e.code(),
            e.to_string(),
        )
    }
}

#[derive(Serialize, ToSchema)]
pub struct Marked {
    updated: u64,
}

#[derive(Serialize, ToSchema)]
pub struct UnreadCount {
    count: u64,
}

/// My notifications, unread first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<NotificationView>), (status = 401, body = Problem)))]
async fn list(
    State(s): St,
    who: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<NotificationView>>, ApiError> {
    Ok(Json(s.list(who.id, &q).await?))
}

/// How many of my notifications are unread.
#[utoipa::path(get, path = "/api/v1/notifications/unread-count", tag = "notifications",
    security(("bearer" = [])), responses((status = 200, body = UnreadCount)))]
async fn unread_count(State(s): St, who: AuthUser) -> Result<Json<UnreadCount>, ApiError> {
    Ok(Json(UnreadCount {
        count: s.unread_count(who.id).await?,
    }))
}

/// Marks notifications read: `{"ids": [...]}` or `{"all": true}`.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications",
    request_body = MarkRead, security(("bearer" = [])),
    responses((status = 200, body = Marked), (status = 422, description = "`validation_failed`: send up to 1000 `ids` or `all: true`", body = Problem)))]
async fn mark_read(
    State(s): St,
    who: AuthUser,
    Json(req): Json<MarkRead>,
) -> Result<Json<Marked>, ApiError> {
    let updated = s.mark_read(who.id, &req.try_into_domain()?).await?;
    Ok(Json(Marked { updated }))
}

fn to_event(n: &NotificationView) -> Event {
    Event::default()
        .id(n.id.to_string())
        .event("notification")
        .json_data(n)
        .unwrap_or_else(|_| Event::default().comment("unserializable notification"))
}

/// Live notifications (Server-Sent Events). On reconnect, send `Last-Event-ID` to get
/// what was missed first.
#[utoipa::path(get, path = "/api/v1/notifications/stream", tag = "notifications",
    params(("Last-Event-ID" = Option<Uuid>, Header, description = "replay after this notification"),
           ("access_token" = Option<String>, Query, description = "for EventSource clients")),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/event-stream", description = "`notification` events"),
        (status = 400, description = "`invalid_last_event_id`", body = Problem)))]
async fn stream(
    State(s): St,
    StreamUser(who, end): StreamUser,
    headers: axum::http::HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let last: Option<Uuid> = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_last_event_id",
                        "Last-Event-ID must be a notification id",
                    )
                })?,
        ),
    };
    // Subscribe before reading the backlog, so nothing falls between the two.
    let live = s.pubsub.subscribe(&channel(who.id)).await?;
    let backlog = match last {
        Some(id) => s.since(who.id, id).await?,
        None => Vec::new(),
    };
    let mut newest = backlog.last().map(|n| n.id).or(last);
    let replay = stream::iter(
        backlog
            .into_iter()
            .map(|n| Ok::<_, Infallible>(to_event(&n))),
    );
    let live = live.filter_map(move |bytes| {
        let event = serde_json::from_slice::<NotificationView>(&bytes)
            .ok()
            .filter(|n| newest.is_none_or(|seen| n.id > seen))
            .map(|n| {
                newest = Some(n.id);
                Ok(to_event(&n))
            });
        std::future::ready(event)
    });
    let events: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
        Box::pin(StreamUser::bound(end, replay.chain(live)));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
