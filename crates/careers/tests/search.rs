//! Posting search through the real HTTP server, on every backend: ~40 realistic Korean
//! postings made through the admin API, a relevance table (each query and the posting
//! that must come first), exact facets, highlights, edits and closes followed, and the
//! index rebuilt from the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::NoDirectory;

use std::collections::{BTreeMap, HashMap};

use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{matrix, Session, TestApp};

/// (key, title, company, location, category, skills, newbie, description)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    bool,
    &'static str,
);

#[rustfmt::skip]
const POSTINGS: [Row; 40] = [
    ("backend_dev", "백엔드 개발자", "네이버", "성남", "backend", &["Java", "Spring"], false, "검색 서비스의 API 서버를 설계하고 운영합니다."),
    ("rust_backend", "Rust 백엔드 엔지니어", "당근", "서울", "backend", &["Rust", "PostgreSQL"], false, "대용량 트래픽을 처리하는 서버를 Rust로 만듭니다."),
    ("seoul_newbie", "신입 웹 개발자 채용", "위시켓", "서울", "frontend", &["JavaScript", "React"], true, "서울 강남 사무실에서 함께 성장할 신입을 찾습니다."),
    ("busan_ios", "신입 iOS 개발자", "부산은행", "부산", "mobile", &["Swift", "iOS"], true, "모바일 뱅킹 앱을 개발합니다."),
    ("k8s", "DevOps 엔지니어 (Kubernetes)", "라인", "성남", "devops", &["Kubernetes", "Terraform", "AWS"], false, "Kubernetes 클러스터와 CI/CD 파이프라인을 운영합니다."),
    ("data_engineer", "데이터 엔지니어", "쿠팡", "서울", "data", &["Python", "Spark", "Airflow"], false, "데이터 파이프라인과 데이터 웨어하우스를 구축합니다."),
    ("data_analyst", "데이터 분석가", "배달의민족", "서울", "data", &["SQL", "Python", "Tableau"], false, "주문 데이터를 분석해 의사결정을 돕습니다."),
    ("ml", "머신러닝 엔지니어", "카카오", "성남", "ai", &["Python", "PyTorch"], false, "추천 모델을 학습하고 서빙합니다."),
    ("frontend_react", "프론트엔드 개발자 (React)", "토스", "서울", "frontend", &["TypeScript", "React", "Next.js"], false, "토스 앱의 웹 화면을 만듭니다."),
    ("frontend_vue", "Vue.js 프론트엔드 엔지니어", "야놀자", "서울", "frontend", &["Vue", "JavaScript"], false, "숙박 예약 화면을 개발합니다."),
    ("android", "안드로이드 개발자", "당근", "서울", "mobile", &["Kotlin", "Android"], false, "중고거래 앱의 안드로이드 클라이언트를 개발합니다."),
    ("ios_senior", "시니어 iOS 엔지니어", "토스", "서울", "mobile", &["Swift", "SwiftUI"], false, "금융 앱의 iOS 아키텍처를 설계합니다."),
    ("game_server", "게임 서버 프로그래머", "넥슨", "성남", "game", &["C++", "Redis"], false, "온라인 게임의 서버를 C++로 개발합니다."),
    ("unity", "Unity 클라이언트 개발자", "넷마블", "서울", "game", &["Unity", "C#"], true, "모바일 게임 클라이언트를 개발합니다."),
    ("security", "정보보안 엔지니어", "안랩", "성남", "security", &["Linux", "Network"], false, "보안 관제와 침해사고 대응을 담당합니다."),
    ("qa", "QA 엔지니어", "우아한형제들", "서울", "qa", &["Selenium", "Python"], true, "테스트 자동화로 품질을 지킵니다."),
    ("pm", "프로덕트 매니저 (PM)", "당근", "서울", "product", &[], false, "사용자 문제를 정의하고 제품 로드맵을 이끕니다."),
    ("designer", "UX/UI 디자이너", "토스", "서울", "design", &["Figma"], false, "금융 서비스의 사용자 경험을 디자인합니다."),
    ("go_backend", "Go 서버 개발자", "뱅크샐러드", "서울", "backend", &["Go", "gRPC", "Kafka"], false, "마이크로서비스를 Go로 개발합니다."),
    ("kafka", "메시징 플랫폼 엔지니어", "카카오", "성남", "backend", &["Kafka", "Java"], false, "Kafka 기반 메시징 플랫폼을 운영합니다."),
    ("embedded", "임베디드 소프트웨어 개발자", "삼성전자", "수원", "embedded", &["C", "RTOS"], false, "가전 제품의 펌웨어를 개발합니다."),
    ("blockchain", "블록체인 개발자", "두나무", "서울", "backend", &["Solidity", "Go"], false, "가상자산 거래소의 지갑 시스템을 개발합니다."),
    ("dba", "데이터베이스 관리자 (DBA)", "티몬", "서울", "data", &["MySQL", "Oracle"], false, "데이터베이스 성능 튜닝과 백업을 담당합니다."),
    ("sre", "SRE 엔지니어", "쿠팡", "서울", "devops", &["Kubernetes", "Prometheus"], false, "서비스 안정성과 모니터링을 책임집니다."),
    ("ai_intern", "AI 연구 인턴", "네이버", "성남", "ai", &["Python"], true, "대규모 언어 모델을 연구합니다."),
    ("daejeon", "대전 서버 개발자 (신입)", "대전연구소", "대전", "backend", &["Java"], true, "연구소 서비스의 서버를 개발합니다."),
    ("jeju", "원격 근무 풀스택 개발자", "제주스타트업", "제주", "fullstack", &["Node.js", "React"], false, "제주에서 원격으로 일합니다."),
    ("cto", "CTO (최고기술책임자)", "초기스타트업", "서울", "management", &[], false, "기술 조직을 이끕니다."),
    ("tech_writer", "테크니컬 라이터", "카카오", "성남", "docs", &["Markdown"], false, "개발자 문서를 작성합니다."),
    ("python_newbie", "신입 Python 개발자", "현대오토에버", "경기", "backend", &["Python", "Django"], true, "차량 데이터 플랫폼의 API를 만듭니다."),
    ("spring_senior", "시니어 Spring 개발자", "11번가", "서울", "backend", &["Java", "Spring", "JPA"], false, "커머스 주문 시스템을 개발합니다."),
    ("search", "검색 엔지니어 (Elasticsearch)", "무신사", "서울", "backend", &["Elasticsearch", "Java"], false, "상품 검색의 랭킹을 개선합니다."),
    ("mlops", "MLOps 엔지니어", "업스테이지", "경기", "ai", &["Kubernetes", "Python", "MLflow"], false, "모델 배포 파이프라인을 만듭니다."),
    ("hr", "인사 담당자", "당근", "서울", "hr", &[], false, "채용과 온보딩을 담당합니다."),
    ("marketer", "그로스 마케터", "무신사", "서울", "marketing", &["SQL", "GA4"], false, "데이터 기반으로 마케팅 실험을 설계합니다."),
    ("network", "네트워크 엔지니어", "KT", "대전", "infra", &["Cisco", "Network"], false, "통신망을 설계하고 운영합니다."),
    ("autonomous", "C++ 자율주행 소프트웨어 엔지니어", "42dot", "서울", "embedded", &["C++", "ROS"], false, "자율주행 차량의 인지 소프트웨어를 개발합니다."),
    ("flutter", "Flutter 앱 개발자", "당근", "서울", "mobile", &["Flutter", "Dart"], true, "크로스플랫폼 앱을 개발합니다."),
    ("php", "레거시 PHP 개발자", "옛날회사", "서울", "backend", &["PHP"], false, "PHP 서비스를 유지보수합니다."),
    ("internal", "사내 시스템 개발자", "한화", "서울", "backend", &["C#"], false, "사내 ERP를 개발합니다."),
];

/// (query, the key of the posting that must come first)
const RELEVANCE: [(&str, &str); 30] = [
    ("백엔드 개발자", "backend_dev"),
    ("서울 신입", "seoul_newbie"),
    ("백엔드 개발자를", "backend_dev"),
    ("블록체인 개발자를", "blockchain"),
    ("Rust 백엔드", "rust_backend"),
    ("kubernets", "k8s"),
    ("promethues", "sre"),
    ("elasticsarch", "search"),
    ("데이터 엔지니어", "data_engineer"),
    ("분석가", "data_analyst"),
    ("머신러닝", "ml"),
    ("프론트엔드 React", "frontend_react"),
    ("vue", "frontend_vue"),
    ("안드로이드", "android"),
    ("시니어 iOS", "ios_senior"),
    ("게임 서버", "game_server"),
    ("보안", "security"),
    ("테스트 자동화", "qa"),
    ("프로덕트 매니저", "pm"),
    ("figma", "designer"),
    ("Go 서버", "go_backend"),
    ("kafka 플랫폼", "kafka"),
    ("펌웨어", "embedded"),
    ("DBA", "dba"),
    ("모니터링", "sre"),
    ("인턴", "ai_intern"),
    ("풀스택", "jeju"),
    ("django", "python_newbie"),
    ("JPA", "spring_senior"),
    ("자율주행", "autonomous"),
];

fn hits(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn search(app: &TestApp, query: &str) -> Value {
    let (s, r) = app
        .get(&format!("/api/v1/careers/postings?{query}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{query}: {r}");
    r
}

fn q(words: &str) -> String {
    let mut s = String::from("q=");
    for b in words.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => s.push(b as char),
            _ => s.push_str(&format!("%{b:02X}")),
        }
    }
    s
}

/// Makes the 40 postings; returns the admin and key → id.
async fn seed(app: &TestApp) -> (Session, HashMap<&'static str, String>) {
    let admin = app.admin("search-admin@example.com").await;
    let mut ids = HashMap::new();
    for (i, (key, title, company, location, category, skills, newbie, description)) in
        POSTINGS.iter().enumerate()
    {
        let p = common::posting(
            app,
            &admin,
            json!({
                "title": title, "company": company, "location": location, "category": category,
                "skills": skills, "newbie": newbie, "description": description,
                "experience_min": if *newbie { 0 } else { 2 }, "experience_max": Value::Null,
                "url": format!("https://jobs.example.com/{i}"),
                "posted_at": common::at(app, -(i as i64)),
                "deadline": common::at(app, 24 * 30),
            }),
        )
        .await;
        ids.insert(*key, p["id"].as_str().unwrap().to_owned());
    }
    app.eventually(|| async { app.careers.search.indexed() == POSTINGS.len() as u64 })
        .await;
    (admin, ids)
}

matrix! {
    async fn korean_queries_rank_the_right_posting_first(app) {
        let (_, ids) = seed(&app).await;
        let key_of: HashMap<&String, &str> = ids.iter().map(|(k, v)| (v, *k)).collect();
        let mut wrong = Vec::new();
        for (query, want) in RELEVANCE {
            let r = search(&app, &q(query)).await;
            let got = hits(&r);
            let first = got.first().map(|id| key_of[id]).unwrap_or("(nothing)");
            if first != want {
                let top: Vec<&str> = got.iter().take(3).map(|id| key_of[id]).collect();
                wrong.push(format!("{query:?}: want {want}, got {top:?}"));
            }
        }
        assert!(wrong.is_empty(), "relevance table failed:\n{}", wrong.join("\n"));

        // A particle changes nothing: `개발자를` finds what `개발자` finds, in the same order.
        assert_eq!(hits(&search(&app, &q("개발자를")).await), hits(&search(&app, &q("개발자")).await));
        // The other filters still apply to search results.
        let r = search(&app, &format!("{}&location=%EC%84%B1%EB%82%A8", q("엔지니어"))).await;
        assert!(r["items"].as_array().unwrap().iter().all(|i| i["location"] == "성남"), "{r}");
        assert!(!hits(&r).is_empty());
        // A word found nowhere: no result rather than an error.
        let r = search(&app, &q("zzqxv")).await;
        assert_eq!(r["total"], 0);
    }

    async fn results_carry_highlights_facets_and_pages(app) {
        let (_, ids) = seed(&app).await;
        let r = search(&app, &q("kafka")).await;
        assert_eq!(r["total"], 2, "{r}");
        assert_eq!(hits(&r)[0], ids["kafka"]);
        assert_eq!(r["facets"], json!({
            "category": [{"value": "backend", "count": 2}],
            "skills": [{"value": "Kafka", "count": 2}, {"value": "Go", "count": 1},
                       {"value": "Java", "count": 1}, {"value": "gRPC", "count": 1}],
            "location": [{"value": "서울", "count": 1}, {"value": "성남", "count": 1}],
        }));
        let h = &r["items"][0]["highlights"];
        assert_eq!(h["description"], "<b>Kafka</b> 기반 메시징 플랫폼을 운영합니다.", "{r}");
        assert_eq!(h["title"], "메시징 플랫폼 엔지니어");

        let r = search(&app, &q("백엔드 개발자")).await;
        assert_eq!(r["items"][0]["highlights"]["title"], "<b>백엔드</b> <b>개발자</b>", "{r}");
        // Markup in stored text is escaped; only the marks are HTML.
        let r = search(&app, &q("cto")).await;
        assert_eq!(r["items"][0]["highlights"]["title"], "<b>CTO</b> (최고기술책임자)");

        // Facets count every match, not just the page; pages never repeat or skip.
        let all = search(&app, &format!("{}&limit=100", q("엔지니어"))).await;
        let total = all["total"].as_u64().unwrap();
        assert_eq!(total as usize, hits(&all).len());
        assert!(total > 10, "{all}");
        let mut by_category = BTreeMap::<String, u64>::new();
        for i in all["items"].as_array().unwrap() {
            let p = app.get(&format!("/api/v1/careers/postings/{}", i["id"].as_str().unwrap()), None).await.1;
            *by_category.entry(p["category"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        let facet: BTreeMap<String, u64> = all["facets"]["category"].as_array().unwrap().iter()
            .map(|f| (f["value"].as_str().unwrap().to_owned(), f["count"].as_u64().unwrap())).collect();
        assert_eq!(facet, by_category);
        let mut paged = Vec::new();
        let mut cursor = String::new();
        loop {
            let r = search(&app, &format!("{}&limit=4{cursor}", q("엔지니어"))).await;
            assert_eq!(r["total"], total);
            paged.extend(hits(&r));
            match r["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(paged, hits(&all));

        // Other orders over the same matches.
        let recent = search(&app, &format!("{}&sort=recent&limit=100", q("엔지니어"))).await;
        let mut sorted = hits(&all);
        sorted.sort_by_key(|id| POSTINGS.iter().position(|p| ids[p.0] == *id));
        assert_eq!(hits(&recent), sorted, "posted one hour apart, newest first");
        // Without q: no highlights, the same facets and total over every posting
        // (tests/listing.rs checks both paths agree).
        let r = search(&app, "limit=5").await;
        assert_eq!(r["total"], POSTINGS.len(), "{r}");
        let counted: u64 = r["facets"]["category"].as_array().unwrap().iter().map(|f| f["count"].as_u64().unwrap()).sum();
        assert_eq!(counted, POSTINGS.len() as u64);
        assert!(r["items"][0].get("highlights").is_none());
    }

    async fn edits_and_closes_are_followed(app) {
        let (admin, ids) = seed(&app).await;
        // An edit is searchable once the index has followed it.
        let id = &ids["internal"];
        let (s, r) = app.call(Method::PATCH, &format!("/api/v1/careers/postings/{id}"), Some(&admin.access),
            Some(json!({"title": "Elixir 분산 시스템 개발자"}))).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        app.eventually(|| async { hits(&search(&app, &q("elixir")).await).first() == Some(id) }).await;
        let r = search(&app, &q("elixir")).await;
        assert_eq!(r["items"][0]["highlights"]["title"], "<b>Elixir</b> 분산 시스템 개발자");
        assert!(hits(&search(&app, &q("사내 시스템")).await).contains(id), "description still matches");

        // A closed posting leaves `open=true` results at once (the database filters).
        let php = &ids["php"];
        let (s, _) = app.call(Method::DELETE, &format!("/api/v1/careers/postings/{php}"), Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert!(hits(&search(&app, &format!("{}&open=true", q("php"))).await).is_empty());
        assert!(hits(&search(&app, &q("php")).await).is_empty(), "open=true is the default");
        assert_eq!(&hits(&search(&app, &format!("{}&open=all", q("php"))).await), std::slice::from_ref(php));
    }

    async fn the_index_is_rebuilt_from_the_database(app) {
        let (_, ids) = seed(&app).await;
        let before = ids_of(&app, "Rust 백엔드").await;
        assert_eq!(before[0], ids["rust_backend"]);
        assert_eq!(app.careers.search.rebuild().await.unwrap(), POSTINGS.len() as u64);
        assert_eq!(ids_of(&app, "Rust 백엔드").await, before);

        // Another instance whose index directory is missing builds it at start; one with
        // an index of another schema version rebuilds it.
        let dir = std::env::temp_dir().join(format!("surge-search-test-{}", uuid::Uuid::new_v4()));
        for _ in 0..2 {
            let (_, other) = surge_careers::module(
                &app.app_foundation,
                surge_careers::CareersConfig { index_dir: Some(dir.clone()), ..Default::default() },
                surge_careers::Ports { users: std::sync::Arc::new(NoDirectory), notifier: app.notifier.clone() },
            ).unwrap();
            other.search.ready().await.unwrap();
            assert_eq!(other.search.indexed(), POSTINGS.len() as u64);
            let listing = surge_careers::postings::PostingListing {
                sort: surge_careers::domain::PostingSort::Relevance,
                ..Default::default()
            };
            let page = surge_kernel::page::PageQuery::default();
            let r = other.search.search("Rust 백엔드", &listing, &page).await.unwrap();
            assert_eq!(r.items[0].posting.id.to_string(), ids["rust_backend"]);
            drop(other);
            std::fs::write(dir.join("surge-schema-version"), "0").unwrap();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

matrix! {
    async fn every_instance_indexes_every_change(app) {
        let admin = app.admin("search-admin@example.com").await;
        // A second instance (its own pool, bus client and index directory on
        // PostgreSQL/MariaDB) consuming the changes under its own consumer name.
        let dir = std::env::temp_dir().join(format!("surge-search-test-{}", uuid::Uuid::new_v4()));
        let foundation = app.another_instance().await;
        let (module, other) = surge_careers::module(
            &foundation,
            surge_careers::CareersConfig { index_dir: Some(dir.clone()), ..Default::default() },
            surge_careers::Ports { users: std::sync::Arc::new(NoDirectory), notifier: app.notifier.clone() },
        ).unwrap();
        for s in &module.subscriptions {
            foundation.bus.subscribe(s.consumer, s.topics, s.handler.clone()).await.unwrap();
        }
        other.search.ready().await.unwrap();
        let listing = surge_careers::postings::PostingListing {
            sort: surge_careers::domain::PostingSort::Relevance,
            ..Default::default()
        };
        let page = surge_kernel::page::PageQuery::default();
        let p = common::posting(&app, &admin, json!({"title": "Haskell 컴파일러 엔지니어"})).await;
        let id = p["id"].as_str().unwrap().to_owned();
        // Both indexes follow the change: this instance's and the other's.
        app.eventually(|| async { hits(&search(&app, &q("haskell")).await) == [id.clone()] }).await;
        app.eventually(|| async {
            let r = other.search.search("하스켈 haskell", &listing, &page).await.unwrap();
            r.items.first().map(|i| i.posting.id.to_string()) == Some(id.clone())
        }).await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

matrix! {
    async fn a_change_on_one_instance_is_searchable_on_another_within_2s(app) {
        const WITHIN: std::time::Duration = std::time::Duration::from_secs(2);
        let admin = app.admin("search-admin@example.com").await;
        // A second instance serving HTTP with its own index (PostgreSQL/MariaDB: its own
        // pools, bus client, consumer and background tasks).
        let other = app.another_server().await;
        let client = surge_testkit::reqwest::Client::new();
        let search_on = |url: String| {
            let client = client.clone();
            async move { hits(&client.get(url).send().await.unwrap().json::<Value>().await.unwrap()) }
        };
        // Both indexes built before the clock starts.
        assert!(search_on(other.url(&format!("/api/v1/careers/postings?{}", q("elm")))).await.is_empty());
        let within = |what: &'static str, url: String, want: Vec<String>| {
            let search_on = &search_on;
            async move {
                let started = std::time::Instant::now();
                loop {
                    if search_on(url.clone()).await == want {
                        let took = started.elapsed();
                        eprintln!("{what}: searchable on the other instance after {took:?}");
                        return took;
                    }
                    assert!(started.elapsed() < WITHIN, "{what}: not searchable within {WITHIN:?}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        };
        // Created through this instance, found through the other.
        let p = common::posting(&app, &admin, json!({"title": "Elm 프론트엔드 개발자"})).await;
        let id = p["id"].as_str().unwrap().to_owned();
        let took = within("created", other.url(&format!("/api/v1/careers/postings?{}", q("elm"))), vec![id.clone()]).await;
        assert!(took < WITHIN);
        // Renamed through the other, found by its new word through this one.
        let renamed = client
            .patch(other.url(&format!("/api/v1/careers/postings/{id}")))
            .bearer_auth(&admin.access)
            .json(&json!({"title": "Clojure 프론트엔드 개발자"}))
            .send()
            .await
            .unwrap();
        assert_eq!(renamed.status(), StatusCode::OK);
        let took = within("renamed", app.url(&format!("/api/v1/careers/postings?{}", q("clojure"))), vec![id.clone()]).await;
        assert!(took < WITHIN);
    }
}

async fn ids_of(app: &TestApp, words: &str) -> Vec<String> {
    hits(&search(app, &q(words)).await)
}
