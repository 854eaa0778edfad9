//! Orders: placing them without oversell, their lifecycle, cancellation and expiry.
//!
//! Stock moves only through `take_stock` / `return_stock`: one conditional UPDATE each,
//! inside the transaction that writes the order and its outbox event. Single-line
//! orders without a coupon go through the per-product group-commit batcher
//! (`batcher.rs`); everything else takes the plain path below. Both write through
//! `records.rs`.

mod batcher;
mod keys;
mod records;
mod refusals;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use surge_kernel::auth::AuthUser;
use surge_kernel::clock::Clock;
use surge_kernel::events::{enqueue_many, EventEnvelope, OutboxSignal};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::{new_id, ApiError, Millis};
use uuid::Uuid;

pub use crate::buyers::DEFAULT_UNPAID_CAP;
use crate::catalog::Catalog;
use crate::domain::{OrderLines, OrderStatus, ShippingAddress, ShippingChoice};
use crate::entities::{address, order, order_line, product};
pub(crate) use records::invalid_transition;
use records::{insert_orders, return_stock, take_stock, to_view, NewOrder, DUPLICATE_KEY};
pub use records::{
    LineView, OrderView, TOPIC_ORDER_CANCELLED, TOPIC_ORDER_PAID, TOPIC_ORDER_PLACED,
    TOPIC_ORDER_REFUNDED, TOPIC_ORDER_STATUS, TOPIC_REFUND_REQUESTED,
};

/// An order to place, already validated (see `http.rs` for the request body).
pub struct PlaceOrder {
    pub lines: OrderLines,
    pub shipping: ShippingChoice,
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
    pub(crate) batcher: batcher::Batcher,
    pub payment_window: Duration,
    /// Most unpaid units of one product one buyer may have ordered.
    pub(crate) unpaid_cap: i64,
}

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
            batcher: batcher::Batcher::new(
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
        choice: ShippingChoice,
    ) -> Result<ShippingAddress, ApiError> {
        match choice {
            ShippingChoice::Given(s) => Ok(s),
            ShippingChoice::Saved(id) => {
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
        }
    }

    #[tracing::instrument(skip_all, fields(user = %who.id, lines = req.lines.len()))]
    pub async fn place(&self, who: &AuthUser, req: PlaceOrder) -> Result<OrderView, ApiError> {
        let single = req.lines.len() == 1 && req.coupon_id.is_none();
        // A retry whose first attempt committed (even if its answer was lost) replays it.
        // The batcher checks keys inside its own transaction, so only baskets look here.
        if !single {
            if let Some(existing) = self.by_key(who.id, &req.idem_key).await? {
                return self.replay(existing, &req.request_hash).await;
            }
        }
        let shipping = self.shipping_for(who.id, req.shipping).await?;
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
        let lines = req.lines.as_slice();
        if single {
            let line = lines[0];
            return self
                .batcher
                .submit(line.product_id, line.quantity, draft)
                .await;
        }
        match self.place_plain(draft, lines).await {
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
        lines: &[crate::domain::OrderLine],
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
                crate::coupons::reserve(&txn, coupon_id, draft.user_id, draft.id, draft.subtotal)
                    .await?;
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
            records::out_of_stock(line, product_id)
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
        to_view(o, lines)
    }

    /// One order; someone else's is "not found", so ids leak nothing.
    #[tracing::instrument(skip_all, fields(user = %who.id, order = %id))]
    pub async fn get(&self, who: &AuthUser, id: Uuid) -> Result<order::Model, ApiError> {
        let o = order::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .filter(|o| o.user_id == who.id || who.is_admin())
            .ok_or_else(|| ApiError::not_found("no such order"))?;
        Ok(o)
    }

    #[tracing::instrument(skip(self, q))]
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
            query = query.filter(order::Column::Status.eq(s));
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
            .collect::<Result<Vec<_>, _>>()?;
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
            .col_expr(order::Column::Status, Expr::value(to))
            .col_expr(order::Column::UpdatedAt, Expr::value(now))
            .filter(order::Column::Id.eq(id))
            .filter(order::Column::Status.eq(from))
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
            crate::coupons::release(txn, c, o.id).await?;
        }
        Ok(lines.into_iter().map(|l| l.product_id).collect())
    }

    /// Cancels an unpaid order and returns its stock and coupon; `false` if it was no
    /// longer unpaid (paid, or already cancelled by someone else).
    #[tracing::instrument(skip(self))]
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
        self.batcher.released(o.user_id);
        for p in products {
            self.catalog.forget(p).await;
        }
        Ok(true)
    }

    /// Admin fulfilment: PAID → PREPARING → SHIPPING → DELIVERED.
    #[tracing::instrument(skip(self))]
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
        let current = o.status;
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
    #[tracing::instrument(skip(self))]
    pub async fn sweep_expired(&self) -> Result<usize, ApiError> {
        let now = self.clock.now_ms();
        let ids: Vec<Uuid> = order::Entity::find()
            .select_only()
            .column(order::Column::Id)
            .filter(order::Column::Status.eq(OrderStatus::PendingPayment))
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
