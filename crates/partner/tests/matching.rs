//! Random matching through the real HTTP server: groups of the configured size with
//! intersecting conditions, nobody twice, no cancelled user matched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};

use futures::future::join_all;
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix};

const PLACES: [&str; 3] = ["SEOCHO", "GAEPO", "OUT_OF_CLUSTER"];
const WAYS: [&str; 3] = ["DELIVERY", "EATOUT", "TAKEOUT"];

/// A deterministic spread of conditions: some any, some one or two values.
fn conditions(i: usize) -> Value {
    let pick = |list: &[&str], k: usize| -> Vec<String> {
        match k % 4 {
            0 => vec![],
            1 => vec![list[k % 3].to_owned()],
            2 => vec![list[k % 3].to_owned(), list[(k + 1) % 3].to_owned()],
            _ => vec![list[(k / 4) % 3].to_owned()],
        }
    };
    json!({"places": pick(&PLACES, i * 7 + 1), "ways": pick(&WAYS, i * 5 + 2)})
}

fn meets(a: &Value, b: &Value) -> bool {
    ["places", "ways"].iter().all(|k| {
        let (x, y) = (a[k].as_array().unwrap(), b[k].as_array().unwrap());
        x.is_empty() || y.is_empty() || x.iter().any(|v| y.contains(v))
    })
}

matrix! {
    async fn two_hundred_applications_with_cancels_make_clean_groups(app) {
        let users = app.quick_users(200).await;
        let applied = join_all(users.iter().enumerate().map(|(i, u)| {
            let app = &app;
            async move {
                let mut body = conditions(i);
                body["category"] = json!("MEAL");
                let r = app.post("/api/v1/partner/random-matches", Some(&u.access), body).await;
                // Every fifth user changes their mind right away.
                let cancelled = if i % 5 == 0 {
                    app.call(Method::DELETE, "/api/v1/partner/random-matches/meal", Some(&u.access), None).await.0 == StatusCode::NO_CONTENT
                } else {
                    false
                };
                (r, cancelled)
            }
        }))
        .await;
        for ((s, b), _) in &applied {
            assert_eq!(*s, StatusCode::ACCEPTED, "{b}");
        }
        // The matcher is done when no two stored waiting applications could meet: no
        // application arrives any more, and it only ever matches waiting ones.
        app.eventually(|| async { settled(&app).await }).await;
        let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, u) in users.iter().enumerate() {
            let (_, mine) = app.get("/api/v1/partner/random-matches/mine", Some(&u.access)).await;
            let a = &mine[0];
            if let Some(m) = a["match_id"].as_str() {
                assert_eq!(a["status"], "MATCHED");
                assert!(!applied[i].1, "user {i} cancelled (204) but was matched");
                groups.entry(m.to_owned()).or_default().push(i);
            }
        }
        assert!(groups.len() >= 40, "most applicants were matched: {} groups", groups.len());
        let mut seen = HashSet::new();
        for (mid, members) in &groups {
            assert_eq!(members.len(), 2, "group {mid} has the group size");
            for m in members {
                assert!(seen.insert(*m), "user {m} is in two groups");
            }
            assert!(meets(&conditions(members[0]), &conditions(members[1])), "conditions of {members:?} intersect");
            let (s, view) = app.get(&format!("/api/v1/partner/matches/{mid}"), Some(&users[members[0]].access)).await;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(view["members"].as_array().unwrap().len(), 2);
        }
        // Nobody left waiting could have been matched with another waiter.
        let waiting: Vec<usize> = (0..200).filter(|i| !applied[*i].1 && !seen.contains(i)).collect();
        for (x, a) in waiting.iter().enumerate() {
            for b in &waiting[x + 1..] {
                assert!(!meets(&conditions(*a), &conditions(*b)), "{a} and {b} both wait but could meet");
            }
        }
        // Matched users hear about it.
        let (first, _) = groups.iter().next().unwrap();
        let who = &users[groups[first][0]];
        app.eventually(|| async {
            let (_, n) = app.get("/api/v1/notifications", Some(&who.access)).await;
            n["items"].as_array().unwrap().iter().any(|x| x["kind"] == "match_found")
        }).await;
    }

    async fn one_waiting_application_per_category_and_expiry(app) {
        let u = app.user("solo@example.com", "혼밥러").await;
        let (s, a) = app.post("/api/v1/partner/random-matches", Some(&u.access), json!({"category": "MEAL", "places": ["SEOCHO"]})).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{a}");
        let (s, e) = app.post("/api/v1/partner/random-matches", Some(&u.access), json!({"category": "MEAL"})).await;
        assert_problem(s, &e, 409, "already_applied");
        let (s, _) = app.post("/api/v1/partner/random-matches", Some(&u.access), json!({"category": "STUDY", "study_types": ["INNER_CIRCLE"]})).await;
        assert_eq!(s, StatusCode::ACCEPTED);
        let (s, e) = app.post("/api/v1/partner/random-matches", Some(&u.access), json!({"category": "STUDY", "ways": ["DELIVERY"]})).await;
        assert_problem(s, &e, 422, "validation_failed");
        assert_eq!(app.get("/api/v1/partner/random-matches/count?category=MEAL", None).await.1["waiting"], 1);
        assert_eq!(app.call(Method::DELETE, "/api/v1/partner/random-matches/MEAL", Some(&u.access), None).await.0, StatusCode::NO_CONTENT);
        let (s, e) = app.call(Method::DELETE, "/api/v1/partner/random-matches/MEAL", Some(&u.access), None).await;
        assert_problem(s, &e, 404, "not_found");
        assert_eq!(app.call(Method::DELETE, "/api/v1/partner/random-matches/NAP", Some(&u.access), None).await.0, StatusCode::NOT_FOUND);
        // Applications expire after 30 minutes; then the user may apply again.
        app.clock.advance_secs(31 * 60);
        let u = app.login("solo@example.com", "password-1234").await;
        assert_eq!(app.get("/api/v1/partner/random-matches/count?category=STUDY", None).await.1["waiting"], 0);
        let (_, mine) = app.get("/api/v1/partner/random-matches/mine", Some(&u.access)).await;
        assert_eq!(mine[0]["status"], "EXPIRED", "{mine}");
        let (s, _) = app.post("/api/v1/partner/random-matches", Some(&u.access), json!({"category": "STUDY"})).await;
        assert_eq!(s, StatusCode::ACCEPTED);
    }
}

/// Whether the stored waiting MEAL applications are settled: no two of them could meet.
async fn settled(app: &surge_testkit::TestApp) -> bool {
    use sea_orm::{ConnectionTrait, Statement};
    use surge_partner::domain::Conditions;
    let db = &app.app_foundation.db;
    let sql = "SELECT conditions FROM partner_applications WHERE category = 'MEAL' AND status = 'WAITING'";
    let rows = db
        .query_all(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    let waiting: Vec<Conditions> = rows
        .iter()
        .map(|r| Conditions::from_json(&r.try_get_by_index::<String>(0).unwrap()).unwrap())
        .collect();
    waiting
        .iter()
        .enumerate()
        .all(|(i, a)| waiting[i + 1..].iter().all(|b| a.meet(b).is_none()))
}

matrix! {
    /// Several instances each run a matcher; the lease makes one of them the single
    /// writer per category, and nobody is matched twice. On the scaled backends the
    /// second instance is a real second process's worth of clients (its own pool).
    #[config(|c| c.partner_match_every_ms = 50)]
    async fn a_second_instance_matcher_waits_for_the_lease(app) {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        use surge_partner::domain::Category;
        use surge_partner::matching::Matcher;
        let other = Arc::new(Matcher::new(&app.another_instance().await, app.notifier.clone(), None, 2));
        // The running instance takes the lease on its first round (every 50 ms here).
        app.eventually(|| async {
            use sea_orm::{ConnectionTrait, Statement};
            let db = &app.app_foundation.db;
            let sql = "SELECT holder FROM partner_leases WHERE name = 'partner.matcher.MEAL'";
            let row = db.query_one(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
            row.is_some()
        }).await;
        let solo = app.quick_users(1).await.remove(0);
        let (s, _) = app.post("/api/v1/partner/random-matches", Some(&solo.access), json!({"category": "MEAL"})).await;
        assert_eq!(s, StatusCode::ACCEPTED);
        assert_eq!(other.round(Category::Meal).await.unwrap(), 0, "the running instance holds the lease");
        let stop = Arc::new(AtomicBool::new(false));
        let spinning = {
            let (other, stop) = (other.clone(), stop.clone());
            tokio::spawn(async move {
                let mut rounds = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    // Its errors are the test's: a round without the lease must succeed.
                    if let Err(e) = other.round(Category::Meal).await {
                        panic!("the second matcher's round failed: {e}");
                    }
                    rounds += 1;
                    tokio::task::yield_now().await;
                }
                rounds
            })
        };
        let users = app.quick_users(59).await;
        join_all(users.iter().map(|u| {
            app.post("/api/v1/partner/random-matches", Some(&u.access), json!({"category": "MEAL"}))
        }))
        .await;
        app.eventually(|| async {
            app.get("/api/v1/partner/random-matches/count?category=MEAL", None).await.1["waiting"] == 0
        })
        .await;
        stop.store(true, Ordering::Relaxed);
        assert!(spinning.await.expect("the second matcher never panicked") > 0, "the second matcher ran");
        let mut per_match: HashMap<String, usize> = HashMap::new();
        for u in users.iter().chain([&solo]) {
            let (_, mine) = app.get("/api/v1/partner/random-matches/mine", Some(&u.access)).await;
            *per_match.entry(mine[0]["match_id"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        assert_eq!(per_match.len(), 30);
        assert!(per_match.values().all(|n| *n == 2));
    }
}

/// With a Slack webhook configured, each match is posted to the channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn matches_are_posted_to_slack_when_configured() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T000/B000/XXXX"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    let hook = format!("{}/services/T000/B000/XXXX", slack.uri());
    let app = surge_testkit::TestApp::spawn_on(surge_testkit::Backend::Embedded, |c| {
        c.slack = Some(surge_infra::chat::SlackConfig::new(hook))
    })
    .await
    .unwrap();
    let users = app.quick_users(2).await;
    for u in &users {
        let (s, _) = app
            .post(
                "/api/v1/partner/random-matches",
                Some(&u.access),
                json!({"category": "STUDY", "places": ["GAEPO"]}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
    }
    app.eventually(|| async {
        !slack
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    })
    .await;
    let posted = slack.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&posted[0].body).unwrap();
    assert!(
        body["text"].as_str().unwrap().contains("STUDY match"),
        "{body}"
    );
}
