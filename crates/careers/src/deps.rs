//! What the careers use cases hold in common: the databases and clock of the
//! foundation, the user directory and the notifier, wired once (`lib.rs`) and shared.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use surge_kernel::clock::Clock;
use surge_kernel::events::OutboxSignal;
use surge_kernel::module::Foundation;
use surge_kernel::ports::{NewNotification, Notifier, UserDirectory};
use uuid::Uuid;

use crate::entities::posting;

pub(crate) struct Deps {
    pub db: DatabaseConnection,
    pub read_db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub users: Arc<dyn UserDirectory>,
    pub notifier: Arc<dyn Notifier>,
    /// Woken after a commit that wrote an event, so the relay publishes it at once.
    pub outbox: OutboxSignal,
    /// Postings as last read for a search page, by id: forgotten when this instance
    /// changes one (after the commit) and when any instance's change reaches the index
    /// feed here; kept at most [`ROWS_TTL`] whatever happens.
    pub rows: moka::future::Cache<Uuid, posting::Model>,
}

/// The longest a kept posting row is shown without being read again.
pub const ROWS_TTL: Duration = Duration::from_secs(30);

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
            rows: moka::future::Cache::builder()
                .max_capacity(50_000)
                .time_to_live(ROWS_TTL)
                .build(),
        })
    }

    /// After a commit that changed the posting `id`: publish its event now, and read it
    /// again the next time a page shows it.
    pub async fn posting_changed(&self, id: Uuid) {
        self.rows.invalidate(&id).await;
        self.outbox.wake();
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
