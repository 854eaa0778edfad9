//! Mentoring through the real HTTP server: programs, applications, accepts that take
//! a place and points atomically under concurrency, close and cancel with refunds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures::future::join_all;
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, Session, TestApp};

async fn program(app: &TestApp, mentor: &Session, capacity: i32, cost: i64) -> Value {
    let (s, p) = app
        .post(
            "/api/v1/careers/mentoring/programs",
            Some(&mentor.access),
            json!({
        "title": "Rust 백엔드 멘토링", "description": "4주 동안 axum 서버를 만듭니다",
        "skills": ["Rust", "axum"], "capacity": capacity, "cost_points": cost,
        "starts_at": at(app, 24), "ends_at": at(app, 24 * 29)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    p
}

async fn apply(app: &TestApp, who: &Session, program: &str) -> String {
    let (s, a) = app
        .post(
            &format!("/api/v1/careers/mentoring/programs/{program}/applications"),
            Some(&who.access),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["status"], "PENDING");
    a["id"].as_str().unwrap().to_owned()
}

matrix! {
    /// The mentee pays the price shown when applying, whatever the mentor sets later;
    /// a program past its end takes no application and no acceptance.
    async fn accepting_charges_the_price_agreed_when_applying(app) {
        let admin = app.admin("careers-admin@example.com").await;
        let mentor = mentor(&app, &admin, "mentor@example.com", "멘토").await;
        let p = program(&app, &mentor, 3, 10).await;
        let pid = p["id"].as_str().unwrap().to_owned();
        let mentees = app.quick_users(2).await;
        for m in &mentees {
            grant(&app, &admin, m, 500).await;
        }
        let early = apply(&app, &mentees[0], &pid).await;
        let path = format!("/api/v1/careers/mentoring/programs/{pid}");
        let (s, up) = app.call(Method::PATCH, &path, Some(&mentor.access), Some(json!({"cost_points": 400}))).await;
        assert_eq!(s, StatusCode::OK, "{up}");
        let late = apply(&app, &mentees[1], &pid).await;
        for a in [&early, &late] {
            let (s, b) = app.post(&format!("/api/v1/careers/mentoring/applications/{a}/accept"), Some(&mentor.access), json!({})).await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
        assert_eq!(balance(&app, &mentees[0]).await, 490, "the price when she applied");
        assert_eq!(balance(&app, &mentees[1]).await, 100, "the price when he applied");
        assert_ledger_matches(&app, &mentees[0]).await;

        // Past its end (the clock moves 30 days on): no new application, no acceptance.
        let third = app.user("third@example.com", "third").await;
        grant(&app, &admin, &third, 500).await;
        let pending = apply(&app, &third, &pid).await;
        app.clock.advance_secs(30 * 24 * 3600);
        // Every token has expired by then: sign in again.
        let mentor = app.login("mentor@example.com", "password-1234").await;
        let third = app.login("third@example.com", "password-1234").await;
        let other = app.quick_users(1).await.remove(0);
        let (s, b) = app.post(&format!("/api/v1/careers/mentoring/programs/{pid}/applications"), Some(&other.access), json!({})).await;
        assert_problem(s, &b, 409, "program_ended");
        let (s, b) = app.post(&format!("/api/v1/careers/mentoring/applications/{pending}/accept"), Some(&mentor.access), json!({})).await;
        assert_problem(s, &b, 409, "program_ended");
        assert_eq!(balance(&app, &third).await, 500);
    }

    /// A grant retried with its Idempotency-Key (a timeout, a double click) grants once
    /// and answers the same; another body under the same key is refused.
    async fn a_retried_grant_grants_once(app) {
        let admin = app.admin("careers-admin@example.com").await;
        let user = app.quick_users(1).await.remove(0);
        let send = |amount: i64| {
            app.client
                .post(app.url("/api/v1/careers/points/grants"))
                .bearer_auth(&admin.access)
                .header("idempotency-key", "grant-once-1")
                .json(&json!({"user_id": user.user_id, "amount": amount, "reason": "event"}))
                .send()
        };
        let first = send(300).await.unwrap();
        let first_status = first.status();
        let first_body: Value = first.json().await.unwrap();
        let again = send(300).await.unwrap();
        assert_eq!(again.status(), first_status);
        assert_eq!(again.json::<Value>().await.unwrap(), first_body);
        assert_eq!(balance(&app, &user).await, 300, "granted once");
        let other = send(999).await.unwrap();
        assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(balance(&app, &user).await, 300);
        assert_ledger_matches(&app, &user).await;
    }

    async fn thirty_concurrent_accepts_on_five_places_take_exactly_five(app) {
        let admin = app.admin("careers-admin@example.com").await;
        let mentor = mentor(&app, &admin, "mentor@example.com", "멘토").await;
        let p = program(&app, &mentor, 5, 30).await;
        let pid = p["id"].as_str().unwrap().to_owned();
        let mentees = app.quick_users(30).await;
        // 25 can pay, 5 cannot.
        for (i, m) in mentees.iter().enumerate() {
            grant(&app, &admin, m, if i < 25 { 100 } else { 10 }).await;
        }
        let mut apps = Vec::new();
        for m in &mentees {
            apps.push(apply(&app, m, &pid).await);
        }
        let (app_ref, mentor_ref) = (&app, &mentor);
        let answers = join_all(apps.iter().map(|a| async move {
            let path = format!("/api/v1/careers/mentoring/applications/{a}/accept");
            app_ref.post(&path, Some(&mentor_ref.access), json!({})).await
        }))
        .await;
        let accepted: Vec<usize> = answers.iter().enumerate().filter(|(_, (s, _))| *s == StatusCode::OK).map(|(i, _)| i).collect();
        assert_eq!(accepted.len(), 5, "{answers:?}");
        for (i, (s, b)) in answers.iter().enumerate() {
            if *s != StatusCode::OK {
                assert_eq!(*s, StatusCode::CONFLICT, "{b}");
                assert!(b["code"] == "program_full" || (b["code"] == "insufficient_points" && i >= 25), "{i}: {b}");
            }
        }
        let (_, p) = app.get(&format!("/api/v1/careers/mentoring/programs/{pid}"), None).await;
        assert_eq!(p["accepted"], 5);
        for (i, m) in mentees.iter().enumerate() {
            let start = if i < 25 { 100 } else { 10 };
            let want = if accepted.contains(&i) { start - 30 } else { start };
            assert_eq!(balance(&app, m).await, want, "mentee {i}");
            assert_ledger_matches(&app, m).await;
        }
        let (_, list) = app.get(&format!("/api/v1/careers/mentoring/programs/{pid}/applications?limit=100"), Some(&mentor.access)).await;
        let n = |st: &str| list["items"].as_array().unwrap().iter().filter(|a| a["status"] == st).count();
        assert_eq!((n("ACCEPTED"), n("PENDING")), (5, 25), "{list}");
        // Both sides hear about it.
        let first = &mentees[accepted[0]];
        app.eventually(|| async { notifications(&app, first).await.iter().any(|n| n["kind"] == "mentoring_accepted") }).await;
        app.eventually(|| async {
            notifications(&app, &mentor).await.iter().filter(|n| n["kind"] == "mentoring_mentee_joined").count() == 5
        }).await;

        // With people accepted the program cannot close; cancelling refunds them.
        let (s, e) = app.post(&format!("/api/v1/careers/mentoring/programs/{pid}/close"), Some(&mentor.access), json!({})).await;
        assert_problem(s, &e, 409, "program_has_mentees");
        let (s, e) = app.post(&format!("/api/v1/careers/mentoring/programs/{pid}/cancel"), Some(&first.access), json!({})).await;
        assert_problem(s, &e, 403, "forbidden");
        let (s, c) = app.post(&format!("/api/v1/careers/mentoring/programs/{pid}/cancel"), Some(&mentor.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{c}");
        assert_eq!(c["status"], "CANCELLED");
        for (i, m) in mentees.iter().enumerate() {
            assert_eq!(balance(&app, m).await, if i < 25 { 100 } else { 10 }, "refunded {i}");
            assert_ledger_matches(&app, m).await;
        }
        let (_, list) = app.get(&format!("/api/v1/careers/mentoring/programs/{pid}/applications?limit=100"), Some(&mentor.access)).await;
        let n = |st: &str| list["items"].as_array().unwrap().iter().filter(|a| a["status"] == st).count();
        assert_eq!((n("REFUNDED"), n("CANCELLED")), (5, 25), "{list}");
        app.eventually(|| async { notifications(&app, first).await.iter().any(|n| n["kind"] == "mentoring_cancelled") }).await;
        let (s, e) = app.post(&format!("/api/v1/careers/mentoring/programs/{pid}/cancel"), Some(&mentor.access), json!({})).await;
        assert_problem(s, &e, 409, "program_closed");
    }

    async fn programs_and_applications_follow_their_rules(app) {
        let admin = app.admin("careers-admin@example.com").await;
        let mentor = mentor(&app, &admin, "mentor@example.com", "멘토").await;
        let mentee = app.user("mentee@example.com", "멘티").await;
        // Only mentors and admins open programs; input is validated.
        let (s, e) = app.post("/api/v1/careers/mentoring/programs", Some(&mentee.access), json!({
            "title": "x", "capacity": 3, "cost_points": 0, "starts_at": at(&app, 1), "ends_at": at(&app, 2)})).await;
        assert_problem(s, &e, 403, "forbidden");
        let (s, e) = app.post("/api/v1/careers/mentoring/programs", Some(&mentor.access), json!({
            "title": "x", "capacity": 3, "cost_points": 0, "starts_at": at(&app, 2), "ends_at": at(&app, 1)})).await;
        assert_problem(s, &e, 422, "validation_failed");
        assert_eq!(e["field"], "ends_at");
        let (s, e) = app.post("/api/v1/careers/mentoring/programs", Some(&mentor.access), json!({
            "title": "x", "capacity": 0, "cost_points": 0, "starts_at": at(&app, 1), "ends_at": at(&app, 2)})).await;
        assert_problem(s, &e, 422, "validation_failed");

        let p = program(&app, &mentor, 2, 40).await;
        let pid = p["id"].as_str().unwrap().to_owned();
        program(&app, &admin, 3, 0).await;
        let (_, list) = app.get("/api/v1/careers/mentoring/programs?skill=RUST", None).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        let (_, list) = app.get(&format!("/api/v1/careers/mentoring/programs?mentor_id={}", mentor.user_id), None).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        let (_, list) = app.get("/api/v1/careers/mentoring/programs?skill=kotlin", None).await;
        assert!(list["items"].as_array().unwrap().is_empty());
        // A wildcard is not a skill: it must not match every program.
        for wild in ["%25", "_", "a%7Cb"] {
            let (s, b) = app.get(&format!("/api/v1/careers/mentoring/programs?skill={wild}"), None).await;
            assert_problem(s, &b, 422, "validation_failed");
            assert_eq!(b["reason"], "invalid_skills", "{b}");
        }

        // One live application per program; the mentor cannot apply to their own.
        let aid = apply(&app, &mentee, &pid).await;
        let (s, e) = app.post(&format!("/api/v1/careers/mentoring/programs/{pid}/applications"), Some(&mentee.access), json!({})).await;
        assert_problem(s, &e, 409, "already_applied");
        let (s, e) = app.post(&format!("/api/v1/careers/mentoring/programs/{pid}/applications"), Some(&mentor.access), json!({})).await;
        assert_problem(s, &e, 409, "own_program");
        app.eventually(|| async { notifications(&app, &mentor).await.iter().any(|n| n["kind"] == "mentoring_applied") }).await;
        // Cancel while pending, then apply again.
        let (s, c) = app.post(&format!("/api/v1/careers/mentoring/applications/{aid}/cancel"), Some(&mentee.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{c}");
        assert_eq!(c["status"], "CANCELLED");
        let (s, e) = app.post(&format!("/api/v1/careers/mentoring/applications/{aid}/cancel"), Some(&mentee.access), json!({})).await;
        assert_problem(s, &e, 409, "application_not_pending");
        let aid = apply(&app, &mentee, &pid).await;
        // Without points the accept fails and changes nothing.
        let (s, e) = app.post(&format!("/api/v1/careers/mentoring/applications/{aid}/accept"), Some(&mentee.access), json!({})).await;
        assert_problem(s, &e, 403, "forbidden");
        let (s, e) = app.post(&format!("/api/v1/careers/mentoring/applications/{aid}/accept"), Some(&mentor.access), json!({})).await;
        assert_problem(s, &e, 409, "insufficient_points");
        let (_, p) = app.get(&format!("/api/v1/careers/mentoring/programs/{pid}"), None).await;
        assert_eq!(p["accepted"], 0);
        grant(&app, &admin, &mentee, 100).await;
        let (s, a) = app.post(&format!("/api/v1/careers/mentoring/applications/{aid}/accept"), Some(&mentor.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{a}");
        assert_eq!(a["status"], "ACCEPTED");
        assert_eq!(balance(&app, &mentee).await, 60);
        let (s, e) = app.post(&format!("/api/v1/careers/mentoring/applications/{aid}/accept"), Some(&mentor.access), json!({})).await;
        assert_problem(s, &e, 409, "application_not_pending");
        let (s, e) = app.post(&format!("/api/v1/careers/mentoring/programs/{pid}/applications"), Some(&mentee.access), json!({})).await;
        assert_problem(s, &e, 409, "already_applied");
        let (_, mine) = app.get("/api/v1/careers/mentoring/applications/mine", Some(&mentee.access)).await;
        assert_eq!(mine["items"][0]["status"], "ACCEPTED", "{mine}");

        // Edits: capacity never below the accepted.
        let (s, e) = app.call(Method::PATCH, &format!("/api/v1/careers/mentoring/programs/{pid}"), Some(&mentor.access), Some(json!({"capacity": 0}))).await;
        assert_problem(s, &e, 422, "validation_failed");
        let (s, up) = app.call(Method::PATCH, &format!("/api/v1/careers/mentoring/programs/{pid}"), Some(&mentor.access), Some(json!({"capacity": 1, "title": "Rust 심화"}))).await;
        assert_eq!(s, StatusCode::OK, "{up}");
        assert_eq!(up["title"], "Rust 심화");
        let other = app.user("other@example.com", "다른멘티").await;
        let oid = apply(&app, &other, &pid).await;
        grant(&app, &admin, &other, 100).await;
        let (s, e) = app.post(&format!("/api/v1/careers/mentoring/applications/{oid}/accept"), Some(&mentor.access), json!({})).await;
        assert_problem(s, &e, 409, "program_full");
        let (s, r) = app.post(&format!("/api/v1/careers/mentoring/applications/{oid}/reject"), Some(&mentor.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["status"], "REJECTED");
        assert_eq!(balance(&app, &other).await, 100);

        // A program nobody was accepted to can close; its pending applications end.
        let q = program(&app, &mentor, 3, 10).await;
        let qid = q["id"].as_str().unwrap().to_owned();
        let pending = apply(&app, &other, &qid).await;
        let (s, c) = app.post(&format!("/api/v1/careers/mentoring/programs/{qid}/close"), Some(&mentor.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{c}");
        assert_eq!(c["status"], "CLOSED");
        let (s, e) = app.post(&format!("/api/v1/careers/mentoring/programs/{qid}/applications"), Some(&mentee.access), json!({})).await;
        assert_problem(s, &e, 409, "program_closed");
        let (s, e) = app.post(&format!("/api/v1/careers/mentoring/applications/{pending}/accept"), Some(&mentor.access), json!({})).await;
        assert_problem(s, &e, 409, "application_not_pending");
        app.eventually(|| async { notifications(&app, &other).await.iter().any(|n| n["kind"] == "mentoring_closed") }).await;
        let (_, closed) = app.get("/api/v1/careers/mentoring/programs?status=CLOSED", None).await;
        assert_eq!(closed["items"].as_array().unwrap().len(), 1);
    }

    async fn concurrent_accepts_never_overdraw_a_balance(app) {
        let admin = app.admin("careers-admin@example.com").await;
        let mentee = app.user("mentee@example.com", "멘티").await;
        grant(&app, &admin, &mentee, 100).await;
        // Five mentors accept the same mentee at once, 30 points each: three fit.
        let mut accepts = Vec::new();
        for i in 0..5 {
            let m = mentor(&app, &admin, &format!("mentor{i}@example.com"), &format!("멘토{i}")).await;
            let p = program(&app, &m, 3, 30).await;
            let a = apply(&app, &mentee, p["id"].as_str().unwrap()).await;
            accepts.push((m, format!("/api/v1/careers/mentoring/applications/{a}/accept")));
        }
        let app_ref = &app;
        let answers = join_all(accepts.iter().map(|(m, path)| async move {
            app_ref.post(path, Some(&m.access), json!({})).await
        }))
        .await;
        let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
        let poor = answers.iter().filter(|(s, b)| *s == StatusCode::CONFLICT && b["code"] == "insufficient_points").count();
        assert_eq!((ok, poor), (3, 2), "{answers:?}");
        assert_eq!(balance(&app, &mentee).await, 10);
        assert_ledger_matches(&app, &mentee).await;
    }
}
