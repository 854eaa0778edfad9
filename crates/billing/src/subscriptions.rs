//! PRO subscriptions: started through the provider's recurring flow (the first payment
//! is readied, approved by the buyer, and its approval issues the `sid` later charges
//! use), shown, and cancelled at the end of the paid period. No lock is held across a
//! gateway call; every state change is a conditional update (`WHERE status = …`).

use std::sync::Arc;

use axum::http::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use serde::Serialize;
use surge_kernel::clock::kst;
use surge_kernel::error::unique_violation;
use surge_kernel::payment::{PaymentRequest, SubscriptionGateway};
use surge_kernel::plans::Plan;
use surge_kernel::{new_id, rfc3339, ApiError, Millis};
use uuid::Uuid;

use crate::deps::{live_key, Deps};
use crate::domain::{period_end, ChargeStatus, SubscriptionStatus};
use crate::entities::{charge, subscription};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    pub id: Uuid,
    pub plan: Plan,
    pub status: SubscriptionStatus,
    /// Integer KRW per month.
    pub amount: i64,
    /// When the paid period ends (the next charge, or the downgrade after a cancel);
    /// absent until the first payment is approved.
    pub period_end: Option<String>,
    /// Renewals that failed in a row (the third ends the subscription).
    pub failed_charges: i32,
    pub created_at: String,
}

impl From<subscription::Model> for SubscriptionView {
    fn from(m: subscription::Model) -> Self {
        Self {
            id: m.id,
            plan: Plan::Pro,
            status: m.status,
            amount: m.amount,
            period_end: (m.period_end > 0).then(|| rfc3339(m.period_end)),
            failed_charges: m.failed_charges,
            created_at: rfc3339(m.created_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionStarted {
    pub subscription_id: Uuid,
    pub tid: String,
    /// Send the buyer here to approve the first payment; the provider then calls back
    /// with `pg_token`.
    pub redirect_url: String,
    pub amount: i64,
}

pub struct Subscriptions {
    deps: Arc<Deps>,
    gateway: Option<Arc<dyn SubscriptionGateway>>,
    public_url: String,
}

fn no_gateway() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "subscriptions_unavailable",
        "no recurring payment provider is configured (set SURGE_KAKAOPAY__SUBSCRIPTION_CID)",
    )
}

fn already_subscribed() -> ApiError {
    ApiError::conflict("already_subscribed", "you already have a PRO subscription")
}

fn invalid_transition(from: SubscriptionStatus, to: SubscriptionStatus) -> ApiError {
    ApiError::conflict(
        "invalid_transition",
        format!(
            "a {} subscription cannot become {}",
            from.as_str(),
            to.as_str()
        ),
    )
}

/// The order id of a subscription's first payment.
fn first_order_id(id: Uuid) -> String {
    format!("sub-{}-first", id.simple())
}

impl Subscriptions {
    pub(crate) fn new(
        deps: Arc<Deps>,
        gateway: Option<Arc<dyn SubscriptionGateway>>,
        public_url: String,
    ) -> Self {
        Self {
            deps,
            gateway,
            public_url,
        }
    }

    fn gateway(&self) -> Result<&Arc<dyn SubscriptionGateway>, ApiError> {
        self.gateway.as_ref().ok_or_else(no_gateway)
    }

    async fn live(&self, user: Uuid) -> Result<Option<subscription::Model>, ApiError> {
        Ok(subscription::Entity::find()
            .filter(subscription::Column::LiveKey.eq(live_key(user)))
            .one(&self.deps.db)
            .await?)
    }

    async fn owned(&self, user: Uuid, id: Uuid) -> Result<subscription::Model, ApiError> {
        subscription::Entity::find_by_id(id)
            .one(&self.deps.db)
            .await?
            .filter(|s| s.user_id == user)
            .ok_or_else(|| ApiError::not_found("no such subscription"))
    }

    /// Starts PRO: a PENDING subscription and its first payment, readied at the
    /// provider. A PENDING one the user never approved is given up for the new one.
    #[tracing::instrument(skip_all, fields(user = %user))]
    pub async fn start(&self, user: Uuid, plan: Plan) -> Result<SubscriptionStarted, ApiError> {
        if plan != Plan::Pro {
            return Err(ApiError::validation("only the PRO plan is sold"));
        }
        let gateway = self.gateway()?;
        if self.live(user).await?.is_some() {
            return Err(already_subscribed());
        }
        let now = self.deps.clock.now_ms();
        let id = new_id();
        let amount = self.deps.limits.pro_monthly_price;
        let txn = self.deps.db.begin().await?;
        subscription::Entity::update_many()
            .col_expr(
                subscription::Column::Status,
                Expr::value(SubscriptionStatus::Expired),
            )
            .col_expr(subscription::Column::UpdatedAt, Expr::value(now))
            .filter(subscription::Column::UserId.eq(user))
            .filter(subscription::Column::Status.eq(SubscriptionStatus::Pending))
            .exec(&txn)
            .await?;
        subscription::Entity::insert(subscription::ActiveModel {
            id: Set(id),
            user_id: Set(user),
            plan: Set("PRO".into()),
            status: Set(SubscriptionStatus::Pending),
            amount: Set(amount),
            first_tid: Set(None),
            sid: Set(None),
            period_end: Set(0),
            due_at: Set(None),
            failed_charges: Set(0),
            live_key: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        let base = format!("{}/api/v1/billing/subscriptions/{id}", self.public_url);
        let ready = gateway
            .ready(&PaymentRequest {
                order_id: first_order_id(id),
                user_id: user.to_string(),
                item_name: "Surge PRO (monthly)".into(),
                quantity: 1,
                amount,
                approval_url: format!("{base}/approve"),
                cancel_url: format!("{base}/cancelled"),
                fail_url: format!("{base}/failed"),
            })
            .await?;
        subscription::Entity::update_many()
            .col_expr(
                subscription::Column::FirstTid,
                Expr::value(Some(ready.tid.clone())),
            )
            .filter(subscription::Column::Id.eq(id))
            .filter(subscription::Column::Status.eq(SubscriptionStatus::Pending))
            .exec(&self.deps.db)
            .await?;
        Ok(SubscriptionStarted {
            subscription_id: id,
            tid: ready.tid,
            redirect_url: ready.redirect_url,
            amount,
        })
    }

    /// Completes the first payment: ACTIVE with the `sid` stored and the first period
    /// paid (a ledger row). A retry after success answers the subscription as it is.
    #[tracing::instrument(skip_all, fields(user = %user, subscription = %id))]
    pub async fn approve(
        &self,
        user: Uuid,
        id: Uuid,
        pg_token: &str,
    ) -> Result<SubscriptionView, ApiError> {
        let gateway = self.gateway()?;
        let s = self.owned(user, id).await?;
        if s.status != SubscriptionStatus::Pending {
            if s.sid.is_some() {
                return Ok(s.into());
            }
            return Err(invalid_transition(s.status, SubscriptionStatus::Active));
        }
        let tid = s.first_tid.clone().ok_or_else(|| {
            ApiError::conflict("payment_not_started", "the first payment was not readied")
        })?;
        let order_id = first_order_id(id);
        let approved = match gateway
            .approve(&tid, &order_id, &user.to_string(), pg_token)
            .await
        {
            Ok(a) => a,
            Err(e @ surge_kernel::payment::PaymentError::Declined(_)) => {
                self.expire_pending(id).await?;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        let sid = approved.sid.clone().ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "payment_unavailable",
                "the provider approved the payment without a subscription id",
            )
        })?;
        let now = self.deps.clock.now_ms();
        match self.activate(&s, &sid, &tid, approved.amount, now).await {
            Ok(true) => {}
            Ok(false) => {
                // A concurrent approval won; answer what it stored.
                return Ok(self.owned(user, id).await?.into());
            }
            Err(e) if unique_violation(&e).is_some() => {
                // Another subscription of this user went live meanwhile: give the money back.
                surge_kernel::payment::refund(
                    gateway.as_ref(),
                    &tid,
                    approved.amount,
                    "a second subscription",
                )
                .await
                .map_err(ApiError::internal)?;
                self.expire_pending(id).await?;
                return Err(already_subscribed());
            }
            Err(e) => return Err(e.into()),
        }
        Ok(self.owned(user, id).await?.into())
    }

    /// PENDING → ACTIVE with the first period's ledger row, in one transaction.
    async fn activate(
        &self,
        s: &subscription::Model,
        sid: &str,
        tid: &str,
        amount: i64,
        now: Millis,
    ) -> Result<bool, sea_orm::DbErr> {
        let start = kst::day_start(now);
        let end = period_end(start);
        let txn = self.deps.db.begin().await?;
        let moved = subscription::Entity::update_many()
            .col_expr(
                subscription::Column::Status,
                Expr::value(SubscriptionStatus::Active),
            )
            .col_expr(subscription::Column::Sid, Expr::value(Some(sid.to_owned())))
            .col_expr(subscription::Column::PeriodEnd, Expr::value(end))
            .col_expr(subscription::Column::DueAt, Expr::value(Some(end)))
            .col_expr(
                subscription::Column::LiveKey,
                Expr::value(Some(live_key(s.user_id))),
            )
            .col_expr(subscription::Column::UpdatedAt, Expr::value(now))
            .filter(subscription::Column::Id.eq(s.id))
            .filter(subscription::Column::Status.eq(SubscriptionStatus::Pending))
            .exec(&txn)
            .await?
            .rows_affected;
        if moved != 1 {
            return Ok(false);
        }
        charge::Entity::insert(charge::ActiveModel {
            id: Set(new_id()),
            subscription_id: Set(s.id),
            user_id: Set(s.user_id),
            period_start: Set(start),
            period_end: Set(end),
            order_id: Set(first_order_id(s.id)),
            amount: Set(amount),
            status: Set(ChargeStatus::Paid),
            attempts: Set(1),
            attempt_day: Set(start),
            tid: Set(Some(tid.to_owned())),
            last_error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        Ok(true)
    }

    async fn expire_pending(&self, id: Uuid) -> Result<(), ApiError> {
        subscription::Entity::update_many()
            .col_expr(
                subscription::Column::Status,
                Expr::value(SubscriptionStatus::Expired),
            )
            .col_expr(
                subscription::Column::UpdatedAt,
                Expr::value(self.deps.clock.now_ms()),
            )
            .filter(subscription::Column::Id.eq(id))
            .filter(subscription::Column::Status.eq(SubscriptionStatus::Pending))
            .exec(&self.deps.db)
            .await?;
        Ok(())
    }

    /// My live subscription, else my latest one.
    pub async fn mine(&self, user: Uuid) -> Result<SubscriptionView, ApiError> {
        if let Some(s) = self.live(user).await? {
            return Ok(s.into());
        }
        subscription::Entity::find()
            .filter(subscription::Column::UserId.eq(user))
            .order_by_desc(subscription::Column::CreatedAt)
            .one(&self.deps.db)
            .await?
            .map(Into::into)
            .ok_or_else(|| ApiError::not_found("you have no subscription"))
    }

    /// Cancels at the end of the paid period: the provider's subscription is ended (no
    /// later charge can happen), and the user stays PRO until the nightly batch ends it
    /// on `period_end`. Cancelling twice answers the same.
    #[tracing::instrument(skip_all, fields(user = %user))]
    pub async fn cancel(&self, user: Uuid) -> Result<SubscriptionView, ApiError> {
        let gateway = self.gateway()?;
        let s = self
            .live(user)
            .await?
            .ok_or_else(|| ApiError::not_found("you have no live subscription"))?;
        if s.status == SubscriptionStatus::Cancelling {
            return Ok(s.into());
        }
        if !s.status.can_become(SubscriptionStatus::Cancelling) {
            return Err(invalid_transition(s.status, SubscriptionStatus::Cancelling));
        }
        if let Some(sid) = &s.sid {
            gateway.deactivate(sid).await?;
        }
        subscription::Entity::update_many()
            .col_expr(
                subscription::Column::Status,
                Expr::value(SubscriptionStatus::Cancelling),
            )
            .col_expr(
                subscription::Column::UpdatedAt,
                Expr::value(self.deps.clock.now_ms()),
            )
            .filter(subscription::Column::Id.eq(s.id))
            .filter(
                subscription::Column::Status
                    .is_in([SubscriptionStatus::Active, SubscriptionStatus::PastDue]),
            )
            .exec(&self.deps.db)
            .await?;
        Ok(self.owned(user, s.id).await?.into())
    }
}
