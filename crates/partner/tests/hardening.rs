//! Audit findings on partner rooms: anonymity is one-way, and a room of one cannot be
//! completed (so nobody scores points alone).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, Session, TestApp};

async fn room(app: &TestApp, who: &Session, extra: Value) -> String {
    use surge_kernel::clock::Clock;
    let mut body = json!({"category": "MEAL", "title": "점심 같이 드실 분", "body": "개포 클러스터 앞",
        "capacity": 4, "meets_at": surge_kernel::rfc3339(app.clock.now_ms() + 7_200_000),
        "conditions": {"places": ["GAEPO"], "ways": ["EATOUT"]}});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (s, r) = app
        .post("/api/v1/partner/rooms", Some(&who.access), body)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    r["id"].as_str().unwrap().to_owned()
}

async fn score(app: &TestApp, who: &Session) -> i64 {
    app.get("/api/v1/partner/activity/me", Some(&who.access))
        .await
        .1["score"]
        .as_i64()
        .unwrap()
}

matrix! {
    async fn an_anonymous_room_stays_anonymous(app) {
        let author = app.user("anon-author@example.com", "anonauthor").await;
        let guest = app.user("anon-guest@example.com", "anonguest").await;
        let id = room(&app, &author, json!({"anonymous": true})).await;
        let (s, _) = app.post(&format!("/api/v1/partner/rooms/{id}/join"), Some(&guest.access), json!({})).await;
        assert_eq!(s, StatusCode::OK);
        let (s, e) = app.call(Method::PATCH, &format!("/api/v1/partner/rooms/{id}"), Some(&author.access),
            Some(json!({"anonymous": false}))).await;
        assert_problem(s, &e, 409, "anonymity_permanent");
        let (_, r) = app.get(&format!("/api/v1/partner/rooms/{id}"), Some(&author.access)).await;
        assert_eq!(r["anonymous"], true);
        let guest_row = r["members"].as_array().unwrap().iter()
            .find(|m| m["nickname"] != "anonauthor").cloned().unwrap();
        assert!(guest_row["user_id"].is_null(), "the guest stays hidden: {r}");
        assert_ne!(guest_row["nickname"], "anonguest");
        // Other edits of the room still work; and an open room may become anonymous.
        let (s, _) = app.call(Method::PATCH, &format!("/api/v1/partner/rooms/{id}"), Some(&author.access),
            Some(json!({"title": "저녁으로 변경", "anonymous": true}))).await;
        assert_eq!(s, StatusCode::OK);
        let open = room(&app, &author, json!({})).await;
        let (s, r) = app.call(Method::PATCH, &format!("/api/v1/partner/rooms/{open}"), Some(&author.access),
            Some(json!({"anonymous": true}))).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["anonymous"], true);
    }

    async fn a_room_of_one_cannot_be_completed_and_scores_nothing(app) {
        let author = app.user("solo@example.com", "solo").await;
        let id = room(&app, &author, json!({})).await;
        let (s, e) = app.post(&format!("/api/v1/partner/rooms/{id}/complete"), Some(&author.access), json!({})).await;
        assert_problem(s, &e, 409, "room_too_small");
        assert_eq!(score(&app, &author).await, 0, "no points for a room of one");
        let (_, r) = app.get(&format!("/api/v1/partner/rooms/{id}"), None).await;
        assert_eq!(r["status"], "OPEN", "{r}");
        // With a partner it completes, and scores as before.
        let guest = app.user("solo-guest@example.com", "sologuest").await;
        app.post(&format!("/api/v1/partner/rooms/{id}/join"), Some(&guest.access), json!({})).await;
        let (s, done) = app.post(&format!("/api/v1/partner/rooms/{id}/complete"), Some(&author.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{done}");
        assert_eq!(score(&app, &author).await, 42 + 10);
    }
}
