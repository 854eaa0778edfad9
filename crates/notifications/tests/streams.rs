//! Live streams end with the session that opened them: at logout, at deactivation, when
//! the token expires; and one user keeps a bounded number open (the oldest closes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use surge_testkit::reqwest::{Method, Response, StatusCode};
use surge_testkit::serde_json::json;
use surge_testkit::{matrix, Backend, Session, TestApp};

async fn open(app: &TestApp, s: &Session) -> Response {
    let res = app
        .client
        .get(app.url("/api/v1/notifications/stream"))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res
}

/// Whether the server ends this response's body within `within` (reading whatever
/// arrives meanwhile).
async fn ends_within(res: Response, within: Duration) -> bool {
    let mut body = res.bytes_stream();
    tokio::time::timeout(within, async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await
    .is_ok()
}

matrix! {
    async fn a_stream_ends_at_logout(app) {
        let u = app.user("sse-logout@example.com", "sselogout").await;
        let other = app.login("sse-logout@example.com", "password-1234").await;
        let mine = open(&app, &u).await;
        let kept = open(&app, &other).await;
        let (s, _) = app.post("/api/v1/identity/logout", Some(&u.access), json!({})).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert!(ends_within(mine, Duration::from_secs(5)).await, "the logged-out stream ended");
        // The user's other session keeps its stream.
        assert!(!ends_within(kept, Duration::from_millis(300)).await, "another session's stream goes on");
    }

    async fn a_stream_ends_when_the_account_is_deactivated(app) {
        let admin = app.admin("sse-admin@example.com").await;
        let u = app.user("sse-gone@example.com", "ssegone").await;
        let res = open(&app, &u).await;
        let (s, b) = app.call(Method::PATCH, &format!("/api/v1/identity/admin/users/{}", u.user_id),
            Some(&admin.access), Some(json!({"active": false}))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(ends_within(res, Duration::from_secs(5)).await);
    }

    async fn a_user_keeps_at_most_five_streams_and_the_oldest_closes(app) {
        let u = app.user("sse-many@example.com", "ssemany").await;
        let oldest = open(&app, &u).await;
        let mut rest = Vec::new();
        for _ in 0..5 {
            rest.push(open(&app, &u).await);
        }
        assert!(ends_within(oldest, Duration::from_secs(5)).await, "the sixth stream closed the first");
        let uid = u.user_id.parse().unwrap();
        assert_eq!(app.identity.live_streams(uid), 5);
        drop(rest);
        app.eventually(|| async { app.identity.live_streams(uid) == 0 }).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_ends_when_its_token_expires() {
    for b in [Backend::Embedded, Backend::Postgres, Backend::Mysql] {
        let Some(app) = TestApp::spawn_on(b, |c| c.access_token_ttl_secs = 2).await else {
            continue;
        };
        let u = app.user("sse-expiry@example.com", "sseexpiry").await;
        let res = open(&app, &u).await;
        assert!(
            ends_within(res, Duration::from_secs(6)).await,
            "{b:?}: the stream outlived its token"
        );
    }
}
