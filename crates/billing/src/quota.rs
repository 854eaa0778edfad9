//! The daily quota ([`UsageQuota`]): one row per (user, KST day), its `used` moved only
//! by `UPDATE ... SET used = used + 1 WHERE used < :limit` inside the caller's
//! transaction (rows affected checked), so of any number of concurrent takes with one
//! use left exactly one succeeds, and a use is taken if and only if the caller commits.
//! A new day is a new row: nothing has to reset at midnight.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::{Alias, Expr, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, EntityTrait};
use surge_kernel::clock::kst;
use surge_kernel::plans::{Plan, QuotaError, Usage, UsageQuota};
use surge_kernel::Millis;
use uuid::Uuid;

use crate::deps::{plan_of, Deps};
use crate::entities::usage;

const TABLE: &str = "billing_usage";

fn col(n: &str) -> Alias {
    Alias::new(n)
}

fn unavailable(e: DbErr) -> QuotaError {
    QuotaError::Unavailable(anyhow::Error::new(e).context("billing quota"))
}

pub struct Quota {
    deps: Arc<Deps>,
}

impl Quota {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Self { deps }
    }

    fn usage_of(&self, plan: Plan, used: i64, now: Millis) -> Usage {
        Usage {
            plan,
            used,
            limit: self.deps.limits.daily(plan),
            resets_at: kst::next_day_start(now),
        }
    }
}

/// Creates the day's row (used 0) unless it exists, inside the caller's transaction.
///
/// MySQL/MariaDB: `INSERT IGNORE` on a row another open transaction inserted takes a
/// shared lock, and two such waiters deadlock when both upgrade it for the increment;
/// `ON DUPLICATE KEY UPDATE` takes the exclusive lock at once (and changes nothing).
/// SQLite has one writer, and PostgreSQL's `ON CONFLICT DO NOTHING` locks nothing.
async fn ensure_row(conn: &impl ConnectionTrait, user: Uuid, day: Millis) -> Result<(), DbErr> {
    let mut insert = Query::insert()
        .into_table(col(TABLE))
        .columns([col("user_id"), col("day_start"), col("used")])
        .values([user.into(), day.into(), 0i32.into()])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    if conn.get_database_backend() == DatabaseBackend::MySql {
        insert.on_conflict(
            OnConflict::new()
                .value(col("used"), Expr::col(col("used")))
                .to_owned(),
        );
        conn.execute(conn.get_database_backend().build(&insert))
            .await?;
    } else {
        surge_kernel::sql::insert_if_absent(conn, insert, &["user_id", "day_start"]).await?;
    }
    Ok(())
}

async fn used_on(conn: &impl ConnectionTrait, user: Uuid, day: Millis) -> Result<i64, DbErr> {
    let row = usage::Entity::find_by_id((user, day)).one(conn).await?;
    Ok(row.map_or(0, |r| i64::from(r.used)))
}

#[async_trait]
impl UsageQuota for Quota {
    async fn take(
        &self,
        txn: &DatabaseTransaction,
        user: Uuid,
        now: Millis,
    ) -> Result<Usage, QuotaError> {
        let day = kst::day_start(now);
        ensure_row(txn, user, day).await.map_err(unavailable)?;
        let plan = plan_of(txn, user).await.map_err(unavailable)?;
        let limit = self.deps.limits.daily(plan);
        let update = Query::update()
            .table(col(TABLE))
            .value(col("used"), Expr::col(col("used")).add(1))
            .and_where(Expr::col(col("user_id")).eq(user))
            .and_where(Expr::col(col("day_start")).eq(day))
            .and_where(Expr::col(col("used")).lt(limit))
            .to_owned();
        let taken = txn
            .execute(txn.get_database_backend().build(&update))
            .await
            .map_err(unavailable)?
            .rows_affected()
            == 1;
        if !taken {
            return Err(QuotaError::Exceeded {
                plan,
                limit,
                resets_at: kst::next_day_start(now),
            });
        }
        let used = used_on(txn, user, day).await.map_err(unavailable)?;
        Ok(self.usage_of(plan, used, now))
    }

    async fn give_back(
        &self,
        txn: &DatabaseTransaction,
        user: Uuid,
        taken_at: Millis,
    ) -> Result<(), QuotaError> {
        let day = kst::day_start(taken_at);
        if day != kst::day_start(self.deps.clock.now_ms()) {
            return Ok(());
        }
        let update = Query::update()
            .table(col(TABLE))
            .value(col("used"), Expr::col(col("used")).sub(1))
            .and_where(Expr::col(col("user_id")).eq(user))
            .and_where(Expr::col(col("day_start")).eq(day))
            .and_where(Expr::col(col("used")).gt(0))
            .to_owned();
        txn.execute(txn.get_database_backend().build(&update))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn usage(&self, user: Uuid, now: Millis) -> Result<Usage, QuotaError> {
        let db = &self.deps.db;
        let plan = plan_of(db, user).await.map_err(unavailable)?;
        let used = used_on(db, user, kst::day_start(now))
            .await
            .map_err(unavailable)?;
        Ok(self.usage_of(plan, used, now))
    }
}
