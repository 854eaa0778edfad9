//! A product's page with its live stock and the order form, and placing the order
//! (re-rendering the form with the field's message when the order is refused). Each
//! rendered form carries its own idempotency key: sending it twice places one order.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use surge_shop::catalog::ProductView;
use surge_shop::coupons::CouponView;
use surge_shop::domain::{InvalidInput, OrderLine, OrderLines, ShippingAddress, ShippingChoice};
use surge_shop::orders::PlaceOrder;
use uuid::Uuid;

use super::orders::{coupon_label, usable_coupons};
use crate::messages::{field_of, korean};
use crate::page::{self, alert, csrf, won};
use crate::session::Ctx;
use crate::WebState;

#[derive(Deserialize, Default, Clone)]
pub struct OrderForm {
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    recipient: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    coupon_id: String,
    /// One key per rendered form: submitting it twice places one order.
    #[serde(default)]
    idem: String,
}

/// The Korean message and the field of a shop input the domain refused.
fn input_error(e: &InvalidInput) -> (&'static str, Option<&'static str>) {
    match e {
        InvalidInput::Quantity(_) | InvalidInput::LineCount => {
            ("수량은 1~100개여야 합니다.", Some("quantity"))
        }
        InvalidInput::Recipient => ("받는 분 이름을 1~50자로 입력해 주세요.", Some("recipient")),
        InvalidInput::Phone => ("연락처를 확인해 주세요 (예: 010-1234-5678).", Some("phone")),
        InvalidInput::Address => ("주소를 1~300자로 입력해 주세요.", Some("address")),
        InvalidInput::PostalCode => ("우편번호를 확인해 주세요 (예: 06236).", Some("postal_code")),
        _ => (korean("validation_failed"), None),
    }
}

pub async fn product(State(web): State<WebState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return page::not_found(None);
    };
    product_page(&web, &ctx, id, StatusCode::OK, &OrderForm::default(), None).await
}

/// The product page with the order form (re-rendered with the error of a failed order).
pub(crate) async fn product_page(
    web: &crate::Web,
    ctx: &Ctx,
    id: Uuid,
    status: StatusCode,
    form: &OrderForm,
    err: Option<(&'static str, Option<&'static str>)>,
) -> Response {
    let Some(shop) = &web.h.shop else {
        return page::not_found(None);
    };
    let p = match shop.catalog.get(id).await {
        Ok(p) => p,
        Err(e) => return page::error(web, ctx, e).await,
    };
    let coupons = match &ctx.viewer {
        Some(v) => usable_coupons(shop, v.user.id).await,
        None => Vec::new(),
    };
    let body = html! {
        article.card.product {
            p.price { (won(p.price)) }
            p { span.tag { (p.category) } }
            @if !p.description.is_empty() { p { (p.description) } }
            @if p.sold_out {
                p.soldout role="status" { "품절" }
            } @else {
                p.stock role="status" { "남은 수량 " strong { (p.stock) } "개" }
            }
        }
        @if !p.sold_out {
            @if ctx.viewer.is_some() {
                (order_form(ctx, &p, form, &coupons, err))
            } @else {
                p { a.button href={ "/login?next=/shop/products/" (p.id) } { "로그인하고 주문하기" } }
            }
        }
        p { a href="/shop" { "← 상품 목록" } }
    };
    page::render_with(web, ctx, status, &p.name, body).await
}

pub(crate) fn order_form(
    ctx: &Ctx,
    p: &ProductView,
    f: &OrderForm,
    coupons: &[CouponView],
    err: Option<(&'static str, Option<&'static str>)>,
) -> Markup {
    let on = |name: &str| {
        err.filter(|(_, field)| *field == Some(name))
            .map(|(m, _)| m)
    };
    let general = err.filter(|(_, field)| field.is_none()).map(|(m, _)| m);
    let quantity = if f.quantity.is_empty() {
        "1"
    } else {
        &f.quantity
    };
    let idem = if f.idem.is_empty() {
        Uuid::new_v4().to_string()
    } else {
        f.idem.clone()
    };
    html! {
        form.card method="post" action="/shop/orders" novalidate {
            (csrf(ctx))
            input type="hidden" name="product_id" value=(p.id);
            input type="hidden" name="idem" value=(idem);
            (alert(general))
            (page::field("수량", "quantity", "number", quantity, on("quantity"), "off"))
            fieldset {
                legend { "배송지" }
                (page::field("받는 분", "recipient", "text", &f.recipient, on("recipient"), "name"))
                (page::field("연락처", "phone", "tel", &f.phone, on("phone"), "tel"))
                (page::field("주소", "address", "text", &f.address, on("address"), "street-address"))
                (page::field("우편번호", "postal_code", "text", &f.postal_code, on("postal_code"), "postal-code"))
            }
            div.field {
                label for="coupon_id" { "쿠폰" }
                select #coupon_id name="coupon_id" {
                    option value="" { "쓰지 않음" }
                    @for c in coupons {
                        option value=(c.coupon_id) selected[f.coupon_id == c.coupon_id.to_string()] {
                            (coupon_label(c))
                        }
                    }
                }
                @if let Some(m) = on("coupon_id") { p.error role="alert" { (m) } }
            }
            button type="submit" { "주문하기" }
        }
    }
}

fn parse_order(f: &OrderForm) -> Result<(Uuid, PlaceOrder), (&'static str, Option<&'static str>)> {
    let product: Uuid = f
        .product_id
        .parse()
        .map_err(|_| (korean("not_found"), None))?;
    let quantity: i64 = f
        .quantity
        .trim()
        .parse()
        .map_err(|_| input_error(&InvalidInput::Quantity(0)))?;
    let lines = OrderLines::new(vec![OrderLine {
        product_id: product,
        quantity,
    }])
    .map_err(|e| input_error(&e))?;
    let shipping = ShippingChoice::new(
        Some(ShippingAddress {
            recipient: f.recipient.clone(),
            phone: f.phone.clone(),
            address: f.address.clone(),
            postal_code: f.postal_code.clone(),
        }),
        None,
    )
    .map_err(|e| input_error(&e))?;
    let coupon_id = match f.coupon_id.trim() {
        "" => None,
        c => Some(
            c.parse::<Uuid>()
                .map_err(|_| (korean("coupon_unavailable"), Some("coupon_id")))?,
        ),
    };
    let idem = f.idem.trim();
    if idem.is_empty()
        || idem.len() > 100
        || !idem.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err((korean("validation_failed"), None));
    }
    let canonical = format!(
        "{product}|{quantity}|{}|{}|{}|{}|{}",
        f.recipient.trim(),
        f.phone.trim(),
        f.address.trim(),
        f.postal_code.trim(),
        f.coupon_id.trim()
    );
    Ok((
        product,
        PlaceOrder {
            lines,
            shipping,
            coupon_id,
            idem_key: format!("web-{idem}"),
            request_hash: hex::encode(Sha256::digest(canonical.as_bytes())),
        },
    ))
}

pub async fn place(State(web): State<WebState>, ctx: Ctx, Form(f): Form<OrderForm>) -> Response {
    let v = match ctx.signed_in() {
        Ok(v) => v.clone(),
        Err(r) => return r,
    };
    let Some(shop) = &web.h.shop else {
        return page::not_found(None);
    };
    let product: Option<Uuid> = f.product_id.parse().ok();
    let refused = |status: StatusCode, err: (&'static str, Option<&'static str>)| {
        let web = web.clone();
        let ctx = ctx.clone();
        let f = f.clone();
        async move {
            match product {
                Some(id) => product_page(&web, &ctx, id, status, &f, Some(err)).await,
                None => page::not_found(None),
            }
        }
    };
    let (_, order) = match parse_order(&f) {
        Ok(o) => o,
        Err(err) => return refused(StatusCode::UNPROCESSABLE_ENTITY, err).await,
    };
    match shop.orders.place(&v.user, order).await {
        Ok(o) => Redirect::to(&format!("/shop/orders/{}", o.id)).into_response(),
        Err(e) if e.status.is_server_error() => page::error(&web, &ctx, e).await,
        Err(e) => {
            // The form gets a new key: what it sends next is a new order.
            let status = e.status;
            refused(status, (korean(e.code), field_of(e.code))).await
        }
    }
}
