//! Sessions: password login, refresh-token rotation with reuse detection, logout,
//! access-token checks (cached per instance, revocations announced over pub/sub) and
//! the live streams a session keeps open.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
    TransactionTrait,
};
use surge_kernel::auth::{AccessTokens, AuthUser, StreamEnd};
use surge_kernel::{new_id, ApiError};
use uuid::Uuid;

use crate::entities::{refresh_token, user};
use crate::live;
use crate::service::{IdentityService, TokenPair, MAX_PASSWORD_LEN};
use crate::tokens::{hash_refresh_token, new_refresh_token, Claims, TokenError};

/// Pub/sub channel on which every instance hears of revoked sessions.
const REVOKED_CHANNEL: &str = "identity.session_revoked";
/// Longest e-mail address (RFC 5321's path limit) a login looks at.
const MAX_EMAIL_LEN: usize = 254;

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

impl IdentityService {
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

    /// Checks email and password and opens a session. Failed attempts are throttled
    /// per account and per client address.
    #[tracing::instrument(skip_all)]
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

    /// Opens a session for an existing, active account without a password check: for
    /// trusted callers that authenticated the person another way (OAuth, admin tools).
    #[tracing::instrument(skip(self))]
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
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
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
            role: user.role,
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
    #[tracing::instrument(skip_all)]
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

    #[tracing::instrument(skip(self))]
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
    #[tracing::instrument(skip(self), fields(user_id = %who.id, session_id = %who.session_id))]
    pub async fn logout(&self, who: &AuthUser) -> Result<(), ApiError> {
        self.revoke_family(who.session_id).await
    }

    /// Ends every session of `user_id` except `keep`.
    #[tracing::instrument(skip(self))]
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

    #[tracing::instrument(level = "debug", skip_all)]
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
