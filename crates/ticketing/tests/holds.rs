//! Seat holds, payment, refunds and ticket mail through the real HTTP server: no seat
//! is ever held or sold twice, holds expire, retries are idempotent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use common::*;
use futures::future::join_all;
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, TestApp};

async fn mails_to(app: &TestApp, email: &str) -> usize {
    app.mailer
        .as_ref()
        .unwrap()
        .sent()
        .iter()
        .filter(|m| m.to == email)
        .count()
}

/// Queues a refund request that refunds nothing (no tid, no amount, the reservation
/// stays as it is) behind every event already in the outbox, and waits until the
/// refund handler has handled it.
async fn refund_requests_handled(app: &TestApp, reservation_id: &str) {
    let marker = surge_kernel::events::EventEnvelope::new(
        surge_ticketing::reservations::TOPIC_REFUND_REQUESTED,
        reservation_id,
        json!({"reservation_id": reservation_id, "tid": "", "amount": 0, "cancel_reservation": false}),
        0,
    );
    surge_kernel::events::enqueue(&app.app_foundation.db, &marker)
        .await
        .unwrap();
    app.app_foundation.outbox.wake();
    app.eventually(|| async {
        surge_kernel::events::is_handled(
            &app.app_foundation.db,
            surge_ticketing::reservations::REFUND_CONSUMER,
            marker.id,
        )
        .await
        .unwrap()
    })
    .await;
}

matrix! {
    async fn a_thousand_hold_attempts_on_twenty_seats_hold_each_once(app) {
        let admin = app.admin("tkadmin@example.com").await;
        let f = flight(&app, &admin, "GMP", "CJU", 3, 4).await; // 24 seats
        let fid = f["id"].as_str().unwrap().to_owned();
        let (_, map) = seats(&app, &fid, None, None).await;
        let targets: Vec<String> = map.as_array().unwrap().iter().take(20).map(|s| s["id"].as_str().unwrap().to_owned()).collect();
        let users = app.quick_users(1000).await;
        let results = join_all(users.iter().enumerate().map(|(i, u)| {
            let app = &app;
            let seat = targets[i % 20].clone();
            let fid = fid.clone();
            async move { hold(app, u, &format!("h-{i}"), &fid, &[&seat], None).await }
        }))
        .await;
        let held: Vec<&Value> = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).map(|(_, b)| b).collect();
        let refused = results.iter().filter(|(s, b)| *s == StatusCode::CONFLICT && b["code"] == "seat_unavailable").count();
        assert_eq!(held.len(), 20, "one hold per seat");
        assert_eq!(refused, 980, "everyone else hears seat_unavailable: {:?}",
            results.iter().filter(|(s, _)| *s != StatusCode::CREATED && *s != StatusCode::CONFLICT).take(3).collect::<Vec<_>>());
        let seat_ids: HashSet<&str> = held.iter().map(|h| h["seats"][0]["seat_id"].as_str().unwrap()).collect();
        assert_eq!(seat_ids.len(), 20, "no seat in two holds");
        let (_, map) = seats(&app, &fid, None, None).await;
        let held_now = map.as_array().unwrap().iter().filter(|s| s["status"] == "held").count();
        assert_eq!(held_now, 20);
        assert_eq!(map.as_array().unwrap().iter().filter(|s| s["status"] == "available").count(), 4);
    }

    async fn holds_are_all_or_nothing_and_idempotent(app) {
        let admin = app.admin("tkadmin@example.com").await;
        let f = flight(&app, &admin, "GMP", "PUS", 2, 3).await;
        let fid = f["id"].as_str().unwrap();
        let (_, map) = seats(&app, fid, None, None).await;
        let (a, b) = (app.user("a@example.com", "여행자A").await, app.user("b@example.com", "여행자B").await);
        let (s, h) = hold(&app, &a, "k1", fid, &[seat_id(&map, "2A")], None).await;
        assert_eq!(s, StatusCode::CREATED, "{h}");
        assert_eq!(h["status"], "HELD");
        assert_eq!(h["total"], 89_000);
        assert!(h["expires_at"].is_string());
        // B wants 2B and the taken 2A: nothing is held, and 2A is named.
        let (s, e) = hold(&app, &b, "k1", fid, &[seat_id(&map, "2B"), seat_id(&map, "2A")], None).await;
        assert_problem(s, &e, 409, "seat_unavailable");
        assert_eq!(e["seat"], "2A");
        let (_, map2) = seats(&app, fid, None, None).await;
        assert_eq!(status_of(&map2, "2B"), "available");
        // Same key, same body: the same hold; same key, other body: 422.
        let (s, again) = hold(&app, &a, "k1", fid, &[seat_id(&map, "2A")], None).await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(again["id"], h["id"]);
        let (s, e) = hold(&app, &a, "k1", fid, &[seat_id(&map, "2C")], None).await;
        assert_problem(s, &e, 422, "idempotency_mismatch");
        // 20 concurrent sends of one key: one hold.
        let pair = [seat_id(&map, "3A"), seat_id(&map, "3B")];
        let sends = join_all((0..20).map(|_| hold(&app, &b, "storm", fid, &pair, None))).await;
        let ids: HashSet<String> = sends.iter().map(|(s, b)| { assert_eq!(*s, StatusCode::CREATED, "{b}"); b["id"].as_str().unwrap().to_owned() }).collect();
        assert_eq!(ids.len(), 1);
        // Limits and bad input.
        let many: Vec<&str> = ["1A", "1B", "1C", "1D", "1E"].iter().map(|n| seat_id(&map, n)).collect();
        let (s, e) = hold(&app, &b, "k5", fid, &many, None).await;
        assert_problem(s, &e, 422, "validation_failed");
        let (s, e) = hold(&app, &b, "k6", fid, &[&uuid::Uuid::new_v4().to_string()], None).await;
        assert_problem(s, &e, 422, "validation_failed");
        let res = app.client.post(app.url("/api/v1/ticketing/holds")).bearer_auth(&b.access)
            .json(&json!({"flight_id": fid, "seat_ids": [seat_id(&map, "1F")]})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        // Someone else's hold is not found.
        let (s, e) = app.get(&format!("/api/v1/ticketing/reservations/{}", h["id"].as_str().unwrap()), Some(&b.access)).await;
        assert_problem(s, &e, 404, "not_found");
    }

    async fn paying_confirms_tickets_and_mails_them_once(app) {
        let admin = app.admin("tkadmin@example.com").await;
        let f = flight(&app, &admin, "ICN", "CJU", 5, 3).await;
        let fid = f["id"].as_str().unwrap();
        let (_, map) = seats(&app, fid, None, None).await;
        let a = app.user("flyer@example.com", "비행자").await;
        let (_, h) = hold(&app, &a, "k", fid, &[seat_id(&map, "1A"), seat_id(&map, "2A")], None).await;
        let hid = h["id"].as_str().unwrap();
        let (s, started) = app.post(&format!("/api/v1/ticketing/holds/{hid}/payment"), Some(&a.access), json!({})).await;
        assert_eq!(s, StatusCode::OK);
        let tid = started["tid"].as_str().unwrap().to_owned();
        // A double-click storm on "pay": one confirmation, everyone sees it, no refund.
        let approve_path = format!("/api/v1/ticketing/holds/{hid}/payment/approve");
        let approvals = join_all((0..10).map(|_| app.post(&approve_path, Some(&a.access), json!({"pg_token": "ok"})))).await;
        for (s, b) in &approvals {
            assert_eq!(*s, StatusCode::OK, "{b}");
            assert_eq!(b["status"], "CONFIRMED");
        }
        let r = approvals[0].1.clone();
        // A losing approval would have asked for its refund before answering. Refund
        // requests are handled in outbox order, so once a marker request queued after
        // every answer is handled, any refund asked for before it has reached the gateway.
        refund_requests_handled(&app, hid).await;
        let gw = app.gateway.clone().unwrap();
        assert_eq!(gw.refunds(), 0, "a confirmed reservation is never refunded by a concurrent approval");
        assert_eq!((gw.approvals(), gw.approved_amount(&tid)), (1, Some(339_000)), "charged once");
        assert_eq!(gw.calls(&tid).cancel, 0, "the gateway was never asked to refund");
        assert_eq!(r["total"], 250_000 + 89_000);
        let codes: HashSet<&str> = r["seats"].as_array().unwrap().iter().map(|s| s["ticket_code"].as_str().unwrap()).collect();
        assert_eq!(codes.len(), 2, "one ticket per seat: {r}");
        let (_, map) = seats(&app, fid, None, None).await;
        assert_eq!(status_of(&map, "1A"), "sold");
        // A retried approval answers the same; a sold seat cannot be held.
        let (s, again) = app.post(&format!("/api/v1/ticketing/holds/{hid}/payment/approve"), Some(&a.access), json!({"pg_token": "x"})).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(again["seats"], r["seats"]);
        let other = app.user("late@example.com", "늦은이").await;
        let (s, e) = hold(&app, &other, "k", fid, &[seat_id(&map, "1A")], None).await;
        assert_problem(s, &e, 409, "seat_unavailable");
        // The tickets are e-mailed from the outbox, once, even if the event comes again.
        app.eventually(|| async { mails_to(&app, "flyer@example.com").await == 1 }).await;
        let mail = app.mailer.as_ref().unwrap().sent().into_iter().find(|m| m.to == "flyer@example.com").unwrap();
        for c in &codes {
            assert!(mail.text.contains(c), "ticket {c} in the mail: {}", mail.text);
        }
        let event = surge_kernel::events::EventEnvelope::new(
            surge_ticketing::reservations::TOPIC_CONFIRMED, hid, json!({"reservation_id": hid}), 0);
        app.app_foundation.bus.publish(&event).await.unwrap();
        app.app_foundation.bus.publish(&event).await.unwrap();
        // A new event id mails again once; its redelivery does not. The event is marked
        // handled only after its mail went out, and by then every delivery of it the
        // bus makes has run (the in-process bus delivers within `publish`; JetStream
        // drops a repeated event id).
        app.eventually(|| async {
            surge_kernel::events::is_handled(&app.app_foundation.db, surge_ticketing::reservations::MAIL_CONSUMER, event.id)
                .await
                .unwrap()
        })
        .await;
        assert_eq!(mails_to(&app, "flyer@example.com").await, 2);
        let (_, list) = app.get("/api/v1/ticketing/reservations", Some(&a.access)).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        let (_, list) = app.get("/api/v1/ticketing/reservations", Some(&other.access)).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 0, "mine only");
    }

    async fn expired_holds_return_their_seats(app) {
        let admin = app.admin("tkadmin@example.com").await;
        let f = flight(&app, &admin, "PUS", "GMP", 4, 3).await;
        let fid = f["id"].as_str().unwrap();
        let (_, map) = seats(&app, fid, None, None).await;
        let (a, b) = (app.user("a@example.com", "느린이").await, app.user("b@example.com", "빠른이").await);
        let (_, h) = hold(&app, &a, "k", fid, &[seat_id(&map, "3C")], None).await;
        let hid = h["id"].as_str().unwrap();
        let (s, _) = app.post(&format!("/api/v1/ticketing/holds/{hid}/payment"), Some(&a.access), json!({})).await;
        assert_eq!(s, StatusCode::OK);
        app.clock.advance_secs(11 * 60);
        // Expiry is checked on read at once, and on write: B can take the seat.
        let (_, map2) = seats(&app, fid, None, None).await;
        assert_eq!(status_of(&map2, "3C"), "available");
        let (s, hb) = hold(&app, &b, "k", fid, &[seat_id(&map, "3C")], None).await;
        assert_eq!(s, StatusCode::CREATED, "{hb}");
        // A's late approval is refused before any money moves.
        let (s, e) = app.post(&format!("/api/v1/ticketing/holds/{hid}/payment/approve"), Some(&a.access), json!({"pg_token": "t"})).await;
        assert_problem(s, &e, 409, "invalid_transition");
        let (_, r) = app.get(&format!("/api/v1/ticketing/reservations/{hid}"), Some(&a.access)).await;
        assert_eq!(r["status"], "EXPIRED");
        assert!(app.gateway.as_ref().unwrap().approvals() == 0, "nothing was charged");
        // The sweeper ends holds nobody touches again.
        let (_, h3) = hold(&app, &a, "k2", fid, &[seat_id(&map, "3D")], None).await;
        app.clock.advance_secs(11 * 60);
        let a = app.login("a@example.com", "password-1234").await; // the access token ran out too
        let h3id = h3["id"].as_str().unwrap().to_owned();
        app.eventually(|| {
            let (app, a, id) = (&app, &a, h3id.clone());
            async move { app.get(&format!("/api/v1/ticketing/reservations/{id}"), Some(&a.access)).await.1["status"] == "EXPIRED" }
        }).await;
        let (_, map3) = seats(&app, fid, None, None).await;
        assert_eq!(status_of(&map3, "3D"), "available");
    }

    async fn cancelling_refunds_and_frees_the_seats(app) {
        let admin = app.admin("tkadmin@example.com").await;
        let f = flight(&app, &admin, "GMP", "CJU", 6, 2).await;
        let fid = f["id"].as_str().unwrap();
        let (_, map) = seats(&app, fid, None, None).await;
        let a = app.user("a@example.com", "취소자").await;
        let (_, h) = hold(&app, &a, "k", fid, &[seat_id(&map, "2B")], None).await;
        let hid = h["id"].as_str().unwrap().to_owned();
        let (_, started) = app.post(&format!("/api/v1/ticketing/holds/{hid}/payment"), Some(&a.access), json!({})).await;
        let tid = started["tid"].as_str().unwrap().to_owned();
        let (_, r) = app.post(&format!("/api/v1/ticketing/holds/{hid}/payment/approve"), Some(&a.access), json!({"pg_token": "t"})).await;
        assert_eq!(r["status"], "CONFIRMED");
        let (s, c) = app.post(&format!("/api/v1/ticketing/reservations/{hid}/cancel"), Some(&a.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{c}");
        assert!(c["status"] == "CANCELLING" || c["status"] == "CANCELLED");
        app.eventually(|| { let (app, a, hid) = (&app, &a, hid.clone());
            async move { app.get(&format!("/api/v1/ticketing/reservations/{hid}"), Some(&a.access)).await.1["status"] == "CANCELLED" } }).await;
        assert_eq!(app.gateway.as_ref().unwrap().refunded_amount(&tid), 89_000);
        assert_eq!(app.gateway.as_ref().unwrap().calls(&tid).cancel, 1, "refunded by one call");
        let (_, map) = seats(&app, fid, None, None).await;
        assert_eq!(status_of(&map, "2B"), "available");
        let (s, e) = app.post(&format!("/api/v1/ticketing/reservations/{hid}/cancel"), Some(&a.access), json!({})).await;
        assert_problem(s, &e, 409, "invalid_transition");
        // A declined payment releases the hold.
        let (_, h2) = hold(&app, &a, "k2", fid, &[seat_id(&map, "2C")], None).await;
        let h2id = h2["id"].as_str().unwrap();
        app.post(&format!("/api/v1/ticketing/holds/{h2id}/payment"), Some(&a.access), json!({})).await;
        let (s, e) = app.post(&format!("/api/v1/ticketing/holds/{h2id}/payment/approve"), Some(&a.access), json!({"pg_token": "decline"})).await;
        assert_problem(s, &e, 402, "payment_declined");
        let (_, map) = seats(&app, fid, None, None).await;
        assert_eq!(status_of(&map, "2C"), "available");
    }

    async fn payments_racing_a_flight_cancellation_are_all_refunded(app) {
        let admin = app.admin("tkadmin@example.com").await;
        let f = flight(&app, &admin, "GMP", "USN", 6, 3).await;
        let fid = f["id"].as_str().unwrap();
        let (_, map) = seats(&app, fid, None, None).await;
        let users = app.quick_users(18).await;
        let mut holds = Vec::new();
        for (i, u) in users.iter().enumerate() {
            let (s, h) = hold(&app, u, "k", fid, &[map[i]["id"].as_str().unwrap()], None).await;
            assert_eq!(s, StatusCode::CREATED, "{h}");
            let hid = h["id"].as_str().unwrap().to_owned();
            let (_, started) = app.post(&format!("/api/v1/ticketing/holds/{hid}/payment"), Some(&u.access), json!({})).await;
            holds.push((u, hid, started["tid"].as_str().unwrap().to_owned()));
        }
        let approvals = join_all(holds.iter().map(|(u, hid, _)| {
            let path = format!("/api/v1/ticketing/holds/{hid}/payment/approve");
            let app = &app;
            async move { app.post(&path, Some(&u.access), json!({"pg_token": "ok"})).await }
        }));
        let cancel_path = format!("/api/v1/ticketing/flights/{fid}/cancel");
        let cancel = app.post(&cancel_path, Some(&admin.access), json!({}));
        let (answers, (s, c)) = tokio::join!(approvals, cancel);
        assert_eq!(s, StatusCode::OK, "{c}");
        for (s, b) in &answers {
            assert!(*s == StatusCode::OK || *s == StatusCode::CONFLICT, "{s} {b}");
        }
        // Whatever the interleaving: nothing stays sold on the cancelled flight, and
        // every payment the provider took is given back in full.
        let gw = app.gateway.clone().unwrap();
        for (u, hid, tid) in &holds {
            let path = format!("/api/v1/ticketing/reservations/{hid}");
            app.eventually(|| async {
                let st = app.get(&path, Some(&u.access)).await.1["status"].as_str().unwrap().to_owned();
                matches!(st.as_str(), "CANCELLED" | "RELEASED" | "EXPIRED")
                    && gw.approved_amount(tid).is_none_or(|a| gw.refunded_amount(tid) == a)
            }).await;
        }
        let (_, map) = seats(&app, fid, None, None).await;
        assert!(map.as_array().unwrap().iter().all(|s| s["status"] == "closed"), "{map}");
    }

    async fn cancelling_a_flight_refunds_everyone(app) {
        let admin = app.admin("tkadmin@example.com").await;
        let f = flight(&app, &admin, "GMP", "KWJ", 6, 2).await;
        let fid = f["id"].as_str().unwrap();
        let (_, map) = seats(&app, fid, None, None).await;
        let (a, b) = (app.user("a@example.com", "승객A").await, app.user("b@example.com", "승객B").await);
        let (_, ha) = hold(&app, &a, "k", fid, &[seat_id(&map, "1A")], None).await;
        let hid = ha["id"].as_str().unwrap().to_owned();
        pay(&app, &a, &hid).await;
        let (_, hb) = hold(&app, &b, "k", fid, &[seat_id(&map, "1B")], None).await;
        let (s, sale) = app.post("/api/v1/ticketing/sales", Some(&admin.access),
            json!({"flight_id": fid, "admission_rate": 5, "max_active": 5, "pass_ttl_secs": 60})).await;
        assert_eq!(s, StatusCode::CREATED, "{sale}");
        let (s, e) = app.post(&format!("/api/v1/ticketing/flights/{fid}/cancel"), Some(&a.access), json!({})).await;
        assert_problem(s, &e, 403, "forbidden");
        let (s, c) = app.post(&format!("/api/v1/ticketing/flights/{fid}/cancel"), Some(&admin.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{c}");
        assert_eq!(c["status"], "CANCELLED");
        app.eventually(|| { let (app, a, hid) = (&app, &a, hid.clone());
            async move { app.get(&format!("/api/v1/ticketing/reservations/{hid}"), Some(&a.access)).await.1["status"] == "CANCELLED" } }).await;
        let (_, rb) = app.get(&format!("/api/v1/ticketing/reservations/{}", hb["id"].as_str().unwrap()), Some(&b.access)).await;
        assert_eq!(rb["status"], "RELEASED");
        let tid = app.get(&format!("/api/v1/ticketing/reservations/{hid}"), Some(&a.access)).await.1;
        assert_eq!(tid["total"], 250_000);
        assert_eq!(app.gateway.as_ref().unwrap().refunds(), 1, "the paid reservation was refunded");
        let (_, detail) = app.get(&format!("/api/v1/ticketing/flights/{fid}"), None).await;
        assert!(detail["open_sale_id"].is_null(), "its sale closed: {detail}");
        let (_, found) = app.get("/api/v1/ticketing/flights?origin=GMP&destination=KWJ", None).await;
        assert_eq!(found["items"].as_array().unwrap().len(), 0, "gone from search");
        let (s, e) = hold(&app, &b, "k2", fid, &[seat_id(&map, "2A")], None).await;
        assert_problem(s, &e, 409, "flight_cancelled");
    }
}

/// A held seat whose payment was started (the tests using it idle the sweeper, so
/// only the paths under test end the hold).
async fn started_hold(app: &TestApp) -> (surge_testkit::Session, String, String, String) {
    let admin = app.admin("tkadmin@example.com").await;
    let f = flight(app, &admin, "CJU", "GMP", 4, 2).await;
    let fid = f["id"].as_str().unwrap().to_owned();
    let (_, map) = seats(app, &fid, None, None).await;
    let a = app.user("a@example.com", "지각생").await;
    let (_, h) = hold(app, &a, "k", &fid, &[seat_id(&map, "2F")], None).await;
    let hid = h["id"].as_str().unwrap().to_owned();
    let (_, started) = app
        .post(
            &format!("/api/v1/ticketing/holds/{hid}/payment"),
            Some(&a.access),
            json!({}),
        )
        .await;
    (a, fid, hid, started["tid"].as_str().unwrap().to_owned())
}

matrix! {
    /// An approval that arrives after the hold ran out is refused before any money moves,
    /// and reading the hold shows it expired even before the sweeper wrote that down.
    #[config(|c| c.ticketing_sweep_every_ms = 3_600_000)]
    async fn approval_after_expiry_takes_no_money(app) {
        let (a, fid, hid, tid) = started_hold(&app).await;
        app.clock.advance_secs(10 * 60 + 1);
        let (_, r) = app
            .get(
                &format!("/api/v1/ticketing/reservations/{hid}"),
                Some(&a.access),
            )
            .await;
        assert_eq!(r["status"], "EXPIRED", "expiry is checked on read: {r}");
        let (_, map) = seats(&app, &fid, None, None).await;
        assert_eq!(status_of(&map, "2F"), "available");
        let (s, e) = app
            .post(
                &format!("/api/v1/ticketing/holds/{hid}/payment/approve"),
                Some(&a.access),
                json!({"pg_token": "t"}),
            )
            .await;
        assert_problem(s, &e, 409, "hold_expired");
        let gw = app.gateway.as_ref().unwrap();
        assert_eq!(gw.approved_amount(&tid), None, "nothing was charged");
        // A payment never approved is not cancelled (Kakao refuses that): it expires.
        assert_eq!(
            (gw.calls(&tid).approve, gw.calls(&tid).cancel),
            (0, 0),
            "the gateway was asked neither to approve nor to void it"
        );
    }

    /// An earlier approval went through at the provider but its answer was lost; by the
    /// retry the hold has run out: the retry approves nothing again, and the amount taken
    /// is refunded, once.
    #[config(|c| c.ticketing_sweep_every_ms = 3_600_000)]
    async fn a_lost_approval_of_a_hold_that_ran_out_is_refunded_in_full(app) {
        let (a, fid, hid, tid) = started_hold(&app).await;
        let gw = app.gateway.clone().unwrap();
        let (order_id, user_id) = (hid.clone(), a.user_id.clone());
        // The provider approves; the answer never reaches Surge.
        let taken =
            surge_kernel::payment::PaymentGateway::approve(&*gw, &tid, &order_id, &user_id, "t")
                .await
                .unwrap();
        assert_eq!(taken.amount, 89_000);
        app.clock.advance_secs(10 * 60 + 1);
        let (s, e) = app
            .post(
                &format!("/api/v1/ticketing/holds/{hid}/payment/approve"),
                Some(&a.access),
                json!({"pg_token": "t"}),
            )
            .await;
        assert_problem(s, &e, 409, "hold_expired");
        app.eventually(|| {
            let gw = gw.clone();
            let tid = tid.clone();
            async move { gw.refunded_amount(&tid) == 89_000 }
        })
        .await;
        assert_eq!(
            gw.calls(&tid).approve,
            1,
            "the retry approved nothing again"
        );
        assert_eq!(
            gw.calls(&tid).cancel,
            1,
            "refunded by one call, of the amount taken"
        );
        let (_, map) = seats(&app, &fid, None, None).await;
        assert_eq!(status_of(&map, "2F"), "available");
    }

    /// The hold runs out while the provider is approving: the money taken goes back, and
    /// the seat returns to sale.
    #[config(|c| c.ticketing_sweep_every_ms = 3_600_000)]
    async fn money_taken_for_a_hold_that_ran_out_is_refunded(app) {
        let (a, fid, hid, tid) = started_hold(&app).await;
        let gw = app.gateway.clone().unwrap();
        // The approval reaches the provider while the hold is live; the provider answers
        // only after the hold ran out.
        gw.pause();
        let before = gw.arrived();
        let path = format!("/api/v1/ticketing/holds/{hid}/payment/approve");
        let approve = app.post(&path, Some(&a.access), json!({"pg_token": "t"}));
        let late = async {
            app.eventually(|| async { gw.arrived() > before }).await;
            app.clock.advance_secs(10 * 60 + 1);
            gw.resume();
        };
        let ((s, e), ()) = tokio::join!(approve, late);
        assert_problem(s, &e, 409, "hold_expired");
        assert_eq!(gw.calls(&tid).approve, 1, "the provider was asked once");
        assert_eq!(gw.approved_amount(&tid), Some(89_000));
        app.eventually(|| {
            let gw = gw.clone();
            let tid = tid.clone();
            async move { gw.refunded_amount(&tid) == 89_000 }
        })
        .await;
        let (_, map) = seats(&app, &fid, None, None).await;
        assert_eq!(status_of(&map, "2F"), "available");
    }
}
