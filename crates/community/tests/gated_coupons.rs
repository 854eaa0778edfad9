//! Mission-gated coupons: shop asks community (through the kernel's MissionCompletions
//! port) whether the claimer completed a mission today; a daily quantity holds exactly
//! under concurrency and starts again on the next KST day.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures::future::join_all;
use surge_community::domain::Slot;
use surge_community::proofs::Verdict;
use surge_kernel::auth::{AuthUser, Role};
use surge_kernel::clock::Clock;
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::json;
use surge_testkit::{assert_problem, matrix, TestApp};
use uuid::Uuid;

fn as_user(id: &str) -> AuthUser {
    AuthUser {
        id: id.parse().unwrap(),
        role: Role::User,
        session_id: Uuid::nil(),
    }
}

/// Gives `user` today's morning mission, proves and approves it (in process).
async fn complete_mission(app: &TestApp, user: &str) {
    let who = as_user(user);
    let c = &app.community;
    let h = c
        .missions
        .today(&who, Slot::Morning)
        .await
        .map_err(|e| e.detail)
        .unwrap();
    c.proofs
        .submit(&who, h.id, photo())
        .await
        .map_err(|e| e.detail)
        .unwrap();
    let done = c
        .proofs
        .decide(None, h.id, Verdict::Approve)
        .await
        .map_err(|e| e.detail)
        .unwrap();
    assert_eq!(format!("{:?}", done.status), "Approved");
}

async fn claims(app: &TestApp, camp: &str, tokens: &[String]) -> Vec<StatusCode> {
    let path = format!("/api/v1/shop/coupon-campaigns/{camp}/claim");
    join_all(tokens.iter().map(|t| {
        let path = path.clone();
        async move {
            let (s, b) = app.post(&path, Some(t), json!({})).await;
            assert!(
                s == StatusCode::CREATED || s == StatusCode::CONFLICT,
                "{s}: {b}"
            );
            if s == StatusCode::CONFLICT {
                assert!(
                    b["code"] == "sold_out_today" || b["code"] == "already_claimed",
                    "{b}"
                );
            }
            s
        }
    }))
    .await
}

matrix! {
    async fn a_gated_coupon_needs_todays_mission_and_the_daily_quantity_holds(app) {
        let admin = app.admin("coupon-admin@example.com").await;
        mission(&app, &admin, "MORNING", 10).await;
        let now = app.clock.now_ms();
        let window = |daily: serde_json::Value| json!({
            "name": "미션 완료 쿠폰", "quantity": 1000, "discount_amount": 1000,
            "starts_at": surge_kernel::rfc3339(now - 3_600_000),
            "ends_at": surge_kernel::rfc3339(now + 5 * 86_400_000),
            "requires_mission_today": true, "daily_quantity": daily
        });
        let (s, b) = app.post("/api/v1/shop/coupon-campaigns", Some(&admin.access), window(json!(0))).await;
        assert_problem(s, &b, 422, "validation_failed");
        let (s, camp) = app.post("/api/v1/shop/coupon-campaigns", Some(&admin.access), window(json!(10))).await;
        assert_eq!(s, StatusCode::CREATED, "{camp}");
        assert_eq!((camp["requires_mission_today"].clone(), camp["daily_quantity"].clone()), (json!(true), json!(10)));
        let camp = id_of(&camp);
        let claim_path = format!("/api/v1/shop/coupon-campaigns/{camp}/claim");

        // Before a mission: not eligible. A mission sent but not yet approved: still not.
        let first = app.user("early@example.com", "일찍").await;
        let (s, b) = app.post(&claim_path, Some(&first.access), json!({})).await;
        assert_problem(s, &b, 403, "not_eligible");
        let p = proven_mission(&app, &first, "MORNING").await;
        let (s, b) = app.post(&claim_path, Some(&first.access), json!({})).await;
        assert_problem(s, &b, 403, "not_eligible");
        let (s, _) = app.post(&format!("/api/v1/community/admin/mission-proofs/{}/approve", id_of(&p)),
            Some(&admin.access), json!({})).await;
        assert_eq!(s, StatusCode::OK);
        let (s, c) = app.post(&claim_path, Some(&first.access), json!({})).await;
        assert_eq!(s, StatusCode::CREATED, "{c}");

        // 100 eligible users at once for the 9 left today.
        let users = app.quick_users(100).await;
        join_all(users.iter().map(|u| complete_mission(&app, &u.user_id))).await;
        let tokens: Vec<String> = users.iter().map(|u| u.access.clone()).collect();
        let got = claims(&app, &camp, &tokens).await;
        assert_eq!(got.iter().filter(|s| **s == StatusCode::CREATED).count(), 9);
        assert_eq!(app.stored_i64("shop_coupon_campaigns", "issued", &camp).await, 10);
        let (s, b) = app.post(&claim_path, Some(&tokens[0]), json!({})).await;
        assert_eq!(s, StatusCode::CONFLICT, "{b}");

        // The next KST day: ten more, to those who complete that day's mission.
        app.clock.advance_secs(86_400);
        join_all(users.iter().map(|u| complete_mission(&app, &u.user_id))).await;
        let mut tokens = Vec::new();
        for u in &users {
            tokens.push(app.identity.sign_in(u.user_id.parse().unwrap()).await.unwrap().access_token);
        }
        let got = claims(&app, &camp, &tokens).await;
        assert_eq!(got.iter().filter(|s| **s == StatusCode::CREATED).count(), 10);
        assert_eq!(app.stored_i64("shop_coupon_campaigns", "issued", &camp).await, 20);
        // Yesterday's mission does not count today.
        let first = app.login("early@example.com", "password-1234").await;
        let (s, b) = app.post(&claim_path, Some(&first.access), json!({})).await;
        assert_problem(s, &b, 403, "not_eligible");
    }
}
