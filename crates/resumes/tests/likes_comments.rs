//! The community of resumes: likes whose count equals their rows under concurrent
//! toggles from one user and likes from many, sorted lists and "liked by me", comments
//! with the owner told of both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures::future::join_all;
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::json;
use surge_testkit::{assert_problem, matrix};

matrix! {
    async fn likes_equal_their_rows_under_fifty_concurrent_toggles_and_many_likers(app) {
        let owner = app.user("liked@example.com", "주인").await;
        let id = public_resume(&app, &owner, "hana-dev").await;
        let toggler = app.user("toggler@example.com", "토글").await;
        let toggle = format!("/api/v1/resumes/{id}/likes");
        let answers = join_all((0..50).map(|_| app.call(Method::POST, &toggle, Some(&toggler.access), None))).await;
        for (s, b) in &answers {
            assert_eq!(*s, StatusCode::OK, "{b}");
        }
        let stored = app.stored_i64("resumes", "like_count", &id).await;
        assert_eq!(stored, rows(&app, "resume_likes", "resume_id", &id).await, "count equals rows");
        assert_eq!(stored, 0, "fifty toggles end where they started");

        let likers = app.quick_users(25).await;
        let like = format!("/api/v1/resumes/{id}/like");
        let twice = likers.iter().chain(likers.iter());
        let answers = join_all(twice.map(|u| app.call(Method::PUT, &like, Some(&u.access), None))).await;
        assert!(answers.iter().all(|(s, b)| *s == StatusCode::OK && b["liked"] == true), "{answers:?}");
        join_all(likers[..5].iter().map(|u| app.call(Method::DELETE, &like, Some(&u.access), None))).await;
        assert_eq!(app.stored_i64("resumes", "like_count", &id).await, 20);
        assert_eq!(rows(&app, "resume_likes", "resume_id", &id).await, 20);
        let (_, r) = app.get(&format!("/api/v1/resumes/{id}"), Some(&likers[9].access)).await;
        assert_eq!((r["likes"].as_i64(), r["liked_by_me"].as_bool()), (Some(20), Some(true)), "{r}");
        app.eventually(|| async { notification_kinds(&app, &owner).await.contains(&"resume_liked".to_owned()) }).await;

        // Sorted by likes, and what I liked.
        let second = public_resume(&app, &owner, "kim-ops").await;
        let (_, by_likes) = app.get("/api/v1/resumes?sort=likes", None).await;
        let order: Vec<&str> = by_likes["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(order, [id.as_str(), second.as_str()], "{by_likes}");
        let (_, recent) = app.get("/api/v1/resumes?sort=recent&limit=1", None).await;
        assert_eq!(recent["items"][0]["id"], second.as_str());
        let (_, next) = app.get(&format!("/api/v1/resumes?sort=recent&limit=1&cursor={}", recent["next_cursor"].as_str().unwrap()), None).await;
        assert_eq!(next["items"][0]["id"], id.as_str(), "{next}");
        assert!(next["next_cursor"].is_null(), "{next}");
        let (_, liked) = app.get("/api/v1/resumes?liked=true", Some(&likers[9].access)).await;
        let ids: Vec<&str> = liked["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [id.as_str()], "{liked}");
    }

    async fn comments_count_tell_the_owner_and_are_removed_by_author_or_owner(app) {
        let owner = app.user("owner@example.com", "주인").await;
        let id = public_resume(&app, &owner, "hana-dev").await;
        let reader = app.user("commenter@example.com", "댓글러").await;
        let path = format!("/api/v1/resumes/{id}/comments");
        let (s, c) = app.post(&path, Some(&reader.access), json!({"body": "프로젝트 설명이 좋아요"})).await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        assert_eq!(c["author"], "댓글러");
        let (s, b) = app.post(&path, Some(&reader.access), json!({"body": "   "})).await;
        assert_problem(s, &b, 422, "validation_failed");
        app.eventually(|| async { notification_kinds(&app, &owner).await.contains(&"resume_commented".to_owned()) }).await;
        assert_eq!(app.stored_i64("resumes", "comment_count", &id).await, 1);

        let one = format!("{path}/{}", c["id"].as_str().unwrap());
        let (s, b) = app.call(Method::PATCH, &one, Some(&owner.access), Some(json!({"body": "남의 댓글"}))).await;
        assert_problem(s, &b, 403, "not_author");
        let (s, b) = app.call(Method::PATCH, &one, Some(&reader.access), Some(json!({"body": "설명이 아주 좋아요"}))).await;
        assert_eq!((s, b["body"].as_str()), (StatusCode::OK, Some("설명이 아주 좋아요")), "{b}");
        let (_, list) = app.get(&path, None).await;
        assert_eq!(list["items"][0]["body"], "설명이 아주 좋아요", "{list}");

        // The resume's owner may remove a comment on it; removing twice is not found.
        let (s, _) = app.call(Method::DELETE, &one, Some(&owner.access), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, b) = app.call(Method::DELETE, &one, Some(&owner.access), None).await;
        assert_problem(s, &b, 404, "not_found");
        assert_eq!(app.stored_i64("resumes", "comment_count", &id).await, 0);
        let (_, list) = app.get(&path, None).await;
        assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
        // Nobody comments on a private resume.
        let (s, _) = app.call(Method::PATCH, &format!("/api/v1/resumes/{id}"), Some(&owner.access), Some(json!({"visibility": "PRIVATE"}))).await;
        assert_eq!(s, StatusCode::OK);
        let (s, b) = app.post(&path, Some(&reader.access), json!({"body": "안녕하세요"})).await;
        assert_problem(s, &b, 404, "not_found");
    }
}
