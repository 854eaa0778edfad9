//! The outbox relay: publishes committed outbox rows to the event bus, oldest first,
//! and deletes them once the bus has them (every row in `outbox` is pending). Several
//! instances may relay at once; a row published twice is harmless because consumers
//! are idempotent.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult};
use surge_kernel::clock::Clock;
use surge_kernel::events::{event_columns, EventEnvelope, OutboxSignal};
use surge_kernel::ports::EventBus;
use uuid::Uuid;

const BATCH: u64 = 200;
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, FromQueryResult)]
struct Row {
    id: Uuid,
    topic: String,
    event_key: String,
    payload: String,
    occurred_at: i64,
}

pub struct Relay {
    pub db: DatabaseConnection,
    pub bus: Arc<dyn EventBus>,
    pub clock: Arc<dyn Clock>,
    pub signal: OutboxSignal,
}

impl Relay {
    /// Runs until its task is dropped; stopping at any point is safe (rows are only
    /// deleted after the bus accepted them).
    pub async fn run(self) {
        let mut backoff = POLL;
        let mut last_lag_check = 0i64;
        loop {
            let outcome = self.relay_once().await;
            let wait = match outcome {
                Ok(n) if n as u64 == BATCH => Duration::ZERO,
                Ok(_) => {
                    backoff = POLL;
                    POLL
                }
                Err(e) => {
                    tracing::warn!(error = ?e, "outbox relay failed; backing off");
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    backoff
                }
            };
            let now = self.clock.now_ms();
            if now - last_lag_check > 60_000 {
                last_lag_check = now;
                if let Err(e) = self.record_lag(now).await {
                    tracing::warn!(error = ?e, "measuring the outbox lag failed");
                }
            }
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = self.signal.woken() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Publishes one batch of pending rows; returns how many were published.
    #[tracing::instrument(name = "outbox.relay_once", level = "debug", skip(self))]
    pub async fn relay_once(&self) -> anyhow::Result<usize> {
        let db = &self.db;
        let select = Query::select()
            .columns(event_columns(&["id"], &[]))
            .from(Alias::new("outbox"))
            .order_by(Alias::new("id"), Order::Asc)
            .limit(BATCH)
            .to_owned();
        let rows = Row::find_by_statement(db.get_database_backend().build(&select))
            .all(db)
            .await?;
        let mut published = Vec::with_capacity(rows.len());
        let mut failure = None;
        for row in rows {
            let event = EventEnvelope {
                id: row.id,
                topic: row.topic,
                key: row.event_key,
                payload: serde_json::from_str(&row.payload)?,
                occurred_at: row.occurred_at,
            };
            match self.bus.publish(&event).await {
                Ok(()) => published.push(event.id),
                Err(e) => {
                    // Stop at the first failure so later events do not overtake it.
                    failure = Some((event.id, e));
                    break;
                }
            }
        }
        self.delete_published(&published).await?;
        metrics::counter!("surge_outbox_published_total").increment(published.len() as u64);
        if let Some((id, e)) = failure {
            self.count_attempt(id).await?;
            return Err(e.context(format!("publishing outbox event {id}")));
        }
        Ok(published.len())
    }

    async fn delete_published(&self, ids: &[Uuid]) -> Result<(), DbErr> {
        if ids.is_empty() {
            return Ok(());
        }
        let stmt = Query::delete()
            .from_table(Alias::new("outbox"))
            .and_where(Expr::col(Alias::new("id")).is_in(ids.iter().copied()))
            .to_owned();
        self.db
            .execute(self.db.get_database_backend().build(&stmt))
            .await?;
        Ok(())
    }

    async fn count_attempt(&self, id: Uuid) -> Result<(), DbErr> {
        let stmt = Query::update()
            .table(Alias::new("outbox"))
            .value(
                Alias::new("attempts"),
                Expr::col(Alias::new("attempts")).add(1),
            )
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .to_owned();
        self.db
            .execute(self.db.get_database_backend().build(&stmt))
            .await?;
        Ok(())
    }

    async fn record_lag(&self, now: i64) -> Result<(), DbErr> {
        #[derive(FromQueryResult)]
        struct Lag {
            pending: i64,
            oldest: Option<i64>,
        }
        let db = &self.db;
        let lag = Query::select()
            .expr_as(Expr::col(Alias::new("id")).count(), Alias::new("pending"))
            .expr_as(
                Expr::col(Alias::new("occurred_at")).min(),
                Alias::new("oldest"),
            )
            .from(Alias::new("outbox"))
            .to_owned();
        if let Some(lag) = Lag::find_by_statement(db.get_database_backend().build(&lag))
            .one(db)
            .await?
        {
            metrics::gauge!("surge_outbox_pending").set(lag.pending as f64);
            let age = lag.oldest.map_or(0, |o| (now - o).max(0));
            metrics::gauge!("surge_outbox_lag_seconds").set(age as f64 / 1000.0);
        }
        Ok(())
    }
}
