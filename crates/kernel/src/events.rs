//! Domain events: the envelope, the transactional outbox, and idempotent consumption.
//!
//! A module writes its event with [`enqueue`] in the same transaction as the change it
//! describes; the relay (in `surge-infra`) publishes outbox rows to the `EventBus`; a
//! consumer calls [`mark_handled`] in the transaction of its effect, so a redelivered
//! event has no second effect.

use std::sync::Arc;

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DbErr};
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
        .columns([
            Alias::new("id"),
            Alias::new("topic"),
            Alias::new("event_key"),
            Alias::new("payload"),
            Alias::new("occurred_at"),
            Alias::new("attempts"),
        ])
        .to_owned();
    for event in events {
        stmt.values([
            event.id.into(),
            event.topic.clone().into(),
            event.key.clone().into(),
            event.payload.to_string().into(),
            event.occurred_at.into(),
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
pub async fn mark_handled(
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
