//! The `JobSource` adapters: each passes the contract suite against a local fake of its
//! API (fixtures of the documented shapes, `surge_testkit::job_boards`), maps the fields
//! careers stores, retries outages and rate limits with back-off, and never shows its
//! key in an error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use surge_infra::jobs::greenhouse::Greenhouse;
use surge_infra::jobs::saramin::Saramin;
use surge_infra::jobs::work24::Work24;
use surge_infra::jobs::{build, FakeJobBoard, JobSourceConfig};
use surge_kernel::jobs::{JobKind, JobSource, JobSourceError, SourcePosting};
use surge_testkit::contracts::job_source::read_all;
use surge_testkit::job_boards::{JobApi, JobApiFake, FAKE_KEY};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

surge_testkit::job_source_contract!(fake_board, async { Some(FakeJobBoard::seeded(7, 45, 10)) });

surge_testkit::job_source_contract!(saramin, async {
    let fake = JobApiFake::start(JobApi::Saramin).await;
    Some((Saramin::new(&fake.config()).unwrap(), fake))
});

surge_testkit::job_source_contract!(work24, async {
    let fake = JobApiFake::start(JobApi::Work24).await;
    Some((Work24::new(&fake.config()).unwrap(), fake))
});

surge_testkit::job_source_contract!(greenhouse, async {
    let fake = JobApiFake::start(JobApi::Greenhouse).await;
    Some((Greenhouse::new(&fake.config()).unwrap(), fake))
});

fn by_id<'a>(all: &'a [SourcePosting], id: &str) -> &'a SourcePosting {
    all.iter()
        .find(|p| p.source_id == id)
        .unwrap_or_else(|| panic!("{id} in {all:?}"))
}

/// 23:59:59 KST of a day, in ms.
fn kst_end(y: i32, m: u32, d: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(23, 59, 59)
        .unwrap()
        .and_utc()
        .timestamp_millis()
        - 9 * 3_600_000
}

#[tokio::test]
async fn saramin_fields_map_to_postings() {
    let fake = JobApiFake::start(JobApi::Saramin).await;
    let (all, failed) = read_all(&Saramin::new(&fake.config()).unwrap())
        .await
        .unwrap();
    assert_eq!((all.len(), failed), (3, 1));
    let senior = by_id(&all, "41000001");
    assert_eq!(senior.title, "백엔드 서버 개발자 (Java/Spring) 경력 채용");
    assert_eq!(senior.company, "(주)가나소프트");
    assert_eq!(
        (senior.location.as_str(), senior.district.as_str()),
        ("서울", "강남구")
    );
    assert_eq!(senior.category, "백엔드/서버개발");
    assert_eq!(senior.skills, ["Java", "Spring", "AWS"]);
    assert_eq!(
        (senior.experience_min, senior.experience_max, senior.newbie),
        (3, Some(7), false)
    );
    assert_eq!(senior.kind, JobKind::FullTime);
    assert_eq!(senior.deadline, Some(1_893_455_999_000));
    assert_eq!(senior.posted_at, Some(1_793_500_000_000));
    assert!(
        senior.description.contains("회사내규에 따름"),
        "{}",
        senior.description
    );
    let newbie = by_id(&all, "41000002");
    assert_eq!(
        (newbie.experience_min, newbie.experience_max, newbie.newbie),
        (0, Some(0), true)
    );
    assert_eq!(newbie.kind, JobKind::Intern);
    assert_eq!(newbie.district, "마포구", "the first of several locations");
    let data = by_id(&all, "41000003");
    assert_eq!(
        (data.experience_min, data.experience_max, data.newbie),
        (0, Some(5), true)
    );
    assert_eq!(data.kind, JobKind::Contract);
    assert_eq!(data.deadline, None, "상시: open until filled");
    assert_eq!(
        (data.location.as_str(), data.district.as_str()),
        ("경기", "성남시")
    );
    // The documented parameters: the key, 0-based pages of `count`.
    let reqs = fake.server.received_requests().await.unwrap();
    let q: Vec<String> = reqs
        .iter()
        .map(|r| r.url.query().unwrap_or_default().to_owned())
        .collect();
    assert!(
        q[0].contains("start=0")
            && q[0].contains("count=2")
            && q[0].contains(&format!("access-key={FAKE_KEY}")),
        "{q:?}"
    );
    assert!(q[1].contains("start=1"), "{q:?}");
    assert_eq!(q.len(), 2);
}

#[tokio::test]
async fn work24_fields_map_to_postings() {
    let fake = JobApiFake::start(JobApi::Work24).await;
    let (all, failed) = read_all(&Work24::new(&fake.config()).unwrap())
        .await
        .unwrap();
    assert_eq!((all.len(), failed), (3, 1));
    let rust = by_id(&all, "K151612611200001");
    assert_eq!(rust.company, "주식회사 사아랩");
    assert_eq!(
        (rust.location.as_str(), rust.district.as_str()),
        ("서울", "강남구")
    );
    assert_eq!(
        (rust.experience_min, rust.experience_max, rust.newbie),
        (3, None, false)
    );
    assert_eq!(rust.kind, JobKind::FullTime);
    assert_eq!(rust.skills, ["Rust"]);
    assert_eq!(rust.deadline, Some(kst_end(2030, 1, 31)));
    assert_eq!(rust.category, "응용 소프트웨어 개발 및 공급업");
    let shop = by_id(&all, "K151612611200002");
    assert_eq!(
        (shop.experience_min, shop.experience_max, shop.newbie),
        (0, Some(0), true)
    );
    assert_eq!(shop.kind, JobKind::Contract);
    assert_eq!(
        shop.deadline,
        Some(kst_end(2030, 2, 28)),
        "채용시까지 with a date"
    );
    let lab = by_id(&all, "K151612611200003");
    assert_eq!(
        (lab.experience_min, lab.experience_max, lab.newbie),
        (0, None, true)
    );
    assert_eq!(lab.kind, JobKind::PartTime);
    assert_eq!(lab.skills, ["Python"]);
    let reqs = fake.server.received_requests().await.unwrap();
    let q = reqs[0].url.query().unwrap_or_default().to_owned();
    for want in [
        "callTp=L",
        "returnType=XML",
        "startPage=1",
        "display=2",
        "authKey=",
    ] {
        assert!(q.contains(want), "{want} in {q}");
    }
}

#[tokio::test]
async fn greenhouse_fields_map_to_postings() {
    let fake = JobApiFake::start(JobApi::Greenhouse).await;
    let (all, failed) = read_all(&Greenhouse::new(&fake.config()).unwrap())
        .await
        .unwrap();
    assert_eq!((all.len(), failed), (3, 1));
    let senior = by_id(&all, "4001001");
    assert_eq!(senior.company, "Acme");
    assert_eq!(
        (senior.location.as_str(), senior.district.as_str()),
        ("Seoul", "South Korea")
    );
    assert_eq!(senior.category, "Engineering");
    assert_eq!(
        senior.description,
        "We run Rust services on Kubernetes & PostgreSQL.\nDesign APIs\nOwn on-call"
    );
    assert_eq!(senior.skills, ["Rust", "PostgreSQL", "Kubernetes"]);
    assert_eq!((senior.experience_min, senior.newbie), (5, false));
    assert_eq!(
        senior.posted_at,
        Some(
            chrono::DateTime::parse_from_rfc3339("2026-11-02T09:00:00-05:00")
                .unwrap()
                .timestamp_millis()
        )
    );
    let intern = by_id(&all, "4001002");
    assert_eq!((intern.kind, intern.newbie), (JobKind::Intern, true));
    assert_eq!(intern.skills, ["TypeScript", "React"]);
    assert_eq!(
        intern.posted_at,
        Some(
            chrono::DateTime::parse_from_rfc3339("2026-11-26T08:00:00-05:00")
                .unwrap()
                .timestamp_millis()
        ),
        "updated_at without first_published"
    );
    let req = &fake.server.received_requests().await.unwrap()[0];
    assert_eq!(req.url.path(), "/v1/boards/acme/jobs");
    assert_eq!(req.url.query(), Some("content=true"));
}

#[tokio::test]
async fn outages_and_rate_limits_are_retried_with_backoff() {
    let fake = JobApiFake::start(JobApi::Saramin).await;
    let source = Saramin::new(&fake.config()).unwrap();
    fake.fail_next(2, 503);
    let (all, _) = read_all(&source).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(fake.requests(), 4, "two refused attempts, then both pages");
    fake.fail_next(1, 429);
    assert_eq!(read_all(&source).await.unwrap().0.len(), 3);
    assert_eq!(fake.requests(), 7);
}

#[tokio::test]
async fn a_lasting_outage_fails_after_the_attempts_without_the_key() {
    let fake = JobApiFake::start(JobApi::Work24).await;
    let source = Work24::new(&fake.config()).unwrap();
    fake.fail_next(100, 500);
    let started = std::time::Instant::now();
    let err = source.page(None).await.unwrap_err();
    assert!(matches!(err, JobSourceError::Unavailable { .. }), "{err}");
    assert_eq!(fake.requests(), 4, "the configured attempts");
    // 10 + 20 + 40 ms of back-off.
    assert!(started.elapsed() >= Duration::from_millis(70));
    assert!(!err.to_string().contains(FAKE_KEY), "{err}");
}

#[tokio::test]
async fn a_bad_key_is_refused_at_once_and_not_shown() {
    for api in [JobApi::Saramin, JobApi::Work24] {
        let fake = JobApiFake::start(api).await;
        let mut cfg = fake.config();
        cfg.key = Some("wrong-key-secret".to_owned().into());
        let source = build(&cfg).unwrap().source;
        let err = source.page(None).await.unwrap_err();
        assert!(
            matches!(err, JobSourceError::Refused { .. }),
            "{api:?}: {err}"
        );
        assert_eq!(fake.requests(), 1, "{api:?}: a refusal is not retried");
        assert!(!err.to_string().contains("wrong-key-secret"), "{err}");
    }
}

#[tokio::test]
async fn a_slow_board_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/boards/slow/jobs"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(5))
                .set_body_string("{\"jobs\":[]}"),
        )
        .mount(&server)
        .await;
    let mut cfg = JobSourceConfig::new("greenhouse");
    cfg.board = Some("slow".into());
    cfg.base_url = Some(server.uri());
    cfg.timeout_secs = 1;
    cfg.attempts = 1;
    let started = std::time::Instant::now();
    let err = build(&cfg).unwrap().source.page(None).await.unwrap_err();
    assert!(matches!(err, JobSourceError::Unavailable { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_garbled_answer_is_malformed_not_an_empty_board() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .mount(&server)
        .await;
    let mut cfg = JobSourceConfig::new("saramin");
    cfg.base_url = Some(server.uri());
    cfg.key = Some("k".to_owned().into());
    let err = build(&cfg).unwrap().source.page(None).await.unwrap_err();
    assert!(matches!(err, JobSourceError::Malformed { .. }), "{err}");
}

#[test]
fn configuration_is_checked() {
    assert!(
        build(&JobSourceConfig::new("saramin")).is_err(),
        "a key is required"
    );
    assert!(
        build(&JobSourceConfig::new("greenhouse")).is_err(),
        "a board is required"
    );
    assert!(build(&JobSourceConfig::new("linkedin")).is_err());
    let mut gh = JobSourceConfig::new("greenhouse");
    gh.board = Some("../etc".into());
    assert!(
        build(&gh).is_err(),
        "a board token is letters, digits, - and _"
    );
    let fake = build(&JobSourceConfig::new("fake")).unwrap();
    assert_eq!(fake.source.kind(), "fake");
    assert!(fake.fake.is_some());
}
