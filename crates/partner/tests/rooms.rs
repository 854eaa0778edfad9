//! Rooms, comments, matches and reviews through the real HTTP server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::future::join_all;
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, Session, TestApp};

fn later(app: &TestApp, hours: i64) -> String {
    use surge_kernel::clock::Clock;
    surge_kernel::rfc3339(app.clock.now_ms() + hours * 3_600_000)
}

async fn room(app: &TestApp, who: &Session, capacity: i32, extra: Value) -> Value {
    let mut body = json!({"category": "MEAL", "title": "점심 같이 드실 분", "body": "개포 클러스터 앞",
        "capacity": capacity, "meets_at": later(app, 2),
        "conditions": {"places": ["GAEPO"], "ways": ["EATOUT"]}});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let (s, r) = app
        .post("/api/v1/partner/rooms", Some(&who.access), body)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    r
}

async fn score(app: &TestApp, who: &Session) -> i64 {
    app.get("/api/v1/partner/activity/me", Some(&who.access))
        .await
        .1["score"]
        .as_i64()
        .unwrap()
}

matrix! {
    async fn three_hundred_joins_on_a_room_of_ten_admit_nine(app) {
        let author = app.user("author@example.com", "방장").await;
        let r = room(&app, &author, 10, json!({})).await;
        let id = r["id"].as_str().unwrap().to_owned();
        let users = app.quick_users(300).await;
        let path = format!("/api/v1/partner/rooms/{id}/join");
        let answers = join_all(users.iter().map(|u| app.post(&path, Some(&u.access), json!({})))).await;
        let joined = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
        let full = answers.iter().filter(|(s, b)| *s == StatusCode::CONFLICT && b["code"] == "room_full").count();
        assert_eq!(joined, 9, "capacity 10 with the author: exactly 9 join");
        assert_eq!(full, 291);
        let (_, r) = app.get(&format!("/api/v1/partner/rooms/{id}"), None).await;
        assert_eq!(r["member_count"], 10);
        assert_eq!(r["members"].as_array().unwrap().len(), 10);
        let member = users.iter().zip(&answers).find(|(_, (s, _))| *s == StatusCode::OK).unwrap().0;
        let (s, e) = app.post(&path, Some(&member.access), json!({})).await;
        assert_problem(s, &e, 409, "already_joined");
        let (s, e) = app.post(&format!("/api/v1/partner/rooms/{id}/leave"), Some(&author.access), json!({})).await;
        assert_problem(s, &e, 409, "author_cannot_leave");
        let (s, e) = app.call(Method::PATCH, &format!("/api/v1/partner/rooms/{id}"), Some(&author.access), Some(json!({"capacity": 5}))).await;
        assert_problem(s, &e, 409, "capacity_below_members");
        let (s, left) = app.post(&format!("/api/v1/partner/rooms/{id}/leave"), Some(&member.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{left}");
        assert_eq!(left["member_count"], 9);
        let latecomer = users.iter().zip(&answers).find(|(_, (s, _))| *s != StatusCode::OK).unwrap().0;
        assert_eq!(app.post(&path, Some(&latecomer.access), json!({})).await.0, StatusCode::OK);
        // The author hears about joins.
        app.eventually(|| async {
            let (_, n) = app.get("/api/v1/notifications?limit=100", Some(&author.access)).await;
            n["items"].as_array().unwrap().iter().filter(|x| x["kind"] == "room_joined").count() >= 9
        }).await;
    }

    async fn rooms_complete_into_matches_with_reviews_and_scores(app) {
        let author = app.user("author@example.com", "방장").await;
        let guest = app.user("guest@example.com", "손님").await;
        let other = app.user("other@example.com", "구경꾼").await;
        // Bad input.
        let (s, e) = app.post("/api/v1/partner/rooms", Some(&author.access),
            json!({"category": "STUDY", "title": "x", "capacity": 1, "meets_at": later(&app, 1)})).await;
        assert_problem(s, &e, 422, "validation_failed");
        let (s, e) = app.post("/api/v1/partner/rooms", Some(&author.access),
            json!({"category": "STUDY", "title": "x", "capacity": 3, "meets_at": later(&app, 1), "conditions": {"ways": ["DELIVERY"]}})).await;
        assert_problem(s, &e, 422, "validation_failed");
        let (s, e) = app.post("/api/v1/partner/rooms", Some(&author.access),
            json!({"category": "SLEEP", "title": "x", "capacity": 3, "meets_at": later(&app, 1)})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");

        let r = room(&app, &author, 4, json!({"anonymous": true})).await;
        let id = r["id"].as_str().unwrap().to_owned();
        room(&app, &other, 3, json!({"category": "STUDY", "conditions": {"places": ["SEOCHO"], "study_types": ["INNER_CIRCLE"]}})).await;
        let (_, meals) = app.get("/api/v1/partner/rooms?category=MEAL&place=GAEPO", None).await;
        assert_eq!(meals["items"].as_array().unwrap().len(), 1);
        let (_, none) = app.get("/api/v1/partner/rooms?category=MEAL&place=SEOCHO", None).await;
        assert_eq!(none["items"].as_array().unwrap().len(), 0, "{none}");
        app.post(&format!("/api/v1/partner/rooms/{id}/join"), Some(&guest.access), json!({})).await;
        let (_, seen) = app.get(&format!("/api/v1/partner/rooms/{id}"), Some(&other.access)).await;
        assert!(seen["members"].as_array().unwrap().iter().all(|m| m["user_id"].is_null() && m["nickname"].as_str().unwrap().starts_with("익명")), "{seen}");

        // Comments with one level of replies.
        let (s, c) = app.post(&format!("/api/v1/partner/rooms/{id}/comments"), Some(&guest.access), json!({"body": "몇 시에 만나요?"})).await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        let cid = c["id"].as_str().unwrap().to_owned();
        let (s, reply) = app.post(&format!("/api/v1/partner/rooms/{id}/comments"), Some(&author.access), json!({"body": "12시요", "parent_id": cid})).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, e) = app.post(&format!("/api/v1/partner/rooms/{id}/comments"), Some(&guest.access), json!({"body": "네", "parent_id": reply["id"]})).await;
        assert_problem(s, &e, 422, "validation_failed");
        let (s, e) = app.call(Method::PATCH, &format!("/api/v1/partner/comments/{cid}"), Some(&author.access), Some(json!({"body": "x"}))).await;
        assert_problem(s, &e, 403, "forbidden");
        let (_, list) = app.get(&format!("/api/v1/partner/rooms/{id}/comments"), None).await;
        assert_eq!(list["items"][0]["replies"][0]["body"], "12시요");
        app.eventually(|| async {
            let (_, n) = app.get("/api/v1/notifications", Some(&guest.access)).await;
            n["items"].as_array().unwrap().iter().any(|x| x["kind"] == "comment_replied")
        }).await;

        // Delete hides it from others; restore brings it back.
        assert_eq!(app.call(Method::DELETE, &format!("/api/v1/partner/rooms/{id}"), Some(&guest.access), None).await.0, StatusCode::FORBIDDEN);
        assert_eq!(app.call(Method::DELETE, &format!("/api/v1/partner/rooms/{id}"), Some(&author.access), None).await.0, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&format!("/api/v1/partner/rooms/{id}"), Some(&other.access)).await.0, StatusCode::NOT_FOUND);
        let (s, e) = app.post(&format!("/api/v1/partner/rooms/{id}/join"), Some(&other.access), json!({})).await;
        assert_problem(s, &e, 404, "not_found");
        assert_eq!(app.post(&format!("/api/v1/partner/rooms/{id}/restore"), Some(&author.access), json!({})).await.0, StatusCode::OK);

        // Complete: a match of the members, scores, and no more joining.
        let (s, done) = app.post(&format!("/api/v1/partner/rooms/{id}/complete"), Some(&author.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{done}");
        assert_eq!(done["status"], "COMPLETED");
        let mid = done["match_id"].as_str().unwrap().to_owned();
        let (s, e) = app.post(&format!("/api/v1/partner/rooms/{id}/join"), Some(&other.access), json!({})).await;
        assert_problem(s, &e, 409, "room_closed");
        let (_, m) = app.get(&format!("/api/v1/partner/matches/{mid}"), Some(&guest.access)).await;
        assert_eq!(m["members"].as_array().unwrap().len(), 2, "{m}");
        assert_eq!(app.get(&format!("/api/v1/partner/matches/{mid}"), Some(&other.access)).await.0, StatusCode::NOT_FOUND);
        assert_eq!(score(&app, &author).await, 42 + 10);
        assert_eq!(score(&app, &guest).await, 10);

        // Reviews open 30 minutes after the match, once per pair.
        let (s, e) = app.post(&format!("/api/v1/partner/matches/{mid}/reviews"), Some(&guest.access), json!({"reviewee_id": author.user_id, "stars": 5})).await;
        assert_problem(s, &e, 409, "review_not_open");
        app.clock.advance_secs(31 * 60);
        let author = app.login("author@example.com", "password-1234").await;
        let guest = app.login("guest@example.com", "password-1234").await;
        let (s, rv) = app.post(&format!("/api/v1/partner/matches/{mid}/reviews"), Some(&guest.access), json!({"reviewee_id": author.user_id, "stars": 5})).await;
        assert_eq!(s, StatusCode::CREATED, "{rv}");
        let (s, e) = app.post(&format!("/api/v1/partner/matches/{mid}/reviews"), Some(&guest.access), json!({"reviewee_id": author.user_id, "stars": 1})).await;
        assert_problem(s, &e, 409, "already_reviewed");
        let (s, e) = app.post(&format!("/api/v1/partner/matches/{mid}/reviews"), Some(&guest.access), json!({"reviewee_id": guest.user_id, "stars": 3})).await;
        assert_problem(s, &e, 422, "validation_failed");
        app.post(&format!("/api/v1/partner/matches/{mid}/reviews"), Some(&author.access), json!({"reviewee_id": guest.user_id, "stars": 1})).await;
        assert_eq!(score(&app, &author).await, 52 + 42 + 20, "5 stars received, one review written");
        assert_eq!(score(&app, &guest).await, 10 + 20 - 10, "a review written, 1 star received");
        let (_, board) = app.get("/api/v1/partner/activity/leaderboard?limit=10", None).await;
        assert_eq!(board[0]["user_id"], author.user_id.as_str(), "{board}");
        assert_eq!(board[0]["score"], 114);
        assert_eq!(board[1]["score"], 20);
    }
}
