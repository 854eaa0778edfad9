//! Posts: written, edited and withdrawn by their author (or an admin), listed as mine,
//! and found near a point: the same set as a brute-force great-circle filter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, TestApp};

async fn all_pages(app: &TestApp, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/community/posts?{query}&limit=13&cursor={c}"),
            None => format!("/api/v1/community/posts?{query}&limit=13"),
        };
        let (s, page) = app.get(&path, None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

matrix! {
    async fn authors_write_edit_and_withdraw_their_posts(app) {
        let a = app.user("writer@example.com", "글쓴이").await;
        let b = app.user("other@example.com", "다른사람").await;
        let admin = app.admin("community-admin@example.com").await;
        let p = post_at(&app, &a, SEOUL.0, SEOUL.1, json!({})).await;
        assert_eq!(p["author"], "글쓴이");
        assert_eq!((p["up"].as_i64(), p["down"].as_i64()), (Some(0), Some(0)));
        assert!(p["my_vote"].is_null());
        assert_eq!(p["images"], json!([]));
        assert!(p.get("distance_m").is_none(), "{p}");
        let path = format!("/api/v1/community/posts/{}", id_of(&p));

        let (s, got) = app.get(&path, None).await;
        assert_eq!(s, StatusCode::OK, "{got}");
        assert_eq!(got["title"], "오늘 하늘 맑음");

        // Only the author or an admin edits; null clears the place name.
        let (s, e) = app.call(Method::PATCH, &path, Some(&b.access), Some(json!({"title": "탈취"}))).await;
        assert_problem(s, &e, 403, "not_author");
        let (s, e) = app.call(Method::PATCH, &path, Some(&a.access), Some(json!({"title": "비 옴", "place_name": null}))).await;
        assert_eq!(s, StatusCode::OK, "{e}");
        assert_eq!(e["title"], "비 옴");
        assert!(e["place_name"].is_null());
        let (s, e) = app.call(Method::PATCH, &path, Some(&admin.access), Some(json!({"latitude": 35.1796, "longitude": 129.0756}))).await;
        assert_eq!(s, StatusCode::OK, "{e}");
        assert_eq!(e["latitude"], 35.1796);
        // Moved: found near Busan now, not near Seoul.
        let near_busan = all_pages(&app, "latitude=35.18&longitude=129.07").await;
        assert_eq!(near_busan.len(), 1);
        assert!(all_pages(&app, &format!("latitude={}&longitude={}", SEOUL.0, SEOUL.1)).await.is_empty());
        let (s, e) = app.call(Method::PATCH, &path, Some(&a.access), Some(json!({"latitude": 35.0}))).await;
        assert_problem(s, &e, 400, "invalid_coordinates");

        // Mine: newest first, by cursor; signed in only.
        let second = post_at(&app, &a, SEOUL.0, SEOUL.1, json!({"title": "두 번째"})).await;
        post_at(&app, &b, SEOUL.0, SEOUL.1, json!({})).await;
        let (s, mine) = app.get("/api/v1/community/posts?mine=true&limit=1", Some(&a.access)).await;
        assert_eq!(s, StatusCode::OK, "{mine}");
        assert_eq!(mine["items"][0]["id"], second["id"]);
        let c = mine["next_cursor"].as_str().unwrap();
        let (_, rest) = app.get(&format!("/api/v1/community/posts?mine=true&limit=1&cursor={c}"), Some(&a.access)).await;
        assert_eq!(rest["items"][0]["id"], p["id"]);
        assert!(rest["next_cursor"].is_null(), "{rest}");
        let (s, e) = app.get("/api/v1/community/posts?mine=true", None).await;
        assert_problem(s, &e, 401, "unauthenticated");

        // Withdrawn: gone for everyone, once.
        let (s, e) = app.call(Method::DELETE, &path, Some(&b.access), None).await;
        assert_problem(s, &e, 403, "not_author");
        assert_eq!(app.call(Method::DELETE, &path, Some(&a.access), None).await.0, StatusCode::NO_CONTENT);
        let (s, e) = app.get(&path, None).await;
        assert_problem(s, &e, 404, "not_found");
        let (s, e) = app.call(Method::DELETE, &path, Some(&admin.access), None).await;
        assert_problem(s, &e, 404, "not_found");
        let (_, mine) = app.get("/api/v1/community/posts?mine=true", Some(&a.access)).await;
        assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");
        assert!(all_pages(&app, "latitude=35.18&longitude=129.07").await.is_empty());
        // An admin withdraws anyone's post.
        let (s, _) = app.call(Method::DELETE, &format!("/api/v1/community/posts/{}", id_of(&second)), Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }

    async fn bad_places_and_radii_are_refused_with_a_code(app) {
        let a = app.user("bad@example.com", "엉터리").await;
        let posts = "/api/v1/community/posts";
        for (lat, lon) in [(91.0, 127.0), (37.0, 180.5), (-90.5, 0.0)] {
            let (s, e) = app.post(posts, Some(&a.access), json!({"title": "t", "body": "b", "latitude": lat, "longitude": lon})).await;
            assert_problem(s, &e, 400, "invalid_coordinates");
        }
        let (s, e) = app.post(posts, Some(&a.access), json!({"title": " ", "body": "b", "latitude": 37, "longitude": 127})).await;
        assert_problem(s, &e, 422, "validation_failed");
        assert_eq!(e["field"], "title");
        let (s, e) = app.post(posts, Some(&a.access), json!({"title": "t", "body": "b", "latitude": 37, "longitude": 127, "image_ids": [uuid::Uuid::new_v4()]})).await;
        assert_problem(s, &e, 422, "validation_failed");
        assert_eq!(e["reason"], "unknown_image");
        let (s, e) = app.post(posts, Some(&a.access), json!({"title": "t", "body": "b", "latitude": "north", "longitude": 127})).await;
        assert_eq!(s.as_u16(), 422, "{e}");
        let (s, e) = app.post(posts, None, json!({"title": "t", "body": "b", "latitude": 37, "longitude": 127})).await;
        assert_problem(s, &e, 401, "unauthenticated");

        for (q, code) in [
            ("latitude=37.5&longitude=127&radius_m=50001", "invalid_radius"),
            ("latitude=37.5&longitude=127&radius_m=0", "invalid_radius"),
            ("latitude=37.5&longitude=127&radius_m=-5", "invalid_radius"),
            ("latitude=95&longitude=127", "invalid_coordinates"),
            ("latitude=37.5", "invalid_coordinates"),
            ("latitude=abc&longitude=127", "invalid_query"),
            ("latitude=NaN&longitude=127", "invalid_coordinates"),
            ("", "location_required"),
            ("latitude=37.5&longitude=127&cursor=zzz", "invalid_cursor"),
            ("latitude=37.5&longitude=127&limit=1000", "invalid_limit"),
        ] {
            let (s, e) = app.get(&format!("{posts}?{q}"), None).await;
            assert_problem(s, &e, 400, code);
        }
        let (s, e) = app.get(&format!("{posts}/{}", uuid::Uuid::new_v4()), None).await;
        assert_problem(s, &e, 404, "not_found");
    }

    /// 5,000 posts around Seoul, many right on geohash cell edges (of every stored
    /// length) or on the searched circles' edges: each radius search, paged to the end,
    /// is exactly the brute-force great-circle filter (points within 1 m of the circle
    /// may fall either way), newest first, with the right distance.
    async fn radius_search_equals_a_brute_force_great_circle_filter(app) {
        let authors = app.quick_users(4).await;
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let mut points: Vec<(f64, f64)> = Vec::new();
        let (lat0, lon0) = SEOUL;
        for i in 0..5_000 {
            let p = match i % 5 {
                // On a cell edge: a grid line of a stored geohash length, ± a few cm.
                0 | 1 => {
                    let len = [4, 5, 6][rng.gen_range(0..3)];
                    let bits: i32 = 5 * len;
                    let (h, w) = (180.0 / 2f64.powi(bits / 2), 360.0 / 2f64.powi((bits + 1) / 2));
                    let jitter = rng.gen_range(-5e-7..5e-7);
                    if rng.gen_bool(0.5) {
                        let k = ((lat0 + 90.0) / h).round() + rng.gen_range(-6..=6) as f64;
                        (-90.0 + k * h + jitter, lon0 + rng.gen_range(-0.12..0.12))
                    } else {
                        let k = ((lon0 + 180.0) / w).round() + rng.gen_range(-6..=6) as f64;
                        (lat0 + rng.gen_range(-0.1..0.1), -180.0 + k * w + jitter)
                    }
                }
                // On a searched circle's edge, ± 20 m.
                2 | 3 => {
                    let r = [300.0, 1_000.0, 5_000.0, 12_000.0][rng.gen_range(0..4)];
                    destination(lat0, lon0, rng.gen_range(0.0..360.0), r + rng.gen_range(-20.0..20.0))
                }
                // Anywhere within ~60 km.
                _ => destination(lat0, lon0, rng.gen_range(0.0..360.0), rng.gen_range(0.0..60_000.0)),
            };
            points.push(p);
        }
        let app_ref = &app;
        let made: Vec<(String, f64, f64)> = futures::stream::iter(points.iter().enumerate())
            .map(|(i, (lat, lon))| {
                let who = &authors[i % authors.len()];
                async move {
                    let (s, r) = app_ref.post("/api/v1/community/posts", Some(&who.access),
                        json!({"title": format!("#{i}"), "body": "b", "latitude": lat, "longitude": lon})).await;
                    assert_eq!(s, StatusCode::CREATED, "{r}");
                    (id_of(&r), *lat, *lon)
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        assert_eq!(made.len(), 5_000);

        let searches = [
            (lat0, lon0, None),
            (lat0, lon0, Some(300.0)),
            (lat0, lon0, Some(1_000.0)),
            (lat0 + 0.01, lon0 - 0.02, Some(2_500.0)),
            (lat0, lon0, Some(12_000.0)),
            (lat0, lon0, Some(50_000.0)),
        ];
        for (lat, lon, radius) in searches {
            let r = radius.unwrap_or(5_000.0);
            let query = match radius {
                Some(r) => format!("latitude={lat}&longitude={lon}&radius_m={r}"),
                None => format!("latitude={lat}&longitude={lon}"),
            };
            let got = all_pages(&app, &query).await;
            let truth: HashMap<&str, f64> = made
                .iter()
                .map(|(id, plat, plon)| (id.as_str(), sphere_distance(lat, lon, *plat, *plon)))
                .collect();
            let mut seen = HashSet::new();
            let mut last: Option<(String, String)> = None;
            for item in &got {
                let id = item["id"].as_str().unwrap();
                assert!(seen.insert(id.to_owned()), "{id} twice ({query})");
                let d = truth[id];
                assert!(d <= r + 1.0, "{id} at {d} m is outside {r} m ({query})");
                let shown = item["distance_m"].as_f64().unwrap();
                assert!((shown - d).abs() <= 1.0, "distance {shown} vs {d}");
                // Newest first: (created_at, id) never increases.
                let key = (item["created_at"].as_str().unwrap().to_owned(), id.to_owned());
                if let Some(prev) = &last {
                    assert!(key < *prev, "order ({query})");
                }
                last = Some(key);
            }
            let must: Vec<&&str> = truth.iter().filter(|(_, d)| **d < r - 1.0).map(|(id, _)| id).collect();
            for id in &must {
                assert!(seen.contains(**id), "{id} at {} m is missing within {r} m ({query})", truth[**id]);
            }
            assert!(!must.is_empty());
        }
    }
}
