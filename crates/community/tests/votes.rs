//! Votes: the same vote again changes nothing, the other switches, removing takes it
//! back; under hundreds of concurrent votes and switches, from two instances, the
//! post's counts equal the vote rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use futures::future::join_all;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, Statement};
use surge_kernel::auth::{AuthUser, Role};
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, TestApp};
use uuid::Uuid;

async fn vote(app: &TestApp, token: &str, post: &str, kind: Option<&str>) -> (StatusCode, Value) {
    let path = format!("/api/v1/community/posts/{post}/vote");
    match kind {
        Some(k) => {
            app.call(Method::PUT, &path, Some(token), Some(json!({"type": k})))
                .await
        }
        None => app.call(Method::DELETE, &path, Some(token), None).await,
    }
}

/// (UP rows, DOWN rows) of a post, counted in the database.
async fn rows(app: &TestApp, post: &str) -> (i64, i64) {
    let db = &app.app_foundation.db;
    let id: Uuid = post.parse().unwrap();
    let mut out = (0, 0);
    for (kind, slot) in [("UP", &mut out.0), ("DOWN", &mut out.1)] {
        let stmt = Statement::from_sql_and_values(
            db.get_database_backend(),
            match db.get_database_backend() {
                sea_orm::DatabaseBackend::Postgres => {
                    "SELECT COUNT(*) FROM community_votes WHERE post_id = $1 AND kind = $2"
                }
                _ => "SELECT COUNT(*) FROM community_votes WHERE post_id = ? AND kind = ?",
            },
            [id.into(), kind.into()],
        );
        let row = db.query_one(stmt).await.unwrap().unwrap();
        *slot = row.try_get_by_index::<i64>(0).unwrap();
    }
    out
}

struct NoDirectory;

#[async_trait::async_trait]
impl surge_kernel::ports::UserDirectory for NoDirectory {
    async fn find(&self, _: Uuid) -> anyhow::Result<Option<surge_kernel::ports::UserSummary>> {
        anyhow::bail!("not used")
    }
    async fn find_many(
        &self,
        _: &[Uuid],
    ) -> anyhow::Result<std::collections::HashMap<Uuid, surge_kernel::ports::UserSummary>> {
        anyhow::bail!("not used")
    }
}

matrix! {
    async fn the_same_vote_changes_nothing_and_the_other_switches(app) {
        let a = app.user("author@example.com", "작성자").await;
        let v = app.user("voter@example.com", "투표자").await;
        let p = id_of(&post_at(&app, &a, SEOUL.0, SEOUL.1, json!({})).await);
        let (s, r) = vote(&app, &v.access, &p, Some("UP")).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!((r["up"].as_i64(), r["down"].as_i64(), r["my_vote"].as_str()), (Some(1), Some(0), Some("UP")));
        let (_, r) = vote(&app, &v.access, &p, Some("UP")).await;
        assert_eq!((r["up"].as_i64(), r["down"].as_i64()), (Some(1), Some(0)), "same again: no change");
        let (_, r) = vote(&app, &v.access, &p, Some("DOWN")).await;
        assert_eq!((r["up"].as_i64(), r["down"].as_i64(), r["my_vote"].as_str()), (Some(0), Some(1), Some("DOWN")));
        // The post shows the counts and, to the voter only, their vote.
        let (_, seen) = app.get(&format!("/api/v1/community/posts/{p}"), Some(&v.access)).await;
        assert_eq!((seen["up"].as_i64(), seen["down"].as_i64(), seen["my_vote"].as_str()), (Some(0), Some(1), Some("DOWN")));
        let (_, anon) = app.get(&format!("/api/v1/community/posts/{p}"), None).await;
        assert!(anon["my_vote"].is_null(), "{anon}");
        let (_, r) = vote(&app, &v.access, &p, None).await;
        assert_eq!((r["up"].as_i64(), r["down"].as_i64()), (Some(0), Some(0)));
        assert!(r["my_vote"].is_null());
        let (s, r) = vote(&app, &v.access, &p, None).await;
        assert_eq!(s, StatusCode::OK, "removing nothing is fine: {r}");
        assert_eq!(rows(&app, &p).await, (0, 0));

        let (s, e) = vote(&app, &v.access, &p, Some("SIDEWAYS")).await;
        assert_eq!(s.as_u16(), 422, "{e}");
        let (s, e) = vote(&app, &v.access, &Uuid::new_v4().to_string(), Some("UP")).await;
        assert_problem(s, &e, 404, "not_found");
        let (s, e) = app.call(Method::PUT, &format!("/api/v1/community/posts/{p}/vote"), None, Some(json!({"type": "UP"}))).await;
        assert_problem(s, &e, 401, "unauthenticated");
    }

    /// 100 users send 200 votes, switches and removals at once, a third of them through
    /// a second instance of the service on its own connection pool: the counts on the
    /// post equal the vote rows, and each user's last answer is their stored vote.
    async fn two_hundred_concurrent_votes_and_switches_keep_counts_equal_to_rows(app) {
        let author = app.user("hot@example.com", "인기글").await;
        let p = id_of(&post_at(&app, &author, SEOUL.0, SEOUL.1, json!({})).await);
        let pid: Uuid = p.parse().unwrap();
        let users = app.quick_users(100).await;
        let second = app.another_instance().await;
        let (_, other) = surge_community::module(
            &second,
            surge_community::CommunityConfig::default(),
            surge_community::Ports {
                users: Arc::new(NoDirectory),
                notifier: app.notifier.clone(),
                objects: Arc::new(surge_infra::objects::Objects::local(&std::env::temp_dir().join(format!("surge-objects-{}", Uuid::new_v4()))).unwrap()),
                verifier: None,
            },
        ).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let plan: Vec<(usize, Option<&str>, bool)> = (0..200)
            .map(|i| {
                let kind = match rng.gen_range(0..5) { 0 => None, 1 | 2 => Some("UP"), _ => Some("DOWN") };
                (i % 100, kind, i % 3 == 0)
            })
            .collect();
        let (app_ref, other_ref, users_ref, p_ref) = (&app, &other, &users, &p);
        let answers = join_all(plan.iter().map(|(u, kind, elsewhere)| async move {
            let who = &users_ref[*u];
            if *elsewhere {
                let caller = AuthUser { id: who.user_id.parse().unwrap(), role: Role::User, session_id: Uuid::new_v4() };
                let kind = kind.map(|k| if k == "UP" { surge_community::domain::VoteKind::Up } else { surge_community::domain::VoteKind::Down });
                match kind {
                    Some(k) => other_ref.votes.vote(&caller, pid, k).await.map(|_| ()).map_err(|e| e.to_string()),
                    None => other_ref.votes.unvote(&caller, pid).await.map(|_| ()).map_err(|e| e.to_string()),
                }
            } else {
                let (s, r) = vote(app_ref, &who.access, p_ref, *kind).await;
                if s == StatusCode::OK { Ok(()) } else { Err(format!("{s} {r}")) }
            }
        }))
        .await;
        for a in &answers {
            assert!(a.is_ok(), "{a:?}");
        }
        let (up_rows, down_rows) = rows(&app, &p).await;
        let (_, post) = app.get(&format!("/api/v1/community/posts/{p}"), None).await;
        assert_eq!(post["up"].as_i64().unwrap(), up_rows, "{post}");
        assert_eq!(post["down"].as_i64().unwrap(), down_rows, "{post}");
        assert!(up_rows + down_rows <= 100);
        assert!(up_rows + down_rows > 0);
        // What each user is shown as their vote adds up to the same counts.
        let shown = join_all(users.iter().map(|who| async move {
            app_ref.get(&format!("/api/v1/community/posts/{p_ref}"), Some(&who.access)).await.1["my_vote"].clone()
        }))
        .await;
        let ups = shown.iter().filter(|v| v.as_str() == Some("UP")).count() as i64;
        let downs = shown.iter().filter(|v| v.as_str() == Some("DOWN")).count() as i64;
        assert_eq!((ups, downs), (up_rows, down_rows));
    }
}
