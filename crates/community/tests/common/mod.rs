//! Helpers shared by the community tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{Session, TestApp};

pub const SEOUL: (f64, f64) = (37.5665, 126.9780);

/// A post by `who` at (lat, lon); `extra` overrides fields.
pub async fn post_at(app: &TestApp, who: &Session, lat: f64, lon: f64, extra: Value) -> Value {
    let mut body = json!({
        "title": "오늘 하늘 맑음", "body": "한강 공원 바람이 시원해요",
        "latitude": lat, "longitude": lon, "place_name": "여의도 한강공원"
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (s, r) = app
        .post("/api/v1/community/posts", Some(&who.access), body)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    r
}

pub fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// Great-circle metres by the spherical law of cosines in its atan2 (Vincenty) form,
/// on MySQL's `ST_Distance_Sphere` sphere: written apart from the server's haversine
/// so the two check each other.
pub fn sphere_distance(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dl = (lon2 - lon1).to_radians();
    let y = ((p2.cos() * dl.sin()).powi(2)
        + (p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos()).powi(2))
    .sqrt();
    let x = p1.sin() * p2.sin() + p1.cos() * p2.cos() * dl.cos();
    6_370_986.0 * y.atan2(x)
}

/// The point `d` metres from (lat, lon) at `bearing` degrees, on the same sphere.
pub fn destination(lat: f64, lon: f64, bearing: f64, d: f64) -> (f64, f64) {
    let r = d / 6_370_986.0;
    let (p1, l1, b) = (lat.to_radians(), lon.to_radians(), bearing.to_radians());
    let p2 = (p1.sin() * r.cos() + p1.cos() * r.sin() * b.cos()).asin();
    let l2 = l1 + (b.sin() * r.sin() * p1.cos()).atan2(r.cos() - p1.sin() * p2.sin());
    (
        p2.to_degrees(),
        (l2.to_degrees() + 540.0).rem_euclid(360.0) - 180.0,
    )
}

/// A multipart POST of `bytes` as the form's `file` part.
pub async fn multipart(
    app: &TestApp,
    path: &str,
    token: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    use surge_testkit::reqwest::header;
    let boundary = "surge-test-boundary-91c2";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"proof.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let res = app
        .client
        .post(app.url(path))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (
        status,
        surge_testkit::serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// A small JPEG photo.
pub fn photo() -> Vec<u8> {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 120])
    }));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// A mission defined by `admin`.
pub async fn mission(app: &TestApp, admin: &Session, slot: &str, points: i64) -> Value {
    let (s, m) = app
        .post(
            "/api/v1/community/missions",
            Some(&admin.access),
            json!({"title": format!("{slot} 하늘 사진"), "description": "오늘 하늘을 찍어 올려 주세요",
                   "points": points, "slot": slot}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    m
}

/// `who`'s mission for today's `slot`, proven with a photo (PENDING_REVIEW).
pub async fn proven_mission(app: &TestApp, who: &Session, slot: &str) -> Value {
    let (s, h) = app
        .post(
            "/api/v1/community/missions/today",
            Some(&who.access),
            json!({"slot": slot}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{h}");
    let path = format!("/api/v1/community/mission-histories/{}/proof", id_of(&h));
    let (s, p) = multipart(app, &path, &who.access, photo()).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "PENDING_REVIEW");
    p
}
