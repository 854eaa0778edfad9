//! Audit findings on ticketing: no hoarding of unpaid seats outside sales, and flight
//! search cache keys built from parsed values.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures::future::join_all;
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::json;
use surge_testkit::{assert_problem, matrix};

matrix! {
    async fn one_traveller_keeps_at_most_four_unpaid_seats_on_a_flight(app) {
        let admin = app.admin("hoard-admin@example.com").await;
        let f = flight(&app, &admin, "GMP", "CJU", 3, 4).await; // 24 seats, no sale
        let fid = f["id"].as_str().unwrap().to_owned();
        let (_, map) = seats(&app, &fid, None, None).await;
        let a = app.user("hoarder@example.com", "hoarder").await;
        let (s, h1) = hold(&app, &a, "k1", &fid, &[seat_id(&map, "2A"), seat_id(&map, "2B")], None).await;
        assert_eq!(s, StatusCode::CREATED, "{h1}");
        let (s, _) = hold(&app, &a, "k2", &fid, &[seat_id(&map, "2C"), seat_id(&map, "2D")], None).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, e) = hold(&app, &a, "k3", &fid, &[seat_id(&map, "3A")], None).await;
        assert_problem(s, &e, 409, "hold_limit");
        assert_eq!(e["seats_held"], 4);
        // Paid seats are no longer held: the allowance comes back.
        let (s, paid) = pay(&app, &a, h1["id"].as_str().unwrap()).await;
        assert_eq!(s, StatusCode::OK, "{paid}");
        let (s, _) = hold(&app, &a, "k4", &fid, &[seat_id(&map, "3A")], None).await;
        assert_eq!(s, StatusCode::CREATED);

        // In parallel, one traveller still ends with at most four held seats.
        let b = app.user("parallel@example.com", "parallelhoarder").await;
        let numbers = ["4A", "4B", "4C", "4D", "4E", "4F", "3B", "3C"];
        let answers = join_all(numbers.iter().enumerate().map(|(i, n)| {
            let (app, b, fid, map) = (&app, &b, &fid, &map);
            async move { hold(app, b, &format!("p{i}"), fid, &[seat_id(map, n)], None).await }
        }))
        .await;
        let held = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
        assert_eq!(held, 4, "{answers:?}");
        assert!(answers.iter().all(|(s, b)| *s == StatusCode::CREATED || b["code"] == "hold_limit"), "{answers:?}");
    }

    async fn a_respelled_cursor_is_the_same_cached_search(app) {
        let admin = app.admin("cursor-admin@example.com").await;
        for d in 1..=3 {
            flight(&app, &admin, "GMP", "PUS", d, 2).await;
        }
        let (s, page) = app.get("/api/v1/ticketing/flights?origin=GMP&destination=PUS&limit=1", None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let cursor = page["next_cursor"].as_str().unwrap().to_owned();
        let raw = surge_kernel::page::PageQuery { cursor: Some(cursor.clone()), limit: None }
            .cursor().unwrap().unwrap();
        let padded = surge_kernel::page::encode_cursor(&format!("{}{raw}", "0".repeat(300)));
        // A fixed `from`, so a minute boundary between the two calls cannot make them
        // two searches.
        let day = &chrono_like(&app, 0)[..10];
        let loads = app.ticketing.flights.search_loads();
        let (s, second) = app.get(&format!("/api/v1/ticketing/flights?origin=GMP&destination=PUS&from={day}&limit=1&cursor={cursor}"), None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, same) = app.get(&format!("/api/v1/ticketing/flights?origin=GMP&destination=PUS&from={day}&limit=1&cursor={padded}"), None).await;
        assert_eq!(s, StatusCode::OK, "{same}");
        assert_eq!(same, second);
        assert_eq!(app.ticketing.flights.search_loads(), loads + 1, "one computation for both spellings");
        // A cursor far longer than any we hand out is refused outright.
        let huge = surge_kernel::page::encode_cursor(&format!("{}{raw}", "0".repeat(30_000)));
        let (s, e) = app.get(&format!("/api/v1/ticketing/flights?origin=GMP&destination=PUS&limit=1&cursor={huge}"), None).await;
        assert_problem(s, &e, 400, "invalid_cursor");
    }

    async fn a_queue_stream_ends_when_its_session_does(app) {
        use futures::StreamExt;
        let admin = app.admin("queue-admin@example.com").await;
        let f = flight(&app, &admin, "GMP", "CJU", 8, 2).await;
        let (s, sale) = app.post("/api/v1/ticketing/sales", Some(&admin.access),
            json!({"flight_id": f["id"], "admission_rate": 1, "max_active": 1, "pass_ttl_secs": 60})).await;
        assert_eq!(s, StatusCode::CREATED, "{sale}");
        let sale = sale["id"].as_str().unwrap().to_owned();
        let (a, b) = (app.user("q-first@example.com", "qfirst").await, app.user("q-second@example.com", "qsecond").await);
        app.post(&format!("/api/v1/ticketing/sales/{sale}/queue"), Some(&a.access), json!({})).await;
        app.post(&format!("/api/v1/ticketing/sales/{sale}/queue"), Some(&b.access), json!({})).await;
        let res = app.client
            .get(app.url(&format!("/api/v1/ticketing/sales/{sale}/queue/stream?access_token={}", b.access)))
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let (s, _) = app.post("/api/v1/identity/logout", Some(&b.access), json!({})).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let mut body = res.bytes_stream();
        let ended = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while let Some(Ok(_)) = body.next().await {}
        }).await;
        assert!(ended.is_ok(), "the queue stream outlived its session");
    }
}
