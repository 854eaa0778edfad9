//! Views count once per viewer per post per hour, written in batches; comments and
//! replies keep the post's comment count and notify the people they answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures::future::join_all;
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, TestApp};

async fn stored_views(app: &TestApp, post: &str) -> i64 {
    app.stored_i64("community_posts", "view_count", post).await
}

async fn notifications(app: &TestApp, who: &surge_testkit::Session) -> Vec<Value> {
    let (_, n) = app
        .get("/api/v1/notifications?limit=100", Some(&who.access))
        .await;
    n["items"].as_array().cloned().unwrap_or_default()
}

matrix! {
    async fn a_hundred_concurrent_views_by_one_user_count_once(app) {
        let a = app.user("viewed@example.com", "조회수").await;
        let v = app.user("reader@example.com", "독자").await;
        let p = id_of(&post_at(&app, &a, SEOUL.0, SEOUL.1, json!({})).await);
        let path = format!("/api/v1/community/posts/{p}");
        let answers = join_all((0..100).map(|_| app.get(&path, Some(&v.access)))).await;
        assert!(answers.iter().all(|(s, _)| *s == StatusCode::OK));
        // The flusher writes it within moments; then nothing more arrives.
        app.eventually(|| async { stored_views(&app, &p).await == 1 }).await;
        app.community.views.flush().await.unwrap();
        assert_eq!(stored_views(&app, &p).await, 1);
        let (_, seen) = app.get(&path, None).await;
        assert_eq!(seen["view_count"], 1, "{seen}");

        // Another user, and an anonymous client (by address, once), count once each.
        join_all((0..20).map(|_| app.get(&path, Some(&a.access)))).await;
        join_all((0..20).map(|_| app.get(&path, None))).await;
        app.community.views.flush().await.unwrap();
        assert_eq!(stored_views(&app, &p).await, 3);

        // An hour later the same reader counts again.
        app.clock.advance_secs(3_600);
        let v = app.login("reader@example.com", "password-1234").await;
        let again = join_all((0..10).map(|_| app.get(&path, Some(&v.access)))).await;
        assert!(again.iter().all(|(s, _)| *s == StatusCode::OK));
        app.community.views.flush().await.unwrap();
        assert_eq!(stored_views(&app, &p).await, 4);
    }

    async fn comments_and_replies_keep_the_count_and_notify(app) {
        let author = app.user("poster@example.com", "글주인").await;
        let c1 = app.user("commenter@example.com", "댓글러").await;
        let c2 = app.user("replier@example.com", "답글러").await;
        let admin = app.admin("mod@example.com").await;
        let p = id_of(&post_at(&app, &author, SEOUL.0, SEOUL.1, json!({})).await);
        let comments = format!("/api/v1/community/posts/{p}/comments");

        let (s, top) = app.post(&comments, Some(&c1.access), json!({"body": "저도 봤어요"})).await;
        assert_eq!(s, StatusCode::CREATED, "{top}");
        assert_eq!(top["author"], "댓글러");
        let (s, reply) = app.post(&comments, Some(&c2.access), json!({"body": "맞아요", "parent_id": top["id"]})).await;
        assert_eq!(s, StatusCode::CREATED, "{reply}");
        // One level of replies only.
        let (s, e) = app.post(&comments, Some(&c1.access), json!({"body": "더 깊이", "parent_id": reply["id"]})).await;
        assert_problem(s, &e, 422, "validation_failed");
        assert_eq!(e["field"], "parent_id");
        let (s, e) = app.post(&comments, Some(&c1.access), json!({"body": ""})).await;
        assert_problem(s, &e, 422, "validation_failed");
        let (s, e) = app.post(&format!("/api/v1/community/posts/{}/comments", uuid::Uuid::new_v4()), Some(&c1.access), json!({"body": "x"})).await;
        assert_problem(s, &e, 404, "not_found");

        // The post's author heard of both; the parent's author of the reply.
        let kinds = |ns: Vec<Value>| ns.iter().map(|n| n["kind"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        app.eventually(|| async { kinds(notifications(&app, &author).await).iter().filter(|k| *k == "community_comment").count() == 2 }).await;
        app.eventually(|| async { kinds(notifications(&app, &c1).await).contains(&"community_reply".to_owned()) }).await;
        assert!(!kinds(notifications(&app, &c2).await).iter().any(|k| k.starts_with("community_")), "nobody answered the replier");

        // 30 concurrent comments: the count follows.
        let app_ref = &app;
        join_all((0..30).map(|i| {
            let who = if i % 2 == 0 { &c1 } else { &c2 };
            let path = comments.clone();
            async move {
                let (s, r) = app_ref.post(&path, Some(&who.access), json!({"body": format!("댓글 {i}")})).await;
                assert_eq!(s, StatusCode::CREATED, "{r}");
            }
        })).await;
        assert_eq!(app.stored_i64("community_posts", "comment_count", &p).await, 32);

        // Listed oldest first, replies under their comment, by cursor.
        let (s, page) = app.get(&format!("{comments}?limit=10"), None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert_eq!(page["items"][0]["id"], top["id"]);
        assert_eq!(page["items"][0]["replies"][0]["id"], reply["id"]);
        let mut total = page["items"].as_array().unwrap().len();
        let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
        while let Some(c) = cursor {
            let (_, more) = app.get(&format!("{comments}?limit=10&cursor={c}"), None).await;
            total += more["items"].as_array().unwrap().len();
            cursor = more["next_cursor"].as_str().map(str::to_owned);
        }
        assert_eq!(total, 31, "top-level comments");

        // Edits by the author or an admin only.
        let one = format!("/api/v1/community/comments/{}", top["id"].as_str().unwrap());
        let (s, e) = app.call(Method::PATCH, &one, Some(&c2.access), Some(json!({"body": "바꿈"}))).await;
        assert_problem(s, &e, 403, "not_author");
        let (s, e) = app.call(Method::PATCH, &one, Some(&c1.access), Some(json!({"body": "고쳤어요"}))).await;
        assert_eq!(s, StatusCode::OK, "{e}");
        assert_eq!(e["body"], "고쳤어요");

        // Deleting the top-level comment takes its reply with it: the count drops by 2.
        let (s, e) = app.call(Method::DELETE, &one, Some(&c2.access), None).await;
        assert_problem(s, &e, 403, "not_author");
        assert_eq!(app.call(Method::DELETE, &one, Some(&admin.access), None).await.0, StatusCode::NO_CONTENT);
        assert_eq!(app.stored_i64("community_posts", "comment_count", &p).await, 30);
        let (s, e) = app.call(Method::DELETE, &one, Some(&c1.access), None).await;
        assert_problem(s, &e, 404, "not_found");
        let (_, post) = app.get(&format!("/api/v1/community/posts/{p}"), None).await;
        assert_eq!(post["comment_count"], 30);
    }
}
