//! Shared steps of the ticketing tests.
#![allow(dead_code)]

use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{Session, TestApp};

/// A flight departing in `days` days: `rows` rows of ABCDEF, row 1 Business.
pub async fn flight(
    app: &TestApp,
    admin: &Session,
    origin: &str,
    dest: &str,
    days: i64,
    rows: u32,
) -> Value {
    let departs = chrono_like(app, days * 24 * 3600 * 1000);
    let arrives = chrono_like(app, days * 24 * 3600 * 1000 + 65 * 60 * 1000);
    let (s, f) = app
        .post(
            "/api/v1/ticketing/flights",
            Some(&admin.access),
            json!({
                "flight_number": "KE1201", "origin": origin, "destination": dest,
                "departs_at": departs, "arrives_at": arrives,
                "layout": {"rows": rows, "letters": "ABCDEF", "grades": [
                    {"name": "Business", "from_row": 1, "to_row": 1, "price": 250_000},
                    {"name": "Economy", "from_row": 2, "to_row": rows, "price": 89_000}
                ]}
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{f}");
    f
}

/// An RFC 3339 instant `offset_ms` from the app's clock.
pub fn chrono_like(app: &TestApp, offset_ms: i64) -> String {
    use surge_kernel::clock::Clock;
    surge_kernel::rfc3339(app.clock.now_ms() + offset_ms)
}

pub async fn seats(
    app: &TestApp,
    flight: &str,
    who: Option<&Session>,
    pass: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .get(app.url(&format!("/api/v1/ticketing/flights/{flight}/seats")));
    if let Some(w) = who {
        req = req.bearer_auth(&w.access);
    }
    if let Some(p) = pass {
        req = req.header("X-Admission-Pass", p);
    }
    let res = req.send().await.unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

pub async fn hold(
    app: &TestApp,
    who: &Session,
    key: &str,
    flight: &str,
    seat_ids: &[&str],
    pass: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(app.url("/api/v1/ticketing/holds"))
        .bearer_auth(&who.access)
        .header("Idempotency-Key", key)
        .json(&json!({"flight_id": flight, "seat_ids": seat_ids}));
    if let Some(p) = pass {
        req = req.header("X-Admission-Pass", p);
    }
    let res = req.send().await.unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

/// Seat id by number ("1A") from a seat map.
pub fn seat_id<'a>(map: &'a Value, number: &str) -> &'a str {
    map.as_array()
        .unwrap()
        .iter()
        .find(|s| s["number"] == number)
        .unwrap_or_else(|| panic!("no seat {number}"))["id"]
        .as_str()
        .unwrap()
}

pub fn status_of<'a>(map: &'a Value, number: &str) -> &'a str {
    map.as_array()
        .unwrap()
        .iter()
        .find(|s| s["number"] == number)
        .unwrap()["status"]
        .as_str()
        .unwrap()
}

/// Starts and approves the payment of a hold.
pub async fn pay(app: &TestApp, who: &Session, hold_id: &str) -> (StatusCode, Value) {
    let (s, started) = app
        .post(
            &format!("/api/v1/ticketing/holds/{hold_id}/payment"),
            Some(&who.access),
            json!({}),
        )
        .await;
    if s != StatusCode::OK {
        return (s, started);
    }
    app.post(
        &format!("/api/v1/ticketing/holds/{hold_id}/payment/approve"),
        Some(&who.access),
        json!({"pg_token": "ok-token"}),
    )
    .await
}
