//! Notifications: the list page (mark all read) and the live stream behind the bell.
//! The stream is the web app's own SSE route, authenticated by the session cookie
//! (EventSource cannot send a bearer token, and the cookie is HttpOnly): it listens on
//! the same per-user channel as `/api/v1/notifications/stream` and ends when the
//! session does.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::StreamExt;
use maud::html;
use surge_kernel::auth::StreamUser;
use surge_kernel::page::PageQuery;
use surge_notifications::domain::MarkSelection;
use surge_notifications::inbox::{channel, NotificationView};

use crate::page::{self, csrf, render};
use crate::session::Ctx;
use crate::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/notifications", get(list))
        .route("/notifications/read", post(read_all))
        .route("/live/notifications", get(live))
}

async fn list(State(web): State<WebState>, ctx: Ctx, Query(q): Query<PageQuery>) -> Response {
    let v = match ctx.signed_in() {
        Ok(v) => v.clone(),
        Err(r) => return r,
    };
    let Some(n) = &web.h.notifications else {
        return page::not_found(None);
    };
    let items = match n.list(v.user.id, &q).await {
        Ok(p) => p,
        Err(e) => return page::error(&web, &ctx, e).await,
    };
    let body = html! {
        form method="post" action="/notifications/read" {
            (csrf(&ctx))
            button type="submit" { "모두 읽음으로 표시" }
        }
        @if items.items.is_empty() {
            p.empty { "알림이 없습니다." }
        }
        ul.list #notifications aria-live="polite" {
            @for item in &items.items {
                li class=(if item.read { "read" } else { "unread" }) {
                    strong { (item.title) }
                    @if !item.read { " " span.tag { "새 알림" } }
                    p { (item.body) }
                    small { (page::when(&item.created_at)) }
                }
            }
        }
        @if let Some(c) = &items.next_cursor {
            p { a href={ "/notifications?cursor=" (c) } { "더 보기" } }
        }
    };
    render(&web, &ctx, "알림", body).await
}

async fn read_all(State(web): State<WebState>, ctx: Ctx) -> Response {
    let v = match ctx.signed_in() {
        Ok(v) => v.clone(),
        Err(r) => return r,
    };
    let Some(n) = &web.h.notifications else {
        return page::not_found(None);
    };
    let all = match MarkSelection::new(None, true) {
        Ok(s) => s,
        Err(e) => return page::internal(anyhow::anyhow!("mark-all selection refused: {e}")),
    };
    if let Err(e) = n.mark_read(v.user.id, &all).await {
        return page::error(&web, &ctx, e).await;
    }
    Redirect::to("/notifications").into_response()
}

fn event_of(n: &NotificationView, unread: Option<u64>) -> Event {
    let data = serde_json::json!({
        "id": n.id, "title": n.title, "body": n.body, "kind": n.kind,
        "data": n.data, "unread": unread,
    });
    Event::default()
        .id(n.id.to_string())
        .event("notification")
        .data(data.to_string())
}

/// `notification` events, each with the new unread count, for the signed-in browser.
async fn live(State(web): State<WebState>, ctx: Ctx) -> Response {
    let Some(v) = ctx.viewer.clone() else {
        return (axum::http::StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    let Some(n) = web.h.notifications.clone() else {
        return page::not_found(None);
    };
    let stream = match web.pubsub.subscribe(&channel(v.user.id)).await {
        Ok(s) => s,
        Err(e) => return page::internal(e),
    };
    let end = web.h.tokens.stream_end(&v.token, &v.user);
    let user = v.user.id;
    let events = stream.filter_map(move |bytes| {
        let n = n.clone();
        async move {
            let view = serde_json::from_slice::<NotificationView>(&bytes).ok()?;
            let unread = n.unread_count(user).await.ok();
            Some(Ok::<_, Infallible>(event_of(&view, unread)))
        }
    });
    Sse::new(StreamUser::bound(end, events))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
