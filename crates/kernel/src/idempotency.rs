//! `Idempotency-Key` for POSTs: the same key and body replays the first response; the
//! same key with another body is 422 `idempotency_mismatch`. Keys live 24 hours.
//!
//! Apply with `axum::middleware::from_fn_with_state(Idempotency{..}, idempotency::layer)`
//! on the routes that create things. A key is scoped to the caller and the route.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult};
use sha2::{Digest, Sha256};

use crate::auth::AuthUser;
use crate::clock::Clock;
use crate::error::PROBLEM_JSON;
use crate::{ApiError, Millis};

pub const HEADER: &str = "idempotency-key";
pub const KEEP_MS: Millis = 24 * 60 * 60 * 1000;
/// A first request still "in progress" after this long is taken to have died.
const ABANDONED_MS: Millis = 60 * 1000;
const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone)]
pub struct Idempotency {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, FromQueryResult)]
struct Stored {
    request_hash: String,
    status_code: Option<i32>,
    response_body: Option<String>,
    created_at: i64,
    expires_at: i64,
}

/// 422 `idempotency_mismatch`: the key was first used with another body.
pub fn mismatch() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_mismatch",
        "this Idempotency-Key was used with a different request body",
    )
}

/// The fingerprint of a request body that a key is bound to.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub async fn layer(State(idem): State<Idempotency>, req: Request, next: Next) -> Response {
    match run(idem, req, next).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    }
}

async fn run(idem: Idempotency, req: Request, next: Next) -> Result<Response, ApiError> {
    if req.method() != Method::POST {
        return Ok(next.run(req).await);
    }
    let Some(key) = req.headers().get(HEADER) else {
        return Ok(next.run(req).await);
    };
    let key = key
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 150 && k.is_ascii())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1..=150 printable ASCII characters",
            )
        })?
        .to_owned();

    let (mut parts, body) = req.into_parts();
    // Keys are per caller: an invalid token falls to the anonymous scope and the route rejects it.
    let caller = AuthUser::from_request_parts(&mut parts, &())
        .await
        .map(|u| u.id.to_string())
        .unwrap_or_else(|_| "anonymous".to_owned());
    let scope = sha256_hex(format!("{caller}|{}|{}", parts.method, parts.uri.path()).as_bytes());
    let bytes = to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is too large",
        )
    })?;
    let hash = sha256_hex(&bytes);
    let db = &idem.db;

    for _ in 0..2 {
        let now = idem.clock.now_ms();
        if claim(db, &scope, &key, &hash, now).await? {
            let req = Request::from_parts(parts, Body::from(bytes));
            let res = next.run(req).await;
            return finish(db, &scope, &key, res).await;
        }
        let Some(stored) = load(db, &scope, &key).await? else {
            continue;
        };
        let abandoned = stored.status_code.is_none() && stored.created_at + ABANDONED_MS < now;
        if stored.expires_at < now || abandoned {
            forget(db, &scope, &key).await?;
            continue;
        }
        if stored.request_hash != hash {
            return Err(mismatch());
        }
        let Some(status) = stored.status_code else {
            let mut e = ApiError::conflict(
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still being processed",
            );
            e.retry_after_secs = Some(1);
            return Err(e);
        };
        return Ok(replay(status, stored.response_body.unwrap_or_default()));
    }
    Err(ApiError::conflict(
        "idempotency_in_progress",
        "a request with this Idempotency-Key is being processed",
    ))
}

fn replay(status: i32, body: String) -> Response {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let ctype = if status.is_client_error() {
        PROBLEM_JSON
    } else {
        "application/json"
    };
    let mut res = (status, body).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    res.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    res
}

async fn claim(
    db: &DatabaseConnection,
    scope: &str,
    key: &str,
    hash: &str,
    now: Millis,
) -> Result<bool, DbErr> {
    let stmt = Query::insert()
        .into_table(Alias::new("idempotency_keys"))
        .columns([
            Alias::new("scope"),
            Alias::new("idem_key"),
            Alias::new("request_hash"),
            Alias::new("created_at"),
            Alias::new("expires_at"),
        ])
        .values([
            scope.into(),
            key.into(),
            hash.into(),
            now.into(),
            (now + KEEP_MS).into(),
        ])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    crate::sql::insert_if_absent(db, stmt, &["scope", "idem_key"]).await
}

async fn load(db: &DatabaseConnection, scope: &str, key: &str) -> Result<Option<Stored>, DbErr> {
    let stmt = Query::select()
        .columns([
            Alias::new("request_hash"),
            Alias::new("status_code"),
            Alias::new("response_body"),
            Alias::new("created_at"),
            Alias::new("expires_at"),
        ])
        .from(Alias::new("idempotency_keys"))
        .and_where(Expr::col(Alias::new("scope")).eq(scope))
        .and_where(Expr::col(Alias::new("idem_key")).eq(key))
        .to_owned();
    Stored::find_by_statement(db.get_database_backend().build(&stmt))
        .one(db)
        .await
}

async fn forget(db: &DatabaseConnection, scope: &str, key: &str) -> Result<(), DbErr> {
    let stmt = Query::delete()
        .from_table(Alias::new("idempotency_keys"))
        .and_where(Expr::col(Alias::new("scope")).eq(scope))
        .and_where(Expr::col(Alias::new("idem_key")).eq(key))
        .to_owned();
    db.execute(db.get_database_backend().build(&stmt)).await?;
    Ok(())
}

/// Stores a final answer for replay; a 5xx is not final, so the key is released.
async fn finish(
    db: &DatabaseConnection,
    scope: &str,
    key: &str,
    res: Response,
) -> Result<Response, ApiError> {
    if res.status().is_server_error() {
        forget(db, scope, key).await?;
        return Ok(res);
    }
    let (parts, body) = res.into_parts();
    let bytes = to_bytes(body, 4 * MAX_BODY)
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("reading response: {e}")))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let stmt = Query::update()
        .table(Alias::new("idempotency_keys"))
        .value(Alias::new("status_code"), i32::from(parts.status.as_u16()))
        .value(Alias::new("response_body"), text)
        .and_where(Expr::col(Alias::new("scope")).eq(scope))
        .and_where(Expr::col(Alias::new("idem_key")).eq(key))
        .to_owned();
    db.execute(db.get_database_backend().build(&stmt)).await?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// Deletes keys past their 24 hours; the server runs this periodically.
pub async fn purge_expired(db: &DatabaseConnection, now: Millis) -> Result<u64, DbErr> {
    let stmt = Query::delete()
        .from_table(Alias::new("idempotency_keys"))
        .and_where(Expr::col(Alias::new("expires_at")).lt(now))
        .to_owned();
    let res = db.execute(db.get_database_backend().build(&stmt)).await?;
    Ok(res.rows_affected())
}

/// A JSON body that must come with an `Idempotency-Key`, for routes that store the key
/// on the row they create (exactly once even across a crash) instead of using `layer`.
/// Carries the key and the SHA-256 of the body it is bound to.
pub struct KeyedJson<T> {
    pub key: String,
    pub request_hash: String,
    pub body: T,
}

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S>
    for KeyedJson<T>
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
        {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a body with Content-Type: application/json",
            ));
        }
        let key = req
            .headers()
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "idempotency_key_required",
                    "send an Idempotency-Key header with this request",
                )
            })?;
        if key.len() > 100 {
            return Err(ApiError::bad_request(
                "invalid_idempotency_key",
                "an Idempotency-Key is at most 100 characters",
            ));
        }
        let bytes = <axum::body::Bytes as axum::extract::FromRequest<S>>::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request("unreadable_body", e.body_text()))?;
        let body = crate::extract::object_body::<T>(&bytes)?;
        Ok(KeyedJson {
            key,
            request_hash: sha256_hex(&bytes),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fingerprint_is_lowercase_hex_sha256() {
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
