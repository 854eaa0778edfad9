//! Rooms over HTTP: admins open and close them, users join, leave, list members, see
//! unread counts and mark read; history pages back through every message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix};

fn generous(c: &mut surge_testkit::Config) {
    c.chat_sends_per_second = 10_000;
    c.chat_send_burst = 10_000;
}

matrix! {
    async fn admins_open_rooms_and_users_join_leave_and_list_them(app) {
        let admin = app.admin("chat-admin@example.com").await;
        let kim = app.user("kim@example.com", "kim").await;
        // Only admins open rooms; names are checked.
        let (s, r) = app.post("/api/v1/chat/rooms", Some(&kim.access), json!({"name": "잡담"})).await;
        assert_problem(s, &r, 403, "forbidden");
        let (s, r) = app.post("/api/v1/chat/rooms", Some(&admin.access), json!({"name": "  "})).await;
        assert_problem(s, &r, 422, "invalid_name");
        let general = room(&app, &admin, "잡담").await;
        let closing = room(&app, &admin, "공지").await;

        let j = join(&app, &kim, &general).await;
        assert_eq!(j["unread"], 0);
        assert_eq!(j["room"]["member_count"], 1);
        // Joining again changes nothing.
        let j = join(&app, &kim, &general).await;
        assert_eq!(j["room"]["member_count"], 1);
        let (_, m) = app.get(&format!("/api/v1/chat/rooms/{general}/members"), Some(&kim.access)).await;
        assert_eq!(m["items"].as_array().unwrap().len(), 1);
        assert_eq!(m["items"][0]["user_id"], kim.user_id.as_str());

        // A closed room leaves the list and takes no members.
        let (s, _) = app.post(&format!("/api/v1/chat/rooms/{closing}/close"), Some(&admin.access), json!({})).await;
        assert_eq!(s, StatusCode::OK);
        let (_, list) = app.get("/api/v1/chat/rooms", Some(&kim.access)).await;
        let ids: Vec<&str> = list["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [general.as_str()]);
        let (s, r) = app.post(&format!("/api/v1/chat/rooms/{closing}/join"), Some(&kim.access), json!({})).await;
        assert_problem(s, &r, 409, "room_closed");

        let (s, _) = app.post(&format!("/api/v1/chat/rooms/{general}/leave"), Some(&kim.access), json!({})).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, r) = app.post(&format!("/api/v1/chat/rooms/{general}/leave"), Some(&kim.access), json!({})).await;
        assert_problem(s, &r, 409, "not_a_member");
        let (_, mine) = app.get("/api/v1/chat/rooms/mine", Some(&kim.access)).await;
        assert!(mine["items"].as_array().unwrap().is_empty(), "{mine}");
        let (s, r) = app.post(&format!("/api/v1/chat/rooms/{}/join", uuid::Uuid::new_v4()), Some(&kim.access), json!({})).await;
        assert_problem(s, &r, 404, "not_found");
    }

    #[config(generous)]
    async fn unread_counts_follow_messages_and_read_markers(app) {
        let admin = app.admin("chat-admin@example.com").await;
        let kim = app.user("kim@example.com", "kim").await;
        let lee = app.user("lee@example.com", "lee").await;
        let r1 = room(&app, &admin, "서울").await;
        join(&app, &kim, &r1).await;
        join(&app, &lee, &r1).await;
        let mut ws = connect(&app.base, &lee.access).await;
        ws_join(&mut ws, &r1, None).await;
        for i in 0..7 {
            let a = ws_send_acked(&mut ws, &r1, &format!("m{i}"), "안녕하세요").await;
            assert_eq!(a["type"], "ack", "{a}");
        }
        let (_, mine) = app.get("/api/v1/chat/rooms/mine", Some(&kim.access)).await;
        assert_eq!(mine["items"][0]["unread"], 7, "{mine}");
        assert_eq!(mine["items"][0]["room"]["last_seq"], 7);
        let (s, r) = app.post(&format!("/api/v1/chat/rooms/{r1}/read"), Some(&kim.access), json!({"seq": 5})).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["unread"], 2);
        // A marker never moves back, and stops at the newest message.
        let (_, r) = app.post(&format!("/api/v1/chat/rooms/{r1}/read"), Some(&kim.access), json!({"seq": 3})).await;
        assert_eq!(r["last_read_seq"], 5);
        let (_, r) = app.post(&format!("/api/v1/chat/rooms/{r1}/read"), Some(&kim.access), json!({"seq": 99})).await;
        assert_eq!((r["last_read_seq"].as_i64(), r["unread"].as_i64()), (Some(7), Some(0)));
        let (s, r) = app.post(&format!("/api/v1/chat/rooms/{r1}/read"), Some(&kim.access), json!({"seq": -1})).await;
        assert_problem(s, &r, 422, "invalid_seq");
        let outsider = app.user("park@example.com", "park").await;
        let (s, r) = app.post(&format!("/api/v1/chat/rooms/{r1}/read"), Some(&outsider.access), json!({"seq": 1})).await;
        assert_problem(s, &r, 403, "not_a_member");
    }

    #[config(generous)]
    async fn history_pages_back_through_every_message_once(app) {
        let admin = app.admin("chat-admin@example.com").await;
        let kim = app.user("kim@example.com", "kim").await;
        let r1 = room(&app, &admin, "부산").await;
        join(&app, &kim, &r1).await;
        let mut ws = connect(&app.base, &kim.access).await;
        ws_join(&mut ws, &r1, None).await;
        for i in 1..=150 {
            ws_send(&mut ws, &r1, &format!("c{i}"), &format!("메시지 {i}")).await;
        }
        let mut acked = 0;
        while acked < 150 {
            if next_of(&mut ws, &["ack", "error"]).await["type"] == "ack" {
                acked += 1;
            }
        }
        // The newest page comes from the cached window.
        let newest = history(&app, &kim, &r1, "").await;
        assert_eq!(seqs(&newest["items"]), (101..=150).collect::<Vec<_>>());
        assert_eq!(newest["items"][49]["body"], "메시지 150");
        assert_eq!(newest["next_before_seq"], 101);
        let mut all = seqs(&newest["items"]);
        let mut before = newest["next_before_seq"].as_i64();
        while let Some(b) = before {
            let page = history(&app, &kim, &r1, &format!("?before_seq={b}&limit=40")).await;
            let mut s = seqs(&page["items"]);
            s.append(&mut all);
            all = s;
            before = page["next_before_seq"].as_i64();
        }
        assert_eq!(all, (1..=150).collect::<Vec<_>>());

        // The cached window is behind (a lost or raced update): the next reader
        // completes it from the database instead of showing a hole.
        let cache = app.app_foundation.cache.clone();
        let key = format!("chat:recent:{r1}");
        let mut stale: Value = serde_json::from_slice(&cache.get(&key).await.unwrap().expect("the window is cached")).unwrap();
        assert_eq!(stale["upto"], 150);
        let items: Vec<Value> = stale["items"].as_array().unwrap().iter().filter(|m| m["seq"].as_i64().unwrap() <= 120).cloned().collect();
        stale["items"] = Value::Array(items);
        stale["upto"] = json!(120);
        cache.set(&key, stale.to_string().as_bytes(), std::time::Duration::from_secs(60)).await.unwrap();
        let newest = history(&app, &kim, &r1, "?limit=100").await;
        assert_eq!(seqs(&newest["items"]), (51..=150).collect::<Vec<_>>());
        let repaired: Value = serde_json::from_slice(&cache.get(&key).await.unwrap().unwrap()).unwrap();
        assert_eq!(repaired["upto"], 150);
        assert_eq!(seqs(&repaired["items"]), (51..=150).collect::<Vec<_>>());
        let (s, r) = app.get(&format!("/api/v1/chat/rooms/{r1}/messages?limit=101"), Some(&kim.access)).await;
        assert_problem(s, &r, 400, "invalid_limit");
        let outsider = app.user("park@example.com", "park").await;
        let (s, r) = app.get(&format!("/api/v1/chat/rooms/{r1}/messages"), Some(&outsider.access)).await;
        assert_problem(s, &r, 403, "not_a_member");
    }
}
