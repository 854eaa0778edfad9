//! Flights, seat maps and cached search through the real HTTP server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures::future::join_all;
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::json;
use surge_testkit::{assert_problem, matrix};

matrix! {
    async fn a_flight_gets_its_seat_map_from_the_layout(app) {
        let admin = app.admin("tkadmin@example.com").await;
        let f = flight(&app, &admin, "gmp", "CJU", 2, 30).await;
        assert_eq!(f["origin"], "GMP", "codes are upper-cased");
        assert_eq!(f["seat_count"], 180);
        assert_eq!(f["min_price"], 89_000);
        let (s, map) = seats(&app, f["id"].as_str().unwrap(), None, None).await;
        assert_eq!(s, StatusCode::OK);
        let map = map.as_array().unwrap();
        assert_eq!(map.len(), 180);
        assert_eq!(map[0]["number"], "1A");
        assert_eq!(map[0]["grade"], "Business");
        assert_eq!(map[0]["price"], 250_000);
        assert_eq!(map[179]["number"], "30F");
        assert_eq!(map[179]["grade"], "Economy");
        assert!(map.iter().all(|s| s["status"] == "available"));

        // Bad input: clear problems, nothing stored.
        let base = json!({"flight_number": "KE1", "origin": "GMP", "destination": "CJU",
            "departs_at": chrono_like(&app, 86_400_000), "arrives_at": chrono_like(&app, 90_000_000),
            "layout": {"rows": 2, "letters": "AB", "grades": [{"name": "Y", "from_row": 1, "to_row": 2, "price": 1000}]}});
        let mut bad = base.clone();
        bad["flight_number"] = json!("KE120");
        bad["origin"] = json!("GM1");
        let (s, e) = app.post("/api/v1/ticketing/flights", Some(&admin.access), bad).await;
        assert_problem(s, &e, 422, "invalid_iata");
        let mut overlap = base.clone();
        overlap["flight_number"] = json!("KE120");
        overlap["layout"]["grades"] = json!([{"name": "C", "from_row": 1, "to_row": 2, "price": 9}, {"name": "Y", "from_row": 2, "to_row": 2, "price": 5}]);
        let (s, e) = app.post("/api/v1/ticketing/flights", Some(&admin.access), overlap).await;
        assert_problem(s, &e, 422, "validation_failed");
        assert!(e["detail"].as_str().unwrap().contains("row 2"), "{e}");
        let mut backwards = base.clone();
        backwards["flight_number"] = json!("KE120");
        backwards["arrives_at"] = json!(chrono_like(&app, 0));
        let (s, e) = app.post("/api/v1/ticketing/flights", Some(&admin.access), backwards).await;
        assert_problem(s, &e, 422, "validation_failed");
        let user = app.user("u@example.com", "손님").await;
        let (s, e) = app.post("/api/v1/ticketing/flights", Some(&user.access), base.clone()).await;
        assert_problem(s, &e, 403, "forbidden");
        let (s, e) = app.get(&format!("/api/v1/ticketing/flights/{}/seats", uuid::Uuid::new_v4()), None).await;
        assert_problem(s, &e, 404, "not_found");
    }

    async fn search_filters_sorts_pages_and_sees_changes(app) {
        let admin = app.admin("tkadmin@example.com").await;
        let mut ids = Vec::new();
        for day in 1..=5 {
            ids.push(flight(&app, &admin, "GMP", "CJU", day, 2 + day as u32).await["id"].as_str().unwrap().to_owned());
        }
        flight(&app, &admin, "PUS", "CJU", 1, 2).await;
        let (s, page) = app.get("/api/v1/ticketing/flights?origin=gmp&destination=CJU&limit=2", None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["id"], ids[0].as_str(), "earliest departure first");
        let cursor = page["next_cursor"].as_str().unwrap();
        let (_, next) = app.get(&format!("/api/v1/ticketing/flights?origin=GMP&destination=CJU&limit=2&cursor={cursor}"), None).await;
        assert_eq!(next["items"][0]["id"], ids[2].as_str());
        let (_, all) = app.get("/api/v1/ticketing/flights?destination=CJU&limit=100", None).await;
        assert_eq!(all["items"].as_array().unwrap().len(), 6);
        let (_, by_price) = app.get("/api/v1/ticketing/flights?origin=GMP&sort=price&limit=100", None).await;
        let prices: Vec<i64> = by_price["items"].as_array().unwrap().iter().map(|f| f["min_price"].as_i64().unwrap()).collect();
        assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");
        let date = chrono_like(&app, 3 * 86_400_000)[..10].to_owned();
        let (_, window) = app.get(&format!("/api/v1/ticketing/flights?origin=GMP&from={date}&to={date}"), None).await;
        assert_eq!(window["items"].as_array().unwrap().len(), 1, "{window}");
        assert_eq!(window["items"][0]["id"], ids[2].as_str());
        let (s, e) = app.get("/api/v1/ticketing/flights?origin=SEOUL", None).await;
        assert_problem(s, &e, 422, "invalid_iata");

        // A change is visible at once: moving a flight, cancelling another.
        let (s, moved) = app.call(Method::PATCH, &format!("/api/v1/ticketing/flights/{}", ids[0]), Some(&admin.access),
            Some(json!({"departs_at": chrono_like(&app, 10 * 86_400_000), "arrives_at": chrono_like(&app, 10 * 86_400_000 + 3_600_000)}))).await;
        assert_eq!(s, StatusCode::OK, "{moved}");
        app.post(&format!("/api/v1/ticketing/flights/{}/cancel", ids[1]), Some(&admin.access), json!({})).await;
        let (_, after) = app.get("/api/v1/ticketing/flights?origin=GMP&destination=CJU&limit=2", None).await;
        assert_eq!(after["items"][0]["id"], ids[2].as_str(), "{after}");
    }

    async fn a_stampede_of_identical_searches_computes_once(app) {
        let admin = app.admin("tkadmin@example.com").await;
        flight(&app, &admin, "GMP", "PUS", 1, 2).await;
        // A fixed `from`: without it the search starts at "now" rounded to the minute,
        // and a burst that straddles a minute boundary is two different searches.
        let url = format!("/api/v1/ticketing/flights?origin=GMP&destination=PUS&from={}", &chrono_like(&app, 0)[..10]);
        let before = app.ticketing.flights.search_loads();
        let answers = join_all((0..100).map(|_| app.get(&url, None))).await;
        assert!(answers.iter().all(|(s, p)| *s == StatusCode::OK && p["items"].as_array().unwrap().len() == 1));
        assert_eq!(app.ticketing.flights.search_loads() - before, 1, "one recomputation for 100 concurrent searches");
        flight(&app, &admin, "GMP", "PUS", 2, 2).await;
        let (_, p) = app.get(&url, None).await;
        assert_eq!(p["items"].as_array().unwrap().len(), 2, "a new flight ends the cached answer");
        assert_eq!(app.ticketing.flights.search_loads() - before, 2);
    }
}
