//! Postings through the real HTTP server: admin CRUD, filters, both orders with cursor
//! pages, problem answers. Lists come from the search index, which follows each change
//! (tests wait for it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix};

fn titles(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_owned())
        .collect()
}

matrix! {
    async fn admins_manage_postings_and_everyone_reads_them(app) {
        let admin = app.admin("careers-admin@example.com").await;
        let user = app.user("seeker@example.com", "구직자").await;
        // Only admins write; input is validated field by field.
        let (s, e) = app.post("/api/v1/careers/postings", Some(&user.access), json!({})).await;
        assert_problem(s, &e, 403, "forbidden");
        let (s, e) = app.post("/api/v1/careers/postings", Some(&admin.access), json!({
            "title": "x", "company": "y", "location": "서울", "category": "backend",
            "employment_type": "FULL_TIME", "url": "ftp://nope"})).await;
        assert_problem(s, &e, 422, "validation_failed");
        assert_eq!(e["field"], "url");
        let (s, e) = app.post("/api/v1/careers/postings", Some(&admin.access), json!({
            "title": "x", "company": "y", "location": "서울", "category": "backend",
            "employment_type": "FULL_TIME", "url": "https://x.example", "experience_min": 5, "experience_max": 2})).await;
        assert_problem(s, &e, 422, "validation_failed");

        let p = posting(&app, &admin, json!({"deadline": at(&app, 72)})).await;
        let id = p["id"].as_str().unwrap().to_owned();
        assert_eq!(p["source"], "manual");
        assert_eq!(p["status"], "OPEN");
        assert_eq!(p["skills"], json!(["Rust", "PostgreSQL"]));
        let (s, got) = app.get(&format!("/api/v1/careers/postings/{id}"), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(got, p);

        let (s, e) = app.call(Method::PATCH, &format!("/api/v1/careers/postings/{id}"), Some(&user.access), Some(json!({"title": "x"}))).await;
        assert_problem(s, &e, 403, "forbidden");
        let (s, up) = app.call(Method::PATCH, &format!("/api/v1/careers/postings/{id}"), Some(&admin.access),
            Some(json!({"title": "시니어 백엔드", "skills": ["Go"], "experience_max": null, "deadline": null}))).await;
        assert_eq!(s, StatusCode::OK, "{up}");
        assert_eq!(up["title"], "시니어 백엔드");
        assert_eq!(up["skills"], json!(["Go"]));
        assert!(up["experience_max"].is_null() && up["deadline"].is_null(), "{up}");
        // Lists are answered by the search index, which follows the edit.
        app.eventually(|| async {
            titles(&app.get("/api/v1/careers/postings?skills=go", None).await.1) == ["시니어 백엔드"]
        }).await;
        let (_, rust) = app.get("/api/v1/careers/postings?skills=rust", None).await;
        assert!(titles(&rust).is_empty(), "old skills are gone: {rust}");

        // DELETE closes: still readable, out of open lists; PATCH can reopen.
        assert_eq!(app.call(Method::DELETE, &format!("/api/v1/careers/postings/{id}"), Some(&admin.access), None).await.0, StatusCode::NO_CONTENT);
        let (_, closed) = app.get(&format!("/api/v1/careers/postings/{id}"), None).await;
        assert_eq!(closed["status"], "CLOSED");
        // Off the open list at once (the page is checked against the database), on the
        // closed list once the index has followed.
        let (_, open) = app.get("/api/v1/careers/postings?open=true", None).await;
        assert!(titles(&open).is_empty());
        app.eventually(|| async {
            titles(&app.get("/api/v1/careers/postings?open=false", None).await.1).len() == 1
        }).await;
        let (s, up) = app.call(Method::PATCH, &format!("/api/v1/careers/postings/{id}"), Some(&admin.access), Some(json!({"status": "OPEN"}))).await;
        assert_eq!(s, StatusCode::OK, "{up}");
        assert_eq!(up["status"], "OPEN");

        let missing = uuid::Uuid::now_v7();
        let (s, e) = app.get(&format!("/api/v1/careers/postings/{missing}"), None).await;
        assert_problem(s, &e, 404, "not_found");
        // `q` is served by the search index (tests/search.rs), which follows the edits.
        app.eventually(|| async {
            titles(&app.get("/api/v1/careers/postings?q=백엔드", None).await.1) == ["시니어 백엔드"]
        }).await;
        let (s, e) = app.get("/api/v1/careers/postings?cursor=garbage!", None).await;
        assert_problem(s, &e, 400, "invalid_cursor");
    }

    async fn filters_and_cursor_pages_in_both_orders(app) {
        let admin = app.admin("careers-admin@example.com").await;
        // 7 postings: posted an hour apart, deadlines in reverse, one without.
        for i in 0..7i64 {
            let deadline = if i == 3 { Value::Null } else { json!(at(&app, 24 * (10 - i))) };
            posting(&app, &admin, json!({
                "title": format!("공고 {i}"),
                "posted_at": at(&app, -10 + i),
                "deadline": deadline,
                "category": if i % 2 == 0 { "backend" } else { "frontend" },
                "location": if i < 4 { "서울" } else { "판교" },
                "newbie": i % 3 == 0,
                "experience_min": i, "experience_max": i + 2,
                "skills": if i % 2 == 0 { json!(["Rust", "Kafka"]) } else { json!(["TypeScript"]) },
            })).await;
        }
        app.eventually(|| async { app.careers.search.indexed() == 7 }).await;
        let all = |q: String| {
            let app = &app;
            async move {
                let mut seen = Vec::new();
                let mut cursor: Option<String> = None;
                loop {
                    let path = match &cursor {
                        Some(c) => format!("/api/v1/careers/postings?{q}&limit=2&cursor={c}"),
                        None => format!("/api/v1/careers/postings?{q}&limit=2"),
                    };
                    let (s, page) = app.get(&path, None).await;
                    assert_eq!(s, StatusCode::OK, "{page}");
                    seen.extend(titles(&page));
                    match page["next_cursor"].as_str() {
                        Some(c) => cursor = Some(c.to_owned()),
                        None => return seen,
                    }
                }
            }
        };
        assert_eq!(all("sort=recent".into()).await, ["공고 6", "공고 5", "공고 4", "공고 3", "공고 2", "공고 1", "공고 0"]);
        assert_eq!(all("sort=deadline".into()).await, ["공고 6", "공고 5", "공고 4", "공고 2", "공고 1", "공고 0", "공고 3"]);
        assert_eq!(all("category=backend".into()).await, ["공고 6", "공고 4", "공고 2", "공고 0"]);
        assert_eq!(all("location=판교&sort=deadline".into()).await, ["공고 6", "공고 5", "공고 4"]);
        assert_eq!(all("newbie=true".into()).await, ["공고 6", "공고 3", "공고 0"]);
        assert_eq!(all("experience=5".into()).await, ["공고 5", "공고 4", "공고 3"]);
        assert_eq!(all("skills=rust,KAFKA&location=서울".into()).await, ["공고 2", "공고 0"]);
        assert_eq!(all("skills=rust,typescript".into()).await, Vec::<String>::new());
        // Past its deadline a posting is no longer open.
        app.clock.advance_secs(24 * 3600 * 6 + 12 * 3600);
        assert_eq!(all("open=true&sort=deadline".into()).await, ["공고 2", "공고 1", "공고 0", "공고 3"]);
        let (s, e) = app.get("/api/v1/careers/postings?sort=popular", None).await;
        assert_eq!(s.as_u16(), 400, "{e}");
    }

    #[config(|c| c.modules = Some("identity, notifications".into()))]
    async fn an_instance_without_careers_does_not_serve_it(app) {
        let (s, _) = app.get("/api/v1/careers/postings", None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = app.get("/api/v1/identity/oauth/providers", None).await;
        assert_eq!(s, StatusCode::OK);
    }
}
