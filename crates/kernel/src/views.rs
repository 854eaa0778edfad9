//! View counts for any module's rows (community posts, resumes): a viewer (the
//! signed-in user, else the client's address) counts once per row per clock hour,
//! decided by the Cache port's set-if-absent (Redis when scaled out, so every instance
//! agrees). Counted views gather in memory and are written in batches (one relative
//! UPDATE per row per flush, all in one transaction), not one UPDATE per view. Views
//! gathered since the last flush are lost if the process dies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use crate::clock::Clock;
use crate::ports::Cache;
use crate::Millis;

/// Who is viewing: one count per viewer per row per hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    User(Uuid),
    /// A client that is not signed in, by its address.
    Address(String),
}

impl Viewer {
    fn key(&self) -> String {
        match self {
            Viewer::User(id) => format!("u:{id}"),
            // Bounded: an address is at most 45 characters; anything longer is cut.
            Viewer::Address(ip) => format!("ip:{}", ip.chars().take(45).collect::<String>()),
        }
    }
}

/// A view counts once per viewer per row in each clock hour: the hour a view falls in.
pub fn view_hour(now: Millis) -> i64 {
    now.div_euclid(3_600_000)
}

/// Where the counts go: `UPDATE {table} SET {column} = {column} + n WHERE id = ?`.
#[derive(Debug, Clone, Copy)]
pub struct CountedIn {
    pub table: &'static str,
    pub column: &'static str,
    /// Names the cache keys (`{key}:view:{id}:{viewer}:{hour}`), e.g. `community`.
    pub key: &'static str,
}

pub struct ViewCounter {
    db: DatabaseConnection,
    cache: Arc<dyn Cache>,
    clock: Arc<dyn Clock>,
    into: CountedIn,
    pending: Mutex<HashMap<Uuid, i64>>,
    /// One flush at a time: a caller's flush returns after any flush in progress.
    flushing: tokio::sync::Mutex<()>,
}

impl ViewCounter {
    pub fn new(
        db: DatabaseConnection,
        cache: Arc<dyn Cache>,
        clock: Arc<dyn Clock>,
        into: CountedIn,
    ) -> Self {
        ViewCounter {
            db,
            cache,
            clock,
            into,
            pending: Mutex::new(HashMap::new()),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts a view unless this viewer was counted on this row this hour. A cache
    /// failure is logged and the view not counted: reading a row never fails for it.
    pub async fn record(&self, id: Uuid, viewer: &Viewer) {
        let hour = view_hour(self.clock.now_ms());
        let key = format!("{}:view:{id}:{}:{hour}", self.into.key, viewer.key());
        match self
            .cache
            .set_if_absent(&key, b"1", Duration::from_secs(3_600))
            .await
        {
            Ok(true) => {
                if let Ok(mut p) = self.pending.lock() {
                    *p.entry(id).or_insert(0) += 1;
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = ?e, %id, table = self.into.table, "view not counted: cache failed")
            }
        }
    }

    /// Writes the views gathered so far; on failure they are kept for the next flush.
    /// Returns how many views were written.
    pub async fn flush(&self) -> anyhow::Result<i64> {
        let _one_at_a_time = self.flushing.lock().await;
        let batch: HashMap<Uuid, i64> = match self.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => anyhow::bail!("view counter poisoned"),
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let written = self.write(&batch).await;
        if written.is_err() {
            if let Ok(mut p) = self.pending.lock() {
                for (id, n) in &batch {
                    *p.entry(*id).or_insert(0) += n;
                }
            }
        }
        written?;
        Ok(batch.values().sum())
    }

    async fn write(&self, batch: &HashMap<Uuid, i64>) -> anyhow::Result<()> {
        let mut rows: Vec<(&Uuid, &i64)> = batch.iter().collect();
        // Rows in id order, so two instances flushing at once cannot deadlock.
        rows.sort();
        let col = Alias::new(self.into.column);
        let txn = self.db.begin().await?;
        for (id, n) in rows {
            let update = Query::update()
                .table(Alias::new(self.into.table))
                .value(col.clone(), Expr::col(col.clone()).add(*n))
                .and_where(Expr::col(Alias::new("id")).eq(*id))
                .to_owned();
            txn.execute(txn.get_database_backend().build(&update))
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// The worker: flushes every `every`.
    pub async fn run(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.flush().await {
                tracing::warn!(error = ?e, table = self.into.table, "writing view counts failed; kept for the next flush");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_counts_in_its_clock_hour() {
        assert_eq!(view_hour(3_599_999), 0);
        assert_eq!(view_hour(3_600_000), 1);
    }
}
