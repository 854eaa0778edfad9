//! Domain events: the envelope, the transactional outbox, and idempotent consumption.
//!
//! A module writes its event with [`enqueue`] in the same transaction as the change it
//! describes; the relay (in `surge-infra`) publishes outbox rows to the `EventBus`; a
//! consumer applies its effect in the transaction [`claim`] opens (which records the
//! event as handled), so a redelivered event has no second effect.

use std::sync::Arc;

use sea_orm::sea_query::{Alias, Expr, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Millis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub id: Uuid,
    /// `<module>.<event>`, e.g. `identity.user_registered`.
    pub topic: String,
    /// The aggregate the event is about (keeps per-aggregate order where the bus can).
    pub key: String,
    pub payload: serde_json::Value,
    pub occurred_at: Millis,
}

impl EventEnvelope {
    pub fn new(topic: &str, key: impl ToString, payload: serde_json::Value, now: Millis) -> Self {
        Self {
            id: crate::new_id(),
            topic: topic.to_owned(),
            key: key.to_string(),
            payload,
            occurred_at: now,
        }
    }

    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<T> {
        Ok(serde_json::from_value(self.payload.clone())?)
    }
}

/// The columns an event is stored in, in the outbox and in the retry and dead-letter
/// tables of `surge-infra` (with the row's own columns before and after): one definition
/// of the stored form, see [`event_columns`] and [`stored_values`].
pub const EVENT_COLUMNS: [&str; 4] = ["topic", "event_key", "payload", "occurred_at"];

/// `before`, then [`EVENT_COLUMNS`], then `after`: a table's columns for a statement.
pub fn event_columns(before: &[&str], after: &[&str]) -> Vec<Alias> {
    before
        .iter()
        .chain(EVENT_COLUMNS.iter())
        .chain(after)
        .map(|c| Alias::new(*c))
        .collect()
}

/// `event`'s values for [`EVENT_COLUMNS`] (the payload as JSON text).
pub fn stored_values(event: &EventEnvelope) -> [SimpleExpr; 4] {
    [
        event.topic.clone().into(),
        event.key.clone().into(),
        event.payload.to_string().into(),
        event.occurred_at.into(),
    ]
}

/// Writes the event into the outbox on `conn` (pass the open transaction).
pub async fn enqueue(conn: &impl ConnectionTrait, event: &EventEnvelope) -> Result<(), DbErr> {
    enqueue_many(conn, std::slice::from_ref(event)).await
}

/// Writes several events with one multi-row insert (group commits use this).
pub async fn enqueue_many(
    conn: &impl ConnectionTrait,
    events: &[EventEnvelope],
) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    let mut stmt = Query::insert()
        .into_table(Alias::new("outbox"))
        .columns(event_columns(&["id"], &["attempts"]))
        .to_owned();
    for event in events {
        let [topic, key, payload, occurred_at] = stored_values(event);
        stmt.values([
            event.id.into(),
            topic,
            key,
            payload,
            occurred_at,
            0i32.into(),
        ])
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    conn.execute(conn.get_database_backend().build(&stmt))
        .await?;
    Ok(())
}

/// Records that `consumer` handled `event_id`. `false` means it already had: skip the
/// effect. Call inside the transaction that applies the effect.
async fn mark_handled(
    conn: &impl ConnectionTrait,
    consumer: &str,
    event_id: Uuid,
    now: Millis,
) -> Result<bool, DbErr> {
    let stmt = Query::insert()
        .into_table(Alias::new("processed_events"))
        .columns([
            Alias::new("consumer"),
            Alias::new("event_id"),
            Alias::new("handled_at"),
        ])
        .values([consumer.into(), event_id.into(), now.into()])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    crate::sql::insert_if_absent(conn, stmt, &["consumer", "event_id"]).await
}

/// Exactly-once handling of one event by one consumer: opens a transaction and records
/// in it that `consumer` handled `event_id`. `None` means an earlier delivery already
/// committed its effect: do nothing. Otherwise apply the effect in the returned
/// transaction and commit it; the record and the effect land together or not at all
/// (dropping the transaction rolls both back, and the redelivery tries again).
///
/// Work that cannot be rolled back (a gateway call) goes before the claim and must be
/// idempotent at its end; work that may be lost (a notification) goes after the commit.
pub async fn claim(
    db: &DatabaseConnection,
    consumer: &str,
    event_id: Uuid,
    now: Millis,
) -> Result<Option<DatabaseTransaction>, DbErr> {
    let txn = db.begin().await?;
    Ok(mark_handled(&txn, consumer, event_id, now)
        .await?
        .then_some(txn))
}

/// Wakes the outbox relay right after a commit, so events do not wait for its next poll.
#[derive(Clone, Default)]
pub struct OutboxSignal(Arc<tokio::sync::Notify>);

impl OutboxSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }
    pub async fn woken(&self) {
        self.0.notified().await;
    }
}

/// Whether `consumer` already handled `event_id`: for handlers whose effect cannot sit
/// inside a transaction (an e-mail), checked before acting.
pub async fn is_handled(
    conn: &impl ConnectionTrait,
    consumer: &str,
    event_id: Uuid,
) -> Result<bool, DbErr> {
    let stmt = Query::select()
        .expr(Expr::val(1))
        .from(Alias::new("processed_events"))
        .and_where(Expr::col(Alias::new("consumer")).eq(consumer))
        .and_where(Expr::col(Alias::new("event_id")).eq(event_id))
        .to_owned();
    Ok(conn
        .query_one(conn.get_database_backend().build(&stmt))
        .await?
        .is_some())
}
