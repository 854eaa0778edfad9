//! Tells users what the nightly batch did (renewed, charge failed, back to FREE):
//! consumes the batch's outbox events and sends a notification through the Notifier
//! port, once per event (claimed first; a notification lost to a crash right after the
//! claim is not sent again, as the kernel's rule for effects that may be lost says).

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::DatabaseConnection;
use surge_kernel::clock::Clock;
use surge_kernel::events::EventEnvelope;
use surge_kernel::ports::{notify_once, EventHandler, NewNotification, Notifier};
use uuid::Uuid;

use super::chunk::{TOPIC_CHARGE_FAILED, TOPIC_DOWNGRADED, TOPIC_RENEWED};

pub const CONSUMER: &str = "billing.notices";
pub const TOPICS: &[&str] = &[TOPIC_RENEWED, TOPIC_CHARGE_FAILED, TOPIC_DOWNGRADED];

pub struct Notices {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub notifier: Arc<dyn Notifier>,
}

fn notice(event: &EventEnvelope) -> Option<NewNotification> {
    let p = &event.payload;
    let data = serde_json::json!({"subscription_id": p["subscription_id"]});
    let (kind, title, body) = match event.topic.as_str() {
        TOPIC_RENEWED => (
            "subscription_renewed",
            "PRO renewed",
            format!("{} KRW was charged; PRO continues for another month.", p["amount"]),
        ),
        TOPIC_CHARGE_FAILED => (
            "subscription_charge_failed",
            "PRO renewal failed",
            format!(
                "The monthly charge was declined ({} of {}); it is retried tonight, and PRO ends after the last failure.",
                p["failed_charges"], p["max"]
            ),
        ),
        TOPIC_DOWNGRADED => (
            "subscription_ended",
            "Back to FREE",
            "Your PRO subscription ended; you are on the FREE plan now.".to_owned(),
        ),
        _ => return None,
    };
    Some(NewNotification {
        kind: kind.into(),
        title: title.into(),
        body,
        data,
    })
}

#[async_trait]
impl EventHandler for Notices {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let Some(n) = notice(event) else {
            return Ok(());
        };
        let user: Uuid = serde_json::from_value(event.payload["user_id"].clone())?;
        let now = self.clock.now_ms();
        notify_once(
            &self.db,
            CONSUMER,
            event,
            now,
            self.notifier.as_ref(),
            user,
            n,
        )
        .await
    }
}
