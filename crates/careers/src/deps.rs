//! What the careers use cases hold in common: the databases and clock of the
//! foundation, the user directory and the notifier, wired once (`lib.rs`) and shared.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use surge_kernel::clock::Clock;
use surge_kernel::events::OutboxSignal;
use surge_kernel::module::Foundation;
use surge_kernel::ports::{NewNotification, Notifier, UserDirectory};
use uuid::Uuid;

pub(crate) struct Deps {
    pub db: DatabaseConnection,
    pub read_db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub users: Arc<dyn UserDirectory>,
    pub notifier: Arc<dyn Notifier>,
    /// Woken after a commit that wrote an event, so the relay publishes it at once.
    pub outbox: OutboxSignal,
}

impl Deps {
    pub fn new(
        f: &Foundation,
        users: Arc<dyn UserDirectory>,
        notifier: Arc<dyn Notifier>,
    ) -> Arc<Self> {
        Arc::new(Deps {
            db: f.db.clone(),
            read_db: f.read_db.clone(),
            clock: f.clock.clone(),
            users,
            notifier,
            outbox: f.outbox.clone(),
        })
    }

    /// Sends a notification after the change committed; a failure is logged, never
    /// undoes the change.
    #[tracing::instrument(skip(self, n), fields(kind = %n.kind))]
    pub async fn notify(&self, user: Uuid, n: NewNotification) -> anyhow::Result<()> {
        self.notifier.notify(user, n).await.map(|_| ())
    }

    /// [`Deps::notify`], logging a failure instead of returning it.
    pub async fn tell(&self, user: Uuid, n: NewNotification) {
        if let Err(e) = self.notify(user, n).await {
            tracing::warn!(error = ?e, %user, "careers notification failed");
        }
    }
}
