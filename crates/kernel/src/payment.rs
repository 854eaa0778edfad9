//! The `PaymentGateway` port: what shop and ticketing need from a payment provider.
//! Adapters: Kakao Pay (real HTTP client) and an embedded fake that behaves the same.
//!
//! Amounts are integer KRW. Every call is keyed by the provider's transaction id
//! (`tid`) so retries are safe: approving or cancelling the same `tid` twice has one
//! effect, and the second call answers like the first.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

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
    /// Where to send the buyer to approve (Kakao's `next_redirect_pc_url`).
    pub redirect_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentApproved {
    pub tid: String,
    pub amount: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The provider refused: card declined, buyer cancelled, token invalid or expired.
    #[error("payment declined: {0}")]
    Declined(String),
    /// The provider could not be reached or answered nonsense; the outcome is unknown
    /// and the caller may retry with the same `tid`.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    /// Starts a payment; the buyer approves at `redirect_url`.
    async fn ready(&self, req: &PaymentRequest) -> Result<PaymentReady, PaymentError>;
    /// Completes it with the token the provider gave the buyer (`pg_token`).
    async fn approve(
        &self,
        tid: &str,
        order_id: &str,
        user_id: &str,
        pg_token: &str,
    ) -> Result<PaymentApproved, PaymentError>;
    /// Refunds `amount` of an approved payment (or voids a ready one).
    async fn cancel(&self, tid: &str, amount: i64) -> Result<(), PaymentError>;
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
