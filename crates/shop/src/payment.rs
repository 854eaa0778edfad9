//! The payment saga: order placed → payment ready → approved → PAID. A decline or an
//! expired order is compensated (order CANCELLED, stock and coupon back, money
//! refunded if any was taken). Cancelling a paid order moves it to REFUNDING in one
//! transaction with a `refund_requested` event; the refund handler calls the gateway
//! and then, in one transaction, marks it REFUNDED and returns the stock. No lock is
//! held across a gateway call, and every step is retry-safe.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde::{Deserialize, Serialize};
use surge_kernel::auth::AuthUser;
use surge_kernel::events::{enqueue, EventEnvelope};
use surge_kernel::payment::{
    PaymentError, PaymentGateway, PaymentRequest, RefundConsumer, RefundOf, Refunded,
};
use surge_kernel::ports::{EventHandler, NewNotification, Notifier};
use surge_kernel::ApiError;
use uuid::Uuid;

use crate::domain::OrderStatus;
use crate::entities::order;
use crate::orders::{
    invalid_transition, OrderView, Orders, TOPIC_ORDER_PAID, TOPIC_ORDER_REFUNDED,
    TOPIC_REFUND_REQUESTED,
};

pub const REFUND_CONSUMER: &str = "shop.refunds";

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentStarted {
    pub order_id: Uuid,
    pub tid: String,
    /// Send the buyer here to approve; the provider then calls back with `pg_token`.
    pub redirect_url: String,
    pub amount: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct RefundRequested {
    order_id: Uuid,
    tid: String,
    amount: i64,
    /// Whether the order must end REFUNDED (a paid order) or stays as it is (money
    /// taken for an order that had already expired).
    order_refund: bool,
}

pub struct Payments {
    pub orders: Arc<Orders>,
    pub gateway: Arc<dyn PaymentGateway>,
    pub notifier: Arc<dyn Notifier>,
    /// Public base URL for the provider's redirects back to us.
    pub public_url: String,
}

impl Payments {
    #[tracing::instrument(skip_all, fields(user = %who.id, order = %id))]
    pub async fn start(&self, who: &AuthUser, id: Uuid) -> Result<PaymentStarted, ApiError> {
        let o = self.orders.get(who, id).await?;
        let status = o.status;
        if status != OrderStatus::PendingPayment {
            return Err(invalid_transition(status, OrderStatus::Paid));
        }
        if o.expires_at <= self.orders.clock.now_ms() {
            return Err(ApiError::conflict(
                "order_expired",
                "the payment window of this order has closed",
            ));
        }
        if let (Some(tid), Some(url)) = (o.payment_tid.clone(), o.payment_redirect.clone()) {
            return Ok(PaymentStarted {
                order_id: id,
                tid,
                redirect_url: url,
                amount: o.total,
            });
        }
        let base = format!("{}/api/v1/shop/orders/{id}/payment", self.public_url);
        let ready = self
            .gateway
            .ready(&PaymentRequest {
                order_id: id.to_string(),
                user_id: o.user_id.to_string(),
                item_name: format!("Surge order {}", &id.to_string()[..8]),
                quantity: 1,
                amount: o.total,
                approval_url: format!("{base}/approve"),
                cancel_url: format!("{base}/cancelled"),
                fail_url: format!("{base}/failed"),
            })
            .await
            .map_err(ApiError::from)?;
        let stored = order::Entity::update_many()
            .col_expr(
                order::Column::PaymentTid,
                Expr::value(Some(ready.tid.clone())),
            )
            .col_expr(
                order::Column::PaymentRedirect,
                Expr::value(Some(ready.redirect_url.clone())),
            )
            .filter(order::Column::Id.eq(id))
            .filter(order::Column::Status.eq(OrderStatus::PendingPayment))
            .filter(order::Column::PaymentTid.is_null())
            .exec(&self.orders.db)
            .await?;
        if stored.rows_affected == 0 {
            // A concurrent start won; answer with the payment it recorded.
            let o = self.orders.get(who, id).await?;
            if let (Some(tid), Some(url)) = (o.payment_tid, o.payment_redirect) {
                return Ok(PaymentStarted {
                    order_id: id,
                    tid,
                    redirect_url: url,
                    amount: o.total,
                });
            }
            return Err(ApiError::conflict(
                "order_not_payable",
                "the order is no longer waiting for payment",
            ));
        }
        Ok(PaymentStarted {
            order_id: id,
            tid: ready.tid,
            redirect_url: ready.redirect_url,
            amount: o.total,
        })
    }

    #[tracing::instrument(skip_all, fields(user = %who.id, order = %id))]
    pub async fn approve(
        &self,
        who: &AuthUser,
        id: Uuid,
        pg_token: &str,
    ) -> Result<OrderView, ApiError> {
        let o = self.orders.get(who, id).await?;
        let status = o.status;
        if status == OrderStatus::Paid {
            return self.orders.view_of(o).await; // a retried approval: same answer
        }
        if status != OrderStatus::PendingPayment {
            return Err(invalid_transition(status, OrderStatus::Paid));
        }
        let tid = o
            .payment_tid
            .clone()
            .ok_or_else(|| ApiError::conflict("payment_not_started", "start the payment first"))?;
        let approved = match self
            .gateway
            .approve(&tid, &id.to_string(), &o.user_id.to_string(), pg_token)
            .await
        {
            Ok(a) => a,
            Err(PaymentError::Declined(msg)) => {
                self.orders.cancel_unpaid(id, "payment_declined").await?;
                return Err(
                    ApiError::new(StatusCode::PAYMENT_REQUIRED, "payment_declined", msg)
                        .with("order_status", OrderStatus::Cancelled.as_str()),
                );
            }
            Err(e) => return Err(e.into()),
        };
        let now = self.orders.clock.now_ms();
        let txn = self.orders.db.begin().await?;
        let paid = approved.amount == o.total
            && Orders::transition(
                &txn,
                id,
                OrderStatus::PendingPayment,
                OrderStatus::Paid,
                now,
            )
            .await?;
        if !paid {
            txn.rollback().await?;
            // A concurrent approval of the same payment won: answer like it.
            let now_o = self.orders.get(who, id).await?;
            if matches!(
                now_o.status,
                OrderStatus::Paid
                    | OrderStatus::Preparing
                    | OrderStatus::Shipping
                    | OrderStatus::Delivered
            ) {
                return self.orders.view_of(now_o).await;
            }
            // The order expired (or the amount is wrong) while the buyer approved:
            // the money goes back through the refund handler, and the order stays as is.
            let refund = EventEnvelope::new(
                TOPIC_REFUND_REQUESTED,
                id,
                serde_json::to_value(RefundRequested {
                    order_id: id,
                    tid,
                    amount: approved.amount,
                    order_refund: false,
                })
                .map_err(ApiError::internal)?,
                now,
            );
            enqueue(&self.orders.db, &refund).await?;
            self.orders.outbox.wake();
            let _ = self.orders.cancel_unpaid(id, "amount_mismatch").await?;
            return Err(ApiError::conflict(
                "order_not_payable",
                "the order expired before the payment completed; the payment is being refunded",
            ));
        }
        if let Some(c) = o.coupon_id {
            crate::coupons::spend(&txn, c, id).await?;
        }
        let event = EventEnvelope::new(
            TOPIC_ORDER_PAID,
            id,
            serde_json::json!({"order_id": id, "user_id": o.user_id, "total": o.total, "tid": tid}),
            now,
        );
        enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.orders.outbox.wake();
        self.orders.batcher.released(o.user_id);
        let _ = self
            .notifier
            .notify(
                o.user_id,
                NewNotification {
                    kind: "order_paid".into(),
                    title: "Payment complete".into(),
                    body: format!("We received {} KRW for your order.", o.total),
                    data: serde_json::json!({"order_id": id}),
                },
            )
            .await;
        let o = self.orders.get(who, id).await?;
        self.orders.view_of(o).await
    }

    /// The buyer (or an admin) cancels: an unpaid order is cancelled at once; a paid
    /// one is refunded through the gateway, then its stock returns.
    #[tracing::instrument(skip_all, fields(user = %who.id, order = %id))]
    pub async fn cancel(&self, who: &AuthUser, id: Uuid) -> Result<OrderView, ApiError> {
        let o = self.orders.get(who, id).await?;
        let status = o.status;
        match status {
            OrderStatus::PendingPayment => {
                if !self.orders.cancel_unpaid(id, "cancelled_by_user").await? {
                    return Err(ApiError::conflict(
                        "concurrent_update",
                        "the order changed meanwhile; reload it",
                    ));
                }
            }
            OrderStatus::Paid | OrderStatus::Preparing => {
                let now = self.orders.clock.now_ms();
                let txn = self.orders.db.begin().await?;
                if !Orders::transition(&txn, id, status, OrderStatus::Refunding, now).await? {
                    txn.rollback().await?;
                    return Err(ApiError::conflict(
                        "concurrent_update",
                        "the order changed meanwhile; reload it",
                    ));
                }
                let tid = o.payment_tid.clone().unwrap_or_default();
                let event = EventEnvelope::new(
                    TOPIC_REFUND_REQUESTED,
                    id,
                    serde_json::to_value(RefundRequested {
                        order_id: id,
                        tid,
                        amount: o.total,
                        order_refund: true,
                    })
                    .map_err(ApiError::internal)?,
                    now,
                );
                enqueue(&txn, &event).await?;
                txn.commit().await?;
                self.orders.outbox.wake();
                // The answer is the state this cancel committed: the refund may already
                // have run (in-process relay) by the time a re-read would happen.
                let refunding = order::Model {
                    status: OrderStatus::Refunding,
                    updated_at: now,
                    ..o
                };
                return self.orders.view_of(refunding).await;
            }
            other => return Err(invalid_transition(other, OrderStatus::Cancelled)),
        }
        let o = self.orders.get(who, id).await?;
        self.orders.view_of(o).await
    }
}

/// Refunds through the gateway, then (once) marks the order REFUNDED and returns its
/// stock. Redelivery is harmless: the gateway cancel is idempotent per tid, and the
/// database step records the event id and moves the order only from REFUNDING.
pub struct RefundHandler(pub Arc<Payments>);

#[async_trait]
impl EventHandler for RefundHandler {
    #[tracing::instrument(skip_all, fields(event = %event.id))]
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let r: RefundRequested = event.payload_as()?;
        let p = &self.0;
        let orders = &p.orders;
        let consumer = RefundConsumer {
            consumer: REFUND_CONSUMER,
            gateway: p.gateway.as_ref(),
            db: &orders.db,
            outbox: &orders.outbox,
            notifier: p.notifier.as_ref(),
        };
        let now = orders.clock.now_ms();
        let of = RefundOf {
            event,
            tid: &r.tid,
            amount: r.amount,
            what: format!("order {}", r.order_id),
        };
        let released = consumer
            .run(of, now, async |txn| {
                let mut done = Refunded {
                    then: Vec::new(),
                    notify: None,
                };
                if !r.order_refund
                    || !Orders::transition(
                        txn,
                        r.order_id,
                        OrderStatus::Refunding,
                        OrderStatus::Refunded,
                        now,
                    )
                    .await?
                {
                    return Ok(done);
                }
                if let Some(o) = order::Entity::find_by_id(r.order_id).one(txn).await? {
                    done.then = orders.release(txn, &o, false, now).await?;
                    let refunded = EventEnvelope::new(
                        TOPIC_ORDER_REFUNDED,
                        r.order_id,
                        serde_json::json!({"order_id": r.order_id, "user_id": o.user_id, "amount": r.amount}),
                        now,
                    );
                    enqueue(txn, &refunded).await?;
                    let n = NewNotification::refund_complete(
                        "order_refunded",
                        r.amount,
                        serde_json::json!({"order_id": r.order_id}),
                    );
                    done.notify = Some((o.user_id, n));
                }
                Ok(done)
            })
            .await?;
        for pid in released.unwrap_or_default() {
            orders.catalog.forget(pid).await;
        }
        Ok(())
    }
}
