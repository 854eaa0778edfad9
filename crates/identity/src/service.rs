//! The identity service: its configuration, the state every use case shares, the views
//! it answers with, and password hashing. The use cases are `impl IdentityService`
//! blocks in their own files: `accounts.rs`, `sessions.rs`, `admin.rs` and
//! `oauth/linking.rs`; `directory.rs` answers other modules' user lookups.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sea_orm::{DatabaseConnection, EntityTrait};
use secrecy::SecretString;
use serde::Serialize;
use surge_kernel::auth::Role;
use surge_kernel::clock::Clock;
use surge_kernel::events::OutboxSignal;
use surge_kernel::ports::{Cache, PubSub};
use surge_kernel::{rfc3339, ApiError, Millis};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::domain::Password;
use crate::entities::user;
use crate::live::LiveStreams;
use crate::oauth::providers::ProviderConfig;
use crate::tokens::JwtKeys;

pub const TOPIC_USER_REGISTERED: &str = "identity.user_registered";
pub const TOPIC_USER_DEACTIVATED: &str = "identity.user_deactivated";

/// Failed-login throttling: at most `per_account` failures per account and `per_ip`
/// per client address within `window`; successful logins are never counted.
#[derive(Debug, Clone)]
pub struct LoginLimits {
    pub per_account: i64,
    pub per_ip: i64,
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_ip: 30,
            window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Clone)]
pub struct IdentityConfig {
    pub jwt_secret: SecretString,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub login_limits: LoginLimits,
    pub oauth: Vec<ProviderConfig>,
    /// `Secure` on the refresh cookie; off only for plain-HTTP local development.
    pub secure_cookies: bool,
    /// Live streams (SSE) one user may keep open per instance; the oldest closes first.
    pub max_streams_per_user: usize,
    /// OAuth logins one client address may start per minute (each stores a state).
    pub oauth_starts_per_minute: i64,
    /// Reverse proxies in front of the server whose `X-Forwarded-For` entries are
    /// trusted when finding a client's address (0: use the socket's peer address).
    pub trusted_proxy_hops: usize,
}

impl IdentityConfig {
    pub fn new(jwt_secret: SecretString) -> Self {
        Self {
            jwt_secret,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(14 * 24 * 60 * 60),
            login_limits: LoginLimits::default(),
            oauth: Vec::new(),
            secure_cookies: true,
            max_streams_per_user: 5,
            oauth_starts_per_minute: 20,
            trusted_proxy_hops: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub nickname: String,
    pub role: Role,
    pub active: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl From<user::Model> for UserView {
    fn from(u: user::Model) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            role: u.role,
            nickname: u.nickname,
            active: u.active,
            created_at: rfc3339(u.created_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
}

pub struct IdentityService {
    pub(crate) db: DatabaseConnection,
    pub(crate) read_db: DatabaseConnection,
    /// Revoked-session markers and throttling counters: the foundation's non-evicting
    /// store (see `Foundation::security`).
    pub(crate) security: Arc<dyn Cache>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) outbox: OutboxSignal,
    pub(crate) keys: JwtKeys,
    pub(crate) cfg: IdentityConfig,
    pub(crate) hashing: Semaphore,
    pub(crate) dummy_hash: String,
    pub(crate) pubsub: Arc<dyn PubSub>,
    /// Sessions found not revoked within the last [`CHECKED_FOR`]: their requests skip
    /// the shared-cache lookup. A revocation removes the session here on every instance
    /// at once (over pub/sub), and [`CHECKED_FOR`] bounds it if that message is lost.
    pub(crate) checked: moka::future::Cache<Uuid, ()>,
    pub(crate) live: Arc<LiveStreams>,
}

/// How long a session found not revoked is trusted without asking the shared cache.
pub(crate) const CHECKED_FOR: Duration = Duration::from_secs(1);

/// Longest password a check looks at: a huge "password" would only cost argon2 time.
pub(crate) const MAX_PASSWORD_LEN: usize = 1024;

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id baseline: m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl IdentityService {
    pub fn new(f: &surge_kernel::module::Foundation, cfg: IdentityConfig) -> anyhow::Result<Self> {
        let dummy_hash = argon2()
            .hash_password(b"not a real password", &SaltString::generate(&mut OsRng))
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string();
        let cfg_streams = cfg.max_streams_per_user;
        Ok(Self {
            db: f.db.clone(),
            read_db: f.read_db.clone(),
            security: f.security.clone(),
            clock: f.clock.clone(),
            outbox: f.outbox.clone(),
            keys: JwtKeys::new(&cfg.jwt_secret),
            cfg,
            // argon2 takes 19 MiB and tens of milliseconds per hash: bound how many run at once.
            hashing: Semaphore::new(4),
            dummy_hash,
            pubsub: f.pubsub.clone(),
            checked: moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(CHECKED_FOR)
                .build(),
            live: Arc::new(LiveStreams::new(cfg_streams)),
        })
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.cfg
    }

    pub(crate) async fn hash_password(&self, password: &Password) -> Result<String, ApiError> {
        let _permit = self.hashing.acquire().await.map_err(ApiError::internal)?;
        let pw = password.expose().to_owned();
        tokio::task::spawn_blocking(move || {
            argon2()
                .hash_password(pw.as_bytes(), &SaltString::generate(&mut OsRng))
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2: {e}"))
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
    }

    pub(crate) async fn verify_password(
        &self,
        password: &str,
        hash: Option<&str>,
    ) -> Result<bool, ApiError> {
        let _permit = self.hashing.acquire().await.map_err(ApiError::internal)?;
        let pw = password.to_owned();
        // Unknown accounts still pay for a verification, so timing does not reveal them.
        let (hash, real) = match hash {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy_hash.clone(), false),
        };
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| argon2().verify_password(pw.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .map_err(ApiError::internal)?;
        Ok(ok && real)
    }

    pub(crate) fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    pub(crate) async fn load_user(&self, id: Uuid) -> Result<user::Model, ApiError> {
        user::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::not_found("no such user"))
    }
}
