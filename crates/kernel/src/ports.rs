//! Infrastructure ports. Adapters live in `surge-infra`; every adapter of a port passes
//! the same contract suite in `surge-testkit`. Errors are unexpected failures only
//! (a missing key is `Ok(None)`, not an error), so they are `anyhow`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use uuid::Uuid;

use crate::events::EventEnvelope;

/// Short-lived shared values: read caches, rate-limit counters, one-time states.
#[async_trait]
pub trait Cache: Send + Sync + 'static {
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> anyhow::Result<()>;
    async fn delete(&self, key: &str) -> anyhow::Result<()>;
    /// Stores only if the key is absent; `true` if this call stored it.
    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> anyhow::Result<bool>;
    /// Reads and removes in one atomic step: a value is taken at most once.
    async fn take(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Adds one and returns the new count; the first increment starts the TTL.
    async fn incr(&self, key: &str, ttl: Duration) -> anyhow::Result<i64>;
    /// Takes one back from a live counter (an attempt counted up front that turned out
    /// not to count); never creates a key and keeps its TTL.
    async fn decr(&self, key: &str) -> anyhow::Result<()>;
    /// Seconds until the key expires, if it exists and has a TTL.
    async fn ttl_secs(&self, key: &str) -> anyhow::Result<Option<u64>>;
    async fn ping(&self) -> anyhow::Result<()>;
}

/// Fan-out of live messages to whoever is subscribed now (SSE streams, chat sockets).
/// Not durable: a message published while nobody listens is gone.
#[async_trait]
pub trait PubSub: Send + Sync + 'static {
    async fn publish(&self, channel: &str, payload: Vec<u8>) -> anyhow::Result<()>;
    /// Messages published on `channel` from now on, until the stream is dropped.
    async fn subscribe(&self, channel: &str) -> anyhow::Result<BoxStream<'static, Vec<u8>>>;
    async fn ping(&self) -> anyhow::Result<()>;
}

/// Handles one event. Must be idempotent: the bus delivers at least once.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()>;
}

/// Durable-ish delivery of domain events between modules. The outbox relay is the only
/// publisher; modules write events into the outbox inside their own transaction.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Returns once the event is accepted: handed to every local subscriber and handled
    /// (in-process), or stored by the broker (JetStream). An error means "try again".
    async fn publish(&self, event: &EventEnvelope) -> anyhow::Result<()>;
    /// Delivers every event whose topic is in `topics` to `handler`, under a durable
    /// consumer name: instances sharing a name share the work.
    async fn subscribe(
        &self,
        consumer: &str,
        topics: &[&str],
        handler: Arc<dyn EventHandler>,
    ) -> anyhow::Result<()>;
    async fn ping(&self) -> anyhow::Result<()>;
}

/// A notification any module can send to a user.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewNotification {
    /// Stable kind, e.g. `welcome`, `room_joined`.
    pub kind: String,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub data: serde_json::Value,
}

impl NewNotification {
    /// "Refund complete": `amount` KRW went back to the buyer (`kind` names what was
    /// refunded, e.g. `order_refunded`; `data` points at it).
    pub fn refund_complete(kind: &str, amount: i64, data: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            title: "Refund complete".into(),
            body: format!("{amount} KRW was refunded."),
            data,
        }
    }
}

/// Stores a notification for a user and pushes it to their live streams.
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    async fn notify(&self, user_id: Uuid, notification: NewNotification) -> anyhow::Result<Uuid>;
}

/// Sends `n` to `user` once per event: the event is claimed for `consumer` first, so a
/// redelivery sends nothing; a notification lost to a crash right after the claim is
/// not sent again (the rule for effects that may be lost, see [`crate::events::claim`]).
/// A failed send is logged, never retried.
pub async fn notify_once(
    db: &sea_orm::DatabaseConnection,
    consumer: &str,
    event: &EventEnvelope,
    now: crate::Millis,
    notifier: &dyn Notifier,
    user: Uuid,
    n: NewNotification,
) -> anyhow::Result<()> {
    let Some(txn) = crate::events::claim(db, consumer, event.id, now).await? else {
        return Ok(());
    };
    txn.commit().await?;
    if let Err(e) = notifier.notify(user, n).await {
        tracing::warn!(error = %e, event = %event.id, consumer, "a notification was not sent");
    }
    Ok(())
}

/// What other modules may know about a user, without reading identity's tables.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserSummary {
    pub id: Uuid,
    pub nickname: String,
    pub email: String,
    pub role: crate::auth::Role,
    pub active: bool,
}

#[async_trait]
pub trait UserDirectory: Send + Sync + 'static {
    /// `Ok(None)`: no such user (never existed or deleted).
    async fn find(&self, id: Uuid) -> anyhow::Result<Option<UserSummary>>;
    /// Many users in one lookup (a room's members, a page of comments). Ids with no
    /// user are absent from the map.
    async fn find_many(
        &self,
        ids: &[Uuid],
    ) -> anyhow::Result<std::collections::HashMap<Uuid, UserSummary>>;
    /// The login name of the account the user linked at `provider` (`github`) by
    /// signing in with it; `None` when there is none (or the directory keeps no logins).
    async fn linked_login(&self, _id: Uuid, _provider: &str) -> anyhow::Result<Option<String>> {
        Ok(None)
    }
}

/// Nicknames of several users, looked up together (one `find_many`): a user who is gone
/// shows as deleted; when the lookup itself failed after a committed write, every name
/// reads as unavailable (never as deleted).
#[derive(Debug, Clone)]
pub struct Nicknames {
    found: std::collections::HashMap<Uuid, String>,
    otherwise: &'static str,
}

impl Nicknames {
    /// What a user with no account any more is shown as.
    pub const DELETED_USER: &'static str = "(탈퇴한 사용자)";
    /// Shown for every name when the directory could not be asked (after a write only).
    pub const UNAVAILABLE: &'static str = "(이름을 불러오지 못함)";

    /// The nicknames of `ids` (duplicates allowed) in one lookup; a failed lookup is an
    /// error, never a deleted user.
    pub async fn lookup(users: &dyn UserDirectory, ids: &[Uuid]) -> anyhow::Result<Self> {
        let mut unique = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let found = if unique.is_empty() {
            Default::default()
        } else {
            users.find_many(&unique).await?
        };
        Ok(Self {
            found: found.into_iter().map(|(id, u)| (id, u.nickname)).collect(),
            otherwise: Self::DELETED_USER,
        })
    }

    /// For the answer to a write that already committed: a failed lookup must not turn
    /// the done write into a 500 (the client would send it again), so the names then
    /// read as unavailable and the failure is logged.
    pub async fn after_write(users: &dyn UserDirectory, ids: &[Uuid]) -> Self {
        Self::lookup(users, ids).await.unwrap_or_else(|e| {
            tracing::warn!(error = ?e, "user directory lookup failed after a write");
            Self {
                found: Default::default(),
                otherwise: Self::UNAVAILABLE,
            }
        })
    }

    pub fn of(&self, id: Uuid) -> String {
        self.found
            .get(&id)
            .cloned()
            .unwrap_or_else(|| self.otherwise.to_owned())
    }
}

/// One plain-text e-mail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Sends e-mail. Adapters: SMTP (lettre) and an in-memory recorder for embedded runs
/// and tests. An error means "not sent, try again later".
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, mail: &Mail) -> anyhow::Result<()>;
}

/// Posts a line to a team chat channel (Slack incoming webhook). Optional: modules
/// take an `Option<Arc<dyn ChatNotifier>>` and skip it when none is configured.
#[async_trait]
pub trait ChatNotifier: Send + Sync + 'static {
    async fn post(&self, text: &str) -> anyhow::Result<()>;
}

/// Stored files (uploaded images), written and read whole by key (`community/images/<id>`).
/// Adapters: a local directory (embedded) through the `object_store` crate. Errors are
/// failures to reach the store; a missing object is `Ok(None)`.
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Stores `bytes` under `key`, replacing what was there.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> anyhow::Result<()>;
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Removes the object; removing a missing one is fine.
    async fn delete(&self, key: &str) -> anyhow::Result<()>;
}

/// Whether a user completed (had approved) a daily mission on a Korean day: asked by
/// shop for mission-gated coupons, answered by community without either reading the
/// other's tables.
#[async_trait]
pub trait MissionCompletions: Send + Sync + 'static {
    /// `day` is the KST calendar day ([`crate::clock::kst::day`]).
    async fn completed_on(&self, user_id: Uuid, day: chrono::NaiveDate) -> anyhow::Result<bool>;
}
