//! `UserDirectory` for other modules: who a user id is (nickname, role, active).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use surge_kernel::ports::{UserDirectory, UserSummary};
use uuid::Uuid;

use crate::entities::{oauth_identity, user};
use crate::service::IdentityService;

/// Reads from the read pool (a replica when there is one). A user whose stored role is
/// unknown fails the lookup (the read errors), never passes as some default role.
pub struct Directory(pub Arc<IdentityService>);

#[async_trait]
impl UserDirectory for Directory {
    #[tracing::instrument(skip(self))]
    async fn find(&self, id: Uuid) -> anyhow::Result<Option<UserSummary>> {
        let u = user::Entity::find_by_id(id).one(&self.0.read_db).await?;
        Ok(u.map(summary))
    }

    #[tracing::instrument(skip_all, fields(ids = ids.len()))]
    async fn find_many(&self, ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, UserSummary>> {
        let mut found = HashMap::with_capacity(ids.len());
        // Bounded IN lists: every backend takes a few hundred parameters at once.
        for chunk in ids.chunks(500) {
            let rows = user::Entity::find()
                .filter(user::Column::Id.is_in(chunk.iter().copied()))
                .all(&self.0.read_db)
                .await?;
            found.extend(rows.into_iter().map(|u| (u.id, summary(u))));
        }
        Ok(found)
    }

    async fn linked_login(&self, id: Uuid, provider: &str) -> anyhow::Result<Option<String>> {
        // From the primary: a user who just signed in with the provider is asking.
        let link = oauth_identity::Entity::find()
            .filter(oauth_identity::Column::UserId.eq(id))
            .filter(oauth_identity::Column::Provider.eq(provider))
            .one(&self.0.db)
            .await?;
        Ok(link.and_then(|l| l.login))
    }
}

fn summary(u: user::Model) -> UserSummary {
    UserSummary {
        id: u.id,
        role: u.role,
        nickname: u.nickname,
        email: u.email,
        active: u.active,
    }
}
