//! Job sources ingested through the real server, on every backend: each source (the
//! offline board and fakes of Saramin, Work24 and Greenhouse serving their documented
//! shapes) synced twice without duplicates, changes upstream updated and searchable,
//! vanished and expired postings closed, an outage closing nothing, one run per source
//! across instances, the schedule, and the admin routes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::NoDirectory;
use sea_orm::sea_query::{Alias, Expr, Func, Query};
use sea_orm::ConnectionTrait;
use surge_infra::jobs::{FakeJobBoard, JobSourceConfig};
use surge_kernel::clock::Clock;
use surge_testkit::job_boards::{JobApi, JobApiFake};
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, Backend, Config, Session, TestApp};

surge_testkit::on_every_backend!(
    the_offline_board_twice_then_changed_vanished_and_expired,
    each_public_api_twice_then_changed_and_vanished,
    an_outage_fails_the_run_and_closes_nothing,
    two_instances_syncing_at_once_do_the_work_once,
    admins_start_runs_and_see_them,
    sources_sync_on_their_schedule,
    news_is_fetched_conditionally_and_linked_to_companies,
);

const BOARD: &str = "board";

fn fake_board(postings: usize, interval_secs: u64) -> JobSourceConfig {
    let mut c = JobSourceConfig::new("fake");
    c.postings = Some(postings);
    c.page_size = Some(7);
    c.seed = Some(42);
    c.interval_secs = interval_secs;
    c
}

async fn spawn(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    TestApp::spawn_on(backend, tweak).await
}

/// Starts a run as an admin and waits for its end; the run.
async fn sync(app: &TestApp, admin: &Session, source: &str) -> Value {
    let (s, started) = app
        .post(
            &format!("/api/v1/careers/sources/{source}/sync"),
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{started}");
    let path = format!(
        "/api/v1/careers/sync-runs/{}",
        started["run_id"].as_str().unwrap()
    );
    until(|| async {
        let (s, r) = app.get(&path, Some(&admin.access)).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        (r["status"] != "RUNNING").then_some(r)
    })
    .await
}

/// Polls `f` every 20 ms until it gives a value (up to `eventually_timeout`).
async fn until<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + surge_testkit::eventually_timeout();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no answer within the time limit"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn counts(run: &Value) -> (i64, i64, i64, i64) {
    let n = |k: &str| run[k].as_i64().unwrap_or_else(|| panic!("{k} in {run}"));
    (n("new"), n("updated"), n("closed"), n("failed"))
}

/// Stored postings of `source`: (all, open).
async fn stored(app: &TestApp, source: &str) -> (i64, i64) {
    let db = &app.app_foundation.db;
    let count = |open: bool| {
        let mut q = Query::select()
            .expr(Func::count(Expr::col(Alias::new("id"))))
            .from(Alias::new("careers_postings"))
            .and_where(Expr::col(Alias::new("source")).eq(source))
            .to_owned();
        if open {
            q.and_where(Expr::col(Alias::new("status")).eq("OPEN"));
        }
        db.get_database_backend().build(&q)
    };
    let mut out = [0i64; 2];
    for (i, open) in [false, true].into_iter().enumerate() {
        let row = db.query_one(count(open)).await.unwrap().unwrap();
        out[i] = row.try_get_by_index::<i64>(0).unwrap();
    }
    (out[0], out[1])
}

/// The stored posting of `source` with `source_id`, as the API shows it.
async fn posting_of(app: &TestApp, source: &str, source_id: &str) -> Value {
    let db = &app.app_foundation.db;
    let q = Query::select()
        .column(Alias::new("id"))
        .from(Alias::new("careers_postings"))
        .and_where(Expr::col(Alias::new("source")).eq(source))
        .and_where(Expr::col(Alias::new("source_id")).eq(source_id))
        .to_owned();
    let row = db
        .query_one(db.get_database_backend().build(&q))
        .await
        .unwrap();
    let id: uuid::Uuid = row
        .unwrap_or_else(|| panic!("{source}/{source_id} stored"))
        .try_get_by_index(0)
        .unwrap();
    let (s, p) = app
        .get(&format!("/api/v1/careers/postings/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    p
}

/// Waits until searching `q` finds the posting `id` first.
async fn found_first(app: &TestApp, q: &str, id: &str) {
    app.eventually(|| async {
        let (_, r) = app
            .get(&format!("/api/v1/careers/postings?q={q}"), None)
            .await;
        r["items"][0]["id"] == id
    })
    .await;
}

async fn the_offline_board_twice_then_changed_vanished_and_expired(backend: Backend) {
    let Some(app) = spawn(backend, |c| {
        c.careers.sources.insert(BOARD.into(), fake_board(30, 0));
    })
    .await
    else {
        return;
    };
    let admin = app.admin("sync-admin@example.com").await;
    let run = sync(&app, &admin, BOARD).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert_eq!(run["trigger"], "ADMIN");
    assert_eq!(counts(&run), (30, 0, 0, 0), "{run}");
    assert_eq!(stored(&app, BOARD).await, (30, 30));
    // Nothing changed upstream: nothing new, nothing updated, no duplicates.
    let again = sync(&app, &admin, BOARD).await;
    assert_eq!(counts(&again), (0, 0, 0, 0), "{again}");
    assert_eq!(stored(&app, BOARD).await, (30, 30));

    // Upstream: one posting edited, one filled (gone), one new.
    let board = app.job_boards[BOARD].clone();
    let ids: Vec<String> = board.postings().into_iter().map(|p| p.source_id).collect();
    let mut edited = board.get(&ids[3]).unwrap();
    edited.title = "Quantum 양자컴퓨팅 연구원".into();
    edited.skills = vec!["Qiskit".into()];
    board.put(edited);
    let vanished = board.remove(&ids[5]).unwrap();
    let mut fresh = FakeJobBoard::sample(99, 1);
    fresh.source_id = "fresh-1".into();
    board.put(fresh);
    let third = sync(&app, &admin, BOARD).await;
    assert_eq!(counts(&third), (1, 1, 1, 0), "{third}");
    assert_eq!(stored(&app, BOARD).await, (31, 30));
    let gone = posting_of(&app, BOARD, &ids[5]).await;
    assert_eq!(gone["status"], "CLOSED", "{gone}");
    let changed = posting_of(&app, BOARD, &ids[3]).await;
    assert_eq!(changed["title"], "Quantum 양자컴퓨팅 연구원");
    assert_eq!(changed["skills"], json!(["Qiskit"]));
    // The search index of the instance followed the change.
    found_first(&app, "quantum", changed["id"].as_str().unwrap()).await;
    found_first(&app, "qiskit", changed["id"].as_str().unwrap()).await;

    // A deadline that passed upstream closes the posting; one that comes back reopens.
    let mut late = board.get(&ids[7]).unwrap();
    late.deadline = Some(app.clock.now_ms() - 3_600_000);
    board.put(late);
    let fourth = sync(&app, &admin, BOARD).await;
    assert_eq!(counts(&fourth), (0, 0, 1, 0), "{fourth}");
    assert_eq!(posting_of(&app, BOARD, &ids[7]).await["status"], "CLOSED");
    let n: usize = ids[5].rsplit('-').next().unwrap().parse().unwrap();
    assert_eq!(
        FakeJobBoard::sample(42, n),
        vanished,
        "seeded boards are deterministic"
    );
    board.put(vanished);
    let fifth = sync(&app, &admin, BOARD).await;
    assert_eq!(counts(&fifth), (0, 1, 0, 0), "{fifth}");
    assert_eq!(posting_of(&app, BOARD, &ids[5]).await["status"], "OPEN");
    assert_eq!(stored(&app, BOARD).await, (31, 30));

    // Still listed but refused by our rules (a blank title): counted failed, not closed.
    let mut broken = board.get(&ids[9]).unwrap();
    broken.title = "   ".into();
    board.put(broken);
    let sixth = sync(&app, &admin, BOARD).await;
    assert_eq!(counts(&sixth), (0, 0, 0, 1), "{sixth}");
    assert_eq!(posting_of(&app, BOARD, &ids[9]).await["status"], "OPEN");
    // A board that answers with nothing at all is a hiccup upstream, not every posting
    // filled at once: nothing is closed.
    for p in board.postings() {
        board.remove(&p.source_id);
    }
    let seventh = sync(&app, &admin, BOARD).await;
    assert_eq!(seventh["status"], "SUCCEEDED", "{seventh}");
    assert_eq!(counts(&seventh), (0, 0, 0, 0), "{seventh}");
    assert_eq!(stored(&app, BOARD).await, (31, 30));
}

async fn each_public_api_twice_then_changed_and_vanished(backend: Backend) {
    let apis = [
        (
            "saramin",
            JobApiFake::start(JobApi::Saramin).await,
            "41000001",
            "41000002",
        ),
        (
            "work24",
            JobApiFake::start(JobApi::Work24).await,
            "K151612611200001",
            "K151612611200003",
        ),
        (
            "acme",
            JobApiFake::start(JobApi::Greenhouse).await,
            "4001001",
            "4001003",
        ),
    ];
    let configs: Vec<(String, JobSourceConfig)> = apis
        .iter()
        .map(|(n, f, _, _)| ((*n).to_owned(), f.config()))
        .collect();
    let Some(app) = spawn(backend, move |c| c.careers.sources.extend(configs)).await else {
        return;
    };
    let admin = app.admin("sync-admin@example.com").await;
    for (name, fake, change, vanish) in &apis {
        let first = sync(&app, &admin, name).await;
        assert_eq!(first["status"], "SUCCEEDED", "{name}: {first}");
        assert_eq!(
            counts(&first),
            (3, 0, 0, 1),
            "{name}: three postings and one unreadable item: {first}"
        );
        let second = sync(&app, &admin, name).await;
        assert_eq!(counts(&second), (0, 0, 0, 1), "{name}: {second}");
        assert_eq!(stored(&app, name).await, (3, 3), "{name}");

        fake.edit(change, |item| {
            *item = item
                .replace("개발자", "Zookeeper 개발자")
                .replace("Senior Backend Engineer", "Zookeeper Engineer");
        });
        fake.remove(vanish);
        let third = sync(&app, &admin, name).await;
        assert_eq!(counts(&third), (0, 1, 1, 1), "{name}: {third}");
        assert_eq!(
            posting_of(&app, name, vanish).await["status"],
            "CLOSED",
            "{name}"
        );
        let p = posting_of(&app, name, change).await;
        assert!(
            p["title"].as_str().unwrap().contains("Zookeeper"),
            "{name}: {p}"
        );
        assert_eq!(p["status"], "OPEN");
        found_first(&app, "zookeeper", p["id"].as_str().unwrap()).await;
        // The change is searchable; restore the word for the next source.
        fake.edit(change, |item| *item = item.replace("Zookeeper ", ""));
        assert_eq!(counts(&sync(&app, &admin, name).await), (0, 1, 0, 1));
    }
    // The fields as mapped, through the API.
    let s = posting_of(&app, "saramin", "41000001").await;
    assert_eq!(
        (s["location"].as_str(), s["district"].as_str()),
        (Some("서울"), Some("강남구")),
        "{s}"
    );
    assert_eq!(s["skills"], json!(["Java", "Spring", "AWS"]));
    assert_eq!(
        (
            s["experience_min"].as_i64(),
            s["experience_max"].as_i64(),
            s["newbie"].as_bool()
        ),
        (Some(3), Some(7), Some(false))
    );
    assert_eq!(s["source"], "saramin");
    let w = posting_of(&app, "work24", "K151612611200002").await;
    assert_eq!(w["employment_type"], "CONTRACT", "{w}");
    let g = posting_of(&app, "acme", "4001002").await;
    assert_eq!(
        (g["employment_type"].as_str(), g["company"].as_str()),
        (Some("INTERN"), Some("Acme")),
        "{g}"
    );
}

async fn an_outage_fails_the_run_and_closes_nothing(backend: Backend) {
    let fake = JobApiFake::start(JobApi::Saramin).await;
    let cfg = fake.config();
    let Some(app) = spawn(backend, move |c| {
        c.careers.sources.insert("saramin".into(), cfg);
    })
    .await
    else {
        return;
    };
    let admin = app.admin("sync-admin@example.com").await;
    assert_eq!(counts(&sync(&app, &admin, "saramin").await), (3, 0, 0, 1));
    // A posting is filled upstream, but the board is down past every retry: the read
    // is incomplete, so nothing is closed (an outage is not an empty board).
    fake.remove("41000001");
    let requests_before = fake.requests();
    fake.fail_next(100, 503);
    let run = sync(&app, &admin, "saramin").await;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("unavailable"),
        "{run}"
    );
    assert_eq!(counts(&run).2, 0, "nothing closed: {run}");
    assert_eq!(stored(&app, "saramin").await, (3, 3));
    assert_eq!(
        fake.requests() - requests_before,
        4,
        "the configured attempts"
    );
    fake.fail_next(0, 503);
    let ok = sync(&app, &admin, "saramin").await;
    assert_eq!(counts(&ok), (0, 0, 1, 1), "{ok}");
}

async fn two_instances_syncing_at_once_do_the_work_once(backend: Backend) {
    let Some(app) = spawn(backend, |c| {
        c.careers.sources.insert(BOARD.into(), fake_board(60, 0));
    })
    .await
    else {
        return;
    };
    let board = app.job_boards[BOARD].clone();
    // A second instance reading the same board, with its own pool on PostgreSQL/MariaDB.
    let (_, other) = surge_careers::module(
        &app.another_instance().await,
        surge_careers::CareersConfig {
            sources: vec![surge_careers::sources::ConfiguredSource {
                name: BOARD.into(),
                source: board.clone(),
                every: None,
            }],
            ..Default::default()
        },
        surge_careers::Ports {
            users: Arc::new(NoDirectory),
            notifier: app.notifier.clone(),
        },
    )
    .unwrap();
    let quiet = surge_careers::sources::Quiet;
    let runs = futures::future::join_all((0..4).flat_map(|_| {
        [
            other
                .sources
                .sync(BOARD, surge_careers::domain::SyncTrigger::Cli, &quiet),
            app.careers
                .sources
                .sync(BOARD, surge_careers::domain::SyncTrigger::Cli, &quiet),
        ]
    }))
    .await;
    let mut done = 0;
    let mut new = 0;
    for r in runs {
        match r {
            Ok(run) => {
                done += 1;
                new += run.new;
                assert_eq!(run.updated + run.closed + run.failed, 0, "{run:?}");
            }
            Err(e) => assert_eq!(e.code, "sync_in_progress", "{e}"),
        }
    }
    assert!(done >= 1);
    assert_eq!(new, 60, "every posting inserted by exactly one run");
    assert_eq!(stored(&app, BOARD).await, (60, 60));
    // The runs did not overlap: each started after the one before it finished.
    let admin = app.admin("sync-admin@example.com").await;
    let (_, list) = app
        .get(
            "/api/v1/careers/sync-runs?source=board&limit=100",
            Some(&admin.access),
        )
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), done, "{list}");
    assert!(items.iter().all(|r| r["status"] == "SUCCEEDED"), "{list}");
    let mut spans: Vec<(String, String)> = items
        .iter()
        .map(|r| {
            (
                r["started_at"].as_str().unwrap().to_owned(),
                r["finished_at"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "overlapping runs {w:?}");
    }
}

async fn admins_start_runs_and_see_them(backend: Backend) {
    let Some(app) = spawn(backend, |c| {
        c.careers.sources.insert(BOARD.into(), fake_board(12, 0));
    })
    .await
    else {
        return;
    };
    let admin = app.admin("sync-admin@example.com").await;
    let user = app.user("job-seeker@example.com", "구직자").await;
    // Admins only.
    for (path, post) in [
        ("/api/v1/careers/sources", false),
        ("/api/v1/careers/sync-runs", false),
        ("/api/v1/careers/sources/board/sync", true),
    ] {
        let (s, b) = if post {
            app.post(path, Some(&user.access), json!({})).await
        } else {
            app.get(path, Some(&user.access)).await
        };
        assert_problem(s, &b, 403, "forbidden");
    }
    let (s, b) = app
        .post("/api/v1/careers/sources/board/sync", None, json!({}))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let (s, b) = app
        .post(
            "/api/v1/careers/sources/nope/sync",
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert_problem(s, &b, 404, "unknown_source");

    let (s, list) = app
        .get("/api/v1/careers/sources", Some(&admin.access))
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(
        list,
        json!([{"name": "board", "kind": "fake", "interval_secs": 0, "last_run": null}])
    );

    // Another instance is mid-run (it holds the lease): 409 until its lease expires.
    let db = &app.app_foundation.db;
    let lease = Query::insert()
        .into_table(Alias::new("careers_leases"))
        .columns([
            Alias::new("name"),
            Alias::new("holder"),
            Alias::new("expires_at"),
        ])
        .values_panic([
            "careers.sync.board".into(),
            "another-instance".into(),
            (app.clock.now_ms() + 60_000).into(),
        ])
        .to_owned();
    db.execute(db.get_database_backend().build(&lease))
        .await
        .unwrap();
    let (s, b) = app
        .post(
            "/api/v1/careers/sources/board/sync",
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert_problem(s, &b, 409, "sync_in_progress");
    // That instance stopped: a minute later its lease is taken over.
    app.clock.advance_secs(61);
    let first = sync(&app, &admin, BOARD).await;
    assert_eq!(counts(&first), (12, 0, 0, 0), "{first}");
    for _ in 0..2 {
        sync(&app, &admin, BOARD).await;
    }
    let (_, list) = app
        .get("/api/v1/careers/sources", Some(&admin.access))
        .await;
    assert_eq!(list[0]["last_run"]["status"], "SUCCEEDED", "{list}");
    assert_eq!(list[0]["last_run"]["new"], 0, "the latest run: {list}");

    // The runs, newest first, in cursor pages.
    let (s, page1) = app
        .get(
            "/api/v1/careers/sync-runs?source=board&limit=2",
            Some(&admin.access),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{page1}");
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = app
        .get(
            &format!("/api/v1/careers/sync-runs?source=board&limit=2&cursor={cursor}"),
            Some(&admin.access),
        )
        .await;
    let last = &page2["items"].as_array().unwrap();
    assert_eq!(last.len(), 1, "{page2}");
    assert_eq!(last[0]["id"], first["id"]);
    assert!(page2.get("next_cursor").is_none(), "{page2}");
    let (_, other) = app
        .get(
            "/api/v1/careers/sync-runs?source=elsewhere",
            Some(&admin.access),
        )
        .await;
    assert_eq!(other["items"], json!([]));
    let (s, b) = app
        .get("/api/v1/careers/sync-runs?cursor=!!", Some(&admin.access))
        .await;
    assert_problem(s, &b, 400, "invalid_cursor");
    let (s, b) = app
        .get(
            &format!("/api/v1/careers/sync-runs/{}", uuid::Uuid::now_v7()),
            Some(&admin.access),
        )
        .await;
    assert_problem(s, &b, 404, "not_found");
}

async fn sources_sync_on_their_schedule(backend: Backend) {
    let Some(app) = spawn(backend, |c| {
        c.careers.sources.insert(BOARD.into(), fake_board(5, 1));
    })
    .await
    else {
        return;
    };
    let admin = app.admin("sync-admin@example.com").await;
    // Due at start (no run yet), then every second.
    let runs = until(|| async {
        let (_, r) = app
            .get(
                "/api/v1/careers/sync-runs?source=board",
                Some(&admin.access),
            )
            .await;
        let ok = r["items"]
            .as_array()
            .is_some_and(|i| i.iter().filter(|r| r["status"] == "SUCCEEDED").count() >= 2);
        ok.then_some(r)
    })
    .await;
    let items = runs["items"].as_array().unwrap();
    assert!(items.iter().all(|r| r["trigger"] == "SCHEDULE"), "{runs}");
    let total_new: i64 = items.iter().map(|r| r["new"].as_i64().unwrap()).sum();
    assert_eq!(total_new, 5, "{runs}");
    assert_eq!(stored(&app, BOARD).await, (5, 5));
}

/// An RSS 2.0 feed (`channel/item` with `title`, `link`, `guid`, `description`,
/// `pubDate`), served with an `ETag`; `If-None-Match` with it answers 304.
const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>테크 블로그</title><link>https://tech.example.com</link><description>개발 이야기</description>
<item><title>당근, Rust로 검색 서버를 다시 쓰다</title><link>https://tech.example.com/posts/1</link><guid>post-1</guid>
<description>&lt;p&gt;당근 검색팀이 &lt;b&gt;Rust&lt;/b&gt;로 옮긴 이야기&lt;/p&gt;</description><pubDate>Mon, 30 Nov 2026 09:00:00 +0900</pubDate></item>
<item><title>Kubernetes 운영 회고</title><link>https://tech.example.com/posts/2</link><guid>post-2</guid>
<description>클러스터 업그레이드에서 배운 것</description><pubDate>Tue, 01 Dec 2026 09:00:00 +0900</pubDate></item>
</channel></rss>"#;

struct ConditionalFeed;

impl wiremock::Respond for ConditionalFeed {
    fn respond(&self, req: &wiremock::Request) -> wiremock::ResponseTemplate {
        let tag = "\"v1\"";
        if req
            .headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            == Some(tag)
        {
            return wiremock::ResponseTemplate::new(304);
        }
        wiremock::ResponseTemplate::new(200)
            .insert_header("etag", tag)
            .insert_header("content-type", "application/rss+xml")
            .set_body_string(RSS)
    }
}

async fn news_is_fetched_conditionally_and_linked_to_companies(backend: Backend) {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/feed.xml"))
        .respond_with(ConditionalFeed)
        .mount(&server)
        .await;
    let mut feed = surge_infra::news::FeedConfig::new(format!("{}/feed.xml", server.uri()));
    feed.interval_secs = 0;
    let Some(app) = spawn(backend, move |c| {
        c.careers.feeds.insert("blog".into(), feed);
    })
    .await
    else {
        return;
    };
    let admin = app.admin("sync-admin@example.com").await;
    common::posting(&app, &admin, json!({"company": "당근"})).await;
    let (s, run) = app
        .post(
            "/api/v1/careers/news/feeds/blog/refresh",
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{run}");
    assert_eq!(
        (run["status"].as_str(), counts(&run)),
        (Some("SUCCEEDED"), (2, 0, 0, 0)),
        "{run}"
    );
    let (_, all) = app.get("/api/v1/careers/news", None).await;
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{all}");
    assert_eq!(items[0]["title"], "Kubernetes 운영 회고", "newest first");
    let (_, daangn) = app
        .get("/api/v1/careers/news?company=%EB%8B%B9%EA%B7%BC", None)
        .await;
    assert_eq!(daangn["items"].as_array().unwrap().len(), 1, "{daangn}");
    assert_eq!(daangn["items"][0]["companies"], json!(["당근"]));
    assert_eq!(
        daangn["items"][0]["summary"], "당근 검색팀이 Rust로 옮긴 이야기",
        "plain text"
    );
    let (_, k8s) = app.get("/api/v1/careers/news?q=kubernetes", None).await;
    assert_eq!(k8s["items"].as_array().unwrap().len(), 1, "{k8s}");
    // Unchanged upstream: a conditional GET answered 304, nothing written.
    let (_, again) = app
        .post(
            "/api/v1/careers/news/feeds/blog/refresh",
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert_eq!(counts(&again), (0, 0, 0, 0), "{again}");
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].headers.get("if-none-match").unwrap(), "\"v1\"");
    let (s, b) = app
        .post(
            "/api/v1/careers/news/feeds/nope/refresh",
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert_problem(s, &b, 404, "unknown_feed");
    let user = app.user("reader@example.com", "독자").await;
    let (s, b) = app
        .post(
            "/api/v1/careers/news/feeds/blog/refresh",
            Some(&user.access),
            json!({}),
        )
        .await;
    assert_problem(s, &b, 403, "forbidden");
}
