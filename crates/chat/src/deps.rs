//! What the chat use cases hold in common: the databases, cache, pub/sub, outbox and
//! clock of the foundation and the notifier, wired once (`lib.rs`) and shared.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use surge_kernel::clock::Clock;
use surge_kernel::events::OutboxSignal;
use surge_kernel::module::Foundation;
use surge_kernel::ports::{Cache, Notifier, PubSub};
use uuid::Uuid;

pub(crate) struct Deps {
    pub db: DatabaseConnection,
    pub read_db: DatabaseConnection,
    pub cache: Arc<dyn Cache>,
    pub pubsub: Arc<dyn PubSub>,
    pub clock: Arc<dyn Clock>,
    /// Woken after a commit that wrote an event, so the relay publishes it at once.
    pub outbox: OutboxSignal,
    pub notifier: Arc<dyn Notifier>,
}

impl Deps {
    pub fn new(f: &Foundation, notifier: Arc<dyn Notifier>) -> Arc<Self> {
        Arc::new(Deps {
            db: f.db.clone(),
            read_db: f.read_db.clone(),
            cache: f.cache.clone(),
            pubsub: f.pubsub.clone(),
            clock: f.clock.clone(),
            outbox: f.outbox.clone(),
            notifier,
        })
    }
}

/// The pub/sub channel a room's messages and presence go out on.
pub(crate) fn room_channel(room: Uuid) -> String {
    format!("chat:room:{room}")
}
