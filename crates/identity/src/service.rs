//! Identity use cases: accounts, password login, token rotation, sessions, roles.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use secrecy::SecretString;
use serde::Serialize;
use surge_kernel::auth::{AccessTokens, AuthUser, Role, StreamEnd};
use surge_kernel::clock::Clock;
use surge_kernel::error::unique_violation;
use surge_kernel::events::{enqueue, EventEnvelope, OutboxSignal};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ports::{Cache, PubSub, UserDirectory, UserSummary};
use surge_kernel::{new_id, rfc3339, ApiError, Millis};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::domain::{Email, InvalidInput, Nickname, Password};
use crate::live::{self, LiveStreams};
use crate::store::{oauth_identity, refresh_token, user};
use crate::tokens::{hash_refresh_token, new_refresh_token, Claims, JwtKeys, TokenError};

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
    pub oauth: Vec<crate::oauth::ProviderConfig>,
    /// `Secure` on the refresh cookie; off only for plain-HTTP local development.
    pub secure_cookies: bool,
    /// Live streams (SSE) one user may keep open per instance; the oldest closes first.
    pub max_streams_per_user: usize,
    /// OAuth logins one client address may start per minute (each stores a state).
    pub oauth_starts_per_minute: i64,
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
            role: Role::parse(&u.role).unwrap_or(Role::User),
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
    db: DatabaseConnection,
    read_db: DatabaseConnection,
    /// Revoked-session markers and throttling counters: the foundation's non-evicting
    /// store (see `Foundation::security`).
    security: Arc<dyn Cache>,
    clock: Arc<dyn Clock>,
    outbox: OutboxSignal,
    keys: JwtKeys,
    pub(crate) cfg: IdentityConfig,
    hashing: Semaphore,
    dummy_hash: String,
    pubsub: Arc<dyn PubSub>,
    /// Sessions found not revoked within the last [`CHECKED_FOR`]: their requests skip
    /// the shared-cache lookup. A revocation removes the session here on every instance
    /// at once (over pub/sub), and [`CHECKED_FOR`] bounds it if that message is lost.
    checked: moka::future::Cache<Uuid, ()>,
    live: Arc<LiveStreams>,
}

/// Pub/sub channel on which every instance hears of revoked sessions.
const REVOKED_CHANNEL: &str = "identity.session_revoked";
/// How long a session found not revoked is trusted without asking the shared cache.
const CHECKED_FOR: Duration = Duration::from_secs(1);

fn bad_input(e: InvalidInput) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        e.code(),
        e.to_string(),
    )
}

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id baseline: m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Longest e-mail address (RFC 5321's path limit) and password a login looks at.
const MAX_EMAIL_LEN: usize = 254;
const MAX_PASSWORD_LEN: usize = 1024;

/// What per-address throttling counts by: the address, or for IPv6 its /64 (one
/// subscriber gets a whole /64, so counting single addresses would not limit anyone).
/// Always short, whatever the input.
pub(crate) fn client_bucket(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Err(_) => ip.chars().take(64).collect(),
    }
}

fn revoked_key(session: Uuid) -> String {
    format!("identity:revoked_session:{session}")
}

fn taken(err: &sea_orm::DbErr) -> Option<ApiError> {
    let msg = unique_violation(err)?;
    Some(if msg.contains("nickname") {
        ApiError::conflict("nickname_taken", "that nickname is already in use")
    } else {
        ApiError::conflict("email_taken", "an account with that email already exists")
    })
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

    /// Forgets sessions that another instance revoked (runs for the life of the server).
    pub async fn watch_revocations(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.pubsub.subscribe(REVOKED_CHANNEL).await {
                Ok(mut stream) => {
                    backoff = Duration::from_millis(100);
                    // Whatever was revoked while we were not listening.
                    self.checked.invalidate_all();
                    let _ = self.live.revoked.send(live::RECHECK_ALL);
                    while let Some(msg) = futures::StreamExt::next(&mut stream).await {
                        if let Ok(sid) = Uuid::from_slice(&msg) {
                            self.checked.invalidate(&sid).await;
                            let _ = self.live.revoked.send(sid);
                        }
                    }
                    tracing::warn!("revocation subscription ended; subscribing again");
                }
                Err(e) => tracing::warn!(error = ?e, "subscribing to session revocations failed"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn hash_password(&self, password: &Password) -> Result<String, ApiError> {
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

    async fn verify_password(&self, password: &str, hash: Option<&str>) -> Result<bool, ApiError> {
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

    fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    // ---- accounts ----

    pub async fn signup(
        &self,
        email: &str,
        password: &str,
        nickname: &str,
    ) -> Result<UserView, ApiError> {
        let email = Email::parse(email).map_err(bad_input)?;
        let nickname = Nickname::parse(nickname).map_err(bad_input)?;
        let password = Password::parse(password).map_err(bad_input)?;
        self.create_user(&email, Some(&password), &nickname, Role::User)
            .await
    }

    /// Creates an account; the unique indexes decide races between concurrent signups.
    pub async fn create_user(
        &self,
        email: &Email,
        password: Option<&Password>,
        nickname: &Nickname,
        role: Role,
    ) -> Result<UserView, ApiError> {
        // Cheap early answers; the unique indexes below are what actually guarantee it.
        self.ensure_free(email, nickname).await?;
        let hash = match password {
            Some(p) => Some(self.hash_password(p).await?),
            None => None,
        };
        let txn = self.db.begin().await?;
        let u = self.insert_user(&txn, email, nickname, hash, role).await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(u.into())
    }

    async fn ensure_free(&self, email: &Email, nickname: &Nickname) -> Result<(), ApiError> {
        let by_email = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await?;
        if by_email.is_some() {
            return Err(ApiError::conflict(
                "email_taken",
                "an account with that email already exists",
            ));
        }
        if !self.nickname_free(nickname).await? {
            return Err(ApiError::conflict(
                "nickname_taken",
                "that nickname is already in use",
            ));
        }
        Ok(())
    }

    async fn insert_user(
        &self,
        conn: &impl ConnectionTrait,
        email: &Email,
        nickname: &Nickname,
        password_hash: Option<String>,
        role: Role,
    ) -> Result<user::Model, ApiError> {
        let now = self.now();
        let model = user::ActiveModel {
            id: Set(new_id()),
            email: Set(email.as_str().to_owned()),
            nickname: Set(nickname.as_str().to_owned()),
            nickname_key: Set(nickname.key()),
            password_hash: Set(password_hash),
            role: Set(role.as_str().to_owned()),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let u = model
            .insert(conn)
            .await
            .map_err(|e| taken(&e).unwrap_or_else(|| ApiError::internal(e)))?;
        let event = EventEnvelope::new(
            TOPIC_USER_REGISTERED,
            u.id,
            serde_json::json!({"user_id": u.id, "nickname": u.nickname}),
            now,
        );
        enqueue(conn, &event).await?;
        Ok(u)
    }

    pub async fn nickname_free(&self, nickname: &Nickname) -> Result<bool, ApiError> {
        Ok(user::Entity::find()
            .filter(user::Column::NicknameKey.eq(nickname.key()))
            .one(&self.db)
            .await?
            .is_none())
    }

    pub async fn check_nickname(&self, raw: &str) -> Result<(String, bool), ApiError> {
        let n = Nickname::parse(raw).map_err(bad_input)?;
        Ok((n.as_str().to_owned(), self.nickname_free(&n).await?))
    }

    async fn load_user(&self, id: Uuid) -> Result<user::Model, ApiError> {
        user::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::not_found("no such user"))
    }

    pub async fn me(&self, who: &AuthUser) -> Result<UserView, ApiError> {
        Ok(self.load_user(who.id).await?.into())
    }

    pub async fn change_nickname(&self, who: &AuthUser, raw: &str) -> Result<UserView, ApiError> {
        let nickname = Nickname::parse(raw).map_err(bad_input)?;
        let mut u: user::ActiveModel = self.load_user(who.id).await?.into();
        u.nickname = Set(nickname.as_str().to_owned());
        u.nickname_key = Set(nickname.key());
        u.updated_at = Set(self.now());
        let u = u
            .update(&self.db)
            .await
            .map_err(|e| taken(&e).unwrap_or_else(|| ApiError::internal(e)))?;
        Ok(u.into())
    }

    /// Changes the password and signs out every other session.
    pub async fn change_password(
        &self,
        who: &AuthUser,
        current: &str,
        new: &str,
    ) -> Result<(), ApiError> {
        let new = Password::parse(new).map_err(bad_input)?;
        let u = self.load_user(who.id).await?;
        self.check_current_password(&u, current).await?;
        let hash = self.hash_password(&new).await?;
        let mut am: user::ActiveModel = u.into();
        am.password_hash = Set(Some(hash));
        am.updated_at = Set(self.now());
        am.update(&self.db).await?;
        self.revoke_sessions(who.id, Some(who.session_id)).await
    }

    /// Confirms a signed-in user's current password before a sensitive change (accounts
    /// that only ever used OAuth have none). Failures are throttled like logins, per
    /// account and counted before checking, so a stolen access token cannot be used to
    /// guess the password that would let it take the account over.
    async fn check_current_password(&self, u: &user::Model, given: &str) -> Result<(), ApiError> {
        let Some(hash) = u.password_hash.as_deref() else {
            return Ok(());
        };
        let lim = &self.cfg.login_limits;
        let key = format!("identity:password_fail:{}", u.id);
        if self.security.incr(&key, lim.window).await? > lim.per_account {
            let retry = self.security.ttl_secs(&key).await?.unwrap_or(60);
            return Err(ApiError::too_many(
                retry,
                "too many wrong passwords; try again later",
            ));
        }
        if given.len() > MAX_PASSWORD_LEN || !self.verify_password(given, Some(hash)).await? {
            return Err(ApiError::unauthorized(
                "wrong_password",
                "the current password is not correct",
            ));
        }
        self.security.delete(&key).await?;
        Ok(())
    }

    /// The account holder closes their account: needs the current password.
    pub async fn deactivate_self(&self, who: &AuthUser, password: &str) -> Result<(), ApiError> {
        let u = self.load_user(who.id).await?;
        self.check_current_password(&u, password).await?;
        self.deactivate(who.id).await
    }

    /// Deactivates the account and ends all its sessions; nothing is deleted.
    pub async fn deactivate(&self, id: Uuid) -> Result<(), ApiError> {
        let now = self.now();
        let txn = self.db.begin().await?;
        let res = user::Entity::update_many()
            .col_expr(user::Column::Active, Expr::value(false))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        if res.rows_affected == 0 {
            return Err(ApiError::not_found("no such user"));
        }
        let event = EventEnvelope::new(
            TOPIC_USER_DEACTIVATED,
            id,
            serde_json::json!({"user_id": id}),
            now,
        );
        enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox.wake();
        self.revoke_sessions(id, None).await
    }

    // ---- sessions ----

    /// Checks email and password and opens a session. Failed attempts are throttled
    /// per account and per client address.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        ip: &str,
    ) -> Result<TokenPair, ApiError> {
        let account = email.trim().to_lowercase();
        let lim = &self.cfg.login_limits;
        let invalid = || {
            ApiError::unauthorized(
                "invalid_credentials",
                "the email or password is not correct",
            )
        };
        let too_many = |retry: Option<u64>| {
            ApiError::too_many(
                retry.unwrap_or(60),
                "too many failed logins; try again later",
            )
        };
        // The attempt is counted before the password is checked, in one atomic step per
        // counter: parallel guesses each take a number, and only the first `limit` of
        // them are checked at all. A success takes its count back (and clears the
        // account's), so only failures stay counted. The address first: a client over
        // its limit creates no per-account entry, so what one address can add to the
        // store is bounded.
        let ip_key = format!("identity:login_fail:ip:{}", client_bucket(ip));
        if self.security.incr(&ip_key, lim.window).await? > lim.per_ip {
            return Err(too_many(self.security.ttl_secs(&ip_key).await?));
        }
        // Keys are built from bounded input only: no e-mail is longer than this, and a
        // huge "password" would only cost argon2 time.
        if account.len() > MAX_EMAIL_LEN || password.len() > MAX_PASSWORD_LEN {
            return Err(invalid());
        }
        let acct_key = format!("identity:login_fail:acct:{account}");
        if self.security.incr(&acct_key, lim.window).await? > lim.per_account {
            return Err(too_many(self.security.ttl_secs(&acct_key).await?));
        }
        let found = user::Entity::find()
            .filter(user::Column::Email.eq(account.as_str()))
            .one(&self.db)
            .await?;
        let ok = self
            .verify_password(
                password,
                found.as_ref().and_then(|u| u.password_hash.as_deref()),
            )
            .await?;
        let user = match found {
            Some(u) if ok && u.active => u,
            _ => return Err(invalid()),
        };
        self.security.decr(&ip_key).await?;
        self.security.delete(&acct_key).await?;
        self.open_session(&user).await
    }

    /// Counts an OAuth login start from `ip`; 429 beyond the per-minute limit. Every
    /// start stores a one-time state, so unauthenticated clients must not start
    /// unboundedly many.
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

    /// Opens a session for an existing, active account without a password check: for
    /// trusted callers that authenticated the person another way (OAuth, admin tools).
    pub async fn sign_in(&self, user_id: Uuid) -> Result<TokenPair, ApiError> {
        let user = self.load_user(user_id).await?;
        if !user.active {
            return Err(ApiError::forbidden(
                "account_deactivated",
                "this account has been deactivated",
            ));
        }
        self.open_session(&user).await
    }

    /// Starts a new refresh-token family for `user` and returns its first tokens.
    pub(crate) async fn open_session(&self, user: &user::Model) -> Result<TokenPair, ApiError> {
        let family = new_id();
        let refresh = self.store_refresh(&self.db, user.id, family).await?;
        self.pair(user, family, refresh)
    }

    async fn store_refresh(
        &self,
        conn: &impl ConnectionTrait,
        user_id: Uuid,
        family: Uuid,
    ) -> Result<String, ApiError> {
        let token = new_refresh_token();
        let now = self.now();
        refresh_token::ActiveModel {
            id: Set(new_id()),
            family_id: Set(family),
            user_id: Set(user_id),
            token_hash: Set(hash_refresh_token(&token)),
            created_at: Set(now),
            expires_at: Set(now + self.cfg.refresh_ttl.as_millis() as i64),
            spent_at: Set(None),
            revoked_at: Set(None),
        }
        .insert(conn)
        .await?;
        Ok(token)
    }

    fn pair(
        &self,
        user: &user::Model,
        session: Uuid,
        refresh: String,
    ) -> Result<TokenPair, ApiError> {
        let now_s = self.now() / 1000;
        let ttl = self.cfg.access_ttl.as_secs();
        let claims = Claims {
            sub: user.id,
            role: Role::parse(&user.role).unwrap_or(Role::User),
            sid: session,
            iat: now_s,
            exp: now_s + ttl as i64,
            iss: crate::tokens::ISSUER.into(),
            aud: crate::tokens::AUDIENCE.into(),
            jti: new_id(),
        };
        Ok(TokenPair {
            access_token: self.keys.issue(&claims)?,
            refresh_token: refresh,
            token_type: "Bearer",
            expires_in: ttl,
        })
    }

    /// Spends a refresh token and returns the next pair of its family. A token that was
    /// already spent means it leaked: the whole family is revoked.
    pub async fn refresh(&self, token: &str) -> Result<TokenPair, ApiError> {
        let invalid =
            || ApiError::unauthorized("invalid_refresh_token", "the refresh token is not valid");
        let row = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(hash_refresh_token(token)))
            .one(&self.db)
            .await?
            .ok_or_else(invalid)?;
        let now = self.now();
        if row.revoked_at.is_some() {
            return Err(invalid());
        }
        if row.spent_at.is_some() {
            self.revoke_family(row.family_id).await?;
            return Err(reused());
        }
        if row.expires_at <= now {
            return Err(ApiError::unauthorized(
                "refresh_expired",
                "the refresh token has expired; log in again",
            ));
        }
        let user = self.load_user(row.user_id).await?;
        if !user.active {
            return Err(invalid());
        }
        let txn = self.db.begin().await?;
        let spent = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::SpentAt, Expr::value(now))
            .filter(refresh_token::Column::Id.eq(row.id))
            .filter(refresh_token::Column::SpentAt.is_null())
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        if spent.rows_affected != 1 {
            // Someone spent it between our read and our write: a concurrent replay.
            txn.rollback().await?;
            self.revoke_family(row.family_id).await?;
            return Err(reused());
        }
        let next = self.store_refresh(&txn, user.id, row.family_id).await?;
        txn.commit().await?;
        self.pair(&user, row.family_id, next)
    }

    async fn revoke_family(&self, family: Uuid) -> Result<(), ApiError> {
        refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(self.now()))
            .filter(refresh_token::Column::FamilyId.eq(family))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        // Access tokens of the session die now too, not at their expiry.
        self.security
            .set(&revoked_key(family), b"1", self.cfg.access_ttl)
            .await?;
        self.checked.invalidate(&family).await;
        let _ = self.live.revoked.send(family);
        if let Err(e) = self
            .pubsub
            .publish(REVOKED_CHANNEL, family.as_bytes().to_vec())
            .await
        {
            // Other instances still notice within CHECKED_FOR.
            tracing::warn!(error = ?e, "announcing a revoked session failed");
        }
        Ok(())
    }

    /// Ends one session (logout).
    pub async fn logout(&self, who: &AuthUser) -> Result<(), ApiError> {
        self.revoke_family(who.session_id).await
    }

    /// Ends every session of `user_id` except `keep`.
    pub async fn revoke_sessions(&self, user_id: Uuid, keep: Option<Uuid>) -> Result<(), ApiError> {
        let families: Vec<Uuid> = refresh_token::Entity::find()
            .select_only()
            .column(refresh_token::Column::FamilyId)
            .distinct()
            .filter(refresh_token::Column::UserId.eq(user_id))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .filter(refresh_token::Column::ExpiresAt.gt(self.now()))
            .into_tuple()
            .all(&self.db)
            .await?;
        for family in families.into_iter().filter(|f| Some(*f) != keep) {
            self.revoke_family(family).await?;
        }
        Ok(())
    }

    pub async fn authenticate_token(&self, token: &str) -> Result<AuthUser, ApiError> {
        let claims = self.keys.verify(token, self.now()).map_err(|e| match e {
            TokenError::Expired => ApiError::unauthorized("token_expired", e.to_string()),
            TokenError::Invalid => ApiError::unauthorized("invalid_token", e.to_string()),
        })?;
        if !self.checked.contains_key(&claims.sid) {
            if self.security.get(&revoked_key(claims.sid)).await?.is_some() {
                return Err(ApiError::unauthorized(
                    "session_revoked",
                    "this session has been signed out",
                ));
            }
            self.checked.insert(claims.sid, ()).await;
        }
        Ok(AuthUser {
            id: claims.sub,
            role: claims.role,
            session_id: claims.sid,
        })
    }

    /// Live streams of `user` open on this instance.
    pub fn live_streams(&self, user: Uuid) -> usize {
        self.live.count(user)
    }

    /// Resolves when a live stream opened with `token` must end (see
    /// [`AccessTokens::stream_end`]). Registers the stream now.
    pub fn stream_end(self: &Arc<Self>, token: &str, who: &AuthUser) -> StreamEnd {
        let expires_in = match self.keys.verify(token, self.now()) {
            Ok(c) => Duration::from_millis((c.exp * 1000 - self.now()).max(0) as u64),
            Err(_) => Duration::ZERO,
        };
        let mut revoked = self.live.revoked.subscribe();
        let mut reg = self.live.register(who.id);
        let (svc, token, sid) = (self.clone(), token.to_owned(), who.session_id);
        Box::pin(async move {
            let expiry = tokio::time::sleep(expires_in);
            tokio::pin!(expiry);
            let mut recheck = tokio::time::interval(live::RECHECK_EVERY);
            recheck.tick().await;
            loop {
                let check = tokio::select! {
                    _ = &mut expiry => return,
                    _ = &mut reg.evicted => return,
                    msg = revoked.recv() => match msg {
                        Ok(s) if s == sid => return,
                        Ok(s) => s == live::RECHECK_ALL,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                        // The service is going away: so is the stream.
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                    _ = recheck.tick() => true,
                };
                if check && !svc.still_live(&token, sid).await {
                    return;
                }
            }
        })
    }

    /// Whether a stream's token still authenticates, asking the shared cache (not the
    /// per-instance shortcut). A cache outage keeps streams open.
    async fn still_live(&self, token: &str, sid: Uuid) -> bool {
        if self.keys.verify(token, self.now()).is_err() {
            return false;
        }
        !matches!(self.security.get(&revoked_key(sid)).await, Ok(Some(_)))
    }

    // ---- admin ----

    pub async fn list_users(
        &self,
        q: &PageQuery,
        search: Option<&str>,
    ) -> Result<Page<UserView>, ApiError> {
        let limit = q.limit()?;
        let mut query = user::Entity::find().order_by_asc(user::Column::Id);
        if let Some(after) = q.uuid_cursor()? {
            query = query.filter(user::Column::Id.gt(after));
        }
        if let Some(s) = search.map(str::trim).filter(|s| !s.is_empty()) {
            let pattern = format!("%{}%", s.to_lowercase().replace(['%', '_'], ""));
            query = query.filter(
                sea_orm::Condition::any()
                    .add(Expr::expr(Func::lower(Expr::col(user::Column::Email))).like(&pattern))
                    .add(user::Column::NicknameKey.like(&pattern)),
            );
        }
        let rows = query.limit(limit + 1).all(&self.read_db).await?;
        let rows: Vec<UserView> = rows.into_iter().map(Into::into).collect();
        Ok(Page::from_rows(rows, limit, |u| u.id.to_string()))
    }

    /// Changes a user's role and/or active flag. Either change ends the user's
    /// sessions, so the new role applies from the next login.
    pub async fn admin_update(
        &self,
        admin: &AuthUser,
        id: Uuid,
        role: Option<Role>,
        active: Option<bool>,
    ) -> Result<UserView, ApiError> {
        if id == admin.id && (role.is_some_and(|r| r != Role::Admin) || active == Some(false)) {
            return Err(ApiError::conflict(
                "cannot_demote_self",
                "admins cannot remove their own role or deactivate themselves",
            ));
        }
        let u = self.load_user(id).await?;
        let was_active = u.active;
        // Only a real role change ends sessions (tokens carry the role); setting the
        // role a user already has signs no one out.
        let role_changed = role.is_some_and(|r| r.as_str() != u.role);
        let mut am: user::ActiveModel = u.into();
        if let Some(r) = role {
            am.role = Set(r.as_str().to_owned());
        }
        if let Some(a) = active {
            am.active = Set(a);
        }
        am.updated_at = Set(self.now());
        let u = am.update(&self.db).await?;
        if active == Some(false) && was_active {
            self.deactivate(id).await?;
        } else if role_changed {
            self.revoke_sessions(id, None).await?;
        }
        Ok(u.into())
    }

    /// Makes sure an admin account with this email exists (bootstrap at start-up).
    pub async fn ensure_admin(&self, email: &str, password: &str) -> anyhow::Result<bool> {
        let email = Email::parse(email).map_err(|e| anyhow::anyhow!("bootstrap admin: {e}"))?;
        let password =
            Password::parse(password).map_err(|e| anyhow::anyhow!("bootstrap admin: {e}"))?;
        let existing = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await?;
        if existing.is_some() {
            return Ok(false);
        }
        let base = Nickname::sanitized(email.as_str().split('@').next().unwrap_or("admin"));
        let mut nickname = base.clone();
        for attempt in 0..20u32 {
            if self
                .nickname_free(&nickname)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                break;
            }
            nickname = base.with_suffix(attempt + 1);
        }
        self.create_user(&email, Some(&password), &nickname, Role::Admin)
            .await
            .map_err(|e| anyhow::anyhow!("creating bootstrap admin: {e}"))?;
        Ok(true)
    }

    // ---- OAuth ----

    /// Signs in the user linked to this provider identity, linking or creating the
    /// account on first login.
    pub(crate) async fn oauth_login(
        &self,
        provider: &str,
        profile: &crate::oauth::Profile,
    ) -> Result<TokenPair, ApiError> {
        let linked =
            oauth_identity::Entity::find_by_id((provider.to_owned(), profile.subject.clone()))
                .one(&self.db)
                .await?;
        let user = match linked {
            Some(link) => self.load_user(link.user_id).await?,
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
        profile: &crate::oauth::Profile,
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

fn reused() -> ApiError {
    ApiError::unauthorized(
        "refresh_reused",
        "this refresh token was already used; the session has been revoked",
    )
}

/// Identity's answer to "who is this token?", installed for every module.
pub struct TokenAuthenticator(pub Arc<IdentityService>);

#[async_trait]
impl AccessTokens for TokenAuthenticator {
    async fn authenticate(&self, token: &str) -> Result<AuthUser, ApiError> {
        self.0.authenticate_token(token).await
    }

    fn stream_end(&self, token: &str, user: &AuthUser) -> StreamEnd {
        self.0.stream_end(token, user)
    }
}

pub struct Directory(pub Arc<IdentityService>);

#[async_trait]
impl UserDirectory for Directory {
    async fn find(&self, id: Uuid) -> anyhow::Result<Option<UserSummary>> {
        let u = user::Entity::find_by_id(id).one(&self.0.read_db).await?;
        Ok(u.map(|u| UserSummary {
            id: u.id,
            role: Role::parse(&u.role).unwrap_or(Role::User),
            nickname: u.nickname,
            email: u.email,
            active: u.active,
        }))
    }
}
