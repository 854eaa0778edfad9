//! The bare error pages (no navigation): what the session middleware answers before a
//! page exists, and the 404 page.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, DOCTYPE};

use crate::assets::CSS;
use crate::messages::korean;

fn bare(status: StatusCode, title: &str, message: &str) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="ko" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Surge" }
                link rel="stylesheet" href=(CSS.url);
            }
            body {
                main #main {
                    h1 { (title) }
                    p { (message) }
                    p { a href="/" { "처음으로" } }
                }
            }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

pub fn not_found(what: Option<&str>) -> Response {
    bare(
        StatusCode::NOT_FOUND,
        "페이지를 찾을 수 없습니다",
        what.unwrap_or("주소가 바뀌었거나 없는 페이지입니다."),
    )
}

pub fn csrf_refused() -> Response {
    bare(
        StatusCode::FORBIDDEN,
        "요청을 확인할 수 없습니다",
        "보안 토큰이 없거나 맞지 않습니다. 페이지를 새로 고친 뒤 다시 시도해 주세요.",
    )
}

pub fn too_large() -> Response {
    bare(
        StatusCode::PAYLOAD_TOO_LARGE,
        "보낸 내용이 너무 큽니다",
        korean("payload_too_large"),
    )
}

pub fn internal(e: anyhow::Error) -> Response {
    tracing::error!(error = ?e, "a page failed");
    bare(
        StatusCode::INTERNAL_SERVER_ERROR,
        "문제가 생겼습니다",
        "잠시 후 다시 시도해 주세요.",
    )
}
