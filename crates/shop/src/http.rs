//! Shop routes under `/api/v1/shop`, and the request bodies they take: each converts
//! with `try_into_domain()` into the validated domain type its use case takes, so a
//! use case never sees unchecked input.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use surge_kernel::auth::{AdminUser, AuthUser};
use surge_kernel::error::Problem;
use surge_kernel::extract::{Json, Path, Query};
use surge_kernel::idempotency::{self, Idempotency, KeyedJson};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ApiError;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use crate::addresses::{self, AddressView};
use crate::catalog::{ProductSort, ProductView};
use crate::coupons::{CampaignView, CouponView};
use crate::domain::{
    CouponStatus, InvalidInput, NewCampaign, NewProduct, OrderLine, OrderLines, OrderStatus,
    ProductChanges, SavedAddress, ShippingAddress, ShippingChoice,
};
use crate::orders::{LineView, OrderView, PlaceOrder};
use crate::payment::PaymentStarted;
use crate::Shop;

type St = State<Arc<Shop>>;

pub fn router(shop: Arc<Shop>, idem: Idempotency) -> Router {
    // Orders keep their Idempotency-Key on the order row itself (see `place_order`).
    let creating = Router::new()
        .route("/orders/{id}/payment", post(start_payment))
        .route("/coupon-campaigns/{id}/claim", post(claim))
        .layer(axum::middleware::from_fn_with_state(
            idem,
            idempotency::layer,
        ));
    let routes = Router::new()
        .route("/products", get(list_products).post(create_product))
        .route(
            "/products/{id}",
            get(get_product)
                .patch(update_product)
                .delete(delete_product),
        )
        .route("/products/{id}/restock", post(restock))
        .route("/orders", get(my_orders).post(place_order))
        .route("/orders/{id}", get(get_order))
        .route("/orders/{id}/cancel", post(cancel_order))
        .route("/orders/{id}/payment/approve", post(approve_payment))
        .route("/admin/orders", get(admin_orders))
        .route("/admin/orders/{id}/status", post(admin_status))
        .route("/coupon-campaigns", post(create_campaign))
        .route("/coupon-campaigns/{id}", get(get_campaign))
        .route("/coupons", get(my_coupons))
        .route("/addresses", get(list_addresses).post(create_address))
        .route(
            "/addresses/{id}",
            put(replace_address).delete(delete_address),
        )
        .merge(creating)
        .with_state(shop);
    Router::new().nest("/api/v1/shop", routes)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        list_products, get_product, create_product, update_product, delete_product, restock,
        place_order, my_orders, get_order, cancel_order, start_payment, approve_payment,
        admin_orders, admin_status, create_campaign, get_campaign, claim, my_coupons,
        list_addresses, create_address, replace_address, delete_address
    ),
    components(schemas(
        ProductView, ProductDraft, ProductPatch, ProductSort, Restock, OrderRequest, LineRequest,
        LineView, OrderView, OrderStatus, ShippingAddress, PaymentStarted, Approve, StatusChange,
        CampaignDraft, CampaignView, CouponView, CouponStatus, AddressDraft, AddressView, Problem
    )),
    tags((name = "shop", description = "Catalog, flash-sale orders, payments, coupons"))
)]
pub struct ShopApi;

#[derive(Deserialize, IntoParams)]
pub struct ProductFilter {
    category: Option<String>,
    /// `newest` (default), `price_asc` or `price_desc`.
    sort: Option<ProductSort>,
}

impl From<InvalidInput> for ApiError {
    /// 422 with the domain's code; `line` names the order line when there is one.
    fn from(e: InvalidInput) -> Self {
        let err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string());
        match e.line() {
            Some(line) => err.with("line", line),
            None => err,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ProductDraft {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub price: i64,
    pub stock: i64,
    pub category: String,
    pub image_url: Option<String>,
}

impl ProductDraft {
    pub fn try_into_domain(self) -> Result<NewProduct, ApiError> {
        Ok(NewProduct::new(
            &self.name,
            &self.description,
            self.price,
            self.stock,
            &self.category,
            self.image_url,
        )?)
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price: Option<i64>,
    pub category: Option<String>,
    pub image_url: Option<String>,
}

impl ProductPatch {
    pub fn try_into_domain(self) -> Result<ProductChanges, ApiError> {
        Ok(ProductChanges::new(
            self.name.as_deref(),
            self.description.as_deref(),
            self.price,
            self.category.as_deref(),
            self.image_url,
        )?)
    }
}

#[derive(Deserialize, ToSchema)]
pub struct Restock {
    quantity: i64,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub struct LineRequest {
    pub product_id: Uuid,
    pub quantity: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct OrderRequest {
    lines: Vec<LineRequest>,
    shipping_address: Option<ShippingAddress>,
    /// A saved address instead of `shipping_address`.
    address_id: Option<Uuid>,
    coupon_id: Option<Uuid>,
}

impl OrderRequest {
    /// The order to place, under the Idempotency-Key it came with and its body's hash.
    pub fn try_into_domain(
        self,
        idem_key: String,
        request_hash: String,
    ) -> Result<PlaceOrder, ApiError> {
        let lines = self
            .lines
            .into_iter()
            .map(|l| OrderLine {
                product_id: l.product_id,
                quantity: l.quantity,
            })
            .collect();
        Ok(PlaceOrder {
            lines: OrderLines::new(lines)?,
            shipping: ShippingChoice::new(self.shipping_address, self.address_id)?,
            coupon_id: self.coupon_id,
            idem_key,
            request_hash,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CampaignDraft {
    pub name: String,
    pub quantity: i64,
    /// Either a fixed amount off (KRW)...
    pub discount_amount: Option<i64>,
    /// ...or a percentage, capped at `max_discount`.
    pub discount_percent: Option<i32>,
    pub max_discount: Option<i64>,
    /// RFC 3339.
    pub starts_at: String,
    pub ends_at: String,
    /// Claimable only after a completed (approved) community mission today (KST).
    #[serde(default)]
    pub requires_mission_today: bool,
    /// At most this many coupons per KST day (1..=quantity); resets at midnight KST.
    pub daily_quantity: Option<i64>,
}

impl CampaignDraft {
    pub fn try_into_domain(self) -> Result<NewCampaign, ApiError> {
        let starts_at = surge_kernel::parse_rfc3339(&self.starts_at, "starts_at")?;
        let ends_at = surge_kernel::parse_rfc3339(&self.ends_at, "ends_at")?;
        Ok(NewCampaign::new(
            &self.name,
            self.quantity,
            self.discount_amount,
            self.discount_percent,
            self.max_discount,
            starts_at,
            ends_at,
        )?
        .with_rules(self.requires_mission_today, self.daily_quantity)?)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddressDraft {
    /// e.g. "집", "회사".
    #[serde(default)]
    pub label: String,
    #[serde(flatten)]
    pub address: ShippingAddress,
}

impl AddressDraft {
    pub fn try_into_domain(self) -> Result<SavedAddress, ApiError> {
        Ok(SavedAddress::new(&self.label, self.address)?)
    }
}

#[derive(Deserialize, ToSchema)]
pub struct Approve {
    /// The token the provider gave the buyer on approval.
    pg_token: String,
}

#[derive(Deserialize, ToSchema)]
pub struct StatusChange {
    status: OrderStatus,
}

#[derive(Deserialize, IntoParams)]
pub struct StatusFilter {
    status: Option<OrderStatus>,
}

/// Products, newest first or by price.
#[utoipa::path(get, path = "/api/v1/shop/products", tag = "shop", params(PageQuery, ProductFilter),
    responses((status = 200, body = Page<ProductView>)))]
async fn list_products(
    State(s): St,
    Query(page): Query<PageQuery>,
    Query(f): Query<ProductFilter>,
) -> Result<Json<Page<ProductView>>, ApiError> {
    Ok(Json(
        s.catalog
            .list(&page, f.category.as_deref(), f.sort.unwrap_or_default())
            .await?,
    ))
}

/// One product with live stock (cached at most 1 s).
#[utoipa::path(get, path = "/api/v1/shop/products/{id}", tag = "shop", params(("id" = Uuid, Path)),
    responses((status = 200, body = ProductView), (status = 404, body = Problem)))]
async fn get_product(State(s): St, Path(id): Path<Uuid>) -> Result<Json<ProductView>, ApiError> {
    Ok(Json(s.catalog.get(id).await?))
}

/// Adds a product (admins).
#[utoipa::path(post, path = "/api/v1/shop/products", tag = "shop", request_body = ProductDraft,
    security(("bearer" = ["ADMIN"])), responses((status = 201, body = ProductView), (status = 422, description = "`validation_failed`", body = Problem)))]
async fn create_product(
    State(s): St,
    _a: AdminUser,
    Json(d): Json<ProductDraft>,
) -> Result<Response, ApiError> {
    let d = d.try_into_domain()?;
    Ok((StatusCode::CREATED, Json(s.catalog.create(d).await?)).into_response())
}

/// Changes a product (admins).
#[utoipa::path(patch, path = "/api/v1/shop/products/{id}", tag = "shop", request_body = ProductPatch,
    params(("id" = Uuid, Path)), security(("bearer" = ["ADMIN"])),
    responses((status = 200, body = ProductView), (status = 404, description = "`not_found`", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem)))]
async fn update_product(
    State(s): St,
    _a: AdminUser,
    Path(id): Path<Uuid>,
    Json(p): Json<ProductPatch>,
) -> Result<Json<ProductView>, ApiError> {
    Ok(Json(s.catalog.update(id, p.try_into_domain()?).await?))
}

/// Removes a product from sale (admins; soft delete).
#[utoipa::path(delete, path = "/api/v1/shop/products/{id}", tag = "shop", params(("id" = Uuid, Path)),
    security(("bearer" = ["ADMIN"])), responses((status = 204), (status = 404, description = "`not_found`", body = Problem)))]
async fn delete_product(
    State(s): St,
    _a: AdminUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    s.catalog.delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds stock (admins).
#[utoipa::path(post, path = "/api/v1/shop/products/{id}/restock", tag = "shop", request_body = Restock,
    params(("id" = Uuid, Path)), security(("bearer" = ["ADMIN"])),
    responses((status = 200, body = ProductView), (status = 404, description = "`not_found`", body = Problem),
        (status = 422, description = "`validation_failed` (quantity 1 to 1,000,000,000)", body = Problem)))]
async fn restock(
    State(s): St,
    _a: AdminUser,
    Path(id): Path<Uuid>,
    Json(r): Json<Restock>,
) -> Result<Json<ProductView>, ApiError> {
    let quantity = crate::domain::Restock::new(r.quantity)?;
    Ok(Json(s.catalog.restock(id, quantity).await?))
}

/// Places an order: every line's stock is taken, or nothing is (409 `out_of_stock`).
#[utoipa::path(post, path = "/api/v1/shop/orders", tag = "shop", request_body = OrderRequest,
    params(("Idempotency-Key" = String, Header, description = "required; a retry replays the first answer")),
    security(("bearer" = [])),
    responses((status = 201, body = OrderView), (status = 409, description = "`out_of_stock` (names the line), `coupon_unavailable`", body = Problem),
        (status = 400, description = "`idempotency_key_required`", body = Problem),
        (status = 404, description = "`not_found`: a product (names the line) or the saved address", body = Problem),
        (status = 422, description = "`validation_failed` (names the line)", body = Problem),
        (status = 503, description = "`unavailable`: stock changed too fast or the order queue is full; retry", body = Problem)))]
async fn place_order(
    State(s): St,
    who: AuthUser,
    req: KeyedJson<OrderRequest>,
) -> Result<Response, ApiError> {
    // The key is stored on the order in the same transaction (exactly once even across
    // a crash), bound to the hash of this body.
    let order = req.body.try_into_domain(req.key, req.request_hash)?;
    let order = s.orders.place(&who, order).await?;
    Ok((StatusCode::CREATED, Json(order)).into_response())
}

/// My orders, newest first.
#[utoipa::path(get, path = "/api/v1/shop/orders", tag = "shop", params(PageQuery, StatusFilter),
    security(("bearer" = [])), responses((status = 200, body = Page<OrderView>)))]
async fn my_orders(
    State(s): St,
    who: AuthUser,
    Query(page): Query<PageQuery>,
    Query(f): Query<StatusFilter>,
) -> Result<Json<Page<OrderView>>, ApiError> {
    Ok(Json(s.orders.list(Some(who.id), f.status, &page).await?))
}

/// One of my orders (another user's is 404).
#[utoipa::path(get, path = "/api/v1/shop/orders/{id}", tag = "shop", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = OrderView), (status = 404, description = "`not_found`", body = Problem)))]
async fn get_order(
    State(s): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<OrderView>, ApiError> {
    let o = s.orders.get(&who, id).await?;
    Ok(Json(s.orders.view_of(o).await?))
}

/// Cancels: unpaid → CANCELLED (stock and coupon back); paid → REFUNDING → REFUNDED.
#[utoipa::path(post, path = "/api/v1/shop/orders/{id}/cancel", tag = "shop", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = OrderView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`invalid_transition`, `concurrent_update`", body = Problem)))]
async fn cancel_order(
    State(s): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(s.payments.cancel(&who, id).await?))
}

/// Starts paying for an order; answers where the buyer approves it.
#[utoipa::path(post, path = "/api/v1/shop/orders/{id}/payment", tag = "shop", operation_id = "shop_start_payment",
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key replays the first answer")),
    security(("bearer" = [])),
    responses((status = 200, body = PaymentStarted), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`order_expired`, `order_not_payable`; `idempotency_in_progress`", body = Problem),
        (status = 502, description = "`payment_unavailable`", body = Problem)))]
async fn start_payment(
    State(s): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<PaymentStarted>, ApiError> {
    Ok(Json(s.payments.start(&who, id).await?))
}

/// Completes the payment with the provider's `pg_token`; the order becomes PAID.
#[utoipa::path(post, path = "/api/v1/shop/orders/{id}/payment/approve", tag = "shop", request_body = Approve,
    operation_id = "shop_approve_payment", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = OrderView), (status = 402, description = "`payment_declined` (the order is cancelled)", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`payment_not_started`, `order_not_payable`", body = Problem),
        (status = 502, description = "`payment_unavailable` (retry)", body = Problem)))]
async fn approve_payment(
    State(s): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(a): Json<Approve>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(s.payments.approve(&who, id, &a.pg_token).await?))
}

/// Every order (admins), filterable by status.
#[utoipa::path(get, path = "/api/v1/shop/admin/orders", tag = "shop", params(PageQuery, StatusFilter),
    security(("bearer" = ["ADMIN"])), responses((status = 200, body = Page<OrderView>)))]
async fn admin_orders(
    State(s): St,
    _a: AdminUser,
    Query(page): Query<PageQuery>,
    Query(f): Query<StatusFilter>,
) -> Result<Json<Page<OrderView>>, ApiError> {
    Ok(Json(s.orders.list(None, f.status, &page).await?))
}

/// Fulfilment (admins): PAID → PREPARING → SHIPPING → DELIVERED.
#[utoipa::path(post, path = "/api/v1/shop/admin/orders/{id}/status", tag = "shop", request_body = StatusChange,
    params(("id" = Uuid, Path)), security(("bearer" = ["ADMIN"])),
    responses((status = 200, body = OrderView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`invalid_transition`, `concurrent_update`", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem)))]
async fn admin_status(
    State(s): St,
    _a: AdminUser,
    Path(id): Path<Uuid>,
    Json(c): Json<StatusChange>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(s.orders.advance(id, c.status).await?))
}

/// Creates a first-come coupon campaign (admins).
#[utoipa::path(post, path = "/api/v1/shop/coupon-campaigns", tag = "shop", request_body = CampaignDraft,
    security(("bearer" = ["ADMIN"])), responses((status = 201, body = CampaignView), (status = 422, description = "`validation_failed`; `missions_unavailable`: `requires_mission_today` without community missions on this server", body = Problem)))]
async fn create_campaign(
    State(s): St,
    _a: AdminUser,
    Json(d): Json<CampaignDraft>,
) -> Result<Response, ApiError> {
    let d = d.try_into_domain()?;
    Ok((
        StatusCode::CREATED,
        Json(s.coupons.create_campaign(d).await?),
    )
        .into_response())
}

/// A campaign with how many coupons are left.
#[utoipa::path(get, path = "/api/v1/shop/coupon-campaigns/{id}", tag = "shop", params(("id" = Uuid, Path)),
    responses((status = 200, body = CampaignView), (status = 404, description = "`not_found`", body = Problem)))]
async fn get_campaign(State(s): St, Path(id): Path<Uuid>) -> Result<Json<CampaignView>, ApiError> {
    Ok(Json(s.coupons.campaign(id).await?))
}

/// Claims a coupon: exactly `quantity` are ever issued, one per user.
#[utoipa::path(post, path = "/api/v1/shop/coupon-campaigns/{id}/claim", tag = "shop",
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key replays the first answer")),
    security(("bearer" = [])),
    responses((status = 201, body = CouponView), (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`sold_out`, `sold_out_today` (the day's `daily_quantity` is gone; `next_at`), `already_claimed`; `idempotency_in_progress`", body = Problem),
        (status = 403, description = "`not_open`; `not_eligible`: the campaign requires a completed mission today", body = Problem)))]
async fn claim(State(s): St, who: AuthUser, Path(id): Path<Uuid>) -> Result<Response, ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.coupons.claim(who.id, id).await?),
    )
        .into_response())
}

/// My coupons.
#[utoipa::path(get, path = "/api/v1/shop/coupons", tag = "shop", params(PageQuery),
    security(("bearer" = [])), responses((status = 200, body = Page<CouponView>)))]
async fn my_coupons(
    State(s): St,
    who: AuthUser,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<CouponView>>, ApiError> {
    Ok(Json(s.coupons.mine(who.id, &page).await?))
}

/// My saved addresses.
#[utoipa::path(get, path = "/api/v1/shop/addresses", tag = "shop", security(("bearer" = [])),
    responses((status = 200, body = Vec<AddressView>)))]
async fn list_addresses(State(s): St, who: AuthUser) -> Result<Json<Vec<AddressView>>, ApiError> {
    Ok(Json(addresses::list(&s.orders.db, who.id).await?))
}

/// Saves an address.
#[utoipa::path(post, path = "/api/v1/shop/addresses", tag = "shop", request_body = AddressDraft,
    security(("bearer" = [])),
    responses((status = 201, body = AddressView), (status = 409, description = "`too_many_addresses`", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem)))]
async fn create_address(
    State(s): St,
    who: AuthUser,
    Json(d): Json<AddressDraft>,
) -> Result<Response, ApiError> {
    let d = d.try_into_domain()?;
    let now = s.orders.clock.now_ms();
    Ok((
        StatusCode::CREATED,
        Json(addresses::create(&s.orders.db, who.id, d, now).await?),
    )
        .into_response())
}

/// Replaces a saved address.
#[utoipa::path(put, path = "/api/v1/shop/addresses/{id}", tag = "shop", request_body = AddressDraft,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = AddressView), (status = 404, description = "`not_found`", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem)))]
async fn replace_address(
    State(s): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
    Json(d): Json<AddressDraft>,
) -> Result<Json<AddressView>, ApiError> {
    let d = d.try_into_domain()?;
    Ok(Json(addresses::replace(&s.orders.db, who.id, id, d).await?))
}

/// Deletes a saved address.
#[utoipa::path(delete, path = "/api/v1/shop/addresses/{id}", tag = "shop", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 204), (status = 404, description = "`not_found`", body = Problem)))]
async fn delete_address(
    State(s): St,
    who: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    addresses::delete(&s.orders.db, who.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
