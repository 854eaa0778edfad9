//! The virtual waiting room through the real HTTP server: FIFO admission at a rate,
//! never more than `max_active` inside, and signed passes guarding the seat map and
//! holds. Embedded runs the in-memory store; the PostgreSQL/MariaDB runs use Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures::future::join_all;
use futures::StreamExt;
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, Session, TestApp};

async fn open_sale(
    app: &TestApp,
    admin: &Session,
    flight: &str,
    rate: u32,
    max_active: u32,
) -> String {
    let (s, sale) = app
        .post("/api/v1/ticketing/sales", Some(&admin.access),
            json!({"flight_id": flight, "admission_rate": rate, "max_active": max_active, "pass_ttl_secs": 60}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sale}");
    sale["id"].as_str().unwrap().to_owned()
}

async fn me(app: &TestApp, sale: &str, who: &Session) -> Value {
    app.get(
        &format!("/api/v1/ticketing/sales/{sale}/queue/me"),
        Some(&who.access),
    )
    .await
    .1
}

/// Waits for the traveller's admission and returns their pass.
async fn admitted_pass(app: &TestApp, sale: &str, who: &Session) -> String {
    let pass = std::sync::Mutex::new(None);
    app.eventually(|| async {
        let v = me(app, sale, who).await;
        let admitted = v["status"] == "admitted";
        if admitted {
            *pass.lock().unwrap() = Some(v["pass"].as_str().unwrap().to_owned());
        }
        admitted
    })
    .await;
    pass.into_inner().unwrap().unwrap()
}

matrix! {
    async fn passes_guard_the_seat_map_and_holds(app) {
        let admin = app.admin("tkadmin@example.com").await;
        let f = flight(&app, &admin, "GMP", "CJU", 7, 3).await;
        let fid = f["id"].as_str().unwrap();
        let (_, map) = seats(&app, fid, None, None).await;
        let sale = open_sale(&app, &admin, fid, 50, 10).await;
        let (s, e) = app.post("/api/v1/ticketing/sales", Some(&admin.access),
            json!({"flight_id": fid, "admission_rate": 5, "max_active": 5, "pass_ttl_secs": 60})).await;
        assert_problem(s, &e, 409, "sale_already_open");
        let (a, b) = (app.user("a@example.com", "줄선이").await, app.user("b@example.com", "새치기").await);
        let (s, e) = app.post("/api/v1/ticketing/sales", Some(&a.access),
            json!({"flight_id": fid, "admission_rate": 5, "max_active": 5, "pass_ttl_secs": 60})).await;
        assert_problem(s, &e, 403, "forbidden");

        let (s, e) = seats(&app, fid, Some(&a), None).await;
        assert_problem(s, &e, 403, "not_admitted");
        assert_eq!(e["sale_id"], sale.as_str());
        let (_, detail) = app.get(&format!("/api/v1/ticketing/flights/{fid}"), None).await;
        assert_eq!(detail["open_sale_id"], sale.as_str());
        let (s, joined) = app.post(&format!("/api/v1/ticketing/sales/{sale}/queue"), Some(&a.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{joined}");
        let pass = admitted_pass(&app, &sale, &a).await;

        let (s, ok) = seats(&app, fid, Some(&a), Some(&pass)).await;
        assert_eq!(s, StatusCode::OK, "{ok}");
        // Someone else's pass, a forged one, or a pass without its owner's token: refused.
        let (s, e) = seats(&app, fid, Some(&b), Some(&pass)).await;
        assert_problem(s, &e, 403, "not_admitted");
        let (body, sig) = pass.split_once('.').unwrap();
        let mut forged_sig: Vec<char> = sig.chars().collect();
        forged_sig[3] = if forged_sig[3] == 'A' { 'B' } else { 'A' };
        let forged = format!("{body}.{}", forged_sig.iter().collect::<String>());
        let (s, e) = seats(&app, fid, Some(&a), Some(&forged)).await;
        assert_problem(s, &e, 403, "not_admitted");
        let b_id = b.user_id.clone();
        let a_id = a.user_id.clone();
        let claims = String::from_utf8(base64_decode(body)).unwrap().replace(&a_id, &b_id);
        let (s, e) = seats(&app, fid, Some(&b), Some(&format!("{}.{sig}", base64_encode(claims.as_bytes())))).await;
        assert_problem(s, &e, 403, "not_admitted");
        let (s, e) = seats(&app, fid, None, Some(&pass)).await;
        assert_problem(s, &e, 401, "unauthenticated");

        let (s, e) = hold(&app, &b, "k", fid, &[seat_id(&map, "2A")], None).await;
        assert_problem(s, &e, 403, "not_admitted");
        let (s, h) = hold(&app, &a, "k", fid, &[seat_id(&map, "2A")], Some(&pass)).await;
        assert_eq!(s, StatusCode::CREATED, "{h}");
        // During a sale one traveller gets at most 4 seats on the flight.
        let four: Vec<&str> = ["2B", "2C", "2D", "2E"].iter().map(|n| seat_id(&map, n)).collect();
        let (s, e) = hold(&app, &a, "k-more", fid, &four, Some(&pass)).await;
        assert_problem(s, &e, 409, "hold_limit");
        // Even sent at once, one traveller's holds never pass the cap: 1 + 3 at most.
        let singles: Vec<&str> = ["3A", "3B", "3C", "3D", "3E", "3F"].iter().map(|n| seat_id(&map, n)).collect();
        let burst = join_all(singles.iter().enumerate().map(|(i, sid)| {
            let (app, a, pass) = (&app, &a, &pass);
            async move { hold(app, a, &format!("burst-{i}"), fid, &[sid], Some(pass)).await }
        }))
        .await;
        assert_eq!(burst.iter().filter(|(s, _)| *s == StatusCode::CREATED).count(), 3, "{burst:?}");
        assert!(burst.iter().all(|(s, b)| *s == StatusCode::CREATED || b["code"] == "hold_limit"));
        // Paying frees the slot: the traveller leaves the queue.
        let (s, r) = pay(&app, &a, h["id"].as_str().unwrap()).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        let (s, _) = app.get(&format!("/api/v1/ticketing/sales/{sale}/queue/me"), Some(&a.access)).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // Passes expire.
        app.post(&format!("/api/v1/ticketing/sales/{sale}/queue"), Some(&b.access), json!({})).await;
        let pass_b = admitted_pass(&app, &sale, &b).await;
        assert_eq!(seats(&app, fid, Some(&b), Some(&pass_b)).await.0, StatusCode::OK);
        app.clock.advance_secs(61);
        let (s, e) = seats(&app, fid, Some(&b), Some(&pass_b)).await;
        assert_problem(s, &e, 403, "not_admitted");

        // Closing the sale opens the seat map to everyone again.
        let (s, closed) = app.post(&format!("/api/v1/ticketing/sales/{sale}/close"), Some(&admin.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{closed}");
        assert_eq!(closed["status"], "CLOSED");
        assert_eq!(seats(&app, fid, None, None).await.0, StatusCode::OK);
        let (s, e) = app.post(&format!("/api/v1/ticketing/sales/{sale}/queue"), Some(&b.access), json!({})).await;
        assert_problem(s, &e, 409, "sale_closed");
    }

    async fn two_thousand_joins_get_gapless_places_and_fifo_admission(app) {
        let admin = app.admin("tkadmin@example.com").await;
        let f = flight(&app, &admin, "ICN", "PUS", 7, 2).await;
        let sale = open_sale(&app, &admin, f["id"].as_str().unwrap(), 1, 1).await;
        let users = app.quick_users(2000).await;
        let joins = join_all(users.iter().map(|u| {
            let (app, sale) = (&app, &sale);
            async move { app.post(&format!("/api/v1/ticketing/sales/{sale}/queue"), Some(&u.access), json!({})).await }
        }))
        .await;
        let mut seqs: Vec<u64> = joins.iter().map(|(s, v)| { assert_eq!(*s, StatusCode::OK, "{v}"); v["seq"].as_u64().unwrap() }).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=2000).collect::<Vec<u64>>(), "places are a permutation without gaps");
        // Joining again keeps the place.
        let (_, again) = app.post(&format!("/api/v1/ticketing/sales/{sale}/queue"), Some(&users[7].access), json!({})).await;
        assert_eq!(again["seq"], joins[7].1["seq"]);
        // By seq: who is who.
        let mut by_seq: Vec<(u64, &Session)> = joins.iter().zip(&users).map(|((_, v), u)| (v["seq"].as_u64().unwrap(), u)).collect();
        by_seq.sort_by_key(|(s, _)| *s);
        // One slot: seq 1 is admitted, everyone else waits at position seq - 1.
        admitted_pass(&app, &sale, by_seq[0].1).await;
        let places = join_all(by_seq.iter().skip(1).step_by(37).map(|(_, u)| me(&app, &sale, u))).await;
        for v in &places {
            assert_eq!(v["status"], "waiting", "{v}");
            assert_eq!(v["position"].as_u64().unwrap(), v["seq"].as_u64().unwrap() - 1, "{v}");
            assert_eq!(v["ahead"].as_u64().unwrap(), v["seq"].as_u64().unwrap() - 2);
        }
        // Admission follows join order: each time the shopper inside leaves, the next seq enters.
        for k in 0..4 {
            let (s, _) = app.call(Method::DELETE, &format!("/api/v1/ticketing/sales/{sale}/queue/me"), Some(&by_seq[k].1.access), None).await;
            assert_eq!(s, StatusCode::NO_CONTENT);
            admitted_pass(&app, &sale, by_seq[k + 1].1).await;
            let behind = me(&app, &sale, by_seq[k + 2].1).await;
            assert_eq!(behind["status"], "waiting", "only one inside at a time");
            assert_eq!(behind["position"], 1);
        }
        let (_, figures) = app.get(&format!("/api/v1/ticketing/sales/{sale}"), Some(&admin.access)).await;
        assert_eq!(figures["joined_total"], 2000, "{figures}");
        assert_eq!(figures["active"], 1);
        assert_eq!(figures["admitted_total"], 5);
        assert_eq!(figures["waiting"], 1995);
    }

    async fn never_more_than_max_active_inside(app) {
        let admin = app.admin("tkadmin@example.com").await;
        let f = flight(&app, &admin, "GMP", "TAE", 7, 2).await;
        let sale = open_sale(&app, &admin, f["id"].as_str().unwrap(), 100, 3).await;
        let users = app.quick_users(10).await;
        for u in &users {
            app.post(&format!("/api/v1/ticketing/sales/{sale}/queue"), Some(&u.access), json!({})).await;
        }
        let path = format!("/api/v1/ticketing/sales/{sale}");
        let figures = || app.get(&path, Some(&admin.access));
        app.eventually(|| async { figures().await.1["active"] == 3 }).await;
        // More admission steps (as every instance runs them) admit nobody while 3 are inside.
        for _ in 0..3 {
            assert_eq!(app.ticketing.sales.admit_all().await.unwrap(), 0);
        }
        let f1 = figures().await.1;
        assert_eq!(f1["active"], 3, "{f1}");
        assert_eq!(f1["waiting"], 7);
        app.call(Method::DELETE, &format!("/api/v1/ticketing/sales/{sale}/queue/me"), Some(&users[0].access), None).await;
        app.eventually(|| async { figures().await.1["admitted_total"] == 4 }).await;
        assert_eq!(figures().await.1["active"], 3);
    }

    async fn the_queue_stream_pushes_positions_then_the_pass(app) {
        let admin = app.admin("tkadmin@example.com").await;
        let f = flight(&app, &admin, "GMP", "CJU", 8, 2).await;
        let sale = open_sale(&app, &admin, f["id"].as_str().unwrap(), 50, 1).await;
        let (a, b) = (app.user("a@example.com", "첫째").await, app.user("b@example.com", "둘째").await);
        app.post(&format!("/api/v1/ticketing/sales/{sale}/queue"), Some(&a.access), json!({})).await;
        admitted_pass(&app, &sale, &a).await;
        app.post(&format!("/api/v1/ticketing/sales/{sale}/queue"), Some(&b.access), json!({})).await;
        let res = app.client
            .get(app.url(&format!("/api/v1/ticketing/sales/{sale}/queue/stream?access_token={}", b.access)))
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let mut body = res.bytes_stream();
        let mut text = String::new();
        while !text.contains("event: position") {
            text.push_str(&String::from_utf8_lossy(&body.next().await.unwrap().unwrap()));
        }
        assert!(text.contains("\"position\":1"), "{text}");
        app.call(Method::DELETE, &format!("/api/v1/ticketing/sales/{sale}/queue/me"), Some(&a.access), None).await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while !text.contains("event: admitted") {
            let chunk = tokio::time::timeout_at(deadline, body.next()).await.expect("admitted in time");
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
        }
        assert!(text.contains("\"pass\":"), "{text}");
        // The stream ends after the admission.
        let end = tokio::time::timeout(std::time::Duration::from_secs(3), async { while let Some(Ok(_)) = body.next().await {} }).await;
        assert!(end.is_ok(), "stream closed after admission");
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}
