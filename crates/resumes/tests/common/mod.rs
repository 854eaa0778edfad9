//! Helpers shared by the resume tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use sea_orm::{ConnectionTrait, Statement};
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{eventually_some, Session, TestApp};

/// Asks for a resume of `login` as `who`; the answer as it came.
pub async fn ask(app: &TestApp, who: &Session, login: &str) -> (StatusCode, Value) {
    app.post(
        "/api/v1/resumes",
        Some(&who.access),
        json!({"github_username": login, "position": "BACKEND", "school_type": "BOOTCAMP",
               "highlights": ["결제 서버 트래픽 3배를 무중단으로 버팀"]}),
    )
    .await
}

/// The resume once its status is no longer `busy` (GENERATING or EDITING).
pub async fn settled(app: &TestApp, who: &Session, id: &str) -> Value {
    let path = format!("/api/v1/resumes/{id}");
    eventually_some(|| async {
        let (s, r) = app.get(&path, Some(&who.access)).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        (!matches!(r["status"].as_str(), Some("GENERATING" | "EDITING"))).then_some(r)
    })
    .await
}

/// A READY resume of `login`, shared (PUBLIC).
pub async fn public_resume(app: &TestApp, who: &Session, login: &str) -> String {
    let (s, r) = ask(app, who, login).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    let id = r["id"].as_str().unwrap().to_owned();
    assert_eq!(settled(app, who, &id).await["status"], "READY");
    let (s, r) = app
        .call(
            surge_testkit::reqwest::Method::PATCH,
            &format!("/api/v1/resumes/{id}"),
            Some(&who.access),
            Some(json!({"visibility": "PUBLIC"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    id
}

/// The kinds of `who`'s notifications, newest first.
pub async fn notification_kinds(app: &TestApp, who: &Session) -> Vec<String> {
    let (_, n) = app
        .get("/api/v1/notifications?limit=100", Some(&who.access))
        .await;
    n["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n["kind"].as_str().map(str::to_owned))
        .collect()
}

/// `SELECT COUNT(*)` of a table's rows where `column` is `id`.
pub async fn rows(app: &TestApp, table: &str, column: &str, id: &str) -> i64 {
    let db = &app.app_foundation.db;
    let id: uuid::Uuid = id.parse().unwrap();
    let mark = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => "$1",
        _ => "?",
    };
    let stmt = Statement::from_sql_and_values(
        db.get_database_backend(),
        format!("SELECT COUNT(*) FROM {table} WHERE {column} = {mark}"),
        [id.into()],
    );
    let row = db.query_one(stmt).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Today's used count of `who`'s daily quota.
pub async fn used(app: &TestApp, who: &Session) -> i64 {
    let (s, me) = app.get("/api/v1/billing/usage/me", Some(&who.access)).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    me["used"].as_i64().unwrap()
}
