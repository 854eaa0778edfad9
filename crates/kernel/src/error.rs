//! RFC 9457 problem details: the one error shape every route answers with.
//!
//! Which error type belongs where:
//!
//! - **Validation** (`domain.rs`): a module's own `thiserror` enum naming what is wrong
//!   with an input (`identity::domain::InvalidInput`), each variant with a stable
//!   `code()`. Domain types are built only through constructors that return it, so a
//!   value that exists is valid. `http.rs` turns it into an [`ApiError`] (400/422).
//! - **Use cases** (the services in a module's use-case files): `Result<T, ApiError>`.
//!   The use case knows the user-visible answer (`out_of_stock` is a 409, a missing
//!   order a 404); database and port failures pass through `?` and become a logged 500
//!   (or a 503 for [`DependencyUnavailable`]) without leaking their cause.
//! - **Ports** (`ports.rs`, `payment.rs`, `waiting_room.rs`): `anyhow::Error` for
//!   failures the caller cannot act on, a typed error where it must branch
//!   ([`crate::payment::PaymentError`]: declined vs unavailable) and
//!   [`DependencyUnavailable`] inside the `anyhow` chain for a backend that is down.
//! - **Event handlers and workers**: `anyhow::Error`; the bus retries with backoff, then
//!   keeps the event as a dead letter with the error's text.
//! - **Start-up** (building modules, reading configuration): `anyhow::Error` with context.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: HTTP status, a stable machine-readable `code`, and a human `detail`.
/// 5xx causes are logged once, here, and never sent to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Extra members merged into the problem object (e.g. `line`, `field`).
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
    pub retry_after_secs: Option<u64>,
    source: Option<anyhow::Error>,
}

/// The wire form, documented in the OpenAPI spec.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable machine-readable code, e.g. `email_taken`.
    pub code: String,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            extra: None,
            retry_after_secs: None,
            source: None,
        }
    }
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }
    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            detail,
        )
    }
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }
    pub fn too_many(retry_after_secs: u64, detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail);
        e.retry_after_secs = Some(retry_after_secs.max(1));
        e
    }
    /// An unexpected failure: logged with its cause, answered as a bare 500.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an unexpected error occurred",
        );
        e.source = Some(source.into());
        e
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }
    /// Adds a member to the problem object; the standard members cannot be replaced.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        debug_assert!(
            !["type", "title", "status", "code", "detail"].contains(&key),
            "problem member {key} is reserved"
        );
        self.extra
            .get_or_insert_with(Default::default)
            .insert(key.to_owned(), value.into());
        self
    }

    /// The problem object as JSON.
    pub fn body(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "type": format!("urn:surge:problem:{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if let (Some(extra), Some(obj)) = (&self.extra, v.as_object_mut()) {
            for (k, val) in extra {
                obj.insert(k.clone(), val.clone());
            }
        }
        v
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.code == "dependency_unavailable" {
            // Expected while a backend restarts; its adapter logs the outage itself.
            tracing::warn!(code = self.code, error = ?self.source, "request refused");
        } else if self.status.is_server_error() {
            match &self.source {
                Some(src) => tracing::error!(code = self.code, error = ?src, "request failed"),
                None => tracing::error!(code = self.code, detail = %self.detail, "request failed"),
            }
        }
        let mut res = (self.status, axum::Json(self.body())).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after_secs {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::internal(e)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        if let Some(d) = e
            .chain()
            .find_map(|c| c.downcast_ref::<DependencyUnavailable>())
        {
            let mut api = Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "dependency_unavailable",
                format!("{} is unreachable right now; retry shortly", d.dependency),
            );
            api.retry_after_secs = Some(1);
            api.source = Some(e);
            return api;
        }
        Self::internal(e)
    }
}

impl From<sea_orm::TransactionError<ApiError>> for ApiError {
    fn from(e: sea_orm::TransactionError<ApiError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => Self::internal(db),
            sea_orm::TransactionError::Transaction(api) => api,
        }
    }
}

/// A backend a request needs (e.g. Redis) does not answer: the adapter fails fast with
/// this instead of waiting, and the request gets a 503 `dependency_unavailable` with
/// `Retry-After`, never a 500. The detail is logged, not sent.
#[derive(Debug, thiserror::Error)]
#[error("{dependency} is unavailable: {detail}")]
pub struct DependencyUnavailable {
    /// What the client may be told, e.g. "the cache (Redis)".
    pub dependency: &'static str,
    pub detail: String,
}

/// Which unique constraint a write broke, if any: the caller maps it to a clear 409.
pub fn unique_violation(err: &sea_orm::DbErr) -> Option<String> {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(msg)) => Some(msg),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_body_carries_code_status_and_extras() {
        let e = ApiError::conflict("out_of_stock", "no more").with("line", 2);
        let b = e.body();
        assert_eq!(b["status"], 409);
        assert_eq!(b["code"], "out_of_stock");
        assert_eq!(b["line"], 2);
        assert_eq!(b["type"], "urn:surge:problem:out_of_stock");
    }

    #[test]
    fn an_unreachable_dependency_is_a_503_that_names_it_but_not_its_address() {
        let cause = DependencyUnavailable {
            dependency: "the cache (Redis)",
            detail: "connection refused by redis://secret-host:6379".into(),
        };
        let e = ApiError::from(anyhow::Error::new(cause).context("reading a session"));
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code, "dependency_unavailable");
        assert_eq!(e.retry_after_secs, Some(1));
        assert!(e.detail.contains("the cache (Redis)"));
        assert!(!e.body().to_string().contains("secret-host"));
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let e = ApiError::internal(anyhow::anyhow!("password=hunter2 connection refused"));
        assert!(!e.body().to_string().contains("hunter2"));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
