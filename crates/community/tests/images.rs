//! Images: uploads are sniffed, shrunk and stored without their EXIF (no GPS position
//! or device leaves with a photo), served by their url, and attached to posts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Cursor;

use common::*;
use image::{DynamicImage, ImageFormat, RgbImage};
use surge_testkit::reqwest::{header, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, TestApp};

/// A multipart upload of `bytes` as part `part`.
async fn upload(
    app: &TestApp,
    token: Option<&str>,
    part: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let boundary = "surge-test-boundary-7d1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{part}\"; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut req = app
        .client
        .post(app.url("/api/v1/community/images"))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (
        status,
        surge_testkit::serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn encoded(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
    let img = DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    }));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// An EXIF APP1 segment (little-endian TIFF) naming the camera "SecretPhone" and
/// holding a GPS block (version 2.3, latitude ref N), as a phone writes one.
fn exif_segment() -> Vec<u8> {
    let mut t: Vec<u8> = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    t.extend_from_slice(&2u16.to_le_bytes());
    // Make: ASCII, 12 characters, at offset 38.
    t.extend_from_slice(&[0x0f, 0x01, 2, 0]);
    t.extend_from_slice(&12u32.to_le_bytes());
    t.extend_from_slice(&38u32.to_le_bytes());
    // GPSInfo: LONG pointer to the GPS IFD at offset 50.
    t.extend_from_slice(&[0x25, 0x88, 4, 0]);
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&50u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(b"SecretPhone\0");
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&[0x00, 0x00, 1, 0, 4, 0, 0, 0, 2, 3, 0, 0]);
    t.extend_from_slice(&[0x01, 0x00, 2, 0, 2, 0, 0, 0, b'N', 0, 0, 0]);
    t.extend_from_slice(&0u32.to_le_bytes());
    let mut seg = vec![0xff, 0xe1];
    let len = (2 + 6 + t.len()) as u16;
    seg.extend_from_slice(&len.to_be_bytes());
    seg.extend_from_slice(b"Exif\0\0");
    seg.extend_from_slice(&t);
    seg
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Any APP1 (EXIF/XMP) segment among the JPEG's headers.
fn has_app1(jpeg: &[u8]) -> bool {
    let mut i = 2;
    while i + 4 <= jpeg.len() && jpeg[i] == 0xff {
        let marker = jpeg[i + 1];
        if marker == 0xe1 {
            return true;
        }
        if marker == 0xda {
            return false;
        }
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        i += 2 + len;
    }
    false
}

matrix! {
    #[config(|c| { c.community_image_max_edge = 256; c.community_image_max_bytes = 300_000; })]
    async fn a_photo_loses_its_gps_and_shrinks_and_posts_carry_it(app) {
        let a = app.user("photographer@example.com", "사진가").await;
        let b = app.user("thief@example.com", "남의사진").await;
        let mut photo = encoded(640, 480, ImageFormat::Jpeg);
        let exif = exif_segment();
        photo.splice(2..2, exif);
        assert!(has_app1(&photo) && contains(&photo, b"SecretPhone") && contains(&photo, b"Exif\0\0"));
        assert!(image::load_from_memory(&photo).is_ok(), "the test photo is a valid JPEG");

        let (s, img) = upload(&app, Some(&a.access), "file", photo).await;
        assert_eq!(s, StatusCode::CREATED, "{img}");
        assert_eq!((img["width"].as_u64(), img["height"].as_u64()), (Some(256), Some(192)));
        assert_eq!(img["content_type"], "image/jpeg");
        let url = img["url"].as_str().unwrap().to_owned();
        let res = app.client.get(app.url(&url)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "image/jpeg");
        let served = res.bytes().await.unwrap().to_vec();
        assert!(!has_app1(&served), "no EXIF/XMP segment is served");
        assert!(!contains(&served, b"Exif\0\0") && !contains(&served, b"SecretPhone"));
        let back = image::load_from_memory(&served).unwrap();
        assert_eq!((back.width(), back.height()), (256, 192));

        // PNG and WebP stay what they are; small ones keep their size.
        for (format, ct) in [(ImageFormat::Png, "image/png"), (ImageFormat::WebP, "image/webp")] {
            let (s, v) = upload(&app, Some(&a.access), "file", encoded(120, 60, format)).await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
            assert_eq!(v["content_type"], ct);
            assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(120), Some(60)));
            let res = app.client.get(app.url(v["url"].as_str().unwrap())).send().await.unwrap();
            assert_eq!(res.headers()[header::CONTENT_TYPE], ct);
            let got = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
            assert_eq!((got.width(), got.height()), (120, 60));
        }

        // What is not a JPEG, PNG or WebP is refused by its bytes, whatever it claims.
        let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;".to_vec();
        let (s, e) = upload(&app, Some(&a.access), "file", gif).await;
        assert_problem(s, &e, 415, "unsupported_image");
        let (s, e) = upload(&app, Some(&a.access), "file", b"not an image at all".to_vec()).await;
        assert_problem(s, &e, 415, "unsupported_image");
        let (s, e) = upload(&app, Some(&a.access), "file", vec![7u8; 400_000]).await;
        assert_problem(s, &e, 413, "image_too_large");
        let (s, e) = upload(&app, Some(&a.access), "photo", encoded(10, 10, ImageFormat::Png)).await;
        assert_problem(s, &e, 400, "invalid_upload");
        let (s, e) = upload(&app, None, "file", encoded(10, 10, ImageFormat::Png)).await;
        assert_problem(s, &e, 401, "unauthenticated");
        let (s, e) = app.get(&format!("/api/v1/community/images/{}", uuid::Uuid::new_v4()), None).await;
        assert_problem(s, &e, 404, "not_found");

        // A post shows its author's images by url; nobody else may attach them.
        let p = post_at(&app, &a, SEOUL.0, SEOUL.1, json!({"image_ids": [img["id"]]})).await;
        assert_eq!(p["images"][0]["id"], img["id"]);
        assert_eq!(p["images"][0]["url"], url.as_str());
        let (s, e) = app.post("/api/v1/community/posts", Some(&b.access),
            json!({"title": "t", "body": "b", "latitude": 37.5, "longitude": 127.0, "image_ids": [img["id"]]})).await;
        assert_problem(s, &e, 422, "validation_failed");
        assert_eq!(e["reason"], "unknown_image");
    }
}
