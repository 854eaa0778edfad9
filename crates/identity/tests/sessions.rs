//! Refresh-token rotation, reuse detection, logout and token expiry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix};

matrix! {
    async fn a_replayed_refresh_token_revokes_its_whole_family(app) {
        let first = app.user("rot@example.com", "rotator").await;
        let other_login = app.login("rot@example.com", "password-1234").await;

        let (s, second) = app.post("/api/v1/identity/token/refresh", None, json!({"refresh_token": first.refresh})).await;
        assert_eq!(s, StatusCode::OK, "{second}");
        assert_ne!(second["refresh_token"], Value::String(first.refresh.clone()), "rotated");
        let (s, third) = app.post("/api/v1/identity/token/refresh", None, json!({"refresh_token": second["refresh_token"]})).await;
        assert_eq!(s, StatusCode::OK);

        // An attacker replays the first (spent) token.
        let (s, b) = app.post("/api/v1/identity/token/refresh", None, json!({"refresh_token": first.refresh})).await;
        assert_problem(s, &b, 401, "refresh_reused");
        // Every token of that family is dead now, including the newest one...
        let (s, b) = app.post("/api/v1/identity/token/refresh", None, json!({"refresh_token": third["refresh_token"]})).await;
        assert_problem(s, &b, 401, "invalid_refresh_token");
        // ...and so are its access tokens.
        let (s, b) = app.get("/api/v1/identity/me", third["access_token"].as_str()).await;
        assert_problem(s, &b, 401, "session_revoked");
        // A different login (another family) is untouched.
        let (s, _) = app.get("/api/v1/identity/me", Some(&other_login.access)).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app.post("/api/v1/identity/token/refresh", None, json!({"refresh_token": other_login.refresh})).await;
        assert_eq!(s, StatusCode::OK);

        let (s, b) = app.post("/api/v1/identity/token/refresh", None, json!({"refresh_token": "made-up"})).await;
        assert_problem(s, &b, 401, "invalid_refresh_token");
        let (s, b) = app.post("/api/v1/identity/token/refresh", None, json!({})).await;
        assert_problem(s, &b, 401, "invalid_refresh_token");
    }

    async fn refresh_works_from_the_cookie(app) {
        let res = {
            app.user("cookie@example.com", "cookiemonster").await;
            app.client.post(app.url("/api/v1/identity/login"))
                .json(&json!({"email": "cookie@example.com", "password": "password-1234"}))
                .send().await.unwrap()
        };
        let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let res = app.client.post(app.url("/api/v1/identity/token/refresh"))
            .header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let again = app.client.post(app.url("/api/v1/identity/token/refresh"))
            .header("cookie", &cookie).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::UNAUTHORIZED, "the cookie's token was spent");
        let b: Value = again.json().await.unwrap();
        assert_eq!(b["code"], "refresh_reused");
    }

    async fn a_logout_reaches_every_instance_at_once(app) {
        // Each instance trusts a session it checked for up to a second; a logout on one
        // instance must end it on the others now, not a second later.
        use std::sync::Arc;
        use surge_identity::IdentityService;
        let other = Arc::new(IdentityService::new(&app.another_instance().await, app.identity.config().clone()).unwrap());
        tokio::spawn(other.clone().watch_revocations());
        // Subscribed once a logout on this instance reaches the other one.
        app.eventually(|| async {
            let probe = app.quick_users(1).await.remove(0);
            other.authenticate_token(&probe.access).await.expect("a live session is accepted");
            app.client.post(app.url("/api/v1/identity/logout")).bearer_auth(&probe.access).send().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            other.authenticate_token(&probe.access).await.is_err()
        }).await;
        let user = app.user("everywhere@example.com", "everywhere").await;
        other.authenticate_token(&user.access).await.expect("a live session is accepted");
        let res = app.client.post(app.url("/api/v1/identity/logout")).bearer_auth(&user.access).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let start = std::time::Instant::now();
        loop {
            match other.authenticate_token(&user.access).await {
                Err(e) => { assert_eq!(e.code, "session_revoked"); break; }
                Ok(_) => {
                    assert!(start.elapsed() < std::time::Duration::from_millis(500),
                        "the other instance still accepts a logged-out session");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    }

    async fn logout_ends_one_session_and_logout_all_ends_every_one(app) {
        let a = app.user("out@example.com", "outgoing").await;
        let b = app.login("out@example.com", "password-1234").await;
        let c = app.login("out@example.com", "password-1234").await;

        let res = app.client.post(app.url("/api/v1/identity/logout")).bearer_auth(&a.access).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert!(res.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"), "cookie cleared");
        let (s, body) = app.get("/api/v1/identity/me", Some(&a.access)).await;
        assert_problem(s, &body, 401, "session_revoked");
        let (s, _) = app.post("/api/v1/identity/token/refresh", None, json!({"refresh_token": a.refresh})).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = app.get("/api/v1/identity/me", Some(&b.access)).await;
        assert_eq!(s, StatusCode::OK, "other sessions live on");

        let (s, _) = app.post("/api/v1/identity/logout-all", Some(&b.access), json!({})).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        for sess in [&b, &c] {
            let (s, _) = app.get("/api/v1/identity/me", Some(&sess.access)).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
            let (s, _) = app.post("/api/v1/identity/token/refresh", None, json!({"refresh_token": sess.refresh})).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
        app.login("out@example.com", "password-1234").await;
    }

    async fn access_tokens_expire_after_fifteen_minutes_and_refresh_after_fourteen_days(app) {
        let s = app.user("time@example.com", "timekeeper").await;
        app.clock.advance_secs(14 * 60);
        let (status, _) = app.get("/api/v1/identity/me", Some(&s.access)).await;
        assert_eq!(status, StatusCode::OK);
        app.clock.advance_secs(61);
        let (status, b) = app.get("/api/v1/identity/me", Some(&s.access)).await;
        assert_problem(status, &b, 401, "token_expired");
        let (status, fresh) = app.post("/api/v1/identity/token/refresh", None, json!({"refresh_token": s.refresh})).await;
        assert_eq!(status, StatusCode::OK);
        app.clock.advance_secs(14 * 24 * 3600);
        let (status, b) = app.post("/api/v1/identity/token/refresh", None, json!({"refresh_token": fresh["refresh_token"]})).await;
        assert_problem(status, &b, 401, "refresh_expired");
    }

    async fn concurrent_replays_of_one_refresh_token_never_yield_two_sessions(app) {
        let s = app.user("twice@example.com", "twice").await;
        let results = futures::future::join_all((0..10).map(|_| {
            app.post("/api/v1/identity/token/refresh", None, json!({"refresh_token": s.refresh}))
        })).await;
        let ok: Vec<&Value> = results.iter().filter(|(st, _)| *st == StatusCode::OK).map(|(_, b)| b).collect();
        assert_eq!(ok.len(), 1, "exactly one rotation wins: {results:?}");
        for (st, b) in results.iter().filter(|(st, _)| *st != StatusCode::OK) {
            assert_eq!(st.as_u16(), 401, "the others are refused as reuse: {b}");
        }
        // The winner's tokens died with the family when the others were refused as reuse.
        for b in ok {
            let (st, _) = app.post("/api/v1/identity/token/refresh", None, json!({"refresh_token": b["refresh_token"]})).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED);
        }
    }
}
