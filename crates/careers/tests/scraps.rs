//! Scraps and points: idempotent scraps, a reward granted once under concurrency, the
//! ledger always summing to the balance.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures::future::join_all;
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::json;
use surge_testkit::{assert_problem, matrix};

matrix! {
    async fn fifty_concurrent_toggles_earn_fifty_points_once(app) {
        let admin = app.admin("careers-admin@example.com").await;
        let user = app.user("scrapper@example.com", "스크랩러").await;
        let p = posting(&app, &admin, json!({})).await;
        let path = format!("/api/v1/careers/postings/{}/scrap", p["id"].as_str().unwrap());
        // 50 requests at once from one user: scraps and unscraps interleaved.
        let answers = join_all((0..50).map(|i| {
            let method = if i % 2 == 0 { Method::PUT } else { Method::DELETE };
            app.call(method, &path, Some(&user.access), None)
        })).await;
        for (s, b) in &answers {
            assert!(s.is_success(), "{s} {b}");
        }
        let earned: i64 = answers.iter().map(|(_, b)| b["points_earned"].as_i64().unwrap_or(0)).sum();
        assert_eq!(earned, 50, "one request earned the reward");
        let pts = points(&app, &user).await;
        assert_eq!(pts["balance"], 50, "{pts}");
        assert_eq!(pts["history"].as_array().unwrap().len(), 1, "{pts}");
        assert_eq!(pts["history"][0]["reason"], "scrap");
        assert_eq!(pts["history"][0]["balance_after"], 50);
        assert_ledger_matches(&app, &user).await;

        // Scrapping again, after a removal, earns nothing more; PUT is idempotent.
        assert_eq!(app.call(Method::DELETE, &path, Some(&user.access), None).await.0, StatusCode::NO_CONTENT);
        let (_, none) = app.get("/api/v1/careers/scraps", Some(&user.access)).await;
        assert!(none["items"].as_array().unwrap().is_empty(), "{none}");
        for _ in 0..2 {
            let (s, v) = app.call(Method::PUT, &path, Some(&user.access), None).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            assert_eq!(v["points_earned"], 0);
        }
        let (_, mine) = app.get("/api/v1/careers/scraps", Some(&user.access)).await;
        assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");
        assert_eq!(mine["items"][0]["posting"]["id"], p["id"]);
        assert_eq!(balance(&app, &user).await, 50);

        // Concurrent first scraps of many postings each earn once.
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(posting(&app, &admin, json!({"title": format!("공고 {i}")})).await["id"].as_str().unwrap().to_owned());
        }
        let paths: Vec<String> = ids
            .iter()
            .flat_map(|id| std::iter::repeat_n(format!("/api/v1/careers/postings/{id}/scrap"), 4))
            .collect();
        let (app_ref, token) = (&app, user.access.as_str());
        join_all(paths.iter().map(|p| app_ref.call(Method::PUT, p, Some(token), None))).await;
        assert_eq!(balance(&app, &user).await, 50 + 5 * 50);
        assert_ledger_matches(&app, &user).await;
        // My scraps page by cursor.
        let (_, first) = app.get("/api/v1/careers/scraps?limit=4", Some(&user.access)).await;
        assert_eq!(first["items"].as_array().unwrap().len(), 4);
        let c = first["next_cursor"].as_str().unwrap();
        let (_, second) = app.get(&format!("/api/v1/careers/scraps?limit=4&cursor={c}"), Some(&user.access)).await;
        assert_eq!(second["items"].as_array().unwrap().len(), 2, "{second}");
        assert!(second["next_cursor"].is_null());

        // A closed posting keeps my scrap, but takes no new ones.
        let closed = posting(&app, &admin, json!({"title": "마감"})).await;
        let closed_path = format!("/api/v1/careers/postings/{}/scrap", closed["id"].as_str().unwrap());
        let other = app.user("late@example.com", "늦은사람").await;
        assert_eq!(app.call(Method::PUT, &closed_path, Some(&user.access), None).await.0, StatusCode::OK);
        app.call(Method::DELETE, &format!("/api/v1/careers/postings/{}", closed["id"].as_str().unwrap()), Some(&admin.access), None).await;
        let (s, kept) = app.call(Method::PUT, &closed_path, Some(&user.access), None).await;
        assert_eq!(s, StatusCode::OK, "{kept}");
        assert_eq!(kept["points_earned"], 0);
        let (s, e) = app.call(Method::PUT, &closed_path, Some(&other.access), None).await;
        assert_problem(s, &e, 409, "posting_closed");
        assert_eq!(balance(&app, &other).await, 0);

        let missing = uuid::Uuid::now_v7();
        let (s, e) = app.call(Method::PUT, &format!("/api/v1/careers/postings/{missing}/scrap"), Some(&user.access), None).await;
        assert_problem(s, &e, 404, "not_found");
        let (s, e) = app.call(Method::PUT, &path, None, None).await;
        assert_problem(s, &e, 401, "unauthenticated");
    }

    async fn admins_grant_points_and_history_pages(app) {
        let admin = app.admin("careers-admin@example.com").await;
        let user = app.user("mentee@example.com", "멘티").await;
        let (s, e) = app.post("/api/v1/careers/points/grants", Some(&user.access),
            json!({"user_id": user.user_id, "amount": 100, "reason": "self"})).await;
        assert_problem(s, &e, 403, "forbidden");
        let (s, e) = app.post("/api/v1/careers/points/grants", Some(&admin.access),
            json!({"user_id": user.user_id, "amount": -5, "reason": "x"})).await;
        assert_problem(s, &e, 422, "validation_failed");
        let (s, e) = app.post("/api/v1/careers/points/grants", Some(&admin.access),
            json!({"user_id": uuid::Uuid::now_v7(), "amount": 5, "reason": "x"})).await;
        assert_problem(s, &e, 404, "not_found");
        for n in 1..=5 {
            grant(&app, &admin, &user, n * 10).await;
        }
        let (_, p) = app.get("/api/v1/careers/points/me?limit=2", Some(&user.access)).await;
        assert_eq!(p["balance"], 150);
        assert_eq!(p["history"][0]["delta"], 50, "newest first: {p}");
        assert_eq!(p["history"][0]["balance_after"], 150);
        let c = p["next_cursor"].as_str().unwrap();
        let (_, p2) = app.get(&format!("/api/v1/careers/points/me?limit=2&cursor={c}"), Some(&user.access)).await;
        assert_eq!(p2["history"][0]["delta"], 30, "{p2}");
        assert_ledger_matches(&app, &user).await;
        let fresh = app.user("fresh@example.com", "새내기").await;
        let (_, p) = app.get("/api/v1/careers/points/me", Some(&fresh.access)).await;
        assert_eq!(p["balance"], 0);
        assert!(p["history"].as_array().unwrap().is_empty());
    }
}
