//! Writing orders, shared by the plain path (`mod.rs`) and the group-commit batcher
//! (`batcher.rs`): the order about to be inserted, the conditional stock writes, the
//! multi-row inserts with their `order_placed` events, and the order's view.

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};
use serde::{Deserialize, Serialize};
use surge_kernel::events::{enqueue_many, EventEnvelope};
use surge_kernel::{rfc3339, ApiError, Millis};
use uuid::Uuid;

use crate::domain::{OrderStatus, ShippingAddress};
use crate::entities::{order, order_line, product};

pub const TOPIC_ORDER_PLACED: &str = "shop.order_placed";
pub const TOPIC_ORDER_CANCELLED: &str = "shop.order_cancelled";
pub const TOPIC_ORDER_PAID: &str = "shop.order_paid";
pub const TOPIC_REFUND_REQUESTED: &str = "shop.refund_requested";
pub const TOPIC_ORDER_REFUNDED: &str = "shop.order_refunded";
pub const TOPIC_ORDER_STATUS: &str = "shop.order_status_changed";

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineView {
    pub product_id: Uuid,
    pub product_name: String,
    pub unit_price: i64,
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub status: OrderStatus,
    pub subtotal: i64,
    pub discount: i64,
    /// What the buyer pays, KRW.
    pub total: i64,
    pub coupon_id: Option<Uuid>,
    pub lines: Vec<LineView>,
    pub shipping_address: ShippingAddress,
    /// Where to approve the payment, once started.
    pub payment_redirect_url: Option<String>,
    pub created_at: String,
    /// Unpaid orders are cancelled at this time and their stock returns.
    pub pay_before: String,
}

/// An order ready to insert: what the batcher and the plain path both produce.
pub(crate) struct NewOrder {
    pub id: Uuid,
    pub user_id: Uuid,
    pub subtotal: i64,
    pub discount: i64,
    pub coupon_id: Option<Uuid>,
    pub idem_key: Option<String>,
    pub request_hash: Option<String>,
    pub shipping: ShippingAddress,
    pub lines: Vec<LineView>,
    pub now: Millis,
    pub expires_at: Millis,
}

impl NewOrder {
    fn total(&self) -> i64 {
        self.subtotal - self.discount
    }

    /// An order that costs nothing (free product, or a coupon worth the whole price) is
    /// paid when placed: there is nothing for a gateway to take (Kakao Pay refuses 0 KRW),
    /// and leaving it unpaid would lock its stock and coupon until the window closes.
    fn status(&self) -> OrderStatus {
        if self.total() == 0 {
            OrderStatus::Paid
        } else {
            OrderStatus::PendingPayment
        }
    }

    pub fn view(&self) -> OrderView {
        OrderView {
            id: self.id,
            user_id: self.user_id,
            status: self.status(),
            subtotal: self.subtotal,
            discount: self.discount,
            total: self.subtotal - self.discount,
            coupon_id: self.coupon_id,
            lines: self.lines.clone(),
            shipping_address: self.shipping.clone(),
            payment_redirect_url: None,
            created_at: rfc3339(self.now),
            pay_before: rfc3339(self.expires_at),
        }
    }

    fn event(&self) -> EventEnvelope {
        EventEnvelope::new(
            TOPIC_ORDER_PLACED,
            self.id,
            serde_json::json!({
                "order_id": self.id, "user_id": self.user_id, "total": self.subtotal - self.discount,
                "lines": self.lines.iter().map(|l| serde_json::json!({"product_id": l.product_id, "quantity": l.quantity})).collect::<Vec<_>>(),
            }),
            self.now,
        )
    }
}

fn db_err(e: sea_orm::sea_query::error::Error) -> DbErr {
    DbErr::Custom(e.to_string())
}

/// Takes `quantity` from a product's stock if (and only if) that much is left.
pub(crate) async fn take_stock(
    conn: &impl ConnectionTrait,
    product_id: Uuid,
    quantity: i64,
    now: Millis,
) -> Result<bool, DbErr> {
    let stmt = Query::update()
        .table(product::Entity)
        .value(
            product::Column::Stock,
            Expr::col(product::Column::Stock).sub(quantity),
        )
        .value(product::Column::UpdatedAt, now)
        .and_where(Expr::col(product::Column::Id).eq(product_id))
        .and_where(Expr::col(product::Column::Active).eq(true))
        .and_where(Expr::col(product::Column::Stock).gte(quantity))
        .to_owned();
    let res = conn
        .execute(conn.get_database_backend().build(&stmt))
        .await?;
    Ok(res.rows_affected() == 1)
}

pub(crate) async fn return_stock(
    conn: &impl ConnectionTrait,
    product_id: Uuid,
    quantity: i64,
    now: Millis,
) -> Result<(), DbErr> {
    let stmt = Query::update()
        .table(product::Entity)
        .value(
            product::Column::Stock,
            Expr::col(product::Column::Stock).add(quantity),
        )
        .value(product::Column::UpdatedAt, now)
        .and_where(Expr::col(product::Column::Id).eq(product_id))
        .to_owned();
    conn.execute(conn.get_database_backend().build(&stmt))
        .await?;
    Ok(())
}

/// The error `insert_orders` answers when an order with the same user and
/// Idempotency-Key committed first; callers replay that order.
pub(crate) const DUPLICATE_KEY: &str = "duplicate_idempotency_key";

/// Inserts orders, their lines and their `order_placed` events with three multi-row
/// inserts, however many orders there are.
pub(crate) async fn insert_orders(
    conn: &DatabaseTransaction,
    orders: &[NewOrder],
) -> Result<(), ApiError> {
    write_orders(conn, orders)
        .await
        .map_err(|e| match surge_kernel::error::unique_violation(&e) {
            Some(_) => {
                ApiError::conflict(DUPLICATE_KEY, "an order with this Idempotency-Key exists")
            }
            None => e.into(),
        })
}

async fn write_orders(conn: &DatabaseTransaction, orders: &[NewOrder]) -> Result<(), DbErr> {
    if orders.is_empty() {
        return Ok(());
    }
    let mut ins = Query::insert()
        .into_table(order::Entity)
        .columns([
            order::Column::Id,
            order::Column::UserId,
            order::Column::Status,
            order::Column::Subtotal,
            order::Column::Discount,
            order::Column::Total,
            order::Column::CouponId,
            order::Column::IdemKey,
            order::Column::RequestHash,
            order::Column::Shipping,
            order::Column::CreatedAt,
            order::Column::UpdatedAt,
            order::Column::ExpiresAt,
        ])
        .to_owned();
    let mut lines = Query::insert()
        .into_table(order_line::Entity)
        .columns([
            order_line::Column::OrderId,
            order_line::Column::LineNo,
            order_line::Column::ProductId,
            order_line::Column::ProductName,
            order_line::Column::UnitPrice,
            order_line::Column::Quantity,
        ])
        .to_owned();
    for o in orders {
        let shipping =
            serde_json::to_string(&o.shipping).map_err(|e| DbErr::Custom(e.to_string()))?;
        ins.values([
            o.id.into(),
            o.user_id.into(),
            o.status().into(),
            o.subtotal.into(),
            o.discount.into(),
            (o.subtotal - o.discount).into(),
            o.coupon_id.into(),
            o.idem_key.clone().into(),
            o.request_hash.clone().into(),
            shipping.into(),
            o.now.into(),
            o.now.into(),
            o.expires_at.into(),
        ])
        .map_err(db_err)?;
        for (i, l) in o.lines.iter().enumerate() {
            lines
                .values([
                    o.id.into(),
                    (i as i32).into(),
                    l.product_id.into(),
                    l.product_name.clone().into(),
                    l.unit_price.into(),
                    l.quantity.into(),
                ])
                .map_err(db_err)?;
        }
    }
    let backend = conn.get_database_backend();
    conn.execute(backend.build(&ins)).await?;
    conn.execute(backend.build(&lines)).await?;
    let mut events: Vec<EventEnvelope> = orders.iter().map(NewOrder::event).collect();
    for o in orders.iter().filter(|o| o.status() == OrderStatus::Paid) {
        if let Some(c) = o.coupon_id {
            crate::coupons::spend(conn, c, o.id).await?;
        }
        events.push(EventEnvelope::new(
            TOPIC_ORDER_PAID,
            o.id,
            serde_json::json!({"order_id": o.id, "user_id": o.user_id, "total": 0, "tid": ""}),
            o.now,
        ));
    }
    enqueue_many(conn, &events).await
}

pub(crate) fn out_of_stock(line: usize, product_id: Uuid) -> ApiError {
    ApiError::conflict(
        "out_of_stock",
        format!("line {line}: not enough stock for product {product_id}"),
    )
    .with("line", line)
    .with("product_id", product_id.to_string())
}

pub(crate) fn invalid_transition(from: OrderStatus, to: OrderStatus) -> ApiError {
    ApiError::conflict(
        "invalid_transition",
        format!(
            "an order in {} cannot become {}",
            from.as_str(),
            to.as_str()
        ),
    )
    .with("order_status", from.as_str())
}

pub(crate) fn to_view(
    o: order::Model,
    lines: Vec<order_line::Model>,
) -> Result<OrderView, ApiError> {
    let shipping_address = serde_json::from_str(&o.shipping).map_err(|e| {
        ApiError::internal(anyhow::anyhow!(
            "order {}: stored shipping address: {e}",
            o.id
        ))
    })?;
    Ok(OrderView {
        id: o.id,
        user_id: o.user_id,
        status: o.status,
        subtotal: o.subtotal,
        discount: o.discount,
        total: o.total,
        coupon_id: o.coupon_id,
        lines: lines
            .into_iter()
            .map(|l| LineView {
                product_id: l.product_id,
                product_name: l.product_name,
                unit_price: l.unit_price,
                quantity: l.quantity,
            })
            .collect(),
        shipping_address,
        payment_redirect_url: o.payment_redirect,
        created_at: rfc3339(o.created_at),
        pay_before: rfc3339(o.expires_at),
    })
}
