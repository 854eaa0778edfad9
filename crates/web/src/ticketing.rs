//! Ticketing pages: flight search, a flight's seat map with seat picking, hold → pay
//! (the embedded gateway approves in the same POST), my reservations and cancel.
//! A flight whose sale is behind the waiting room sends to it (`waiting.rs`); the seat
//! map and the hold carry the admission pass from its cookie.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use surge_kernel::page::PageQuery;
use surge_kernel::ApiError;
use surge_ticketing::domain::{Iata, NewHold, ReservationStatus, SeatSelection};
use surge_ticketing::flights::{FlightQuery, FlightSort};
use surge_ticketing::reservations::views::ReservationView;
use uuid::Uuid;

use crate::messages::korean;
use crate::page::{self, alert, csrf, render, render_with, won};
use crate::session::Ctx;
use crate::waiting::pass_of;
use crate::{Web, WebState};

const FAKE_APPROVAL: &str = "web-fake-approval";

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/flights", get(search))
        .route("/flights/{id}", get(flight))
        .route("/flights/{id}/hold", post(hold))
        .route("/reservations", get(mine))
        .route("/reservations/{id}", get(reservation))
        .route("/reservations/{id}/pay", post(pay))
        .route("/reservations/{id}/cancel", post(cancel))
}

#[derive(Deserialize, Default)]
pub struct SearchForm {
    #[serde(default)]
    origin: String,
    #[serde(default)]
    destination: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    sort: String,
}

/// The start of a date (UTC) in ms, and the start of the next day.
fn day_range(date: &str) -> Option<(i64, i64)> {
    let (y, rest) = date.trim().split_once('-')?;
    let (m, d) = rest.split_once('-')?;
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let start = days * 86_400_000;
    Some((start, start + 86_400_000))
}

fn query_of(f: &SearchForm) -> Result<FlightQuery, &'static str> {
    let iata = |s: &str, field| -> Result<Option<Iata>, &'static str> {
        match s.trim() {
            "" => Ok(None),
            c => Iata::new(c, field)
                .map(Some)
                .map_err(|_| "공항 코드는 영문 세 글자입니다 (예: GMP)."),
        }
    };
    let (from, to) = match f.date.trim() {
        "" => (None, None),
        d => {
            let (a, b) = day_range(d).ok_or("날짜를 확인해 주세요 (예: 2026-12-24).")?;
            (Some(a), Some(b))
        }
    };
    Ok(FlightQuery {
        origin: iata(&f.origin, "origin")?,
        destination: iata(&f.destination, "destination")?,
        from,
        to,
        sort: if f.sort == "price" {
            FlightSort::Price
        } else {
            FlightSort::Departure
        },
        cursor: None,
        limit: 30,
    })
}

async fn search(State(web): State<WebState>, ctx: Ctx, Query(f): Query<SearchForm>) -> Response {
    let Some(t) = &web.h.ticketing else {
        return page::not_found(None);
    };
    let (found, err) = match query_of(&f) {
        Ok(q) => match t.flights.search(q).await {
            Ok(p) => (p.items, None),
            Err(e) if e.status.is_server_error() => return page::error(&web, &ctx, e).await,
            Err(e) => (Vec::new(), Some(korean(e.code))),
        },
        Err(m) => (Vec::new(), Some(m)),
    };
    let body = html! {
        form.filters method="get" action="/flights" {
            div.field { label for="origin" { "출발 (공항 코드)" } input #origin name="origin" value=(f.origin) placeholder="GMP"; }
            div.field { label for="destination" { "도착" } input #destination name="destination" value=(f.destination) placeholder="CJU"; }
            div.field { label for="date" { "출발일" } input #date name="date" type="date" value=(f.date); }
            div.field {
                label for="sort" { "정렬" }
                select #sort name="sort" {
                    option value="departure" selected[f.sort != "price"] { "출발 시각순" }
                    option value="price" selected[f.sort == "price"] { "낮은 가격순" }
                }
            }
            button type="submit" { "검색" }
        }
        (alert(err))
        @if found.is_empty() && err.is_none() { p.empty { "조건에 맞는 항공편이 없습니다." } }
        ul.list {
            @for fl in &found {
                li {
                    a href={ "/flights/" (fl.id) } { (fl.flight_number) " " (fl.origin) " → " (fl.destination) }
                    br;
                    (page::when(&fl.departs_at)) " 출발 · " (won(fl.min_price)) "부터"
                }
            }
        }
        @if ctx.viewer.is_some() { p { a href="/reservations" { "내 예약" } } }
    };
    render(&web, &ctx, "항공권", body).await
}

async fn flight_page(
    web: &Web,
    ctx: &Ctx,
    id: &str,
    pass: Option<&str>,
    status: StatusCode,
    err: Option<&str>,
) -> Response {
    let Some(t) = &web.h.ticketing else {
        return page::not_found(None);
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return page::not_found(None);
    };
    let fl = match t.flights.get(id).await {
        Ok(f) => f,
        Err(e) => return page::error(web, ctx, e).await,
    };
    // Behind an open sale the seat map needs this browser's admission pass.
    let gated = match t.sales.open_sale_of(id).await {
        Ok(None) => false,
        Ok(Some(_)) => {
            let user = ctx.viewer.as_ref().map(|v| v.user.id);
            match (user, t.sales.guard(id, user, pass).await) {
                (Some(_), Ok(_)) => false,
                (_, Ok(_)) | (_, Err(_)) => true,
            }
        }
        Err(e) => return page::error(web, ctx, e).await,
    };
    let seats = if gated {
        Vec::new()
    } else {
        match t.flights.seats(id).await {
            Ok(s) => s,
            Err(e) => return page::error(web, ctx, e).await,
        }
    };
    let title = format!("{} {} → {}", fl.flight_number, fl.origin, fl.destination);
    let free = seats.iter().filter(|s| s.status == "available").count();
    let body = html! {
        dl.facts {
            dt { "출발" } dd { (page::when(&fl.departs_at)) }
            dt { "도착" } dd { (page::when(&fl.arrives_at)) }
            dt { "최저가" } dd { (won(fl.min_price)) }
        }
        (alert(err))
        @if gated {
            p.notice role="status" { "이 항공편은 특가 판매 중입니다. 대기실에서 차례를 기다린 뒤 좌석을 고를 수 있습니다." }
            @if ctx.viewer.is_some() {
                form method="post" action={ "/flights/" (fl.id) "/queue" } {
                    (csrf(ctx))
                    button type="submit" { "대기실 입장" }
                }
            } @else {
                p { a.button href={ "/login?next=/flights/" (fl.id) } { "로그인하고 대기실 입장" } }
            }
        } @else if ctx.viewer.is_none() {
            p { a.button href={ "/login?next=/flights/" (fl.id) } { "로그인하고 좌석 고르기" } }
        } @else {
            form method="post" action={ "/flights/" (fl.id) "/hold" } {
                (csrf(ctx))
                input type="hidden" name="idem" value=(Uuid::new_v4());
                fieldset.seats {
                    legend { "좌석 선택 (최대 " (t.reservations.max_seats()) "석, 빈 좌석 " (free) "석)" }
                    ul.seatmap {
                        @for s in &seats {
                            li {
                                input type="checkbox" name="seat" value=(s.id) id={ "seat-" (s.number) }
                                    disabled[s.status != "available"];
                                label for={ "seat-" (s.number) } {
                                    (s.number)
                                    span.sr { " " (s.grade) " " (won(s.price)) @if s.status != "available" { " 선택 불가" } }
                                }
                            }
                        }
                    }
                }
                button type="submit" { "선택한 좌석 잡기" }
            }
        }
        p { a href="/flights" { "← 항공편 검색" } }
    };
    render_with(web, ctx, status, &title, body).await
}

async fn flight(
    State(web): State<WebState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    flight_page(&web, &ctx, &id, pass_of(&headers), StatusCode::OK, None).await
}

async fn hold(
    State(web): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pass = pass_of(&headers);
    let v = match ctx.signed_in() {
        Ok(v) => v.clone(),
        Err(r) => return r,
    };
    let (Some(t), Ok(flight_id)) = (&web.h.ticketing, id.parse::<Uuid>()) else {
        return page::not_found(None);
    };
    let mut seats = Vec::new();
    let mut idem = String::new();
    for (k, val) in url::form_urlencoded::parse(&body) {
        match &*k {
            "seat" => match val.parse::<Uuid>() {
                Ok(s) => seats.push(s),
                Err(_) => return page::not_found(None),
            },
            "idem" => idem = val.into_owned(),
            _ => {}
        }
    }
    let Ok(selection) = SeatSelection::new(&seats, t.reservations.max_seats()) else {
        let msg = format!("좌석을 1~{}석 골라 주세요.", t.reservations.max_seats());
        return flight_page(
            &web,
            &ctx,
            &id,
            pass,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&msg),
        )
        .await;
    };
    if idem.is_empty()
        || idem.len() > 100
        || !idem.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return flight_page(
            &web,
            &ctx,
            &id,
            pass,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(korean("validation_failed")),
        )
        .await;
    }
    let mut sorted = seats.clone();
    sorted.sort();
    let hash = hex::encode(Sha256::digest(format!("{flight_id}|{sorted:?}").as_bytes()));
    let result = async {
        let sale = t.sales.guard(flight_id, Some(v.user.id), pass).await?;
        let req = NewHold {
            flight_id,
            seats: selection,
        };
        t.reservations
            .hold(&v.user, sale, req, &format!("web-{idem}"), &hash)
            .await
    }
    .await;
    match result {
        Ok(r) => Redirect::to(&format!("/reservations/{}", r.id)).into_response(),
        Err(e) if e.status.is_server_error() => page::error(&web, &ctx, e).await,
        Err(e) => flight_page(&web, &ctx, &id, pass, e.status, Some(korean(e.code))).await,
    }
}

fn status_ko(s: ReservationStatus) -> &'static str {
    match s {
        ReservationStatus::Held => "좌석 잡힘 (결제 대기)",
        ReservationStatus::Confirmed => "예약 확정",
        ReservationStatus::Expired => "시간 초과로 풀림",
        ReservationStatus::Released => "좌석 반납",
        ReservationStatus::Cancelling => "취소·환불 처리 중",
        ReservationStatus::Cancelled => "취소됨",
    }
}

async fn load(web: &Web, ctx: &Ctx, id: &str) -> Result<ReservationView, Response> {
    let v = ctx.signed_in()?;
    let (Some(t), Ok(id)) = (&web.h.ticketing, id.parse::<Uuid>()) else {
        return Err(page::not_found(None));
    };
    match t.reservations.get(&v.user, id).await {
        Ok(r) => Ok(r),
        Err(e) => Err(page::error(web, ctx, e).await),
    }
}

async fn reservation_page(
    web: &Web,
    ctx: &Ctx,
    r: &ReservationView,
    status: StatusCode,
    notice: Option<&str>,
    err: Option<&ApiError>,
) -> Response {
    let title = format!("예약 {} {} → {}", r.flight_number, r.origin, r.destination);
    let body = html! {
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        (alert(err.map(|e| korean(e.code))))
        dl.facts {
            dt { "상태" } dd.status { (status_ko(r.status)) }
            dt { "출발" } dd { (page::when(&r.departs_at)) }
            dt { "금액" } dd { strong { (won(r.total)) } }
            @if let (ReservationStatus::Held, Some(exp)) = (r.status, &r.expires_at) {
                dt { "결제 기한" } dd { (page::when(exp)) }
            }
        }
        ul.list {
            @for s in &r.seats {
                li {
                    "좌석 " strong { (s.number) } " · " (s.grade) " · " (won(s.price))
                    @if let Some(code) = &s.ticket_code { " · 탑승권 " code { (code) } }
                }
            }
        }
        div.row {
            @if r.status == ReservationStatus::Held {
                form method="post" action={ "/reservations/" (r.id) "/pay" } {
                    (csrf(ctx))
                    button type="submit" { (won(r.total)) " 결제하기" }
                }
            }
            @if matches!(r.status, ReservationStatus::Held | ReservationStatus::Confirmed) {
                form method="post" action={ "/reservations/" (r.id) "/cancel" } {
                    (csrf(ctx))
                    button.secondary type="submit" { "예약 취소" }
                }
            }
        }
        p { a href="/reservations" { "← 내 예약" } }
    };
    render_with(web, ctx, status, &title, body).await
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

async fn reservation(
    State(web): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(d): Query<Done>,
) -> Response {
    let r = match load(&web, &ctx, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let notice = match d.done.as_deref() {
        Some("paid") => Some("결제가 완료되어 예약이 확정되었습니다."),
        Some("cancelled") => Some("예약을 취소했습니다."),
        _ => None,
    };
    reservation_page(&web, &ctx, &r, StatusCode::OK, notice, None).await
}

async fn refused(web: &Web, ctx: &Ctx, id: &str, e: ApiError) -> Response {
    if e.status.is_server_error() || e.status == StatusCode::NOT_FOUND {
        return page::error(web, ctx, e).await;
    }
    match load(web, ctx, id).await {
        Ok(r) => reservation_page(web, ctx, &r, e.status, None, Some(&e)).await,
        Err(resp) => resp,
    }
}

async fn pay(State(web): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let r = match load(&web, &ctx, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let (Some(t), Some(v)) = (&web.h.ticketing, &ctx.viewer) else {
        return page::not_found(None);
    };
    let started = match t.reservations.start_payment(&v.user, r.id).await {
        Ok(s) => s,
        Err(e) => return refused(&web, &ctx, &id, e).await,
    };
    if !web.cfg.fake_gateway {
        return Redirect::to(&started.redirect_url).into_response();
    }
    match t.reservations.approve(&v.user, r.id, FAKE_APPROVAL).await {
        Ok(_) => Redirect::to(&format!("/reservations/{}?done=paid", r.id)).into_response(),
        Err(e) => refused(&web, &ctx, &id, e).await,
    }
}

async fn cancel(State(web): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let r = match load(&web, &ctx, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let (Some(t), Some(v)) = (&web.h.ticketing, &ctx.viewer) else {
        return page::not_found(None);
    };
    let done = if r.status == ReservationStatus::Held {
        t.reservations.release(&v.user, r.id).await
    } else {
        t.reservations.cancel(&v.user, r.id).await
    };
    match done {
        Ok(_) => Redirect::to(&format!("/reservations/{}?done=cancelled", r.id)).into_response(),
        Err(e) => refused(&web, &ctx, &id, e).await,
    }
}

async fn mine(State(web): State<WebState>, ctx: Ctx, Query(q): Query<PageQuery>) -> Response {
    let v = match ctx.signed_in() {
        Ok(v) => v.clone(),
        Err(r) => return r,
    };
    let Some(t) = &web.h.ticketing else {
        return page::not_found(None);
    };
    let listed = match t.reservations.list(&v.user, &q).await {
        Ok(p) => p,
        Err(e) => return page::error(&web, &ctx, e).await,
    };
    let body = html! {
        @if listed.items.is_empty() { p.empty { "예약이 없습니다. " a href="/flights" { "항공편 찾기" } } }
        ul.list {
            @for r in &listed.items {
                li {
                    a href={ "/reservations/" (r.id) } { (r.flight_number) " " (r.origin) " → " (r.destination) }
                    " · " span.status { (status_ko(r.status)) } " · " (won(r.total))
                    br; small { (page::when(&r.departs_at)) " 출발 · " (r.seats.len()) "석" }
                }
            }
        }
        @if let Some(c) = &listed.next_cursor { p { a href={ "/reservations?cursor=" (c) } { "더 보기" } } }
    };
    render(&web, &ctx, "내 예약", body).await
}
