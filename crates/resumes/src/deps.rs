//! What the resume use cases hold in common: the databases and clock of the
//! foundation, the user directory (owners' and commenters' nicknames), billing's daily
//! quota and the outbox signal, wired once (`lib.rs`) and shared.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use surge_kernel::clock::Clock;
use surge_kernel::events::OutboxSignal;
use surge_kernel::module::Foundation;
use surge_kernel::plans::UsageQuota;
use surge_kernel::ports::{Nicknames, UserDirectory};
use surge_kernel::ApiError;
use uuid::Uuid;

pub(crate) struct Deps {
    pub db: DatabaseConnection,
    pub read_db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub users: Arc<dyn UserDirectory>,
    pub quota: Arc<dyn UsageQuota>,
    pub outbox: OutboxSignal,
}

impl Deps {
    pub fn new(
        f: &Foundation,
        users: Arc<dyn UserDirectory>,
        quota: Arc<dyn UsageQuota>,
    ) -> Arc<Self> {
        Arc::new(Deps {
            db: f.db.clone(),
            read_db: f.read_db.clone(),
            clock: f.clock.clone(),
            users,
            quota,
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
}
