//! The shared kernel: what every module and adapter agrees on.
//!
//! Value types (ids, clock, pagination, events), the error type every route answers
//! with, and the infrastructure ports (traits) whose adapters live in `surge-infra`.

pub mod auth;
pub mod clock;
pub mod code_host;
pub mod error;
pub mod events;
pub mod extract;
pub mod idempotency;
pub mod jobs;
pub mod lease;
pub mod llm;
pub mod migration;
pub mod module;
pub mod news;
pub mod page;
pub mod payment;
pub mod plans;
pub mod ports;
pub mod sql;
pub mod verifier;
pub mod views;
pub mod waiting_room;
pub mod weather;

pub use error::ApiError;

/// A new time-ordered id (UUID v7): sorts by creation time, so it doubles as a cursor.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// Milliseconds since the Unix epoch: how every module stores instants (portable across
/// SQLite, PostgreSQL and MySQL, no time-zone surprises).
pub type Millis = i64;

/// Formats stored milliseconds as RFC 3339 (UTC) for the wire.
pub fn rfc3339(ms: Millis) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 instant from a request field; 422 `validation_failed` otherwise.
pub fn parse_rfc3339(s: &str, field: &str) -> Result<Millis, ApiError> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError::validation(format!(
                "{field} must be an RFC 3339 time like 2026-12-01T10:00:00Z"
            ))
        })
}
