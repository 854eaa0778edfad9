//! Images for posts: an upload is sniffed from its bytes (JPEG, PNG or WebP only,
//! whatever the client claims), decoded within bounds, turned upright by its EXIF
//! orientation, shrunk to the configured longest edge, and re-encoded. Re-encoding
//! writes pixels only, so EXIF (GPS position, camera, owner) and every other metadata
//! block is gone from what is stored and served. The bytes go to the `ObjectStore`
//! port, the row (owner, type, size) to `community_images`; a post may attach only its
//! author's images.

use std::io::Cursor;
use std::sync::Arc;

use ::image::codecs::jpeg::JpegEncoder;
use ::image::codecs::png::PngEncoder;
use ::image::codecs::webp::WebPEncoder;
use ::image::imageops::FilterType;
use ::image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use axum::http::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::ports::ObjectStore;
use surge_kernel::{new_id, ApiError};
use uuid::Uuid;

use crate::deps::Deps;
use crate::entities::image as image_row;
use crate::posts::image_url;

/// Bounds on what an upload may decode to, so a small file cannot expand into gigabytes.
const MAX_DECODED_SIDE: u32 = 8_000;
/// The most memory one decoded image may take (a 12-megapixel photo takes 36 MB as
/// 8-bit RGB). Checked against the decoder's own figure before decoding: a small
/// compressed file can expand to gigabytes.
const MAX_DECODED_BYTES: u64 = 128 * 1024 * 1024;
/// Images decoded at once per instance (each may hold up to MAX_DECODED_BYTES, and a
/// few copies of it while turning and shrinking).
static DECODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
/// JPEG quality of the re-encoded image.
const JPEG_QUALITY: u8 = 85;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImageView {
    pub id: Uuid,
    /// Where the image is served.
    pub url: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub size_bytes: u64,
}

/// A stored image's bytes and type.
pub struct ImageFile {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
pub struct ImageRules {
    /// Largest upload taken, in bytes.
    pub max_bytes: usize,
    /// The longest edge of what is stored, in pixels.
    pub max_edge: u32,
}

pub struct Images {
    deps: Arc<Deps>,
    store: Arc<dyn ObjectStore>,
    pub rules: ImageRules,
}

/// The cleaned image, ready to store.
struct Cleaned {
    format: ImageFormat,
    width: u32,
    height: u32,
    bytes: Vec<u8>,
}

impl Images {
    pub(crate) fn new(deps: Arc<Deps>, store: Arc<dyn ObjectStore>, rules: ImageRules) -> Self {
        Images { deps, store, rules }
    }

    /// Cleans and stores an upload.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, size = upload.len()))]
    pub async fn upload(&self, who: &AuthUser, upload: Vec<u8>) -> Result<ImageView, ApiError> {
        if upload.len() > self.rules.max_bytes {
            return Err(too_large(self.rules.max_bytes));
        }
        let max_edge = self.rules.max_edge;
        let _permit = DECODING
            .acquire()
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!("image decoding closed: {e}")))?;
        // Decoding and encoding are CPU work: off the async workers.
        let cleaned = tokio::task::spawn_blocking(move || clean(&upload, max_edge))
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!("image worker: {e}")))??;
        let id = new_id();
        let content_type = cleaned.format.to_mime_type().to_owned();
        let size = cleaned.bytes.len() as u64;
        // The object first: a row never points at nothing (an object without a row, if
        // the insert fails, is only unused space).
        self.store.put(&object_key(id), cleaned.bytes).await?;
        image_row::ActiveModel {
            id: Set(id),
            owner_id: Set(who.id),
            content_type: Set(content_type.clone()),
            width: Set(cleaned.width as i32),
            height: Set(cleaned.height as i32),
            size_bytes: Set(size as i64),
            created_at: Set(self.deps.clock.now_ms()),
        }
        .insert(&self.deps.db)
        .await?;
        Ok(ImageView {
            id,
            url: image_url(id),
            content_type,
            width: cleaned.width,
            height: cleaned.height,
            size_bytes: size,
        })
    }

    /// A stored image.
    #[tracing::instrument(skip_all, fields(image_id = %id))]
    pub async fn get(&self, id: Uuid) -> Result<ImageFile, ApiError> {
        let row = image_row::Entity::find_by_id(id)
            .one(&self.deps.read_db)
            .await?
            .ok_or_else(|| ApiError::not_found("no such image"))?;
        let bytes = self
            .store
            .get(&object_key(id))
            .await?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("image {id} has no object")))?;
        Ok(ImageFile {
            content_type: row.content_type,
            bytes,
        })
    }
}

fn object_key(id: Uuid) -> String {
    format!("community/images/{id}")
}

pub(crate) fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "image_too_large",
        format!("an image is at most {max} bytes"),
    )
}

fn unsupported(detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_image",
        detail,
    )
}

/// Sniffs, decodes, turns upright, shrinks and re-encodes: pixels in, pixels out.
fn clean(upload: &[u8], max_edge: u32) -> Result<Cleaned, ApiError> {
    let format = match ::image::guess_format(upload) {
        Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) => f,
        _ => return Err(unsupported("send a JPEG, PNG or WebP image")),
    };
    let mut reader = ImageReader::with_format(Cursor::new(upload), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODED_SIDE);
    limits.max_image_height = Some(MAX_DECODED_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let unreadable =
        |e: ::image::ImageError| unsupported(&format!("the image cannot be read: {e}"));
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    // `from_decoder` does not apply `max_alloc`: check the decoded size here.
    if decoder.total_bytes() > MAX_DECODED_BYTES {
        let (w, h) = decoder.dimensions();
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "image_too_large",
            format!("a {w}×{h} image is too large to process; send a smaller one"),
        ));
    }
    let orientation = decoder.orientation().map_err(unreadable)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    img.apply_orientation(orientation);
    if img.width().max(img.height()) > max_edge {
        img = img.resize(max_edge, max_edge, FilterType::Triangle);
    }
    let (width, height) = (img.width(), img.height());
    let mut out = Vec::new();
    let encoded = match format {
        ImageFormat::Jpeg => {
            JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY).encode_image(&img.to_rgb8())
        }
        ImageFormat::Png => img.write_with_encoder(PngEncoder::new(&mut out)),
        // The pure-Rust WebP encoder is lossless; it takes 8-bit RGB(A).
        _ => DynamicImage::ImageRgba8(img.to_rgba8())
            .write_with_encoder(WebPEncoder::new_lossless(&mut out)),
    };
    encoded.map_err(|e| ApiError::internal(anyhow::anyhow!("re-encoding an image: {e}")))?;
    Ok(Cleaned {
        format,
        width,
        height,
        bytes: out,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = DynamicImage::ImageRgb8(::image::RgbImage::from_pixel(
            w,
            h,
            ::image::Rgb([9, 120, 200]),
        ));
        let mut out = Vec::new();
        img.write_with_encoder(JpegEncoder::new(&mut out)).unwrap();
        out
    }

    #[test]
    fn big_images_shrink_to_the_longest_edge() {
        let c = clean(&jpeg(800, 400), 200)
            .map_err(|e| e.to_string())
            .unwrap();
        assert_eq!((c.width, c.height, c.format), (200, 100, ImageFormat::Jpeg));
        let small = clean(&jpeg(50, 40), 200)
            .map_err(|e| e.to_string())
            .unwrap();
        assert_eq!((small.width, small.height), (50, 40));
    }

    #[test]
    fn only_jpeg_png_and_webp_are_taken() {
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
        assert_eq!(
            clean(&gif, 100).err().map(|e| e.code),
            Some("unsupported_image")
        );
        assert_eq!(
            clean(b"hello", 100).err().map(|e| e.code),
            Some("unsupported_image")
        );
        // A JPEG header over garbage is refused, not a panic.
        let mut broken = jpeg(10, 10);
        broken.truncate(30);
        assert_eq!(
            clean(&broken, 100).err().map(|e| e.code),
            Some("unsupported_image")
        );
    }

    #[test]
    fn a_small_file_that_would_decode_to_hundreds_of_megabytes_is_refused_before_decoding() {
        // A valid PNG header for 7,999 × 7,999 16-bit RGBA (512 MB decoded) over an
        // empty image stream: 70 bytes on the wire.
        fn crc(bytes: &[u8]) -> u32 {
            let mut c = 0xffff_ffff_u32;
            for &b in bytes {
                c ^= u32::from(b);
                for _ in 0..8 {
                    c = if c & 1 == 1 {
                        0xedb8_8320 ^ (c >> 1)
                    } else {
                        c >> 1
                    };
                }
            }
            !c
        }
        fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
            let body = [kind, data].concat();
            [
                (data.len() as u32).to_be_bytes().to_vec(),
                body.clone(),
                crc(&body).to_be_bytes().to_vec(),
            ]
            .concat()
        }
        let ihdr = [
            &7_999u32.to_be_bytes()[..],
            &7_999u32.to_be_bytes(),
            &[16, 6, 0, 0, 0],
        ]
        .concat();
        let empty_zlib = [0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01];
        let png = [
            b"\x89PNG\r\n\x1a\n".to_vec(),
            chunk(b"IHDR", &ihdr),
            chunk(b"IDAT", &empty_zlib),
            chunk(b"IEND", &[]),
        ]
        .concat();
        assert_eq!(
            clean(&png, 2048).err().map(|e| (e.status, e.code)),
            Some((StatusCode::PAYLOAD_TOO_LARGE, "image_too_large"))
        );
    }
}
