//! Orders: placing them without oversell, their lifecycle, cancellation and expiry.
//!
//! Stock moves only through `take_stock` / `return_stock`: one conditional UPDATE each,
//! inside the transaction that writes the order and its outbox event. Single-line
//! orders without a coupon go through the per-product group-commit batcher
//! (`batcher.rs`); everything else takes the plain path below.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use surge_kernel::auth::AuthUser;
use surge_kernel::clock::Clock;
use surge_kernel::events::{enqueue_many, EventEnvelope, OutboxSignal};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::{new_id, rfc3339, ApiError, Millis};
use uuid::Uuid;

use crate::catalog::Catalog;
use crate::domain::{Discount, OrderStatus, ShippingAddress, MAX_LINES, MAX_QUANTITY};
use crate::entities::{address, campaign, coupon, order, order_line, product};

pub const TOPIC_ORDER_PLACED: &str = "shop.order_placed";
pub const TOPIC_ORDER_CANCELLED: &str = "shop.order_cancelled";
pub const TOPIC_ORDER_PAID: &str = "shop.order_paid";
pub const TOPIC_REFUND_REQUESTED: &str = "shop.refund_requested";
pub const TOPIC_ORDER_REFUNDED: &str = "shop.order_refunded";
pub const TOPIC_ORDER_STATUS: &str = "shop.order_status_changed";

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
pub struct LineRequest {
    pub product_id: Uuid,
    pub quantity: i64,
}

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

async fn return_stock(
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
            o.status().as_str().into(),
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
            coupon::Entity::update_many()
                .col_expr(coupon::Column::Status, Expr::value(crate::coupons::USED))
                .filter(coupon::Column::Id.eq(c))
                .filter(coupon::Column::OrderId.eq(o.id))
                .exec(conn)
                .await?;
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

pub struct PlaceOrder {
    pub lines: Vec<LineRequest>,
    pub shipping: Option<ShippingAddress>,
    pub address_id: Option<Uuid>,
    pub coupon_id: Option<Uuid>,
    /// The Idempotency-Key and the hash of the body it came with.
    pub idem_key: String,
    pub request_hash: String,
}

pub struct Orders {
    pub(crate) db: DatabaseConnection,
    read_db: DatabaseConnection,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) outbox: OutboxSignal,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) batcher: crate::batcher::Batcher,
    pub payment_window: Duration,
    /// Most unpaid units of one product one buyer may have ordered.
    pub(crate) unpaid_cap: i64,
}

/// Default of [`Orders::with_unpaid_cap`].
pub const DEFAULT_UNPAID_CAP: i64 = 10;

impl Orders {
    pub fn new(
        f: &surge_kernel::module::Foundation,
        catalog: Arc<Catalog>,
        payment_window: Duration,
    ) -> Self {
        Self {
            db: f.db.clone(),
            read_db: f.read_db.clone(),
            clock: f.clock.clone(),
            outbox: f.outbox.clone(),
            batcher: crate::batcher::Batcher::new(
                f.db.clone(),
                f.clock.clone(),
                f.outbox.clone(),
                catalog.clone(),
            ),
            catalog,
            payment_window,
            unpaid_cap: DEFAULT_UNPAID_CAP,
        }
    }

    /// Caps the unpaid units of one product one buyer may have ordered: placing an
    /// order is free and takes stock, so without a cap one buyer can lock up a sale.
    pub fn with_unpaid_cap(mut self, cap: i64) -> Self {
        self.unpaid_cap = cap.max(1);
        self.batcher = self.batcher.with_unpaid_cap(self.unpaid_cap);
        self
    }

    async fn shipping_for(
        &self,
        user: Uuid,
        req: &mut PlaceOrder,
    ) -> Result<ShippingAddress, ApiError> {
        match (req.shipping.take(), req.address_id) {
            (Some(s), None) => s.validated().map_err(ApiError::validation),
            (None, Some(id)) => {
                let a = address::Entity::find_by_id(id)
                    .filter(address::Column::UserId.eq(user))
                    .one(&self.db)
                    .await?
                    .ok_or_else(|| ApiError::not_found("no such saved address"))?;
                Ok(ShippingAddress {
                    recipient: a.recipient,
                    phone: a.phone,
                    address: a.address,
                    postal_code: a.postal_code,
                })
            }
            _ => Err(ApiError::validation(
                "send either shipping_address or address_id",
            )),
        }
    }

    pub async fn place(&self, who: &AuthUser, mut req: PlaceOrder) -> Result<OrderView, ApiError> {
        if req.lines.is_empty() || req.lines.len() > MAX_LINES {
            return Err(ApiError::validation(format!(
                "an order has 1 to {MAX_LINES} lines"
            )));
        }
        for (i, l) in req.lines.iter().enumerate() {
            if !(1..=MAX_QUANTITY).contains(&l.quantity) {
                return Err(ApiError::validation(format!(
                    "line {i}: quantity must be 1 to {MAX_QUANTITY}"
                ))
                .with("line", i));
            }
            if req.lines[..i].iter().any(|o| o.product_id == l.product_id) {
                return Err(
                    ApiError::validation(format!("line {i}: product listed twice")).with("line", i),
                );
            }
        }
        let single = req.lines.len() == 1 && req.coupon_id.is_none();
        // A retry whose first attempt committed (even if its answer was lost) replays it.
        // The batcher checks keys inside its own transaction, so only baskets look here.
        if !single {
            if let Some(existing) = self.by_key(who.id, &req.idem_key).await? {
                return self.replay(existing, &req.request_hash).await;
            }
        }
        let shipping = self.shipping_for(who.id, &mut req).await?;
        let now = self.clock.now_ms();
        let draft = NewOrder {
            id: new_id(),
            user_id: who.id,
            subtotal: 0,
            discount: 0,
            coupon_id: req.coupon_id,
            idem_key: Some(req.idem_key.clone()),
            request_hash: Some(req.request_hash.clone()),
            shipping,
            lines: Vec::new(),
            now,
            expires_at: now + self.payment_window.as_millis() as i64,
        };
        if single {
            let line = req.lines[0];
            return self
                .batcher
                .submit(line.product_id, line.quantity, draft)
                .await;
        }
        match self.place_plain(draft, &req.lines).await {
            // A concurrent first attempt with the same key committed meanwhile.
            Err(e) if e.code == DUPLICATE_KEY => match self.by_key(who.id, &req.idem_key).await? {
                Some(existing) => self.replay(existing, &req.request_hash).await,
                None => Err(ApiError::internal(anyhow::anyhow!(
                    "idempotency key conflict without an order"
                ))),
            },
            other => other,
        }
    }

    async fn by_key(&self, user: Uuid, key: &str) -> Result<Option<order::Model>, ApiError> {
        Ok(order::Entity::find()
            .filter(order::Column::UserId.eq(user))
            .filter(order::Column::IdemKey.eq(key))
            .one(&self.db)
            .await?)
    }

    pub(crate) async fn replay(
        &self,
        existing: order::Model,
        request_hash: &str,
    ) -> Result<OrderView, ApiError> {
        if existing.request_hash.as_deref() != Some(request_hash) {
            return Err(surge_kernel::idempotency::mismatch());
        }
        self.view_of(existing).await
    }

    /// Multi-line or coupon orders: every line's conditional write, in product-id order
    /// (so two baskets never wait on each other in a cycle), in one transaction.
    async fn place_plain(
        &self,
        mut draft: NewOrder,
        lines: &[LineRequest],
    ) -> Result<OrderView, ApiError> {
        let mut order_of: Vec<usize> = (0..lines.len()).collect();
        order_of.sort_by_key(|i| lines[*i].product_id);
        let user = draft.user_id;
        crate::buyers::ensure(&self.db, &[user], draft.now).await?;
        let txn = self.db.begin().await?;
        // The buyer's row first (lock order: buyers, then products), then their unpaid
        // units are counted and stock taken with no other order of theirs in between.
        crate::buyers::lock(&txn, &[user]).await?;
        let products: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
        let unpaid = crate::buyers::unpaid_units(&txn, &[user], &products, draft.now).await?;
        for (i, l) in lines.iter().enumerate() {
            let have = unpaid.get(&(user, l.product_id)).copied().unwrap_or(0);
            if have + l.quantity > self.unpaid_cap {
                txn.rollback().await?;
                return Err(crate::buyers::unpaid_limit(
                    i,
                    l.product_id,
                    self.unpaid_cap,
                    have,
                ));
            }
        }
        for &i in &order_of {
            let l = lines[i];
            if !take_stock(&txn, l.product_id, l.quantity, draft.now).await? {
                txn.rollback().await?;
                return Err(self.why_not_available(i, l.product_id).await?);
            }
        }
        let ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
        let products: HashMap<Uuid, product::Model> = product::Entity::find()
            .filter(product::Column::Id.is_in(ids))
            .all(&txn)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        for l in lines {
            let p = products
                .get(&l.product_id)
                .ok_or_else(|| ApiError::not_found("no such product"))?;
            draft.lines.push(LineView {
                product_id: p.id,
                product_name: p.name.clone(),
                unit_price: p.price,
                quantity: l.quantity,
            });
        }
        draft.subtotal = draft.lines.iter().map(|l| l.unit_price * l.quantity).sum();
        if let Some(coupon_id) = draft.coupon_id {
            draft.discount =
                reserve_coupon(&txn, coupon_id, draft.user_id, draft.id, draft.subtotal).await?;
        }
        if let Err(e) = insert_orders(&txn, std::slice::from_ref(&draft)).await {
            txn.rollback().await?;
            return Err(e);
        }
        txn.commit().await?;
        self.outbox.wake();
        for l in lines {
            self.catalog.forget(l.product_id).await;
        }
        Ok(draft.view())
    }

    pub(crate) async fn why_not_available(
        &self,
        line: usize,
        product_id: Uuid,
    ) -> Result<ApiError, ApiError> {
        let exists = product::Entity::find_by_id(product_id)
            .filter(product::Column::Active.eq(true))
            .one(&self.db)
            .await?
            .is_some();
        Ok(if exists {
            out_of_stock(line, product_id)
        } else {
            ApiError::not_found(format!("line {line}: no such product {product_id}"))
                .with("line", line)
        })
    }

    pub async fn view_of(&self, o: order::Model) -> Result<OrderView, ApiError> {
        let lines = order_line::Entity::find()
            .filter(order_line::Column::OrderId.eq(o.id))
            .order_by_asc(order_line::Column::LineNo)
            .all(&self.db)
            .await?;
        Ok(to_view(o, lines))
    }

    /// One order; someone else's is "not found", so ids leak nothing.
    pub async fn get(&self, who: &AuthUser, id: Uuid) -> Result<order::Model, ApiError> {
        let o = order::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .filter(|o| o.user_id == who.id || who.is_admin())
            .ok_or_else(|| ApiError::not_found("no such order"))?;
        Ok(o)
    }

    pub async fn list(
        &self,
        user: Option<Uuid>,
        status: Option<OrderStatus>,
        q: &PageQuery,
    ) -> Result<Page<OrderView>, ApiError> {
        let limit = q.limit()?;
        let mut query = order::Entity::find().order_by_desc(order::Column::Id);
        if let Some(u) = user {
            query = query.filter(order::Column::UserId.eq(u));
        }
        if let Some(s) = status {
            query = query.filter(order::Column::Status.eq(s.as_str()));
        }
        if let Some(id) = q.uuid_cursor()? {
            query = query.filter(order::Column::Id.lt(id));
        }
        let rows = query.limit(limit + 1).all(&self.read_db).await?;
        let ids: Vec<Uuid> = rows.iter().map(|o| o.id).collect();
        let mut lines: HashMap<Uuid, Vec<order_line::Model>> = HashMap::new();
        for l in order_line::Entity::find()
            .filter(order_line::Column::OrderId.is_in(ids))
            .order_by_asc(order_line::Column::LineNo)
            .all(&self.read_db)
            .await?
        {
            lines.entry(l.order_id).or_default().push(l);
        }
        let views = rows
            .into_iter()
            .map(|o| {
                let ls = lines.remove(&o.id).unwrap_or_default();
                to_view(o, ls)
            })
            .collect();
        Ok(Page::from_rows(views, limit, |o: &OrderView| {
            o.id.to_string()
        }))
    }

    /// Moves an order from one of `from` to `to` if it is still there; `false` if not.
    pub(crate) async fn transition(
        conn: &impl ConnectionTrait,
        id: Uuid,
        from: OrderStatus,
        to: OrderStatus,
        now: Millis,
    ) -> Result<bool, DbErr> {
        debug_assert!(from.can_become(to));
        let res = order::Entity::update_many()
            .col_expr(order::Column::Status, Expr::value(to.as_str()))
            .col_expr(order::Column::UpdatedAt, Expr::value(now))
            .filter(order::Column::Id.eq(id))
            .filter(order::Column::Status.eq(from.as_str()))
            .exec(conn)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Puts an order's stock back (and its coupon, when it was never paid for).
    pub(crate) async fn release(
        &self,
        txn: &DatabaseTransaction,
        o: &order::Model,
        coupon_back: bool,
        now: Millis,
    ) -> Result<Vec<Uuid>, DbErr> {
        let mut lines = order_line::Entity::find()
            .filter(order_line::Column::OrderId.eq(o.id))
            .all(txn)
            .await?;
        lines.sort_by_key(|l| l.product_id);
        for l in &lines {
            return_stock(txn, l.product_id, l.quantity, now).await?;
        }
        if let (true, Some(c)) = (coupon_back, o.coupon_id) {
            coupon::Entity::update_many()
                .col_expr(
                    coupon::Column::Status,
                    Expr::value(crate::coupons::AVAILABLE),
                )
                .col_expr(coupon::Column::OrderId, Expr::value(Option::<Uuid>::None))
                .filter(coupon::Column::Id.eq(c))
                .filter(coupon::Column::OrderId.eq(o.id))
                .filter(coupon::Column::Status.eq(crate::coupons::RESERVED))
                .exec(txn)
                .await?;
        }
        Ok(lines.into_iter().map(|l| l.product_id).collect())
    }

    /// Cancels an unpaid order and returns its stock and coupon; `false` if it was no
    /// longer unpaid (paid, or already cancelled by someone else).
    pub async fn cancel_unpaid(&self, id: Uuid, reason: &str) -> Result<bool, ApiError> {
        let now = self.clock.now_ms();
        let txn = self.db.begin().await?;
        if !Self::transition(
            &txn,
            id,
            OrderStatus::PendingPayment,
            OrderStatus::Cancelled,
            now,
        )
        .await?
        {
            txn.rollback().await?;
            return Ok(false);
        }
        let o = order::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(|| ApiError::not_found("no such order"))?;
        let products = self.release(&txn, &o, true, now).await?;
        let event = EventEnvelope::new(
            TOPIC_ORDER_CANCELLED,
            id,
            serde_json::json!({"order_id": id, "user_id": o.user_id, "reason": reason}),
            now,
        );
        enqueue_many(&txn, std::slice::from_ref(&event)).await?;
        txn.commit().await?;
        self.outbox.wake();
        for p in products {
            self.catalog.forget(p).await;
        }
        Ok(true)
    }

    /// Admin fulfilment: PAID → PREPARING → SHIPPING → DELIVERED.
    pub async fn advance(&self, id: Uuid, next: OrderStatus) -> Result<OrderView, ApiError> {
        if !OrderStatus::is_fulfilment(next) {
            return Err(ApiError::validation(
                "admins move orders to PREPARING, SHIPPING or DELIVERED; use cancel for the rest",
            ));
        }
        let o = order::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::not_found("no such order"))?;
        let current = OrderStatus::parse(&o.status)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("bad status {}", o.status)))?;
        if !current.can_become(next) {
            return Err(invalid_transition(current, next));
        }
        let now = self.clock.now_ms();
        let txn = self.db.begin().await?;
        if !Self::transition(&txn, id, current, next, now).await? {
            txn.rollback().await?;
            return Err(ApiError::conflict(
                "concurrent_update",
                "the order changed meanwhile; reload it",
            ));
        }
        let event = EventEnvelope::new(
            TOPIC_ORDER_STATUS,
            id,
            serde_json::json!({"order_id": id, "user_id": o.user_id, "status": next.as_str()}),
            now,
        );
        enqueue_many(&txn, std::slice::from_ref(&event)).await?;
        txn.commit().await?;
        self.outbox.wake();
        let o = order::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::not_found("no such order"))?;
        self.view_of(o).await
    }

    /// Cancels every unpaid order past its deadline. Safe with several instances: each
    /// cancel is a conditional transition, so an order is cancelled (and its stock
    /// returned) once.
    pub async fn sweep_expired(&self) -> Result<usize, ApiError> {
        let now = self.clock.now_ms();
        let ids: Vec<Uuid> = order::Entity::find()
            .select_only()
            .column(order::Column::Id)
            .filter(order::Column::Status.eq(OrderStatus::PendingPayment.as_str()))
            .filter(order::Column::ExpiresAt.lte(now))
            .limit(200)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut n = 0;
        for id in ids {
            if self.cancel_unpaid(id, "payment_window_expired").await? {
                n += 1;
            }
        }
        Ok(n)
    }
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

pub(crate) fn to_view(o: order::Model, lines: Vec<order_line::Model>) -> OrderView {
    OrderView {
        id: o.id,
        user_id: o.user_id,
        status: OrderStatus::parse(&o.status).unwrap_or(OrderStatus::Cancelled),
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
        shipping_address: serde_json::from_str(&o.shipping).unwrap_or(ShippingAddress {
            recipient: String::new(),
            phone: String::new(),
            address: String::new(),
            postal_code: String::new(),
        }),
        payment_redirect_url: o.payment_redirect,
        created_at: rfc3339(o.created_at),
        pay_before: rfc3339(o.expires_at),
    }
}

/// Reserves the buyer's coupon for this order and returns its discount.
async fn reserve_coupon(
    txn: &DatabaseTransaction,
    coupon_id: Uuid,
    user: Uuid,
    order_id: Uuid,
    subtotal: i64,
) -> Result<i64, ApiError> {
    let unusable = || {
        ApiError::conflict(
            "coupon_unavailable",
            "that coupon is not yours or was already used",
        )
    };
    let reserved = coupon::Entity::update_many()
        .col_expr(
            coupon::Column::Status,
            Expr::value(crate::coupons::RESERVED),
        )
        .col_expr(coupon::Column::OrderId, Expr::value(Some(order_id)))
        .filter(coupon::Column::Id.eq(coupon_id))
        .filter(coupon::Column::UserId.eq(user))
        .filter(coupon::Column::Status.eq(crate::coupons::AVAILABLE))
        .exec(txn)
        .await?;
    if reserved.rows_affected != 1 {
        return Err(unusable());
    }
    let c = coupon::Entity::find_by_id(coupon_id)
        .one(txn)
        .await?
        .ok_or_else(unusable)?;
    let camp = campaign::Entity::find_by_id(c.campaign_id)
        .one(txn)
        .await?
        .ok_or_else(unusable)?;
    Ok(crate::coupons::discount_of(&camp).map_or(0, |d: Discount| d.on(subtotal)))
}

/// The sweeper task: cancels expired unpaid orders every `every`.
pub async fn run_sweeper(orders: Arc<Orders>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match orders.sweep_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(cancelled = n, "expired unpaid orders cancelled"),
            Err(e) => tracing::warn!(error = %e, "order sweeper failed"),
        }
    }
}
