//! Helpers shared by the careers tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{Session, TestApp};

pub fn at(app: &TestApp, hours: i64) -> String {
    use surge_kernel::clock::Clock;
    surge_kernel::rfc3339(app.clock.now_ms() + hours * 3_600_000)
}

/// A posting made by `admin`; `extra` overrides fields.
pub async fn posting(app: &TestApp, admin: &Session, extra: Value) -> Value {
    let mut body = json!({
        "title": "백엔드 개발자 (Rust)", "company": "당근", "location": "서울", "district": "서초구",
        "category": "backend", "skills": ["Rust", "PostgreSQL"], "experience_min": 0,
        "experience_max": 3, "newbie": true, "employment_type": "FULL_TIME",
        "url": "https://example.com/jobs/1", "description": "서버를 만듭니다"
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (s, r) = app
        .post("/api/v1/careers/postings", Some(&admin.access), body)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    r
}

/// A session with the MENTOR role (promoted by `admin`, then logged in again).
pub async fn mentor(app: &TestApp, admin: &Session, email: &str, nick: &str) -> Session {
    let m = app.user(email, nick).await;
    let (s, r) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/identity/admin/users/{}", m.user_id),
            Some(&admin.access),
            Some(json!({"role": "MENTOR"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    app.login(email, "password-1234").await
}

pub async fn grant(app: &TestApp, admin: &Session, user: &Session, amount: i64) {
    let (s, r) = app
        .post(
            "/api/v1/careers/points/grants",
            Some(&admin.access),
            json!({"user_id": user.user_id, "amount": amount, "reason": "welcome"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
}

pub async fn points(app: &TestApp, who: &Session) -> Value {
    let (s, r) = app
        .get("/api/v1/careers/points/me?limit=100", Some(&who.access))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    r
}

pub async fn balance(app: &TestApp, who: &Session) -> i64 {
    points(app, who).await["balance"].as_i64().unwrap()
}

/// The balance equals the sum of the ledger, and each ledger row's `balance_after`
/// chains from the one before.
pub async fn assert_ledger_matches(app: &TestApp, who: &Session) {
    let p = points(app, who).await;
    let history = p["history"].as_array().unwrap();
    let sum: i64 = history.iter().map(|h| h["delta"].as_i64().unwrap()).sum();
    assert_eq!(sum, p["balance"].as_i64().unwrap(), "{p}");
    let ok = surge_careers::points::ledger_matches_balance(
        &app.app_foundation.db,
        who.user_id.parse().unwrap(),
    )
    .await
    .unwrap();
    assert!(ok, "stored ledger sums to the stored balance");
}

pub async fn notifications(app: &TestApp, who: &Session) -> Vec<Value> {
    let (_, n) = app
        .get("/api/v1/notifications?limit=100", Some(&who.access))
        .await;
    n["items"].as_array().cloned().unwrap_or_default()
}

/// For building the module in a test that never looks a user up (the sweeper, search).
pub struct NoDirectory;

#[async_trait::async_trait]
impl surge_kernel::ports::UserDirectory for NoDirectory {
    async fn find(
        &self,
        _: uuid::Uuid,
    ) -> anyhow::Result<Option<surge_kernel::ports::UserSummary>> {
        anyhow::bail!("not used")
    }
    async fn find_many(
        &self,
        _: &[uuid::Uuid],
    ) -> anyhow::Result<std::collections::HashMap<uuid::Uuid, surge_kernel::ports::UserSummary>>
    {
        anyhow::bail!("not used")
    }
}
