//! Plans and their limits, the states of a subscription and of a charge with their legal
//! moves, and the billing period. Stored by SeaORM as the same strings.

use chrono::{Months, NaiveDate};
use sea_orm::sea_query::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};
use surge_kernel::clock::kst;
use surge_kernel::plans::Plan;
use surge_kernel::Millis;

/// What each plan allows per Korean day, and what PRO costs a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    pub free_daily: i64,
    pub pro_daily: i64,
    /// Integer KRW per month.
    pub pro_monthly_price: i64,
}

impl Default for PlanLimits {
    fn default() -> Self {
        Self {
            free_daily: 3,
            pro_daily: 100,
            pro_monthly_price: 19_900,
        }
    }
}

impl PlanLimits {
    pub fn daily(&self, plan: Plan) -> i64 {
        match plan {
            Plan::Free => self.free_daily,
            Plan::Pro => self.pro_daily,
        }
    }
}

/// A subscription: PENDING until its first payment is approved, then ACTIVE; a failed
/// renewal makes it PAST_DUE (retried on the next nights, ACTIVE again once paid,
/// EXPIRED after the third failure); a cancel makes it CANCELLING (still PRO) until the
/// paid period ends, then EXPIRED. A PENDING one the buyer never approves is EXPIRED
/// when the user starts another.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(12))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubscriptionStatus {
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    #[sea_orm(string_value = "PAST_DUE")]
    PastDue,
    #[sea_orm(string_value = "CANCELLING")]
    Cancelling,
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
}

impl SubscriptionStatus {
    pub fn can_become(self, next: SubscriptionStatus) -> bool {
        use SubscriptionStatus::*;
        matches!(
            (self, next),
            (Pending, Active)
                | (Pending, Expired)
                | (Active, PastDue)
                | (Active, Cancelling)
                | (Active, Active)
                | (PastDue, Active)
                | (PastDue, PastDue)
                | (PastDue, Expired)
                | (PastDue, Cancelling)
                | (Cancelling, Expired)
        )
    }

    /// Whether the user is on PRO in this state (a past-due one keeps PRO while its
    /// charge is retried).
    pub fn is_pro(self) -> bool {
        matches!(self, Self::Active | Self::PastDue | Self::Cancelling)
    }

    /// The states the nightly batch looks at (due for a charge or an end).
    pub const LIVE: [SubscriptionStatus; 3] = [Self::Active, Self::PastDue, Self::Cancelling];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Active => "ACTIVE",
            Self::PastDue => "PAST_DUE",
            Self::Cancelling => "CANCELLING",
            Self::Expired => "EXPIRED",
        }
    }
}

/// One charge of one period (the ledger). PENDING is written and committed before the
/// provider is called; the answer makes it PAID or DECLINED (a DECLINED one becomes
/// PENDING again for the next night's retry). A PENDING charge whose answer was lost
/// (a crash, a timeout) becomes UNKNOWN: held for reconciliation, never sent again.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(10))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChargeStatus {
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "PAID")]
    Paid,
    #[sea_orm(string_value = "DECLINED")]
    Declined,
    #[sea_orm(string_value = "UNKNOWN")]
    Unknown,
}

impl ChargeStatus {
    pub fn can_become(self, next: ChargeStatus) -> bool {
        use ChargeStatus::*;
        matches!(
            (self, next),
            (Pending, Paid) | (Pending, Declined) | (Pending, Unknown) | (Declined, Pending)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Paid => "PAID",
            Self::Declined => "DECLINED",
            Self::Unknown => "UNKNOWN",
        }
    }
}

/// A batch run: RUNNING until it ends DONE or FAILED; a run that was killed stays
/// RUNNING until the next run of the job marks it ABORTED.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(10))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunState {
    #[sea_orm(string_value = "RUNNING")]
    Running,
    #[sea_orm(string_value = "DONE")]
    Done,
    #[sea_orm(string_value = "FAILED")]
    Failed,
    #[sea_orm(string_value = "ABORTED")]
    Aborted,
}

impl RunState {
    pub fn can_become(self, next: RunState) -> bool {
        matches!(
            (self, next),
            (Self::Running, Self::Done)
                | (Self::Running, Self::Failed)
                | (Self::Running, Self::Aborted)
        )
    }
}

/// Charges a subscription may fail in a row before it ends (the third ends it).
pub const MAX_FAILED_CHARGES: i32 = 3;

/// One month of PRO from `start` (a KST midnight): the next KST midnight a month later
/// (the day is clamped to the month's end: Jan 31 → Feb 28).
pub fn period_end(start: Millis) -> Millis {
    let day = kst::day(start);
    let next = day.checked_add_months(Months::new(1)).unwrap_or(day);
    kst::start_of(next)
}

/// The deterministic order id of one period's charge (Kakao's `partner_order_id`):
/// the same subscription and period always give the same id.
pub fn charge_order_id(subscription: uuid::Uuid, period_start: Millis) -> String {
    format!("sub-{}-{}", subscription.simple(), kst::day(period_start))
}

/// A date given as `YYYY-MM-DD`.
pub fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}
