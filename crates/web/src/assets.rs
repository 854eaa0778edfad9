//! The stylesheet, htmx and the small live-connection script, embedded in the binary
//! and served under URLs that carry a hash of their content, so browsers may keep them
//! for a year (a new build with other content has other URLs).

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

pub struct Asset {
    pub mime: &'static str,
    pub body: &'static [u8],
    /// `/assets/<name>-<hash>.<ext>`
    pub url: String,
}

fn asset(name: &'static str, ext: &'static str, mime: &'static str, body: &'static [u8]) -> Asset {
    let hash = hex::encode(&Sha256::digest(body)[..6]);
    Asset {
        mime,
        body,
        url: format!("/assets/{name}-{hash}.{ext}"),
    }
}

pub static CSS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "app",
        "css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/app.css"),
    )
});
pub static HTMX: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "htmx",
        "js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/htmx.min.js"),
    )
});
pub static LIVE: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "live",
        "js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/live.js"),
    )
});

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/assets/{file}", get(serve))
}

async fn serve(Path(file): Path<String>) -> Response {
    for a in [&*CSS, &*HTMX, &*LIVE] {
        if a.url.strip_prefix("/assets/") == Some(file.as_str()) {
            return (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static(a.mime)),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("public, max-age=31536000, immutable"),
                    ),
                ],
                a.body,
            )
                .into_response();
        }
    }
    StatusCode::NOT_FOUND.into_response()
}
