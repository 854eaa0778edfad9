//! Image routes: a multipart upload, and the stored image by its url.

use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use surge_kernel::auth::AuthUser;
use surge_kernel::error::Problem;
use surge_kernel::extract::{Json, Path};
use surge_kernel::ApiError;
use uuid::Uuid;

use crate::images::{too_large, ImageView};
use crate::Community;

/// Room for the multipart framing around the largest image taken.
pub(crate) const FRAMING: usize = 64 * 1024;

pub fn image_routes(max_bytes: usize) -> Router<Arc<Community>> {
    Router::new()
        .route(
            "/images",
            post(upload_image).layer(DefaultBodyLimit::max(max_bytes + FRAMING)),
        )
        .route("/images/{id}", get(get_image))
}

/// The multipart form of an upload: one file part.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ImageUpload {
    /// A JPEG, PNG or WebP image (sniffed from its bytes).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Uploads an image (multipart, part `file`): stored cleaned of EXIF and other metadata,
/// shrunk to the configured longest edge. Attach it to a post by `image_ids`.
#[utoipa::path(post, path = "/api/v1/community/images", tag = "community", operation_id = "community_upload_image",
    request_body(content = ImageUpload, content_type = "multipart/form-data"), security(("bearer" = [])),
    responses((status = 201, body = ImageView),
        (status = 400, description = "`invalid_upload`: not a multipart form with a `file` part", body = Problem),
        (status = 413, description = "`image_too_large`", body = Problem),
        (status = 415, description = "`unsupported_image`: not a readable JPEG, PNG or WebP", body = Problem),
        (status = 422, description = "never: the body is multipart, not JSON", body = Problem)))]
pub(crate) async fn upload_image(
    State(c): State<Arc<Community>>,
    who: AuthUser,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let bytes = file_part(form, c.images.rules.max_bytes).await?;
    let view = c.images.upload(&who, bytes).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// The bytes of the form's `file` part.
pub(crate) async fn file_part(
    form: Result<Multipart, MultipartRejection>,
    max: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut form = form.map_err(|e| invalid_upload(&e.body_text()))?;
    while let Some(field) = form.next_field().await.map_err(|e| field_error(e, max))? {
        if field.name() == Some("file") {
            let bytes = field.bytes().await.map_err(|e| field_error(e, max))?;
            return Ok(bytes.to_vec());
        }
    }
    Err(invalid_upload("the form has no `file` part"))
}

fn invalid_upload(detail: &str) -> ApiError {
    ApiError::bad_request("invalid_upload", detail.to_owned())
}

fn field_error(e: axum::extract::multipart::MultipartError, max: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(max)
    } else {
        invalid_upload(&e.body_text())
    }
}

/// A stored image (public: its id is the secret of an unattached one).
#[utoipa::path(get, path = "/api/v1/community/images/{id}", tag = "community", operation_id = "community_get_image",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "the image bytes (`image/jpeg`, `image/png` or `image/webp`)"),
        (status = 404, description = "`not_found`", body = Problem)))]
pub(crate) async fn get_image(
    State(c): State<Arc<Community>>,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let f = c.images.get(id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, f.content_type),
            // An image never changes under its id.
            (
                header::CACHE_CONTROL,
                "public, max-age=31536000, immutable".to_owned(),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        f.bytes,
    )
        .into_response())
}
