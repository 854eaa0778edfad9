//! What the billing use cases hold in common: the foundation's databases, clock and
//! outbox signal, the plan limits, and the one read every use case needs (the plan a
//! user is on now), wired once (`lib.rs`) and shared.

use std::sync::Arc;

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use surge_kernel::clock::Clock;
use surge_kernel::events::OutboxSignal;
use surge_kernel::module::Foundation;
use surge_kernel::plans::Plan;
use uuid::Uuid;

use crate::domain::{PlanLimits, SubscriptionStatus};

pub(crate) struct Deps {
    pub db: DatabaseConnection,
    pub read_db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub outbox: OutboxSignal,
    pub limits: PlanLimits,
}

impl Deps {
    pub fn new(f: &Foundation, limits: PlanLimits) -> Arc<Self> {
        Arc::new(Deps {
            db: f.db.clone(),
            read_db: f.read_db.clone(),
            clock: f.clock.clone(),
            outbox: f.outbox.clone(),
            limits,
        })
    }
}

/// The key of a user's live subscription (`billing_subscriptions.live_key`).
pub(crate) fn live_key(user: Uuid) -> String {
    user.simple().to_string()
}

/// The plan `user` is on now, read on `conn` (the caller's transaction when metering):
/// PRO while their live subscription is ACTIVE, PAST_DUE or CANCELLING.
pub(crate) async fn plan_of(conn: &impl ConnectionTrait, user: Uuid) -> Result<Plan, DbErr> {
    let q = Query::select()
        .column(Alias::new("status"))
        .from(Alias::new("billing_subscriptions"))
        .and_where(Expr::col(Alias::new("live_key")).eq(live_key(user)))
        .to_owned();
    let row = conn
        .query_one(conn.get_database_backend().build(&q))
        .await?;
    let status: Option<String> = match row {
        Some(r) => Some(r.try_get_by_index(0)?),
        None => None,
    };
    let pro = status.is_some_and(|s| {
        SubscriptionStatus::LIVE
            .iter()
            .any(|l| l.as_str() == s && l.is_pro())
    });
    Ok(if pro { Plan::Pro } else { Plan::Free })
}
