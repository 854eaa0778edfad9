//! An order's page with payment and
//! cancel, my orders, my coupons and claiming a campaign's coupon.
//!
//! Payment: with the embedded fake gateway (no real provider configured) "결제하기"
//! starts the payment and approves it in the same POST, as the fake needs no browser
//! redirect. With Kakao Pay the buyer is sent to the provider's page.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use surge_kernel::page::PageQuery;
use surge_kernel::ApiError;
use surge_shop::coupons::CouponView;
use surge_shop::domain::{CouponStatus, OrderStatus};
use surge_shop::orders::OrderView;
use surge_shop::Shop;
use uuid::Uuid;

use crate::messages::korean;
use crate::page::{self, alert, csrf, render, render_with, won};
use crate::session::Ctx;
use crate::{Web, WebState};

/// The pg_token the web app approves fake-gateway payments with.
const FAKE_APPROVAL: &str = "web-fake-approval";

pub fn status_ko(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::PendingPayment => "결제 대기",
        OrderStatus::Paid => "결제 완료",
        OrderStatus::Preparing => "상품 준비 중",
        OrderStatus::Shipping => "배송 중",
        OrderStatus::Delivered => "배송 완료",
        OrderStatus::Cancelled => "취소됨",
        OrderStatus::Refunding => "환불 처리 중",
        OrderStatus::Refunded => "환불 완료",
    }
}

pub(crate) async fn usable_coupons(shop: &Shop, user: Uuid) -> Vec<CouponView> {
    let q = PageQuery {
        cursor: None,
        limit: Some(100),
    };
    match shop.coupons.mine(user, &q).await {
        Ok(p) => p
            .items
            .into_iter()
            .filter(|c| c.status == CouponStatus::Available)
            .collect(),
        Err(_) => Vec::new(),
    }
}

pub(crate) fn coupon_label(c: &CouponView) -> String {
    match (c.discount_amount, c.discount_percent) {
        (Some(a), _) => format!("{} ({} 할인)", c.campaign_name, won(a)),
        (None, Some(p)) => format!(
            "{} ({p}% 할인{})",
            c.campaign_name,
            c.max_discount
                .map_or(String::new(), |m| format!(", 최대 {}", won(m)))
        ),
        _ => c.campaign_name.clone(),
    }
}

fn order_body(ctx: &Ctx, o: &OrderView, notice: Option<&str>, err: Option<&ApiError>) -> Markup {
    html! {
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        (alert(err.map(|e| korean(e.code))))
        dl.facts {
            dt { "상태" } dd.status { (status_ko(o.status)) }
            dt { "주문일" } dd { (page::when(&o.created_at)) }
            dt { "상품 금액" } dd { (won(o.subtotal)) }
            @if o.discount > 0 { dt { "할인" } dd { "-" (won(o.discount)) } }
            dt { "결제 금액" } dd { strong { (won(o.total)) } }
            dt { "받는 분" } dd { (o.shipping_address.recipient) " · " (o.shipping_address.phone) }
            dt { "주소" } dd { (o.shipping_address.address) " (" (o.shipping_address.postal_code) ")" }
            @if o.status == OrderStatus::PendingPayment {
                dt { "결제 기한" } dd { (page::when(&o.pay_before)) }
            }
        }
        ul.list {
            @for l in &o.lines {
                li {
                    a href={ "/shop/products/" (l.product_id) } { (l.product_name) }
                    " × " (l.quantity) " · " (won(l.unit_price * l.quantity))
                }
            }
        }
        div.row {
            @if o.status == OrderStatus::PendingPayment {
                form method="post" action={ "/shop/orders/" (o.id) "/pay" } {
                    (csrf(ctx))
                    button type="submit" { (won(o.total)) " 결제하기" }
                }
            }
            @if matches!(o.status, OrderStatus::PendingPayment | OrderStatus::Paid) {
                form method="post" action={ "/shop/orders/" (o.id) "/cancel" } {
                    (csrf(ctx))
                    button.secondary type="submit" { "주문 취소" }
                }
            }
        }
        p { a href="/shop/orders" { "← 주문 내역" } }
    }
}

#[derive(Deserialize)]
pub struct Notice {
    done: Option<String>,
}

async fn load(web: &Web, ctx: &Ctx, id: &str) -> Result<OrderView, Response> {
    let v = ctx.signed_in()?;
    let Some(shop) = &web.h.shop else {
        return Err(page::not_found(None));
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return Err(page::not_found(None));
    };
    let found = match shop.orders.get(&v.user, id).await {
        Ok(o) => shop.orders.view_of(o).await,
        Err(e) => Err(e),
    };
    match found {
        Ok(o) => Ok(o),
        Err(e) => Err(page::error(web, ctx, e).await),
    }
}

pub async fn show(
    State(web): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(n): Query<Notice>,
) -> Response {
    let o = match load(&web, &ctx, &id).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let notice = match n.done.as_deref() {
        Some("paid") => Some("결제가 완료되었습니다."),
        Some("cancelled") => Some("주문을 취소했습니다."),
        _ => None,
    };
    let title = format!("주문 {}", &o.id.to_string()[..8]);
    render(&web, &ctx, &title, order_body(&ctx, &o, notice, None)).await
}

async fn refused_on_order(web: &Web, ctx: &Ctx, id: &str, e: ApiError) -> Response {
    if e.status.is_server_error() || e.status == StatusCode::NOT_FOUND {
        return page::error(web, ctx, e).await;
    }
    match load(web, ctx, id).await {
        Ok(o) => {
            let title = format!("주문 {}", &o.id.to_string()[..8]);
            render_with(
                web,
                ctx,
                e.status,
                &title,
                order_body(ctx, &o, None, Some(&e)),
            )
            .await
        }
        Err(r) => r,
    }
}

pub async fn pay(State(web): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let o = match load(&web, &ctx, &id).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let (Some(shop), Some(v)) = (&web.h.shop, &ctx.viewer) else {
        return page::not_found(None);
    };
    let started = match shop.payments.start(&v.user, o.id).await {
        Ok(s) => s,
        Err(e) => return refused_on_order(&web, &ctx, &id, e).await,
    };
    if !web.cfg.fake_gateway {
        return Redirect::to(&started.redirect_url).into_response();
    }
    match shop.payments.approve(&v.user, o.id, FAKE_APPROVAL).await {
        Ok(_) => Redirect::to(&format!("/shop/orders/{}?done=paid", o.id)).into_response(),
        Err(e) => refused_on_order(&web, &ctx, &id, e).await,
    }
}

/// Kept for a provider whose approval comes back to the browser: approves with the
/// `pg_token` it sent.
#[derive(Deserialize)]
pub struct Approval {
    #[serde(default)]
    pg_token: String,
}

pub async fn approve(
    State(web): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(a): Form<Approval>,
) -> Response {
    let o = match load(&web, &ctx, &id).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let (Some(shop), Some(v)) = (&web.h.shop, &ctx.viewer) else {
        return page::not_found(None);
    };
    match shop.payments.approve(&v.user, o.id, &a.pg_token).await {
        Ok(_) => Redirect::to(&format!("/shop/orders/{}?done=paid", o.id)).into_response(),
        Err(e) => refused_on_order(&web, &ctx, &id, e).await,
    }
}

pub async fn cancel(State(web): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let o = match load(&web, &ctx, &id).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let (Some(shop), Some(v)) = (&web.h.shop, &ctx.viewer) else {
        return page::not_found(None);
    };
    match shop.payments.cancel(&v.user, o.id).await {
        Ok(_) => Redirect::to(&format!("/shop/orders/{}?done=cancelled", o.id)).into_response(),
        Err(e) => refused_on_order(&web, &ctx, &id, e).await,
    }
}

pub async fn mine(State(web): State<WebState>, ctx: Ctx, Query(q): Query<PageQuery>) -> Response {
    let v = match ctx.signed_in() {
        Ok(v) => v.clone(),
        Err(r) => return r,
    };
    let Some(shop) = &web.h.shop else {
        return page::not_found(None);
    };
    let listed = match shop.orders.list(Some(v.user.id), None, &q).await {
        Ok(p) => p,
        Err(e) => return page::error(&web, &ctx, e).await,
    };
    let body = html! {
        @if listed.items.is_empty() {
            p.empty { "아직 주문이 없습니다. " a href="/shop" { "쇼핑하러 가기" } }
        }
        ul.list {
            @for o in &listed.items {
                li {
                    a href={ "/shop/orders/" (o.id) } {
                        (o.lines.first().map_or("주문", |l| l.product_name.as_str()))
                        @if o.lines.len() > 1 { " 외 " (o.lines.len() - 1) "건" }
                    }
                    " · " span.status { (status_ko(o.status)) }
                    " · " (won(o.total))
                    br;
                    small { (page::when(&o.created_at)) }
                }
            }
        }
        @if let Some(c) = &listed.next_cursor {
            p { a href={ "/shop/orders?cursor=" (c) } { "더 보기" } }
        }
    };
    render(&web, &ctx, "주문 내역", body).await
}

pub async fn coupons(State(web): State<WebState>, ctx: Ctx) -> Response {
    let v = match ctx.signed_in() {
        Ok(v) => v.clone(),
        Err(r) => return r,
    };
    let Some(shop) = &web.h.shop else {
        return page::not_found(None);
    };
    let q = PageQuery {
        cursor: None,
        limit: Some(100),
    };
    let mine = match shop.coupons.mine(v.user.id, &q).await {
        Ok(p) => p.items,
        Err(e) => return page::error(&web, &ctx, e).await,
    };
    let body = html! {
        @if mine.is_empty() { p.empty { "받은 쿠폰이 없습니다." } }
        ul.list {
            @for c in &mine {
                li {
                    strong { (coupon_label(c)) }
                    " · "
                    (match c.status {
                        CouponStatus::Available => "사용 가능",
                        CouponStatus::Reserved => "결제 대기 주문에 사용 중",
                        CouponStatus::Used => "사용함",
                    })
                }
            }
        }
    };
    render(&web, &ctx, "내 쿠폰", body).await
}

async fn campaign_page(
    web: &Web,
    ctx: &Ctx,
    id: &str,
    status: StatusCode,
    err: Option<&ApiError>,
    claimed: bool,
) -> Response {
    let Some(shop) = &web.h.shop else {
        return page::not_found(None);
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return page::not_found(None);
    };
    let c = match shop.coupons.campaign(id).await {
        Ok(c) => c,
        Err(e) => return page::error(web, ctx, e).await,
    };
    let body = html! {
        @if claimed { p.notice role="status" { "쿠폰을 받았습니다. " a href="/shop/coupons" { "내 쿠폰 보기" } } }
        (alert(err.map(|e| korean(e.code))))
        dl.facts {
            dt { "할인" }
            dd {
                @if let Some(a) = c.discount_amount { (won(a)) }
                @if let Some(p) = c.discount_percent { (p) "%" }
            }
            dt { "남은 수량" } dd { (c.remaining) " / " (c.quantity) }
            dt { "발급 기간" } dd { (page::when(&c.starts_at)) " ~ " (page::when(&c.ends_at)) }
        }
        @if ctx.viewer.is_some() {
            form method="post" action={ "/shop/coupons/" (c.id) } {
                (csrf(ctx))
                button type="submit" disabled[c.remaining <= 0] { "쿠폰 받기" }
            }
        } @else {
            p { a.button href={ "/login?next=/shop/coupons/" (c.id) } { "로그인하고 받기" } }
        }
    };
    render_with(web, ctx, status, &c.name, body).await
}

#[derive(Deserialize)]
pub struct Claimed {
    claimed: Option<String>,
}

pub async fn campaign(
    State(web): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<Claimed>,
) -> Response {
    campaign_page(&web, &ctx, &id, StatusCode::OK, None, q.claimed.is_some()).await
}

pub async fn claim(State(web): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let v = match ctx.signed_in() {
        Ok(v) => v.clone(),
        Err(r) => return r,
    };
    let (Some(shop), Ok(cid)) = (&web.h.shop, id.parse::<Uuid>()) else {
        return page::not_found(None);
    };
    match shop.coupons.claim(v.user.id, cid).await {
        Ok(_) => Redirect::to(&format!("/shop/coupons/{cid}?claimed=1")).into_response(),
        Err(e) if e.status.is_server_error() => page::error(&web, &ctx, e).await,
        Err(e) => campaign_page(&web, &ctx, &id, e.status, Some(&e), false).await,
    }
}
