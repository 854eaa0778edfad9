//! What the community use cases hold in common: the databases and clock of the
//! foundation, the user directory (authors' nicknames) and the notifier, wired once
//! (`lib.rs`) and shared.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use surge_kernel::clock::Clock;
use surge_kernel::events::OutboxSignal;
use surge_kernel::module::Foundation;
use surge_kernel::ports::{NewNotification, Nicknames, Notifier, UserDirectory};
use surge_kernel::ApiError;
use uuid::Uuid;

pub(crate) struct Deps {
    pub db: DatabaseConnection,
    pub read_db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub users: Arc<dyn UserDirectory>,
    pub notifier: Arc<dyn Notifier>,
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

    /// The nicknames of `ids` in one directory lookup (see [`Nicknames`]); after a
    /// committed write a failed lookup reads as unavailable instead of a 500.
    pub async fn nicknames(&self, ids: &[Uuid], after_write: bool) -> Result<Nicknames, ApiError> {
        if after_write {
            return Ok(Nicknames::after_write(self.users.as_ref(), ids).await);
        }
        Ok(Nicknames::lookup(self.users.as_ref(), ids).await?)
    }

    /// Sends a notification after the change committed; a failure is logged, never
    /// undoes the change.
    pub async fn tell(&self, user: Uuid, n: NewNotification) {
        if let Err(e) = self.notifier.notify(user, n).await {
            tracing::warn!(error = ?e, %user, "community notification failed");
        }
    }
}
