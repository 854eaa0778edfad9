//! OAuth account linking: signs in the account linked to a provider identity, linking
//! an existing account by a verified email or creating one on first login.

use std::time::Duration;

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use surge_kernel::auth::Role;
use surge_kernel::ApiError;

use super::providers::Profile;
use crate::domain::{Email, Nickname};
use crate::entities::{oauth_identity, user};
use crate::service::{IdentityService, TokenPair};
use crate::sessions::client_bucket;

impl IdentityService {
    /// Counts an OAuth login start from `ip`; 429 beyond the per-minute limit. Every
    /// start stores a one-time state, so unauthenticated clients must not start
    /// unboundedly many.
    #[tracing::instrument(skip_all)]
    pub async fn count_oauth_start(&self, ip: &str) -> Result<(), ApiError> {
        let key = format!("identity:oauth_start:{}", client_bucket(ip));
        if self.security.incr(&key, Duration::from_secs(60)).await?
            > self.cfg.oauth_starts_per_minute
        {
            let retry = self.security.ttl_secs(&key).await?.unwrap_or(60);
            return Err(ApiError::too_many(
                retry,
                "too many logins started from this address; try again shortly",
            ));
        }
        Ok(())
    }

    /// Signs in the user linked to this provider identity, linking or creating the
    /// account on first login.
    #[tracing::instrument(skip(self, profile))]
    pub(crate) async fn oauth_login(
        &self,
        provider: &str,
        profile: &Profile,
    ) -> Result<TokenPair, ApiError> {
        let linked =
            oauth_identity::Entity::find_by_id((provider.to_owned(), profile.subject.clone()))
                .one(&self.db)
                .await?;
        let user = match linked {
            Some(link) => {
                if link.login != profile.login {
                    // Renamed at the provider since the last sign-in.
                    oauth_identity::Entity::update_many()
                        .col_expr(
                            oauth_identity::Column::Login,
                            sea_orm::sea_query::Expr::value(profile.login.clone()),
                        )
                        .filter(oauth_identity::Column::Provider.eq(provider))
                        .filter(oauth_identity::Column::Subject.eq(profile.subject.clone()))
                        .exec(&self.db)
                        .await?;
                }
                self.load_user(link.user_id).await?
            }
            None => self.link_or_create(provider, profile).await?,
        };
        if !user.active {
            return Err(ApiError::forbidden(
                "account_deactivated",
                "this account has been deactivated",
            ));
        }
        self.open_session(&user).await
    }

    async fn link_or_create(
        &self,
        provider: &str,
        profile: &Profile,
    ) -> Result<user::Model, ApiError> {
        let verified_email = profile
            .email
            .as_deref()
            .filter(|_| profile.email_verified)
            .and_then(|e| Email::parse(e).ok());
        let existing = match &verified_email {
            Some(e) => {
                user::Entity::find()
                    .filter(user::Column::Email.eq(e.as_str()))
                    .one(&self.db)
                    .await?
            }
            None => None,
        };
        let now = self.now();
        let base = Nickname::sanitized(&profile.nickname);
        for attempt in 0..10u32 {
            let txn = self.db.begin().await?;
            let user = match &existing {
                Some(u) => u.clone(),
                None => {
                    let email = verified_email
                        .clone()
                        .unwrap_or_else(|| Email::placeholder(provider, &profile.subject));
                    let nickname = if attempt == 0 {
                        base.clone()
                    } else {
                        base.with_suffix(rand::random::<u32>() % 10_000)
                    };
                    match self
                        .insert_user(&txn, &email, &nickname, None, Role::User)
                        .await
                    {
                        Ok(u) => u,
                        Err(e) if e.code == "nickname_taken" => continue,
                        Err(e) => return Err(e),
                    }
                }
            };
            oauth_identity::ActiveModel {
                provider: Set(provider.to_owned()),
                subject: Set(profile.subject.clone()),
                user_id: Set(user.id),
                created_at: Set(now),
                login: Set(profile.login.clone()),
            }
            .insert(&txn)
            .await?;
            txn.commit().await?;
            self.outbox.wake();
            return Ok(user);
        }
        Err(ApiError::conflict(
            "nickname_taken",
            "could not find a free nickname for this account",
        ))
    }
}
