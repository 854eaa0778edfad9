//! The posting list with and without `q`, through the real server on every backend:
//! the same facets and total for the same filters on both paths, every order on both
//! paths with cursor pages that never repeat or skip, `open=true` by default, and the
//! benchmark's generated postings loaded twice without duplicates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, TestApp};

fn ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of `query` (2 at a time): the ids in order, and the first page's answer.
async fn every_page(app: &TestApp, query: &str) -> (Vec<String>, Value) {
    let mut seen = Vec::new();
    let mut first = None;
    let mut cursor = String::new();
    loop {
        let (s, page) = app
            .get(
                &format!("/api/v1/careers/postings?{query}&limit=2{cursor}"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{query}: {page}");
        seen.extend(ids(&page));
        first.get_or_insert(page.clone());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return (seen, first.unwrap()),
        }
    }
}

async fn total(app: &TestApp, query: &str) -> Value {
    app.get(&format!("/api/v1/careers/postings?{query}"), None)
        .await
        .1["total"]
        .clone()
}

/// value -> count of one facet of an answer.
fn facet(v: &Value, name: &str) -> BTreeMap<String, u64> {
    v["facets"][name]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|f| {
            (
                f["value"].as_str().unwrap().to_owned(),
                f["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

matrix! {
    async fn facets_total_and_orders_agree_with_and_without_q(app) {
        let admin = app.admin("listing-admin@example.com").await;
        // 10 postings, every title with "개발자": 2 past their deadline, 1 closed by hand,
        // 1 without a deadline; posted an hour apart.
        let mut made = Vec::new();
        for i in 0..10i64 {
            let deadline = match i {
                3 => Value::Null,
                7 | 8 => json!(at(&app, -24 * (i - 6))),
                _ => json!(at(&app, 24 * (20 - i))),
            };
            let category = ["backend", "frontend", "data"][i as usize % 3];
            let p = posting(&app, &admin, json!({
                "title": format!("개발자 {i}"),
                "posted_at": at(&app, -20 + i),
                "deadline": deadline,
                "category": category,
                "location": if i < 6 { "서울" } else { "부산" },
                "skills": if i % 2 == 0 { json!(["Rust", "Kafka"]) } else { json!(["TypeScript"]) },
            })).await;
            made.push(p["id"].as_str().unwrap().to_owned());
        }
        let closed = &made[9];
        let (s, _) = app.call(Method::DELETE, &format!("/api/v1/careers/postings/{closed}"), Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        // The index has followed every change once the counts include them.
        app.eventually(|| async {
            total(&app, "open=false").await == 3 && total(&app, "open=all").await == 10 && total(&app, "open=true").await == 7
        }).await;

        // open=true is the default: 7 postings; open=all: 10.
        let (open, first) = every_page(&app, "sort=recent").await;
        assert_eq!(first["total"], 7, "{first}");
        let want_open: Vec<String> = [6, 5, 4, 3, 2, 1, 0].iter().map(|i| made[*i].clone()).collect();
        assert_eq!(open, want_open);
        assert_eq!(every_page(&app, "sort=recent&open=true").await.0, want_open);
        let (all, first) = every_page(&app, "open=all").await;
        assert_eq!((all.len(), first["total"].as_u64()), (10, Some(10)));
        assert_eq!(first["facets"]["location"], json!([{"value": "서울", "count": 6}, {"value": "부산", "count": 4}]));

        // The same filters give the same total and facets with and without words.
        for filters in ["", "&open=all", "&open=false", "&category=backend", "&location=%EB%B6%80%EC%82%B0&open=all", "&skills=rust", "&skills=rust,kafka&category=data&open=all"] {
            let (without, a) = every_page(&app, &format!("sort=recent{filters}")).await;
            let (with, b) = every_page(&app, &format!("q=%EA%B0%9C%EB%B0%9C%EC%9E%90&sort=recent{filters}")).await;
            assert_eq!(without, with, "{filters}: the same postings in the same order");
            assert_eq!(a["total"], b["total"], "{filters}");
            assert_eq!(a["total"].as_u64().unwrap() as usize, without.len(), "{filters}");
            for name in ["category", "skills", "location"] {
                assert_eq!(facet(&a, name), facet(&b, name), "{filters}: {name}");
            }
            // The facets count what the pages hold.
            let mut by_category = BTreeMap::<String, u64>::new();
            for id in &without {
                let p = app.get(&format!("/api/v1/careers/postings/{id}"), None).await.1;
                *by_category.entry(p["category"].as_str().unwrap().to_owned()).or_default() += 1;
            }
            assert_eq!(facet(&a, "category"), by_category, "{filters}");
            assert!(b["items"][0].get("highlights").is_some() || without.is_empty());
        }

        // Every order, with and without q.
        let deadline_order: Vec<String> = [6, 5, 4, 2, 1, 0, 3].iter().map(|i| made[*i].clone()).collect();
        for q in ["", "q=%EA%B0%9C%EB%B0%9C%EC%9E%90&"] {
            assert_eq!(every_page(&app, &format!("{q}sort=deadline")).await.0, deadline_order, "{q}");
            assert_eq!(every_page(&app, &format!("{q}sort=recent")).await.0, want_open, "{q}");
            let (relevance, _) = every_page(&app, &format!("{q}sort=relevance")).await;
            let mut sorted = relevance.clone();
            sorted.sort();
            let mut expected = want_open.clone();
            expected.sort();
            assert_eq!(sorted, expected, "{q}: relevance pages hold every match once");
        }
        // Without words relevance is recency; with equal scores the newer posting first.
        assert_eq!(every_page(&app, "sort=relevance").await.0, want_open);
        assert_eq!(every_page(&app, "q=%EA%B0%9C%EB%B0%9C%EC%9E%90&sort=relevance").await.0, want_open);

        // A closed posting leaves the page at once, before the index follows.
        let gone = &made[6];
        app.call(Method::DELETE, &format!("/api/v1/careers/postings/{gone}"), Some(&admin.access), None).await;
        let (_, r) = app.get("/api/v1/careers/postings?limit=20", None).await;
        assert!(!ids(&r).contains(gone), "{r}");
        app.eventually(|| async { app.get("/api/v1/careers/postings", None).await.1["total"] == 6 }).await;

        let (s, e) = app.get("/api/v1/careers/postings?open=maybe", None).await;
        assert_eq!(s.as_u16(), 400, "{e}");
        let (s, e) = app.get("/api/v1/careers/postings?q=x&cursor=garbage!", None).await;
        assert_problem(s, &e, 400, "invalid_cursor");
    }

    async fn generated_postings_load_once_and_are_searchable(app) {
        let g = &app.careers.generator;
        assert_eq!(g.generate(700, |_| {}).await.unwrap(), 700);
        assert_eq!(g.generate(750, |_| {}).await.unwrap(), 50, "only the missing ones");
        // The reindex progress bar's callback: 500 at a time, up to all of them.
        let seen = std::sync::Mutex::new(Vec::new());
        let indexed = app.careers.search.rebuild_with(|done, total| seen.lock().unwrap().push((done, total))).await;
        assert_eq!(indexed.unwrap(), 750);
        assert_eq!(seen.into_inner().unwrap(), [(500, 750), (750, 750)]);
        let (_, all) = app.get("/api/v1/careers/postings?open=all&limit=1", None).await;
        assert_eq!(all["total"], 750);
        let (_, open) = app.get("/api/v1/careers/postings?limit=1", None).await;
        let open = open["total"].as_u64().unwrap();
        assert!((500..700).contains(&open), "about one in seven is past its deadline: {open}");
        let (_, r) = app.get("/api/v1/careers/postings?q=%EB%B0%B1%EC%97%94%EB%93%9C&location=%ED%8C%90%EA%B5%90", None).await;
        assert!(r["total"].as_u64().unwrap() > 0, "{r}");
        assert!(r["items"].as_array().unwrap().iter().all(|i| i["location"] == "판교"), "{r}");
        assert_eq!(facet(&r, "location").into_keys().collect::<Vec<_>>(), ["판교"]);
    }
}
