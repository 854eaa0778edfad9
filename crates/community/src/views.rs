//! View counts: a viewer (the signed-in user, else the client's IP) counts once per
//! post per clock hour, decided by the Cache port's set-if-absent (Redis when scaled
//! out, so every instance agrees). Counted views gather in memory and are written in
//! batches (one relative UPDATE per post per flush, all in one transaction), not one
//! UPDATE per view. Views gathered since the last flush are lost if the process dies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::view_hour;
use crate::entities::post;

/// Who is viewing: one count per viewer per post per hour.
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

pub struct Views {
    deps: Arc<Deps>,
    pending: Mutex<HashMap<Uuid, i64>>,
    /// One flush at a time: a caller's flush returns after any flush in progress.
    flushing: tokio::sync::Mutex<()>,
}

impl Views {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Views {
            deps,
            pending: Mutex::new(HashMap::new()),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts a view unless this viewer was counted on this post this hour. A cache
    /// failure is logged and the view not counted: reading a post never fails for it.
    pub async fn record(&self, post_id: Uuid, viewer: &Viewer) {
        let hour = view_hour(self.deps.clock.now_ms());
        let key = format!("community:view:{post_id}:{}:{hour}", viewer.key());
        match self
            .deps
            .cache
            .set_if_absent(&key, b"1", Duration::from_secs(3_600))
            .await
        {
            Ok(true) => {
                if let Ok(mut p) = self.pending.lock() {
                    *p.entry(post_id).or_insert(0) += 1;
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = ?e, %post_id, "view not counted: cache failed"),
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
        let mut posts: Vec<(&Uuid, &i64)> = batch.iter().collect();
        // Rows in id order, so two instances flushing at once cannot deadlock.
        posts.sort();
        let txn = self.deps.db.begin().await?;
        for (id, n) in posts {
            post::Entity::update_many()
                .col_expr(
                    post::Column::ViewCount,
                    Expr::col(post::Column::ViewCount).add(*n),
                )
                .filter(post::Column::Id.eq(*id))
                .exec(&txn)
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
                tracing::warn!(error = ?e, "writing view counts failed; kept for the next flush");
            }
        }
    }
}
