//! The welcome: every new account's first notification, sent when identity announces
//! the registration.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use surge_kernel::events::{claim, EventEnvelope};
use surge_kernel::ports::EventHandler;
use uuid::Uuid;

use crate::domain::welcome;
use crate::inbox::NotificationService;

pub const TOPIC_USER_REGISTERED: &str = "identity.user_registered";
pub const WELCOME_CONSUMER: &str = "notifications.welcome";

/// Greets every new account, exactly once however often the event is delivered.
pub struct Welcome(pub Arc<NotificationService>);

#[derive(Deserialize)]
struct UserRegistered {
    user_id: Uuid,
    nickname: String,
}

#[async_trait]
impl EventHandler for Welcome {
    #[tracing::instrument(skip_all, fields(event_id = %event.id))]
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let e: UserRegistered = event.payload_as()?;
        let svc = &self.0;
        let Some(txn) = claim(&svc.db, WELCOME_CONSUMER, event.id, svc.clock.now_ms()).await?
        else {
            return Ok(());
        };
        let view = svc.store(&txn, e.user_id, welcome(&e.nickname)).await?;
        txn.commit().await?;
        // After the commit: a lost push is found in the list or the stream's replay.
        svc.push(e.user_id, &view).await;
        Ok(())
    }
}
