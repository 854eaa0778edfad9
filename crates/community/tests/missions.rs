//! Daily missions: one mission per user, KST day and slot however many ask at once; a
//! photo proves it; approval awards the points once however many admins approve; the
//! points show as a balance, a level and a rank, correct at 100,000 users.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures::future::join_all;
use rand::{Rng, SeedableRng};
use sea_orm::sea_query::{Alias, Asterisk, Expr, Query};
use sea_orm::ConnectionTrait;
use surge_community::domain::Period;
use surge_kernel::auth::{AuthUser, Role};
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, TestApp};
use uuid::Uuid;

/// How many rows of `table` belong to the user.
async fn count(app: &TestApp, table: &str, user_id: &str) -> i64 {
    let db = &app.app_foundation.db;
    let id: Uuid = user_id.parse().unwrap();
    let q = Query::select()
        .expr(Expr::col(Asterisk).count())
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new("user_id")).eq(id))
        .to_owned();
    let row = db
        .query_one(db.get_database_backend().build(&q))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn approve(app: &TestApp, token: &str, id: &str) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/community/admin/mission-proofs/{id}/approve"),
        Some(token),
        json!({}),
    )
    .await
}

matrix! {
    async fn a_mission_asked_at_once_is_one_and_an_approval_pays_once(app) {
        let admin = app.admin("mission-admin@example.com").await;
        let admin2 = app.admin("mission-admin2@example.com").await;
        let user = app.user("walker@example.com", "산책러").await;
        // Only admins define missions.
        let (s, b) = app.post("/api/v1/community/missions", Some(&user.access),
            json!({"title": "t", "description": "d", "points": 10, "slot": "MORNING"})).await;
        assert_problem(s, &b, 403, "forbidden");
        let (s, b) = app.post("/api/v1/community/missions", Some(&admin.access),
            json!({"title": "t", "description": "d", "points": 0, "slot": "MORNING"})).await;
        assert_problem(s, &b, 422, "validation_failed");
        for _ in 0..3 {
            mission(&app, &admin, "MORNING", 50).await;
        }
        mission(&app, &admin, "AFTERNOON", 20).await;
        let (s, b) = app.post("/api/v1/community/missions/today", Some(&user.access),
            json!({"slot": "EVENING"})).await;
        assert_problem(s, &b, 404, "not_found");

        // 30 concurrent asks: one mission, the same answer to all.
        let asks = join_all((0..30).map(|_| app.post("/api/v1/community/missions/today",
            Some(&user.access), json!({"slot": "MORNING"})))).await;
        let ids: std::collections::HashSet<String> = asks.iter().map(|(s, h)| {
            assert_eq!(*s, StatusCode::OK, "{h}");
            id_of(h)
        }).collect();
        assert_eq!(ids.len(), 1);
        let uid = &user.user_id;
        assert_eq!(count(&app, "community_mission_histories", uid).await, 1);
        let hid = ids.into_iter().next().unwrap();
        let (s, list) = app.get("/api/v1/community/mission-histories", Some(&user.access)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["status"], "ASSIGNED");

        // Approving before a proof is not possible.
        let (s, b) = approve(&app, &admin.access, &hid).await;
        assert_problem(s, &b, 409, "not_pending");
        let path = format!("/api/v1/community/mission-histories/{hid}/proof");
        let (s, p) = multipart(&app, &path, &user.access, photo()).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert_eq!(p["status"], "PENDING_REVIEW");
        assert!(p["proof_url"].as_str().unwrap().starts_with("/api/v1/community/images/"));
        let (s, b) = multipart(&app, &path, &user.access, photo()).await;
        assert_problem(s, &b, 409, "proof_not_expected");
        let (s, q) = app.get("/api/v1/community/admin/mission-proofs", Some(&admin.access)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(q["items"].as_array().unwrap().len(), 1);
        assert_eq!(q["items"][0]["id"], hid.as_str());
        let (s, b) = app.get("/api/v1/community/admin/mission-proofs", Some(&user.access)).await;
        assert_problem(s, &b, 403, "forbidden");

        // Two admins, ten approvals at once: points once.
        let answers = join_all((0..10).map(|i| {
            let t = if i % 2 == 0 { &admin.access } else { &admin2.access };
            approve(&app, t, &hid)
        })).await;
        for (s, b) in &answers {
            assert_eq!(*s, StatusCode::OK, "{b}");
            assert_eq!(b["status"], "APPROVED");
        }
        // And again later.
        let (s, b) = approve(&app, &admin.access, &hid).await;
        assert_eq!((s, b["status"].clone()), (StatusCode::OK, json!("APPROVED")));
        let (s, b) = app.post(&format!("/api/v1/community/admin/mission-proofs/{hid}/reject"),
            Some(&admin.access), json!({"reason": "늦음"})).await;
        assert_problem(s, &b, 409, "not_pending");
        assert_eq!(count(&app, "community_point_entries", uid).await, 1);

        let (s, me) = app.get("/api/v1/community/points/me", Some(&user.access)).await;
        assert_eq!(s, StatusCode::OK, "{me}");
        assert_eq!((me["balance"].as_i64(), me["today"].as_i64(), me["this_week"].as_i64()),
            (Some(50), Some(50), Some(50)));
        assert_eq!(me["level"], 1);
        assert_eq!(me["next_level_at"], 100);
        assert_eq!(me["history"]["items"].as_array().unwrap().len(), 1);

        // The user is told.
        let (_, notes) = app.get("/api/v1/notifications", Some(&user.access)).await;
        assert!(notes.to_string().contains("mission_approved"), "{notes}");

        // A second user's approval ranks both.
        let other = app.user("runner@example.com", "달리기").await;
        let p = proven_mission(&app, &other, "MORNING").await;
        let (s, _) = approve(&app, &admin.access, &id_of(&p)).await;
        assert_eq!(s, StatusCode::OK);
        let p = proven_mission(&app, &other, "AFTERNOON").await;
        assert_eq!(p["status"], "PENDING_REVIEW");
        let (s, b) = app.post("/api/v1/community/missions/today", Some(&other.access),
            json!({"slot": "AFTERNOON"})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        for period in ["day", "week", "all"] {
            let (s, r) = app.get(&format!("/api/v1/community/rankings?period={period}"),
                Some(&user.access)).await;
            assert_eq!(s, StatusCode::OK, "{r}");
            let top = r["top"].as_array().unwrap();
            assert_eq!(top.len(), 2, "{r}");
            // Equal points share the first rank.
            assert_eq!((top[0]["rank"].as_u64(), top[1]["rank"].as_u64()), (Some(1), Some(1)));
            assert_eq!(r["me"]["rank"], 1);
            assert_eq!(r["me"]["nickname"], "산책러");
        }
        let (s, b) = app.get("/api/v1/community/rankings?limit=0", None).await;
        assert_problem(s, &b, 400, "invalid_limit");
    }

    async fn a_rejected_proof_is_sent_again_and_a_mission_lasts_its_day(app) {
        let admin = app.admin("mission-admin@example.com").await;
        let user = app.user("walker@example.com", "산책러").await;
        let stranger = app.user("stranger@example.com", "남남").await;
        mission(&app, &admin, "EVENING", 30).await;
        let p = proven_mission(&app, &user, "EVENING").await;
        let hid = id_of(&p);
        let (s, r) = app.post(&format!("/api/v1/community/admin/mission-proofs/{hid}/reject"),
            Some(&admin.access), json!({"reason": "하늘이 안 보여요"})).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!((r["status"].clone(), r["reject_reason"].clone()),
            (json!("REJECTED"), json!("하늘이 안 보여요")));
        let path = format!("/api/v1/community/mission-histories/{hid}/proof");
        let (s, b) = multipart(&app, &path, &stranger.access, photo()).await;
        assert_problem(s, &b, 404, "not_found");
        let (s, b) = app.call(Method::GET, &format!("/api/v1/community/mission-histories/{hid}"),
            Some(&stranger.access), None).await;
        assert_problem(s, &b, 404, "not_found");
        let (s, b) = multipart(&app, &path, &user.access, b"not an image".to_vec()).await;
        assert_problem(s, &b, 415, "unsupported_image");
        let (s, again) = multipart(&app, &path, &user.access, photo()).await;
        assert_eq!(s, StatusCode::OK, "{again}");
        assert_eq!(again["status"], "PENDING_REVIEW");
        assert!(again["reject_reason"].is_null());
        let (s, b) = app.post(&format!("/api/v1/community/admin/mission-proofs/{hid}/reject"),
            Some(&admin.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{b}");

        // The next KST day: yesterday's mission can no longer be proven, a new one is given.
        let today = p["day"].as_str().unwrap().to_owned();
        app.clock.advance_secs(86_400);
        let user = app.login("walker@example.com", "password-1234").await;
        let (s, b) = multipart(&app, &path, &user.access, photo()).await;
        assert_problem(s, &b, 409, "mission_expired");
        let (s, next) = app.post("/api/v1/community/missions/today", Some(&user.access),
            json!({"slot": "EVENING"})).await;
        assert_eq!(s, StatusCode::OK, "{next}");
        assert_ne!(id_of(&next), hid);
        assert_ne!(next["day"], today.as_str());
        let (s, old) = app.get(&format!("/api/v1/community/mission-histories?date={today}"),
            Some(&user.access)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(old[0]["id"], hid.as_str());
        let (s, b) = app.get("/api/v1/community/mission-histories?date=2026-13-01",
            Some(&user.access)).await;
        assert_problem(s, &b, 400, "invalid_date");
    }

    async fn ranks_are_right_at_100000_users(app) {
        let db = &app.app_foundation.db;
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let users: Vec<(Uuid, i64)> = (0..100_000)
            .map(|_| (Uuid::new_v4(), rng.gen_range(1..=5_000)))
            .collect();
        for chunk in users.chunks(2_000) {
            let mut insert = Query::insert()
                .into_table(Alias::new("community_point_totals"))
                .columns(["period", "user_id", "points", "updated_at"].map(Alias::new))
                .to_owned();
            for (id, p) in chunk {
                insert.values_panic(["all".into(), (*id).into(), (*p).into(), 0i64.into()]);
            }
            db.execute(db.get_database_backend().build(&insert)).await.unwrap();
        }
        let mut sorted = users.clone();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let expected_rank = |points: i64| 1 + sorted.iter().filter(|u| u.1 > points).count() as u64;
        for &(id, points) in users.iter().step_by(9_973) {
            let who = AuthUser { id, role: Role::User, session_id: Uuid::nil() };
            let r = app.community.points.rankings(Some(&who), Period::All, Some(100)).await
                .map_err(|e| e.detail).unwrap();
            let me = r.me.unwrap();
            assert_eq!((me.points, me.rank), (points, expected_rank(points)));
            assert_eq!(r.top.len(), 100);
            for (got, want) in r.top.iter().zip(&sorted) {
                assert_eq!((got.user_id, got.points, got.rank), (want.0, want.1, expected_rank(want.1)));
            }
        }
        // Someone with no points ranks after everyone who has some.
        let nobody = AuthUser { id: Uuid::new_v4(), role: Role::User, session_id: Uuid::nil() };
        let r = app.community.points.rankings(Some(&nobody), Period::All, None).await
            .map_err(|e| e.detail).unwrap();
        assert_eq!(r.me.map(|m| m.rank), Some(100_001));
        let (s, r) = app.get("/api/v1/community/rankings?period=all&limit=3", None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(r["top"][0]["points"], sorted[0].1);
        assert!(r["me"].is_null());
    }
}
