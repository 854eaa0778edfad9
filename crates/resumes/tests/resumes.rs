//! Resumes through the real server with the embedded writer (the template, no model)
//! and the offline code host: asked for, written in the background, edited by hand,
//! shared, viewed, withdrawn; a login the host does not know fails with the use given
//! back; the daily quota holds under concurrent requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures::future::join_all;
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::json;
use surge_testkit::{assert_problem, matrix, TestApp};

matrix! {
    async fn a_resume_is_written_in_the_background_versioned_shared_and_withdrawn(app) {
        let owner = app.user("writer@example.com", "하나").await;
        let other = app.user("reader@example.com", "독자").await;
        let (s, r) = ask(&app, &owner, "hana-dev").await;
        assert_eq!(s, StatusCode::ACCEPTED, "{r}");
        assert_eq!((r["status"].as_str(), r["version"].as_i64()), (Some("GENERATING"), Some(0)));
        assert!(r["sections"].is_null(), "{r}");
        assert_eq!(used(&app, &owner).await, 1, "a generation takes one use");
        let id = r["id"].as_str().unwrap().to_owned();

        let r = settled(&app, &owner, &id).await;
        assert_eq!(r["status"], "READY", "{r}");
        assert_eq!((r["version"].as_i64(), r["writer"].as_str(), r["ai_written"].as_bool()), (Some(1), Some("template"), Some(false)));
        let summary = r["sections"]["summary"].as_str().unwrap();
        assert!(summary.contains("hana-dev") && summary.contains("백엔드"), "{summary}");
        assert!(summary.contains("결제 서버 트래픽"), "the owner's highlight is used: {summary}");
        let projects = r["sections"]["projects"].as_array().unwrap();
        assert!(!projects.is_empty(), "{r}");
        assert!(projects.iter().all(|p| p["url"].as_str().unwrap().starts_with("https://")), "{r}");
        app.eventually(|| async { notification_kinds(&app, &owner).await.contains(&"resume_ready".to_owned()) }).await;

        // Private until shared: nobody else sees it.
        let path = format!("/api/v1/resumes/{id}");
        let (s, b) = app.get(&path, Some(&other.access)).await;
        assert_problem(s, &b, 404, "not_found");
        let (_, list) = app.get("/api/v1/resumes", None).await;
        assert!(list["items"].as_array().unwrap().is_empty(), "{list}");

        // No model configured: an AI edit is refused, nothing taken.
        let (s, b) = app.post(&format!("{path}/edit"), Some(&owner.access), json!({"instruction": "더 짧게"})).await;
        assert_problem(s, &b, 409, "ai_edit_unavailable");
        assert_eq!(used(&app, &owner).await, 1);

        // A hand edit is the next version; a bad one is refused naming the field.
        let mine = json!({"summary": "분산 시스템을 좋아하는 백엔드 개발자", "skills": ["Rust", "PostgreSQL"],
            "projects": [{"name": "surge", "url": "https://github.com/hana-dev/surge", "description": "한 바이너리 백엔드"}],
            "experience": [{"title": "결제 서버", "organization": "스타트업", "period": "2024.03 – 2025.02"}]});
        let (s, b) = app.call(Method::PUT, &path, Some(&owner.access), Some(json!({"summary": " "}))).await;
        assert_problem(s, &b, 422, "validation_failed");
        assert_eq!(b["field"], "summary");
        let (s, b) = app.call(Method::PUT, &path, Some(&other.access), Some(mine.clone())).await;
        assert_problem(s, &b, 404, "not_found");
        let (s, v2) = app.call(Method::PUT, &path, Some(&owner.access), Some(mine)).await;
        assert_eq!(s, StatusCode::OK, "{v2}");
        assert_eq!((v2["version"].as_i64(), v2["writer"].as_str()), (Some(2), Some("owner")));
        assert_eq!(v2["sections"]["experience"][0]["period"], "2024.03 – 2025.02");
        let (_, versions) = app.get(&format!("{path}/versions"), Some(&owner.access)).await;
        let origins: Vec<&str> = versions["items"].as_array().unwrap().iter().map(|v| v["origin"].as_str().unwrap()).collect();
        assert_eq!(origins, ["MANUAL", "GENERATED"], "{versions}");
        assert_eq!(versions["items"][1]["writer"], "template");

        // Shared: listed, readable by anyone; another's reads count once per hour.
        let (s, b) = app.call(Method::PATCH, &path, Some(&owner.access), Some(json!({"visibility": "PUBLIC"}))).await;
        assert_eq!((s, b["visibility"].as_str()), (StatusCode::OK, Some("PUBLIC")), "{b}");
        let (_, list) = app.get("/api/v1/resumes?position=BACKEND", None).await;
        assert_eq!(list["items"][0]["id"], id.as_str(), "{list}");
        assert_eq!(list["items"][0]["summary"], "분산 시스템을 좋아하는 백엔드 개발자");
        let (_, none) = app.get("/api/v1/resumes?position=FRONTEND", None).await;
        assert!(none["items"].as_array().unwrap().is_empty(), "{none}");
        let (_, school) = app.get("/api/v1/resumes?school_type=BOOTCAMP&sort=views", None).await;
        assert_eq!(school["items"][0]["id"], id.as_str(), "{school}");
        let (_, none) = app.get("/api/v1/resumes?school_type=SELF_TAUGHT", None).await;
        assert!(none["items"].as_array().unwrap().is_empty(), "{none}");
        for _ in 0..3 {
            let (s, b) = app.get(&path, Some(&other.access)).await;
            assert_eq!((s, b["liked_by_me"].as_bool()), (StatusCode::OK, Some(false)), "{b}");
        }
        let (s, _) = app.get(&path, None).await;
        assert_eq!(s, StatusCode::OK);
        app.get(&path, Some(&owner.access)).await; // the owner's own reads do not count
        app.resumes.views.flush().await.unwrap();
        assert_eq!(app.stored_i64("resumes", "view_count", &id).await, 2);

        // Withdrawn: gone for everyone; only the owner may.
        let (s, b) = app.call(Method::DELETE, &path, Some(&other.access), None).await;
        assert_problem(s, &b, 403, "not_owner");
        let (s, _) = app.call(Method::DELETE, &path, Some(&owner.access), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, b) = app.get(&path, Some(&owner.access)).await;
        assert_problem(s, &b, 404, "not_found");
        let (_, list) = app.get("/api/v1/resumes", None).await;
        assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
    }

    async fn a_login_the_code_host_does_not_know_fails_and_gives_the_use_back(app) {
        let owner = app.user("ghost@example.com", "유령").await;
        let (s, r) = ask(&app, &owner, "nobody-at-all").await;
        assert_eq!(s, StatusCode::ACCEPTED, "{r}");
        let r = settled(&app, &owner, r["id"].as_str().unwrap()).await;
        assert_eq!(r["status"], "FAILED", "{r}");
        assert!(r["failure"].as_str().unwrap().contains("not found"), "{r}");
        assert!(r["sections"].is_null());
        assert_eq!(used(&app, &owner).await, 0, "a failed generation gives its use back");
        app.eventually(|| async { notification_kinds(&app, &owner).await.contains(&"resume_failed".to_owned()) }).await;
        // Nothing to share or edit.
        let path = format!("/api/v1/resumes/{}", r["id"].as_str().unwrap());
        let (s, b) = app.call(Method::PATCH, &path, Some(&owner.access), Some(json!({"visibility": "PUBLIC"}))).await;
        assert_problem(s, &b, 409, "resume_not_ready");
        let (_, mine) = app.get("/api/v1/resumes/mine", Some(&owner.access)).await;
        assert_eq!(mine["items"][0]["status"], "FAILED", "{mine}");
    }

    async fn ten_concurrent_requests_with_one_use_left_file_exactly_one(app) {
        let owner = app.user("quota@example.com", "할당량").await;
        for _ in 0..2 {
            let (s, r) = ask(&app, &owner, "hana-dev").await;
            assert_eq!(s, StatusCode::ACCEPTED, "{r}");
        }
        let answers = join_all((0..10).map(|_| ask(&app, &owner, "hana-dev"))).await;
        let accepted = answers.iter().filter(|(s, _)| *s == StatusCode::ACCEPTED).count();
        assert_eq!(accepted, 1, "{answers:?}");
        for (s, b) in answers.iter().filter(|(s, _)| *s != StatusCode::ACCEPTED) {
            assert_problem(*s, b, 429, "quota_exceeded");
            assert_eq!((b["limit"].as_i64(), b["plan"].as_str()), (Some(3), Some("FREE")), "{b}");
            assert!(b["resets_at"].as_str().unwrap().ends_with('Z'), "{b}");
        }
        assert_eq!(used(&app, &owner).await, 3);
        let (_, mine) = app.get("/api/v1/resumes/mine", Some(&owner.access)).await;
        assert_eq!(mine["items"].as_array().unwrap().len(), 3, "one resume per use: {mine}");
    }

    async fn bad_requests_get_a_problem_naming_what_is_wrong(app) {
        let who = app.user("bad@example.com", "잘못").await;
        let body = |login: &str, extra: &str| -> surge_testkit::serde_json::Value {
            surge_testkit::serde_json::from_str(&format!(r#"{{"github_username": "{login}", "position": "BACKEND"{extra}}}"#)).unwrap()
        };
        let (s, b) = app.post("/api/v1/resumes", Some(&who.access), body("-bad-", "")).await;
        assert_problem(s, &b, 422, "validation_failed");
        assert_eq!((b["field"].as_str(), b["reason"].as_str()), (Some("github_username"), Some("invalid_login")));
        let many = format!(r#", "highlights": [{}]"#, ["\"x\""; 11].join(","));
        let (s, b) = app.post("/api/v1/resumes", Some(&who.access), body("ok", &many)).await;
        assert_problem(s, &b, 422, "validation_failed");
        assert_eq!(b["field"], "highlights");
        let (s, b) = app.post("/api/v1/resumes", Some(&who.access), json!({"github_username": "ok", "position": "CHEF"})).await;
        assert_problem(s, &b, 422, "invalid_body");
        let (s, b) = app.post("/api/v1/resumes", None, body("ok", "")).await;
        assert_problem(s, &b, 401, "unauthenticated");
        let (s, b) = app.get("/api/v1/resumes?sort=best", None).await;
        assert_problem(s, &b, 400, "invalid_query");
        let (s, b) = app.get("/api/v1/resumes?cursor=bm90LWEtY3Vyc29y", None).await;
        assert_problem(s, &b, 400, "invalid_cursor");
        let (s, b) = app.get("/api/v1/resumes?liked=true", None).await;
        assert_problem(s, &b, 401, "unauthenticated");
        assert_eq!(used(&app, &who).await, 0, "nothing refused took a use");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_openapi_document_lists_the_resume_routes() {
    let app = TestApp::spawn().await;
    let (s, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    for p in [
        "/api/v1/resumes",
        "/api/v1/resumes/{id}/edit",
        "/api/v1/resumes/{id}/likes",
        "/api/v1/resumes/{id}/comments/{cid}",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing");
    }
}

matrix! {
    async fn a_job_whose_writer_died_is_written_when_its_lease_runs_out(app) {
        use sea_orm::ConnectionTrait;
        let owner = app.user("lease@example.com", "임대").await;
        let (_, r) = ask(&app, &owner, "hana-dev").await;
        let id = r["id"].as_str().unwrap().to_owned();
        assert_eq!(settled(&app, &owner, &id).await["status"], "READY");
        // As if a writer had claimed the job (lease 5 minutes ahead) and then died.
        let db = &app.app_foundation.db;
        let lease_end = surge_kernel::clock::Clock::now_ms(app.clock.as_ref()) + 300_000;
        let rm = match db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "$1",
            _ => "?",
        };
        for sql in [
            format!("UPDATE resumes SET status = 'GENERATING', version = 0, sections = NULL, attempts = 1, due_at = {lease_end} WHERE id = {rm}"),
            format!("DELETE FROM resume_versions WHERE resume_id = {rm}"),
        ] {
            let id: uuid::Uuid = id.parse().unwrap();
            db.execute(sea_orm::Statement::from_sql_and_values(db.get_database_backend(), sql, [id.into()])).await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let (_, r) = app.get(&format!("/api/v1/resumes/{id}"), Some(&owner.access)).await;
        assert_eq!(r["status"], "GENERATING", "nobody takes a job inside its lease: {r}");
        app.clock.advance_secs(301);
        let r = settled(&app, &owner, &id).await;
        assert_eq!((r["status"].as_str(), r["version"].as_i64()), (Some("READY"), Some(1)), "{r}");
        assert_eq!(rows(&app, "resume_versions", "resume_id", &id).await, 1);
    }
}
