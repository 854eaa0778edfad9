//! Who is calling: the `AuthUser` extractor and the port that checks access tokens.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sea_orm::sea_query::StringLen;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ApiError;

/// A user's role. Stored by identity as its upper-case name (`USER`, `MENTOR`,
/// `ADMIN`): the same string as on the wire and in access tokens.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    sea_orm::EnumIter,
    sea_orm::DeriveActiveEnum,
)]
#[serde(rename_all = "UPPERCASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(10))")]
pub enum Role {
    #[sea_orm(string_value = "USER")]
    User,
    #[sea_orm(string_value = "MENTOR")]
    Mentor,
    #[sea_orm(string_value = "ADMIN")]
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "USER",
            Role::Mentor => "MENTOR",
            Role::Admin => "ADMIN",
        }
    }
}

/// The authenticated caller, taken from `Authorization: Bearer <access token>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    pub id: Uuid,
    pub role: Role,
    /// The login session (refresh-token family) the token was issued for.
    pub session_id: Uuid,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// Checks access tokens. Implemented by identity; reached through a request extension
/// so every module can authenticate without knowing identity's types.
#[async_trait]
pub trait AccessTokens: Send + Sync + 'static {
    async fn authenticate(&self, token: &str) -> Result<AuthUser, ApiError>;

    /// Resolves when a live stream opened with `token` (already authenticated as
    /// `user`) must end: its session was revoked (logout, deactivation), the token
    /// expired, or the user opened more streams than allowed (the oldest ends first).
    /// Registering happens in this call; dropping the future unregisters.
    fn stream_end(&self, token: &str, user: &AuthUser) -> StreamEnd {
        let _ = (token, user);
        Box::pin(std::future::pending())
    }
}

/// See [`AccessTokens::stream_end`].
pub type StreamEnd = futures::future::BoxFuture<'static, ()>;

/// The request extension the server installs.
#[derive(Clone)]
pub struct Authenticator(pub Arc<dyn AccessTokens>);

pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(*user);
        }
        let token = bearer_token(parts).ok_or_else(|| {
            ApiError::unauthorized("unauthenticated", "a bearer access token is required")
        })?;
        let auth = parts
            .extensions
            .get::<Authenticator>()
            .cloned()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no authenticator installed")))?;
        let user = auth.0.authenticate(token).await?;
        parts.extensions.insert(user);
        Ok(user)
    }
}

/// An authenticated caller with the ADMIN role; 403 `forbidden` otherwise.
#[derive(Debug, Clone, Copy)]
pub struct AdminUser(pub AuthUser);

impl<S: Send + Sync> FromRequestParts<S> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if !user.is_admin() {
            return Err(ApiError::forbidden(
                "forbidden",
                "this needs the ADMIN role",
            ));
        }
        Ok(AdminUser(user))
    }
}

/// `Option<AuthUser>`: `None` without an Authorization header; a bad token is still 401.
impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if bearer_token(parts).is_none() && parts.extensions.get::<AuthUser>().is_none() {
            return Ok(None);
        }
        <AuthUser as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

/// The caller from the Authorization header or, for browsers' EventSource (which cannot
/// set headers), the `access_token` query parameter, plus when the stream must end
/// ([`AccessTokens::stream_end`]). For SSE routes: wrap the events with [`StreamUser::bound`].
pub struct StreamUser(pub AuthUser, pub StreamEnd);

impl StreamUser {
    /// `events`, ended as soon as the session behind the stream is.
    pub fn bound<S>(end: StreamEnd, events: S) -> futures::stream::TakeUntil<S, StreamEnd>
    where
        S: futures::Stream,
    {
        futures::StreamExt::take_until(events, end)
    }
}

fn query_token(parts: &Parts) -> Option<String> {
    parts.uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "access_token")
            .map(|(_, v)| v.to_owned())
    })
}

impl<S: Send + Sync> FromRequestParts<S> for StreamUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)
            .map(str::to_owned)
            .or_else(|| query_token(parts))
            .ok_or_else(|| {
                ApiError::unauthorized("unauthenticated", "a bearer access token is required")
            })?;
        let auth = parts
            .extensions
            .get::<Authenticator>()
            .cloned()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no authenticator installed")))?;
        let user = auth.0.authenticate(&token).await?;
        let end = auth.0.stream_end(&token, &user);
        Ok(StreamUser(user, end))
    }
}
