//! Plans and metered use. Billing owns plans, subscriptions and the daily counts; a
//! module that meters a use (resumes: a generation or an AI edit) takes it through
//! [`UsageQuota`], never by reading billing's tables.

use async_trait::async_trait;
use axum::http::StatusCode;
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{rfc3339, ApiError, Millis};

/// The plan a user is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Plan {
    Free,
    Pro,
}

/// Where a user stands today (the Korean day): `used` of `limit`, counting again from
/// `resets_at` (00:00 KST of the next day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub plan: Plan,
    pub used: i64,
    pub limit: i64,
    pub resets_at: Millis,
}

#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// Nothing left today: 429 `quota_exceeded`, naming the limit and when it resets.
    #[error("the {limit} uses of today are used up")]
    Exceeded {
        plan: Plan,
        limit: i64,
        resets_at: Millis,
    },
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

/// Metered uses per user and Korean day, with a limit set by the user's plan.
#[async_trait]
pub trait UsageQuota: Send + Sync {
    /// Takes one use for `user` on the Korean day of `now`, inside the caller's
    /// transaction, so the use is taken if and only if the caller's work commits. Of any
    /// number of concurrent takes with one use left, exactly one succeeds.
    async fn take(
        &self,
        txn: &DatabaseTransaction,
        user: Uuid,
        now: Millis,
    ) -> Result<Usage, QuotaError>;
    /// Gives back one use taken on the Korean day of `taken_at` (work that failed
    /// without producing anything). A day already over is left as it is.
    async fn give_back(
        &self,
        txn: &DatabaseTransaction,
        user: Uuid,
        taken_at: Millis,
    ) -> Result<(), QuotaError>;
    /// Where `user` stands on the Korean day of `now`, taking nothing.
    async fn usage(&self, user: Uuid, now: Millis) -> Result<Usage, QuotaError>;
}

impl From<QuotaError> for ApiError {
    fn from(e: QuotaError) -> Self {
        match e {
            QuotaError::Exceeded {
                plan,
                limit,
                resets_at,
            } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "quota_exceeded",
                format!("today's {limit} uses are used up; they start again at 00:00 KST"),
            )
            .with("limit", limit)
            .with("plan", serde_json::to_value(plan).unwrap_or_default())
            .with("resets_at", rfc3339(resets_at)),
            QuotaError::Unavailable(e) => ApiError::internal(e),
        }
    }
}
