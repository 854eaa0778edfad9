//! What the partner use cases hold in common: the databases and clock of the
//! foundation, the user directory and the notifier, wired once (`lib.rs`) and shared;
//! and the helpers every use case reads with (nicknames, stored conditions).

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use surge_kernel::clock::Clock;
use surge_kernel::module::Foundation;
use surge_kernel::ports::{Nicknames, Notifier, UserDirectory};
use surge_kernel::ApiError;
use uuid::Uuid;

use crate::domain::Conditions;

pub(crate) struct Deps {
    pub db: DatabaseConnection,
    pub read_db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub users: Arc<dyn UserDirectory>,
    pub notifier: Arc<dyn Notifier>,
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
        })
    }

    /// The nicknames of `ids` in one directory lookup. A lookup that fails is an error
    /// (a 500), never shown as a deleted user; only a user who is gone is.
    #[tracing::instrument(skip_all, fields(users = ids.len()))]
    pub async fn nicknames(&self, ids: &[Uuid]) -> Result<Nicknames, ApiError> {
        Ok(Nicknames::lookup(self.users.as_ref(), ids).await?)
    }

    /// The nicknames for the answer to a write that has already committed: a failed
    /// lookup must not turn a done join or comment into a 500 (the client would retry
    /// and get `already_joined`, or post the comment twice), nor show anyone as
    /// deleted.
    pub async fn nicknames_after_write(&self, ids: &[Uuid]) -> Nicknames {
        Nicknames::after_write(self.users.as_ref(), ids).await
    }
}

/// What stored conditions say; a row that does not parse is a 500, never "any".
pub(crate) fn stored_conditions(json: &str) -> Result<Conditions, ApiError> {
    Conditions::from_json(json)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored partner conditions: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use surge_kernel::auth::Role;
    use surge_kernel::ports::{NewNotification, UserSummary};

    use super::*;

    /// A directory that knows `known`, fails on `broken`, and counts its calls.
    struct Directory {
        known: Uuid,
        broken: Option<Uuid>,
        calls: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl UserDirectory for Directory {
        async fn find(&self, _id: Uuid) -> anyhow::Result<Option<UserSummary>> {
            anyhow::bail!("nicknames are looked up together, never one by one")
        }
        async fn find_many(&self, ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, UserSummary>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if ids.iter().any(|id| Some(*id) == self.broken) {
                anyhow::bail!("the directory is down");
            }
            Ok(ids
                .iter()
                .filter(|id| **id == self.known)
                .map(|id| {
                    let u = UserSummary {
                        id: *id,
                        nickname: "혼밥러".into(),
                        email: "solo@example.com".into(),
                        role: Role::User,
                        active: true,
                    };
                    (*id, u)
                })
                .collect())
        }
    }

    struct Silent;

    #[async_trait::async_trait]
    impl Notifier for Silent {
        async fn notify(&self, _user: Uuid, _n: NewNotification) -> anyhow::Result<Uuid> {
            Ok(Uuid::nil())
        }
    }

    fn deps(dir: Arc<Directory>) -> Deps {
        Deps {
            db: DatabaseConnection::Disconnected,
            read_db: DatabaseConnection::Disconnected,
            clock: Arc::new(surge_kernel::clock::SystemClock),
            users: dir,
            notifier: Arc::new(Silent),
        }
    }

    #[tokio::test]
    async fn one_lookup_for_many_and_only_the_missing_show_as_deleted() {
        let (known, gone) = (Uuid::now_v7(), Uuid::now_v7());
        let dir = Arc::new(Directory {
            known,
            broken: None,
            calls: AtomicUsize::new(0),
        });
        let d = deps(dir.clone());
        let names = d.nicknames(&[known, gone, known, gone]).await.unwrap();
        assert_eq!(names.of(known), "혼밥러");
        assert_eq!(names.of(gone), Nicknames::DELETED_USER);
        assert_eq!(dir.calls.load(Ordering::SeqCst), 1);
        d.nicknames(&[]).await.unwrap();
        assert_eq!(dir.calls.load(Ordering::SeqCst), 1, "nobody to look up");
    }

    #[tokio::test]
    async fn a_failed_lookup_is_an_error_not_a_deleted_user() {
        let broken = Uuid::now_v7();
        let d = deps(Arc::new(Directory {
            known: Uuid::now_v7(),
            broken: Some(broken),
            calls: AtomicUsize::new(0),
        }));
        let e = d.nicknames(&[broken]).await.err().unwrap();
        assert_eq!(e.status.as_u16(), 500, "{e}");
        // Answering a write that has committed: the names read as unavailable, not
        // deleted, and the answer is not an error.
        let after = d.nicknames_after_write(&[broken]).await;
        assert_eq!(after.of(broken), Nicknames::UNAVAILABLE);
    }
}
