//! The page shell (header with navigation and the notification bell, main, footer),
//! form helpers, and the error pages. Every page goes through [`render`].

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use surge_kernel::ApiError;

use crate::assets::{CSS, HTMX, LIVE};
pub use crate::errors::{csrf_refused, internal, not_found, too_large};
use crate::messages::korean;
use crate::session::{Ctx, CSRF_FIELD};
use crate::Web;

/// A full page with status 200.
pub async fn render(web: &Web, ctx: &Ctx, title: &str, body: Markup) -> Response {
    render_with(web, ctx, StatusCode::OK, title, body).await
}

pub async fn render_with(
    web: &Web,
    ctx: &Ctx,
    status: StatusCode,
    title: &str,
    body: Markup,
) -> Response {
    let unread = match (&ctx.viewer, &web.h.notifications) {
        (Some(v), Some(n)) => n.unread_count(v.user.id).await.ok(),
        _ => None,
    };
    let csrf_header = format!(r#"{{"X-CSRF-Token": "{}"}}"#, ctx.csrf);
    let markup = html! {
        (DOCTYPE)
        html lang="ko" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Surge" }
                link rel="stylesheet" href=(CSS.url);
                script src=(HTMX.url) defer {}
                script src=(LIVE.url) defer {}
            }
            body hx-headers=(csrf_header) {
                a.skip href="#main" { "본문으로 건너뛰기" }
                header.top {
                    a.brand href="/" { "Surge" }
                    nav aria-label="주 메뉴" {
                        ul {
                            @if web.h.shop.is_some() {
                                li { a href="/shop" { "쇼핑" } }
                            }
                            @if web.h.ticketing.is_some() {
                                li { a href="/flights" { "항공권" } }
                            }
                            @if web.h.resumes.is_some() {
                                li { a href="/resumes" { "이력서" } }
                            }
                            @if let Some(v) = &ctx.viewer {
                                @if web.h.shop.is_some() {
                                    li { a href="/shop/orders" { "주문 내역" } }
                                }
                                @if web.h.notifications.is_some() {
                                    li {
                                        a #bell href="/notifications" data-live="/live/notifications" {
                                            "알림 "
                                            span.badge #bell-count aria-live="polite" {
                                                (unread.unwrap_or(0))
                                            }
                                            span.sr { "개 읽지 않음" }
                                        }
                                    }
                                }
                                li { a href="/me" { "내 정보" } }
                                li {
                                    form method="post" action="/logout" {
                                        (csrf(ctx))
                                        button.link type="submit" { "로그아웃" }
                                    }
                                }
                                @if v.user.is_admin() {
                                    li { span.role { "관리자" } }
                                }
                            } @else {
                                li { a href="/login" { "로그인" } }
                                li { a href="/signup" { "회원가입" } }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                footer { p { "Surge · 한 서버로 여러 서비스를" } }
            }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

/// The hidden CSRF field every form carries.
pub fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(ctx.csrf); }
}

/// A labelled input with its error message (linked by `aria-describedby`).
pub fn field(
    label: &str,
    name: &str,
    kind: &str,
    value: &str,
    error: Option<&str>,
    autocomplete: &str,
) -> Markup {
    let err_id = format!("{name}-error");
    html! {
        div.field {
            label for=(name) { (label) }
            @if let Some(e) = error {
                input #(name) name=(name) type=(kind) value=(value) required
                    autocomplete=(autocomplete) aria-invalid="true" aria-describedby=(err_id);
                p.error #(err_id) role="alert" { (e) }
            } @else {
                input #(name) name=(name) type=(kind) value=(value) required
                    autocomplete=(autocomplete);
            }
        }
    }
}

/// A message at the top of a form (an error not about one field).
pub fn alert(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message {
            p.alert role="alert" { (m) }
        }
    }
}

/// KRW with thousands separators: 12,000원.
pub fn won(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{}{out}원", if amount < 0 { "-" } else { "" })
}

/// A short date-time (KST) from an RFC 3339 UTC string.
pub fn when(rfc3339: &str) -> String {
    chrono_like(rfc3339).unwrap_or_else(|| rfc3339.to_owned())
}

fn chrono_like(s: &str) -> Option<String> {
    // "2026-12-06T01:02:03.456Z" -> "2026-12-06 10:02" (UTC+9, no DST in Korea).
    let date = s.get(0..10)?;
    let hour: u32 = s.get(11..13)?.parse().ok()?;
    let minute = s.get(14..16)?;
    let kst = hour + 9;
    if kst < 24 {
        Some(format!("{date} {kst:02}:{minute}"))
    } else {
        // Crossing midnight: keep it exact by saying UTC rather than guessing the date.
        Some(format!("{date} {hour:02}:{minute} UTC"))
    }
}

/// An error page for a use case's error (404s get the not-found page; server errors
/// are logged by `ApiError` and shown without their cause).
pub async fn error(web: &Web, ctx: &Ctx, e: ApiError) -> Response {
    if e.status == StatusCode::NOT_FOUND {
        return not_found(None);
    }
    if e.status.is_server_error() {
        // Logs the cause once, as the JSON API would.
        let _ = e.into_response();
        return render_with(
            web,
            ctx,
            StatusCode::INTERNAL_SERVER_ERROR,
            "문제가 생겼습니다",
            html! { p { "잠시 후 다시 시도해 주세요." } },
        )
        .await;
    }
    let status = e.status;
    let body = html! {
        p.alert role="alert" { (korean(e.code)) }
        p { a href="/" { "처음으로" } }
    };
    render_with(web, ctx, status, "요청을 처리하지 못했습니다", body).await
}
