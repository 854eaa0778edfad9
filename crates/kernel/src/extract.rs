//! Extractors whose rejections are problem+json with stable codes, so malformed
//! bodies, wrong types and bad paths never answer with plain text.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::ApiError;

/// JSON object body; `application/problem+json` 400/413/415/422 on bad input.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::from(JsonRejection::BytesRejection(e)))?;
        object_body(&bytes).map(Json)
    }
}

/// `application/json` or any `application/*+json`, as axum's `Json` accepts.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a request body that must be a JSON object. serde also reads a struct from a
/// JSON array of its fields (`[null, null]`); request bodies are objects, so an array
/// is refused (422 `invalid_body`) rather than silently taken field by field.
pub fn object_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "the request body must be a JSON object",
        ));
    }
    let axum::Json(v) = axum::Json::<T>::from_bytes(bytes)?;
    Ok(v)
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                e.body_text(),
            ),
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::bad_request("malformed_json", e.body_text())
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a body with Content-Type: application/json",
            ),
            JsonRejection::BytesRejection(e) => {
                let status = e.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(status, "payload_too_large", "the request body is too large")
                } else {
                    ApiError::bad_request("unreadable_body", e.body_text())
                }
            }
            other => ApiError::bad_request("invalid_body", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", r.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Patch {
        #[allow(dead_code)]
        active: Option<bool>,
    }

    #[test]
    fn bodies_must_be_objects() {
        assert!(object_body::<Patch>(br#"{"active": true}"#).is_ok());
        let e = object_body::<Patch>(b" [null]")
            .err()
            .map(|e| (e.status, e.code));
        assert_eq!(e, Some((StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")));
        let e = object_body::<Patch>(b"{").err().map(|e| e.code);
        assert_eq!(e, Some("malformed_json"));
    }

    #[test]
    fn json_content_types() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::CONTENT_TYPE,
                ct.parse().unwrap_or(header::HeaderValue::from_static("x")),
            );
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!is_json(&HeaderMap::new()));
    }
}

/// The peer address, when the server was started with connect info (it always is;
/// in-process router tests may not be).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// The client's address. Behind `hops` trusted proxies, each appends the address it saw
/// to `X-Forwarded-For`, so the client is the `hops`-th entry from the right: anything
/// further left was written by the client and proves nothing. Every line of the header
/// counts (proxies may add a second one); an entry that is not an IP address is ignored
/// in favour of the peer.
pub fn client_ip(headers: &HeaderMap, peer: Option<std::net::SocketAddr>, hops: usize) -> String {
    let peer_ip = || peer.map_or_else(|| "unknown".to_owned(), |p| p.ip().to_string());
    if hops == 0 {
        return peer_ip();
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let Some(entry) = entries
        .len()
        .checked_sub(hops)
        .map_or(entries.first(), |i| entries.get(i))
    else {
        return peer_ip();
    };
    entry
        .parse::<std::net::IpAddr>()
        .map_or_else(|_| peer_ip(), |ip| ip.to_string())
}
