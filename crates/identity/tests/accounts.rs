//! Accounts, login and bad input, through the real HTTP server on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::future::join_all;
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, TestApp};

matrix! {
    async fn signup_then_login_then_me(app) {
        let (s, user) = app
            .post("/api/v1/identity/signup", None,
                json!({"email": "Kim@Example.com", "password": "password-1234", "nickname": "김서울"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{user}");
        assert_eq!(user["email"], "kim@example.com");
        assert_eq!(user["nickname"], "김서울");
        assert_eq!(user["role"], "USER");
        assert!(user["id"].as_str().is_some());

        let res = app.client.post(app.url("/api/v1/identity/login"))
            .json(&json!({"email": "KIM@example.com", "password": "password-1234"}))
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
        assert!(cookie.starts_with("surge_refresh="), "{cookie}");
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/api/v1/identity"] {
            assert!(cookie.contains(attr), "{cookie}");
        }
        let tokens: Value = res.json().await.unwrap();
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 900);
        assert!(tokens["refresh_token"].as_str().unwrap().len() >= 40);

        let (s, me) = app.get("/api/v1/identity/me", tokens["access_token"].as_str()).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(me["id"], user["id"]);
        assert_eq!(me["active"], true);
    }

    async fn email_and_nickname_are_unique_case_insensitively(app) {
        app.user("lee@example.com", "Surfer").await;
        let (s, b) = app.post("/api/v1/identity/signup", None,
            json!({"email": "LEE@example.com", "password": "password-1234", "nickname": "other"})).await;
        assert_problem(s, &b, 409, "email_taken");
        let (s, b) = app.post("/api/v1/identity/signup", None,
            json!({"email": "new@example.com", "password": "password-1234", "nickname": "SURFER"})).await;
        assert_problem(s, &b, 409, "nickname_taken");

        let (s, b) = app.get("/api/v1/identity/nicknames/surfer", None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["available"], false);
        let (_, b) = app.get("/api/v1/identity/nicknames/%EB%AF%BC%EC%A7%80", None).await;
        assert_eq!(b["available"], true);
        assert_eq!(b["nickname"], "민지");
        let (s, b) = app.get("/api/v1/identity/nicknames/x", None).await;
        assert_problem(s, &b, 422, "invalid_nickname");
    }

    async fn hundred_concurrent_signups_with_one_nickname_make_one_account(app) {
        let results = join_all((0..100).map(|i| {
            let app = &app;
            async move {
                app.post("/api/v1/identity/signup", None, json!({
                    "email": format!("racer{i}@example.com"),
                    "password": "password-1234",
                    "nickname": "hotname",
                })).await
            }
        })).await;
        let created = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
        let taken = results.iter().filter(|(s, b)| *s == StatusCode::CONFLICT && b["code"] == "nickname_taken").count();
        assert_eq!(created, 1, "exactly one account");
        assert_eq!(taken, 99, "everyone else is told the nickname is taken");

        let admin = app.admin("root@example.com").await;
        let (_, page) = app.get("/api/v1/identity/admin/users?q=hotname&limit=100", Some(&admin.access)).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
    }

    async fn bad_input_gets_problem_json(app) {
        let cases = [
            (json!({"email": "nope", "password": "password-1234", "nickname": "abc"}), 422, "invalid_email"),
            (json!({"email": "a@b.co", "password": "short", "nickname": "abc"}), 422, "invalid_password"),
            (json!({"email": "a@b.co", "password": "password-1234", "nickname": "a"}), 422, "invalid_nickname"),
            (json!({"email": "a@b.co", "password": "password-1234", "nickname": "has space"}), 422, "invalid_nickname"),
            (json!({"email": 5, "password": "password-1234", "nickname": "abc"}), 422, "invalid_body"),
            (json!({"password": "password-1234"}), 422, "invalid_body"),
        ];
        for (body, status, code) in cases {
            let (s, b) = app.post("/api/v1/identity/signup", None, body.clone()).await;
            assert_problem(s, &b, status, code);
        }
        // Malformed JSON, missing content type, unknown route, wrong method.
        let res = app.client.post(app.url("/api/v1/identity/signup"))
            .header("content-type", "application/json").body("{\"email\": ").send().await.unwrap();
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let b: Value = res.json().await.unwrap();
        assert_eq!(b["code"], "malformed_json");
        let res = app.client.post(app.url("/api/v1/identity/signup")).body("x").send().await.unwrap();
        let s = res.status();
        assert_problem(s, &res.json().await.unwrap(), 415, "unsupported_media_type");
        let (s, b) = app.get("/api/v1/nowhere", None).await;
        assert_problem(s, &b, 404, "not_found");
        let (s, b) = app.call(Method::PUT, "/api/v1/identity/login", None, Some(json!({}))).await;
        assert_problem(s, &b, 405, "method_not_allowed");
        let (s, b) = app.get("/api/v1/identity/admin/users/not-a-uuid", None).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{b}");
        let (s, b) = app.call(Method::PATCH, "/api/v1/identity/admin/users/not-a-uuid", None, Some(json!({}))).await;
        assert!(s == StatusCode::BAD_REQUEST || s == StatusCode::UNAUTHORIZED, "{s} {b}");
        assert!(b["code"].is_string());
        // Oversized body (own connection: the server closes it without reading the rest).
        let huge = "x".repeat(2 * 1024 * 1024);
        let res = surge_testkit::reqwest::Client::new().post(app.url("/api/v1/identity/signup"))
            .json(&json!({"email": huge, "password": "p", "nickname": "n"})).send().await.unwrap();
        let s = res.status();
        assert_problem(s, &res.json().await.unwrap(), 413, "payload_too_large");
        // Tokens.
        let (s, b) = app.get("/api/v1/identity/me", None).await;
        assert_problem(s, &b, 401, "unauthenticated");
        let (s, b) = app.get("/api/v1/identity/me", Some("garbage.token.here")).await;
        assert_problem(s, &b, 401, "invalid_token");
        let (s, b) = app.get("/api/v1/identity/admin/users?limit=0", None).await;
        assert_problem(s, &b, 401, "unauthenticated");
    }

    async fn wrong_password_and_unknown_email_look_the_same_then_throttle(app) {
        app.user("park@example.com", "park").await;
        let (s1, b1) = app.post("/api/v1/identity/login", None, json!({"email": "park@example.com", "password": "wrong-password"})).await;
        let (s2, b2) = app.post("/api/v1/identity/login", None, json!({"email": "ghost@example.com", "password": "wrong-password"})).await;
        assert_problem(s1, &b1, 401, "invalid_credentials");
        assert_problem(s2, &b2, 401, "invalid_credentials");
        assert_eq!(b1["detail"], b2["detail"]);

        for _ in 0..4 {
            let (s, _) = app.post("/api/v1/identity/login", None, json!({"email": "park@example.com", "password": "wrong-password"})).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
        let res = app.client.post(app.url("/api/v1/identity/login"))
            .json(&json!({"email": "park@example.com", "password": "password-1234"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "even the right password waits after 5 failures");
        let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry > 0 && retry <= 900, "{retry}");
        let b: Value = res.json().await.unwrap();
        assert_eq!(b["code"], "rate_limited");

        // Successful logins from one address are never throttled.
        app.user("load@example.com", "loadtester").await;
        for _ in 0..40 {
            app.login("load@example.com", "password-1234").await;
        }
    }

    async fn idempotent_signup_replays_the_first_answer(app) {
        let body = json!({"email": "idem@example.com", "password": "password-1234", "nickname": "idem"});
        let send = |b: Value| app.client.post(app.url("/api/v1/identity/signup"))
            .header("Idempotency-Key", "signup-1").json(&b).send();
        let first = send(body.clone()).await.unwrap();
        assert_eq!(first.status(), StatusCode::CREATED);
        let first: Value = first.json().await.unwrap();
        let again = send(body.clone()).await.unwrap();
        assert_eq!(again.status(), StatusCode::CREATED, "replayed, not email_taken");
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        let again: Value = again.json().await.unwrap();
        assert_eq!(again["id"], first["id"]);
        let other = send(json!({"email": "idem2@example.com", "password": "password-1234", "nickname": "idem2"})).await.unwrap();
        assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let other: Value = other.json().await.unwrap();
        assert_eq!(other["code"], "idempotency_mismatch");
        // Without the key the same body is a new attempt, which now conflicts.
        let (s, b) = app.post("/api/v1/identity/signup", None, body).await;
        assert_problem(s, &b, 409, "email_taken");
    }

    async fn profile_password_and_deactivation(app) {
        let s1 = app.user("choi@example.com", "choi").await;
        let s2 = app.login("choi@example.com", "password-1234").await;
        app.user("taken@example.com", "takenname").await;

        let (s, b) = app.call(Method::PATCH, "/api/v1/identity/me", Some(&s1.access), Some(json!({"nickname": "TakenName"}))).await;
        assert_problem(s, &b, 409, "nickname_taken");
        let (s, b) = app.call(Method::PATCH, "/api/v1/identity/me", Some(&s1.access), Some(json!({"nickname": "최고"}))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["nickname"], "최고");

        let (s, b) = app.post("/api/v1/identity/me/password", Some(&s1.access),
            json!({"current_password": "wrong-password", "new_password": "new-password-1"})).await;
        assert_problem(s, &b, 401, "wrong_password");
        let (s, _) = app.post("/api/v1/identity/me/password", Some(&s1.access),
            json!({"current_password": "password-1234", "new_password": "new-password-1"})).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        // The other session is over; this one goes on.
        let (s, b) = app.get("/api/v1/identity/me", Some(&s2.access)).await;
        assert_problem(s, &b, 401, "session_revoked");
        let (s, _) = app.post("/api/v1/identity/token/refresh", None, json!({"refresh_token": s2.refresh})).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = app.get("/api/v1/identity/me", Some(&s1.access)).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app.post("/api/v1/identity/login", None, json!({"email": "choi@example.com", "password": "password-1234"})).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "old password no longer works");
        let s3 = app.login("choi@example.com", "new-password-1").await;

        let (s, b) = app.call(Method::DELETE, "/api/v1/identity/me", Some(&s3.access), None).await;
        assert_problem(s, &b, 401, "wrong_password");
        let (s, _) = app.call(Method::DELETE, "/api/v1/identity/me", Some(&s3.access), Some(json!({"password": "new-password-1"}))).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, b) = app.get("/api/v1/identity/me", Some(&s1.access)).await;
        assert_problem(s, &b, 401, "session_revoked");
        let (s, b) = app.post("/api/v1/identity/login", None, json!({"email": "choi@example.com", "password": "new-password-1"})).await;
        assert_problem(s, &b, 401, "invalid_credentials");
    }

    async fn admins_manage_users_and_others_are_refused(app) {
        let user = app.user("plain@example.com", "plain").await;
        let admin = app.admin("boss@example.com").await;
        for i in 0..5 {
            app.user(&format!("u{i}@example.com"), &format!("member{i}")).await;
        }
        let (s, b) = app.get("/api/v1/identity/admin/users", Some(&user.access)).await;
        assert_problem(s, &b, 403, "forbidden");
        let (s, b) = app.call(Method::PATCH, &format!("/api/v1/identity/admin/users/{}", admin.user_id),
            Some(&user.access), Some(json!({"role": "USER"}))).await;
        assert_problem(s, &b, 403, "forbidden");

        // Paging walks every user exactly once.
        let mut seen = Vec::new();
        let mut path = "/api/v1/identity/admin/users?limit=3".to_owned();
        loop {
            let (s, page) = app.get(&path, Some(&admin.access)).await;
            assert_eq!(s, StatusCode::OK, "{page}");
            for u in page["items"].as_array().unwrap() {
                seen.push(u["id"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v1/identity/admin/users?limit=3&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), 7);
        let mut dedup = seen.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), 7);
        let (s, b) = app.get("/api/v1/identity/admin/users?cursor=%%%", Some(&admin.access)).await;
        assert!(s == StatusCode::BAD_REQUEST, "{b}");

        let (s, b) = app.call(Method::PATCH, &format!("/api/v1/identity/admin/users/{}", user.user_id),
            Some(&admin.access), Some(json!({"role": "MENTOR"}))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["role"], "MENTOR");
        let (s, b) = app.call(Method::PATCH, &format!("/api/v1/identity/admin/users/{}", user.user_id),
            Some(&admin.access), Some(json!({"role": "KING"}))).await;
        assert_problem(s, &b, 422, "invalid_body");
        // serde would read a struct from an array of its fields: bodies must be objects.
        let (s, b) = app.call(Method::PATCH, &format!("/api/v1/identity/admin/users/{}", user.user_id),
            Some(&admin.access), Some(json!([null, null]))).await;
        assert_problem(s, &b, 422, "invalid_body");
        let (s, b) = app.call(Method::PATCH, &format!("/api/v1/identity/admin/users/{}", admin.user_id),
            Some(&admin.access), Some(json!({"active": false}))).await;
        assert_problem(s, &b, 409, "cannot_demote_self");
        let (s, b) = app.call(Method::PATCH, &format!("/api/v1/identity/admin/users/{}", uuid_like()),
            Some(&admin.access), Some(json!({"active": false}))).await;
        assert_problem(s, &b, 404, "not_found");

        // A role change ends the user's sessions; the next login carries the new role.
        let (s, _) = app.get("/api/v1/identity/me", Some(&user.access)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let again = app.login("plain@example.com", "password-1234").await;
        let (_, me) = app.get("/api/v1/identity/me", Some(&again.access)).await;
        assert_eq!(me["role"], "MENTOR");
        // Setting the role a user already has changes nothing and signs no one out.
        let (s, b) = app.call(Method::PATCH, &format!("/api/v1/identity/admin/users/{}", admin.user_id),
            Some(&admin.access), Some(json!({"role": "ADMIN"}))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = app.get("/api/v1/identity/me", Some(&admin.access)).await;
        assert_eq!(s, StatusCode::OK, "the admin is still signed in: {b}");

        let (s, _) = app.call(Method::PATCH, &format!("/api/v1/identity/admin/users/{}", user.user_id),
            Some(&admin.access), Some(json!({"active": false}))).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app.get("/api/v1/identity/me", Some(&again.access)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "deactivated by an admin: signed out");
    }
}

fn uuid_like() -> String {
    "0190a6c2-0000-7000-8000-000000000000".into()
}

#[tokio::test]
async fn bootstrap_admin_is_created_at_start() {
    let app = TestApp::spawn_on(surge_testkit::Backend::Embedded, |cfg| {
        cfg.bootstrap_admin_email = Some("ops@example.com".into());
        cfg.bootstrap_admin_password = Some("bootstrap-pass-1".to_owned().into());
    })
    .await
    .unwrap();
    let s = app.login("ops@example.com", "bootstrap-pass-1").await;
    let (_, me) = app.get("/api/v1/identity/me", Some(&s.access)).await;
    assert_eq!(me["role"], "ADMIN");
    let (status, _) = app
        .get("/api/v1/identity/admin/users", Some(&s.access))
        .await;
    assert_eq!(status, StatusCode::OK);
}
