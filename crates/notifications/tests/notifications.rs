//! Notifications: stored, listed unread-first, marked read, pushed live over SSE and
//! replayed after a reconnect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use surge_kernel::ports::NewNotification;
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, TestApp};

fn note(title: &str) -> NewNotification {
    NewNotification {
        kind: "test".into(),
        title: title.into(),
        body: format!("body of {title}"),
        data: json!({"title": title}),
    }
}

async fn items(app: &TestApp, token: &str, query: &str) -> Value {
    let (s, page) = app
        .get(&format!("/api/v1/notifications{query}"), Some(token))
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page
}

/// Reads SSE frames until `n` notification events arrived (or 5 s passed). The
/// account's welcome is left out: its row is listed as soon as it commits, but its live
/// push comes after the commit and may reach a stream opened in between.
async fn read_events(res: surge_testkit::reqwest::Response, n: usize) -> Vec<(String, Value)> {
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while out.len() < n {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("events in time");
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut id = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().to_owned();
                }
                if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if !data.is_empty() {
                let event: Value = serde_json::from_str(&data).unwrap();
                if event["kind"] != "welcome" {
                    out.push((id, event));
                }
            }
        }
    }
    out
}

matrix! {
    async fn a_new_account_is_welcomed_and_can_read_its_notifications(app) {
        let s = app.user("hello@example.com", "hello").await;
        // The welcome travels identity -> outbox -> bus -> notifications.
        app.eventually(|| async {
            items(&app, &s.access, "").await["items"].as_array().unwrap().len() == 1
        }).await;
        let page = items(&app, &s.access, "").await;
        assert_eq!(page["items"][0]["kind"], "welcome");
        assert_eq!(page["items"][0]["read"], false);
        assert!(page["items"][0]["title"].as_str().unwrap().contains("hello"));

        let uid = s.user_id.parse().unwrap();
        for i in 0..4 {
            app.notifier.notify(uid, note(&format!("n{i}"))).await.unwrap();
        }
        let (_, count) = app.get("/api/v1/notifications/unread-count", Some(&s.access)).await;
        assert_eq!(count["count"], 5);

        let page = items(&app, &s.access, "").await;
        let n3 = page["items"][0]["id"].clone();
        assert_eq!(page["items"][0]["title"], "n3", "newest first");
        let (st, marked) = app.post("/api/v1/notifications/read", Some(&s.access), json!({"ids": [n3]})).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(marked["updated"], 1);

        // Unread first, then read; pages of 2 walk all five exactly once.
        let mut titles = Vec::new();
        let mut q = "?limit=2".to_owned();
        loop {
            let page = items(&app, &s.access, &q).await;
            for it in page["items"].as_array().unwrap() {
                titles.push((it["title"].as_str().unwrap().to_owned(), it["read"].as_bool().unwrap()));
            }
            match page["next_cursor"].as_str() {
                Some(c) => q = format!("?limit=2&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(titles.len(), 5);
        assert_eq!(titles.last().unwrap(), &("n3".to_owned(), true), "read ones come last");
        assert!(titles[..4].iter().all(|(_, read)| !read));

        let (_, marked) = app.post("/api/v1/notifications/read", Some(&s.access), json!({"all": true})).await;
        assert_eq!(marked["updated"], 4);
        let (_, count) = app.get("/api/v1/notifications/unread-count", Some(&s.access)).await;
        assert_eq!(count["count"], 0);

        let (st, b) = app.post("/api/v1/notifications/read", Some(&s.access), json!({})).await;
        assert_problem(st, &b, 422, "validation_failed");
        let (st, b) = app.get("/api/v1/notifications?cursor=bm9wZQ", Some(&s.access)).await;
        assert_problem(st, &b, 400, "invalid_cursor");
    }

    async fn nobody_sees_or_changes_another_users_notifications(app) {
        let a = app.user("a@example.com", "alpha").await;
        let b = app.user("b@example.com", "bravo").await;
        let id = app.notifier.notify(a.user_id.parse().unwrap(), note("private")).await.unwrap();
        let page = items(&app, &b.access, "").await;
        assert!(page["items"].as_array().unwrap().iter().all(|n| n["title"] != "private"));
        let (_, marked) = app.post("/api/v1/notifications/read", Some(&b.access), json!({"ids": [id]})).await;
        assert_eq!(marked["updated"], 0);
        let page = items(&app, &a.access, "").await;
        let mine = page["items"].as_array().unwrap().iter().find(|n| n["title"] == "private").unwrap().clone();
        assert_eq!(mine["read"], false);
        let (st, body) = app.get("/api/v1/notifications", None).await;
        assert_problem(st, &body, 401, "unauthenticated");
    }

    async fn the_stream_pushes_live_and_replays_after_reconnect(app) {
        let s = app.user("live@example.com", "livewire").await;
        let uid = s.user_id.parse().unwrap();
        // Let the welcome arrive first, so the stream below sees only what we send.
        app.eventually(|| async { !items(&app, &s.access, "").await["items"].as_array().unwrap().is_empty() }).await;

        let res = app.client.get(app.url("/api/v1/notifications/stream")).bearer_auth(&s.access).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        // The stream subscribes before it answers: what is sent from here on reaches it.
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        app.notifier.notify(uid, note("live-1")).await.unwrap();
        let got = read_events(res, 1).await;
        assert_eq!(got[0].1["title"], "live-1");
        let last_seen = got[0].0.clone();

        // Disconnected: two more arrive meanwhile.
        app.notifier.notify(uid, note("missed-1")).await.unwrap();
        app.notifier.notify(uid, note("missed-2")).await.unwrap();
        let res = app.client.get(app.url(&format!("/api/v1/notifications/stream?access_token={}", s.access)))
            .header("last-event-id", &last_seen).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let got = read_events(res, 2).await;
        let titles: Vec<_> = got.iter().map(|(_, v)| v["title"].as_str().unwrap().to_owned()).collect();
        assert_eq!(titles, ["missed-1", "missed-2"]);

        let (st, b) = app.get("/api/v1/notifications/stream", None).await;
        assert_problem(st, &b, 401, "unauthenticated");
        let res = app.client.get(app.url("/api/v1/notifications/stream")).bearer_auth(&s.access)
            .header("last-event-id", "not-an-id").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
}

matrix! {
    async fn a_redelivered_event_has_no_second_effect(app) {
        let s = app.user("once@example.com", "onlyonce").await;
        app.eventually(|| async { !items(&app, &s.access, "").await["items"].as_array().unwrap().is_empty() }).await;
        // The bus delivers at least once: hand the same registration event over again.
        let event = surge_kernel::events::EventEnvelope::new(
            "identity.user_registered",
            &s.user_id,
            json!({"user_id": s.user_id, "nickname": "onlyonce"}),
            0,
        );
        app.app_foundation.bus.publish(&event).await.unwrap();
        app.app_foundation.bus.publish(&event).await.unwrap();
        let welcomes = || async {
            let page = items(&app, &s.access, "").await;
            page["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "welcome").count()
        };
        // Handlers may run after publish returns (JetStream). The consumer takes events in
        // order, so once a later event's welcome is there, both copies have been handled.
        let later = app.user("later@example.com", "laterone").await;
        app.eventually(|| async { !items(&app, &later.access, "").await["items"].as_array().unwrap().is_empty() }).await;
        assert_eq!(welcomes().await, 2, "the original welcome plus one for the new event id, not three");
    }
}
