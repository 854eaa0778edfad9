//! The payment ports: what shop, ticketing and billing need from a payment provider.
//! Adapters: Kakao Pay (real HTTP client) and an embedded fake that behaves the same.
//!
//! Amounts are integer KRW. Every call is keyed by the provider's transaction id
//! (`tid`) so retries are safe: approving or cancelling the same `tid` twice has one
//! effect, and the second call answers like the first.
//!
//! Kakao Pay's cancel API refunds an *approved* payment. A payment that was readied but
//! never approved cannot be cancelled: nothing was charged, and Kakao lets it expire
//! (after 15 minutes). Callers that abandon a payment look it up with
//! [`PaymentGateway::status`] and refund only what was taken.

use async_trait::async_trait;
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::{claim, EventEnvelope, OutboxSignal};
use crate::ports::{NewNotification, Notifier};
use crate::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequest {
    /// Our order (or reservation) id: Kakao's `partner_order_id`.
    pub order_id: String,
    /// Kakao's `partner_user_id`.
    pub user_id: String,
    pub item_name: String,
    pub quantity: u32,
    pub amount: i64,
    /// Where the provider sends the browser after approval / cancel / failure.
    pub approval_url: String,
    pub cancel_url: String,
    pub fail_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentReady {
    pub tid: String,
    /// Where to send a desktop buyer to approve (Kakao's `next_redirect_pc_url`).
    pub redirect_url: String,
    /// The same for a mobile web browser (`next_redirect_mobile_url`).
    pub mobile_redirect_url: Option<String>,
    /// The same inside a mobile app (`next_redirect_app_url`).
    pub app_redirect_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentApproved {
    pub tid: String,
    pub amount: i64,
    /// The subscription id Kakao issues when the payment ran under a subscription
    /// merchant code ([`SubscriptionGateway`]); later charges use it. `None` otherwise.
    pub sid: Option<String>,
}

/// Where a payment stands at the provider (Kakao's order lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentStatus {
    /// Readied and not approved (yet): nothing was charged; it expires by itself.
    Pending,
    /// Approved: `amount` was charged and `refunded` of it was given back since.
    Approved { amount: i64, refunded: i64 },
    /// Ended without a charge: the buyer quit, or authentication or approval failed.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionCharge {
    /// The `sid` from the approval of the subscription's first payment.
    pub sid: String,
    /// A new order id for this charge (Kakao's `partner_order_id`).
    pub order_id: String,
    /// The same user id as the first payment (Kakao's `partner_user_id`).
    pub user_id: String,
    pub item_name: String,
    pub quantity: u32,
    pub amount: i64,
}

/// A subscription at the provider (Kakao's subscription status lookup).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionState {
    pub sid: String,
    /// Whether later charges can still use it (Kakao's `ACTIVE` / `INACTIVE`).
    pub active: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The provider refused: card declined, buyer cancelled, token invalid or expired,
    /// a payment that was never approved, an inactive subscription.
    #[error("payment declined: {0}")]
    Declined(String),
    /// The provider could not be reached or answered nonsense; the outcome is unknown
    /// and the caller may retry with the same `tid`.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    /// Starts a payment; the buyer approves at `redirect_url` (or the mobile ones).
    async fn ready(&self, req: &PaymentRequest) -> Result<PaymentReady, PaymentError>;
    /// Completes it with the token the provider gave the buyer (`pg_token`). Kakao
    /// refuses a second approval of a `tid`; adapters answer a retry by the same order
    /// and user like the first (they look the payment up), so a lost answer is safe.
    async fn approve(
        &self,
        tid: &str,
        order_id: &str,
        user_id: &str,
        pg_token: &str,
    ) -> Result<PaymentApproved, PaymentError>;
    /// Refunds `amount` of an approved payment, once: a repeat answers like the first.
    /// A payment that was never approved is `Declined` (nothing to refund; it expires).
    async fn cancel(&self, tid: &str, amount: i64) -> Result<(), PaymentError>;
    /// Where the payment stands (a `tid` the provider does not know is `Declined`).
    async fn status(&self, tid: &str) -> Result<PaymentStatus, PaymentError>;
}

/// Recurring payments (the PRO plan). The gateway runs under the subscription merchant
/// code: the first payment is `ready` → buyer → `approve` as usual, and its approval
/// carries the `sid`; later charges need no buyer. Refunds are `cancel` as usual.
#[async_trait]
pub trait SubscriptionGateway: PaymentGateway {
    /// Charges an active subscription again (no redirect; approved or declined at once).
    async fn charge(&self, c: &SubscriptionCharge) -> Result<PaymentApproved, PaymentError>;
    /// Ends the subscription: later charges are declined. Ending it twice is fine.
    async fn deactivate(&self, sid: &str) -> Result<(), PaymentError>;
    /// Whether the subscription is still active.
    async fn subscription(&self, sid: &str) -> Result<SubscriptionState, PaymentError>;
}

/// A declined payment is 402 `payment_declined`; an unreachable provider is 502
/// `payment_unavailable` (the outcome is unknown, so the client retries).
impl From<PaymentError> for crate::ApiError {
    fn from(e: PaymentError) -> Self {
        use axum::http::StatusCode;
        match e {
            PaymentError::Declined(m) => {
                crate::ApiError::new(StatusCode::PAYMENT_REQUIRED, "payment_declined", m)
            }
            PaymentError::Unavailable(_) => crate::ApiError::new(
                StatusCode::BAD_GATEWAY,
                "payment_unavailable",
                format!("{e}; try again"),
            ),
        }
    }
}

/// The gateway step of a refund consumer (shop orders, ticketing reservations): gives
/// `amount` back on payment `tid`, before the consumer claims the event
/// ([`crate::events::claim`]). Nothing to do without a payment (no tid, or 0 KRW). A
/// redelivered event calls it again; the gateway answers a repeated refund like the
/// first, so the money goes back once.
pub async fn refund(
    gateway: &dyn PaymentGateway,
    tid: &str,
    amount: i64,
    what: &str,
) -> anyhow::Result<()> {
    if tid.is_empty() || amount <= 0 {
        return Ok(());
    }
    gateway
        .cancel(tid, amount)
        .await
        .map_err(|e| anyhow::anyhow!("refund of {what}: {e}"))
}

/// What a refund consumer runs on: the gateway to refund through, and where its one
/// database step, its outbox events and its notification go.
pub struct RefundConsumer<'a> {
    pub consumer: &'static str,
    pub gateway: &'a dyn PaymentGateway,
    pub db: &'a DatabaseConnection,
    pub outbox: &'a OutboxSignal,
    pub notifier: &'a dyn Notifier,
}

/// A refund requested by `event`: `amount` KRW of payment `tid`, for `what`.
pub struct RefundOf<'a> {
    pub event: &'a EventEnvelope,
    pub tid: &'a str,
    pub amount: i64,
    pub what: String,
}

/// What the database step of a refund did: `T` for the caller to act on after the
/// commit, and whom to tell that their money is back.
pub struct Refunded<T> {
    pub then: T,
    pub notify: Option<(Uuid, NewNotification)>,
}

impl RefundConsumer<'_> {
    /// The steps of every refund consumer, in their order: the gateway refund (repeated
    /// on a redelivery, which the gateway answers like the first), then `step` inside
    /// the transaction that claims the event (so its effect happens once), the commit,
    /// a wake of the outbox relay for the events `step` wrote, and the notification.
    /// `None` when an earlier delivery already ran `step`.
    pub async fn run<T>(
        &self,
        r: RefundOf<'_>,
        now: Millis,
        step: impl AsyncFnOnce(&DatabaseTransaction) -> anyhow::Result<Refunded<T>>,
    ) -> anyhow::Result<Option<T>> {
        refund(self.gateway, r.tid, r.amount, &r.what).await?;
        let Some(txn) = claim(self.db, self.consumer, r.event.id, now).await? else {
            return Ok(None);
        };
        let done = step(&txn).await?;
        txn.commit().await?;
        self.outbox.wake();
        if let Some((user, n)) = done.notify {
            // The refund stands whether or not the notice could be stored.
            if let Err(e) = self.notifier.notify(user, n).await {
                tracing::warn!(error = ?e, "refund notification not stored");
            }
        }
        Ok(Some(done.then))
    }
}
