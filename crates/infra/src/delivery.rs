//! Per-consumer retries and dead letters. One consumer's failing event must not hold up
//! anything else: a handler error is recorded for that consumer alone, retried with
//! exponential backoff, and after `max_attempts` parked as a dead letter (with the
//! error) for an admin to inspect and retry.
//!
//! The in-process bus writes an `event_retries` row on the first failure and lets the
//! [`Deliveries::run`] worker retry it; JetStream redelivers by itself (nak with the
//! same backoff) and only hands the final failure here. Retries are rows, so a crash
//! loses none; an instance claims a due row (a conditional update of its due time)
//! before running it, so instances share the work without running a row twice at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use sea_orm::sea_query::{Alias, Expr, Order, Query, SimpleExpr};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, TransactionTrait, Value,
};
use surge_kernel::clock::Clock;
use surge_kernel::events::{event_columns, stored_values, EventEnvelope};
use surge_kernel::ports::EventHandler;
use surge_kernel::Millis;
use uuid::Uuid;

/// How often and how long a failing event is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (the first delivery included) before the event is dead-lettered.
    pub max_attempts: u32,
    /// Wait after the first failure; doubles after each further one.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// A handler still running after this long counts as failed (and is retried).
    pub handler_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            handler_timeout: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt, after `attempts` failed ones.
    pub fn delay_after(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(20);
        self.first_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }

    /// Runs `handler` within the timeout; a timeout is an error like any other.
    pub async fn run(
        &self,
        handler: &dyn EventHandler,
        event: &EventEnvelope,
    ) -> anyhow::Result<()> {
        match tokio::time::timeout(self.handler_timeout, handler.handle(event)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(anyhow::anyhow!(
                "the handler did not finish within {:?}",
                self.handler_timeout
            )),
        }
    }
}

/// A parked event: what failed, for whom, and why.
#[derive(Debug, Clone, serde::Serialize, FromQueryResult)]
pub struct DeadLetter {
    pub id: Uuid,
    /// The consumer that could not handle the event.
    pub consumer: String,
    pub event_id: Uuid,
    pub topic: String,
    pub event_key: String,
    /// The event's payload (JSON text).
    pub payload: String,
    pub occurred_at: i64,
    pub attempts: i32,
    /// The last attempt's error.
    pub error: String,
    pub created_at: i64,
}

#[derive(Debug, FromQueryResult)]
struct RetryRow {
    id: Uuid,
    consumer: String,
    event_id: Uuid,
    topic: String,
    event_key: String,
    payload: String,
    occurred_at: i64,
    attempts: i32,
    next_attempt_at: i64,
}

impl RetryRow {
    fn stored(&self) -> Stored {
        Stored {
            event_id: self.event_id,
            topic: self.topic.clone(),
            event_key: self.event_key.clone(),
            payload: self.payload.clone(),
            occurred_at: self.occurred_at,
        }
    }

    fn event(&self) -> Result<EventEnvelope, serde_json::Error> {
        Ok(EventEnvelope {
            id: self.event_id,
            topic: self.topic.clone(),
            key: self.event_key.clone(),
            payload: serde_json::from_str(&self.payload)?,
            occurred_at: self.occurred_at,
        })
    }
}

const RETRIES: &str = "event_retries";
const DEAD: &str = "dead_letters";
const POLL: Duration = Duration::from_millis(250);
const BATCH: u64 = 100;
/// Errors longer than this are cut (a stored error is for a human to read).
const MAX_ERROR: usize = 2000;

/// The columns of `event_retries`, in insert order.
fn retry_columns() -> Vec<Alias> {
    event_columns(
        &["id", "consumer", "event_id"],
        &["attempts", "next_attempt_at", "last_error", "created_at"],
    )
}

/// The columns of `dead_letters`, in insert order.
fn dead_columns() -> Vec<Alias> {
    event_columns(
        &["id", "consumer", "event_id"],
        &["attempts", "error", "created_at"],
    )
}

fn a(n: &str) -> Alias {
    Alias::new(n)
}

fn error_text(e: &anyhow::Error) -> String {
    let mut s = format!("{e:#}");
    if s.len() > MAX_ERROR {
        let mut cut = MAX_ERROR;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// The handlers by consumer name, the retry and dead-letter tables, and the worker that
/// retries due events.
pub struct Deliveries {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    handlers: RwLock<HashMap<String, Arc<dyn EventHandler>>>,
    wake: tokio::sync::Notify,
}

impl Deliveries {
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>, policy: RetryPolicy) -> Self {
        Self {
            db,
            clock,
            policy,
            handlers: RwLock::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
        }
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Makes `handler` the one that retries run for `consumer` on this instance.
    pub fn register(&self, consumer: &str, handler: Arc<dyn EventHandler>) {
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(consumer.to_owned(), handler);
    }

    fn handler(&self, consumer: &str) -> Option<Arc<dyn EventHandler>> {
        self.handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(consumer)
            .cloned()
    }

    /// Hands `event` to `consumer`'s handler; a failure becomes a retry row. An error
    /// means the failure could not be recorded: the caller must deliver again.
    #[tracing::instrument(name = "event.deliver", level = "debug", skip(self, handler, event), fields(topic = %event.topic, event_id = %event.id))]
    pub async fn deliver(
        &self,
        consumer: &str,
        handler: &dyn EventHandler,
        event: &EventEnvelope,
    ) -> Result<(), DbErr> {
        let Err(e) = self.policy.run(handler, event).await else {
            return Ok(());
        };
        self.failed(consumer, event, 1, &e).await
    }

    /// Logs and counts one failed attempt.
    pub fn note_failure(
        &self,
        consumer: &str,
        event: &EventEnvelope,
        attempts: u32,
        error: &anyhow::Error,
    ) {
        metrics::counter!("surge_event_handler_failures_total", "consumer" => consumer.to_owned())
            .increment(1);
        tracing::warn!(%consumer, topic = %event.topic, event_id = %event.id, attempts, error = ?error, "event handler failed");
    }

    /// Records that `consumer` failed `event` after `attempts` attempts: a retry with
    /// backoff, or a dead letter once the attempts are used up.
    pub async fn failed(
        &self,
        consumer: &str,
        event: &EventEnvelope,
        attempts: u32,
        error: &anyhow::Error,
    ) -> Result<(), DbErr> {
        self.note_failure(consumer, event, attempts, error);
        if attempts >= self.policy.max_attempts {
            return self.dead_letter(consumer, event, attempts, error).await;
        }
        let now = self.clock.now_ms();
        let due = now + self.policy.delay_after(attempts).as_millis() as i64;
        let stmt = Query::insert()
            .into_table(a(RETRIES))
            .columns(retry_columns())
            .values(event_values(consumer, event, attempts, due, error, now))
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .to_owned();
        surge_kernel::sql::insert_if_absent(&self.db, stmt, &["consumer", "event_id"]).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Parks `event` for `consumer` (once: a second call for the same pair is a no-op).
    pub async fn dead_letter(
        &self,
        consumer: &str,
        event: &EventEnvelope,
        attempts: u32,
        error: &anyhow::Error,
    ) -> Result<(), DbErr> {
        tracing::error!(%consumer, topic = %event.topic, event_id = %event.id, attempts, error = ?error, "event handler kept failing; dead-lettered");
        let stmt = dead_insert(
            consumer,
            &Stored::of(event),
            attempts,
            error,
            self.clock.now_ms(),
        )?;
        if surge_kernel::sql::insert_if_absent(&self.db, stmt, &["consumer", "event_id"]).await? {
            metrics::counter!("surge_event_dead_letters_total", "consumer" => consumer.to_owned())
                .increment(1);
        }
        Ok(())
    }

    /// Retries due events until dropped; safe to stop at any await point (a claimed row
    /// becomes due again once its claim runs out).
    pub async fn run(self: Arc<Self>) {
        loop {
            match self.retry_due().await {
                Ok(n) if n as u64 == BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = ?e, "retrying failed events failed"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Runs every due retry this instance has a handler for; returns how many it found.
    #[tracing::instrument(name = "event.retry_due", level = "debug", skip(self))]
    pub async fn retry_due(&self) -> Result<usize, DbErr> {
        let now = self.clock.now_ms();
        let select = Query::select()
            .columns(event_columns(
                &["id", "consumer", "event_id"],
                &["attempts", "next_attempt_at"],
            ))
            .from(a(RETRIES))
            .and_where(Expr::col(a("next_attempt_at")).lte(now))
            .order_by(a("next_attempt_at"), Order::Asc)
            .limit(BATCH)
            .to_owned();
        let rows = RetryRow::find_by_statement(self.db.get_database_backend().build(&select))
            .all(&self.db)
            .await?;
        let found = rows.len();
        let outcomes: Vec<Result<(), DbErr>> = futures::stream::iter(rows)
            .map(|row| self.retry_one(row, now))
            .buffer_unordered(16)
            .collect()
            .await;
        outcomes.into_iter().collect::<Result<Vec<()>, DbErr>>()?;
        Ok(found)
    }

    async fn retry_one(&self, row: RetryRow, now: Millis) -> Result<(), DbErr> {
        let Some(handler) = self.handler(&row.consumer) else {
            return Ok(()); // another instance (one that subscribes this consumer) runs it
        };
        // Claim: push the due time past the handler's timeout, only if nobody did first.
        let claim_until = now + self.policy.handler_timeout.as_millis() as i64 + 5_000;
        let claim = Query::update()
            .table(a(RETRIES))
            .value(a("next_attempt_at"), claim_until)
            .and_where(Expr::col(a("id")).eq(row.id))
            .and_where(Expr::col(a("next_attempt_at")).eq(row.next_attempt_at))
            .to_owned();
        let backend = self.db.get_database_backend();
        if self
            .db
            .execute(backend.build(&claim))
            .await?
            .rows_affected()
            != 1
        {
            return Ok(());
        }
        let attempts = u32::try_from(row.attempts).unwrap_or(0) + 1;
        let outcome = match row.event() {
            Ok(event) => self.policy.run(handler.as_ref(), &event).await,
            Err(e) => Err(anyhow::anyhow!("the stored event does not parse: {e}")),
        };
        match outcome {
            Ok(()) => {
                let done = Query::delete()
                    .from_table(a(RETRIES))
                    .and_where(Expr::col(a("id")).eq(row.id))
                    .to_owned();
                self.db.execute(backend.build(&done)).await?;
                tracing::info!(consumer = %row.consumer, event_id = %row.event_id, attempts, "event handled on retry");
                Ok(())
            }
            Err(e) => self.retry_failed(&row, attempts, &e).await,
        }
    }

    async fn retry_failed(
        &self,
        row: &RetryRow,
        attempts: u32,
        error: &anyhow::Error,
    ) -> Result<(), DbErr> {
        metrics::counter!("surge_event_handler_failures_total", "consumer" => row.consumer.clone())
            .increment(1);
        let now = self.clock.now_ms();
        let backend = self.db.get_database_backend();
        if attempts < self.policy.max_attempts {
            tracing::warn!(consumer = %row.consumer, event_id = %row.event_id, attempts, error = ?error, "event handler failed again; will retry");
            let due = now + self.policy.delay_after(attempts).as_millis() as i64;
            let again = Query::update()
                .table(a(RETRIES))
                .value(a("attempts"), attempts as i32)
                .value(a("next_attempt_at"), due)
                .value(a("last_error"), error_text(error))
                .and_where(Expr::col(a("id")).eq(row.id))
                .to_owned();
            self.db.execute(backend.build(&again)).await?;
            return Ok(());
        }
        tracing::error!(consumer = %row.consumer, event_id = %row.event_id, attempts, error = ?error, "event handler kept failing; dead-lettered");
        let txn = self.db.begin().await?;
        let insert = dead_insert(&row.consumer, &row.stored(), attempts, error, now)?;
        let parked =
            surge_kernel::sql::insert_if_absent(&txn, insert, &["consumer", "event_id"]).await?;
        let gone = Query::delete()
            .from_table(a(RETRIES))
            .and_where(Expr::col(a("id")).eq(row.id))
            .to_owned();
        txn.execute(backend.build(&gone)).await?;
        txn.commit().await?;
        if parked {
            metrics::counter!("surge_event_dead_letters_total", "consumer" => row.consumer.clone())
                .increment(1);
        }
        Ok(())
    }

    /// Dead letters, oldest first, after `after` (a dead letter's id); at most `limit`.
    pub async fn list_dead(
        &self,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<DeadLetter>, DbErr> {
        let mut select = Query::select()
            .columns(dead_columns())
            .from(a(DEAD))
            .order_by(a("id"), Order::Asc)
            .limit(limit)
            .to_owned();
        if let Some(after) = after {
            select.and_where(Expr::col(a("id")).gt(after));
        }
        DeadLetter::find_by_statement(self.db.get_database_backend().build(&select))
            .all(&self.db)
            .await
    }

    /// Sends dead letter `id` back to its consumer for a new round of attempts, due now.
    /// `false` if there is no such dead letter.
    #[tracing::instrument(name = "event.retry_dead", skip(self), err(level = "warn"))]
    pub async fn retry_dead(&self, id: Uuid) -> Result<bool, DbErr> {
        let backend = self.db.get_database_backend();
        let txn = self.db.begin().await?;
        let select = Query::select()
            .columns(dead_columns())
            .from(a(DEAD))
            .and_where(Expr::col(a("id")).eq(id))
            .to_owned();
        let Some(dead) = DeadLetter::find_by_statement(backend.build(&select))
            .one(&txn)
            .await?
        else {
            return Ok(false);
        };
        // Taken by this transaction only if the delete finds it (two admins, one retry).
        let take = Query::delete()
            .from_table(a(DEAD))
            .and_where(Expr::col(a("id")).eq(id))
            .to_owned();
        if txn.execute(backend.build(&take)).await?.rows_affected() != 1 {
            return Ok(false);
        }
        let now = self.clock.now_ms();
        let values: Vec<SimpleExpr> = vec![
            surge_kernel::new_id().into(),
            dead.consumer.clone().into(),
            dead.event_id.into(),
            dead.topic.into(),
            dead.event_key.into(),
            dead.payload.into(),
            dead.occurred_at.into(),
            0i32.into(),
            now.into(),
            dead.error.into(),
            now.into(),
        ];
        let insert = Query::insert()
            .into_table(a(RETRIES))
            .columns(retry_columns())
            .values(values)
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .to_owned();
        surge_kernel::sql::insert_if_absent(&txn, insert, &["consumer", "event_id"]).await?;
        txn.commit().await?;
        tracing::info!(consumer = %dead.consumer, event_id = %dead.event_id, "dead letter sent back for retry");
        self.wake.notify_one();
        Ok(true)
    }
}

fn event_values(
    consumer: &str,
    event: &EventEnvelope,
    attempts: u32,
    due: Millis,
    error: &anyhow::Error,
    now: Millis,
) -> Vec<SimpleExpr> {
    let [topic, key, payload, occurred_at] = stored_values(event);
    vec![
        surge_kernel::new_id().into(),
        consumer.into(),
        event.id.into(),
        topic,
        key,
        payload,
        occurred_at,
        Value::Int(Some(attempts as i32)).into(),
        due.into(),
        error_text(error).into(),
        now.into(),
    ]
}

/// An event as its rows keep it (the payload as JSON text).
struct Stored {
    event_id: Uuid,
    topic: String,
    event_key: String,
    payload: String,
    occurred_at: Millis,
}

impl Stored {
    fn of(event: &EventEnvelope) -> Self {
        Stored {
            event_id: event.id,
            topic: event.topic.clone(),
            event_key: event.key.clone(),
            payload: event.payload.to_string(),
            occurred_at: event.occurred_at,
        }
    }
}

fn dead_insert(
    consumer: &str,
    event: &Stored,
    attempts: u32,
    error: &anyhow::Error,
    now: Millis,
) -> Result<sea_orm::sea_query::InsertStatement, DbErr> {
    Ok(Query::insert()
        .into_table(a(DEAD))
        .columns(dead_columns())
        .values([
            surge_kernel::new_id().into(),
            consumer.into(),
            event.event_id.into(),
            event.topic.clone().into(),
            event.event_key.clone().into(),
            event.payload.clone().into(),
            event.occurred_at.into(),
            Value::Int(Some(attempts as i32)).into(),
            error_text(error).into(),
            now.into(),
        ])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let secs: Vec<u64> = (1..=6).map(|n| p.delay_after(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(p.delay_after(u32::MAX).as_secs(), 10);
    }
}
