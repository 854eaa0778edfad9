//! Benchmark and demo data: `surge billing generate --count N --due YYYY-MM-DD` writes N
//! ACTIVE PRO subscriptions whose period ends on the due date (multi-row inserts of 1,000
//! rows), each with its own user id and a provider `sid` of the shape Kakao Pay issues.

use std::sync::Arc;

use chrono::NaiveDate;
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, DbErr};
use surge_kernel::clock::kst;
use surge_kernel::new_id;

use crate::deps::{live_key, Deps};
use crate::domain::SubscriptionStatus;

const ROWS_PER_INSERT: usize = 1_000;

pub struct Generator {
    deps: Arc<Deps>,
}

impl Generator {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Self { deps }
    }

    /// Writes `count` subscriptions due on `due`; calls `progress` with the rows written.
    pub async fn due_subscriptions(
        &self,
        count: u64,
        due: NaiveDate,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64, DbErr> {
        let db = &self.deps.db;
        let end = kst::start_of(due);
        let now = self.deps.clock.now_ms();
        let amount = self.deps.limits.pro_monthly_price;
        let mut written = 0u64;
        while written < count {
            let n = (count - written).min(ROWS_PER_INSERT as u64);
            let mut insert = Query::insert()
                .into_table(Alias::new("billing_subscriptions"))
                .columns(
                    [
                        "id",
                        "user_id",
                        "plan",
                        "status",
                        "amount",
                        "first_tid",
                        "sid",
                        "period_end",
                        "due_at",
                        "failed_charges",
                        "live_key",
                        "created_at",
                        "updated_at",
                    ]
                    .map(Alias::new),
                )
                .to_owned();
            for _ in 0..n {
                let user = new_id();
                insert
                    .values([
                        new_id().into(),
                        user.into(),
                        "PRO".into(),
                        SubscriptionStatus::Active.as_str().into(),
                        amount.into(),
                        Some(format!("T{}", uuid::Uuid::new_v4().simple())).into(),
                        Some(format!("S{}", uuid::Uuid::new_v4().simple())).into(),
                        end.into(),
                        Some(end).into(),
                        0i32.into(),
                        Some(live_key(user)).into(),
                        now.into(),
                        now.into(),
                    ])
                    .map_err(|e| DbErr::Custom(e.to_string()))?;
            }
            db.execute(db.get_database_backend().build(&insert)).await?;
            written += n;
            progress(written);
        }
        Ok(written)
    }
}
