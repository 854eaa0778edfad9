//! The waiting room of a flight on sale: join, wait with a live position and ETA
//! (SSE, polled from the waiting-room store), and once admitted the admission pass is
//! kept in an HttpOnly cookie scoped to that flight's pages, so the seat map and the
//! hold carry it without the pass ever reaching page scripts.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use maud::html;
use surge_kernel::auth::StreamUser;
use uuid::Uuid;

use crate::page::{self, render};
use crate::session::{cookie, Ctx};
use crate::{Web, WebState};

pub const PASS_COOKIE: &str = "surge_pass";
/// How often a waiting page's stream re-reads the position.
const STREAM_EVERY: Duration = Duration::from_secs(1);

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/flights/{id}/queue", get(waiting).post(join))
        .route("/live/queue/{id}", get(live))
}

/// The admission pass this browser holds for a flight's pages, if any.
pub fn pass_of(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, PASS_COOKIE)
}

async fn sale_of(web: &Web, ctx: &Ctx, flight: &str) -> Result<(Uuid, Uuid), Response> {
    let (Some(t), Ok(flight)) = (&web.h.ticketing, flight.parse::<Uuid>()) else {
        return Err(page::not_found(None));
    };
    match t.sales.open_sale_of(flight).await {
        Ok(Some(s)) => Ok((flight, s.id)),
        // No sale (any more): the flight's page has the seat map.
        Ok(None) => Err(Redirect::to(&format!("/flights/{flight}")).into_response()),
        Err(e) => Err(page::error(web, ctx, e).await),
    }
}

async fn join(State(web): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let v = match ctx.signed_in() {
        Ok(v) => v.clone(),
        Err(r) => return r,
    };
    let (flight, sale) = match sale_of(&web, &ctx, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(t) = &web.h.ticketing else {
        return page::not_found(None);
    };
    match t.sales.join(sale, v.user.id).await {
        Ok(_) => Redirect::to(&format!("/flights/{flight}/queue")).into_response(),
        Err(e) => page::error(&web, &ctx, e).await,
    }
}

async fn waiting(State(web): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let v = match ctx.signed_in() {
        Ok(v) => v.clone(),
        Err(r) => return r,
    };
    let (flight, sale) = match sale_of(&web, &ctx, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(t) = &web.h.ticketing else {
        return page::not_found(None);
    };
    let place = match t.sales.me(sale, v.user.id).await {
        Ok(p) => p,
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => {
            return Redirect::to(&format!("/flights/{flight}")).into_response()
        }
        Err(e) => return page::error(&web, &ctx, e).await,
    };
    if let Some(pass) = &place.pass {
        // Admitted: keep the pass for this flight's pages and go to the seat map.
        let secure = if web.cfg.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        let mut res = Redirect::to(&format!("/flights/{flight}")).into_response();
        if let Ok(c) = HeaderValue::from_str(&format!(
            "{PASS_COOKIE}={pass}; Path=/flights/{flight}; HttpOnly; SameSite=Lax{secure}"
        )) {
            res.headers_mut().append(header::SET_COOKIE, c);
        }
        return res;
    }
    let body = html! {
        div.card #queue data-live={ "/live/queue/" (flight) } data-next={ "/flights/" (flight) "/queue" } {
            p.lead { "대기 순서 " strong #position { (place.position) } "번" }
            p { "앞에 " span #ahead { (place.ahead) } "명 · 예상 대기 " span #eta { (place.eta_secs) } "초" }
            p.stock aria-live="polite" #queue-status { "차례가 되면 좌석 선택 화면으로 자동으로 넘어갑니다." }
        }
        noscript { p { a href={ "/flights/" (flight) "/queue" } { "새로 고침" } } }
        p { a href={ "/flights/" (flight) } { "← 항공편" } }
    };
    render(&web, &ctx, "대기실", body).await
}

/// `position` events while waiting, then `admitted` (without the pass: the page goes
/// back to the waiting URL, which stores it in the cookie).
async fn live(State(web): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let Some(v) = ctx.viewer.clone() else {
        return (axum::http::StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    let (_, sale) = match sale_of(&web, &ctx, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(t) = web.h.ticketing.clone() else {
        return page::not_found(None);
    };
    let updates = match t.sales.clone().watch(sale, v.user.id, STREAM_EVERY).await {
        Ok(u) => u,
        Err(e) => return page::error(&web, &ctx, e).await,
    };
    let events = updates.map(|q| {
        let kind = if q.status == "admitted" {
            "admitted"
        } else {
            "position"
        };
        let data = serde_json::json!({
            "position": q.position, "ahead": q.ahead, "eta_secs": q.eta_secs, "status": q.status,
        });
        Ok::<_, Infallible>(Event::default().event(kind).data(data.to_string()))
    });
    let end = web.h.tokens.stream_end(&v.token, &v.user);
    Sse::new(StreamUser::bound(end, events))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
