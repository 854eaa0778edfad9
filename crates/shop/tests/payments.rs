//! The payment saga and first-come coupons, through the real HTTP server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::future::join_all;
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, Session, TestApp};

async fn product(app: &TestApp, admin: &Session, price: i64, stock: i64) -> String {
    let (s, p) = app
        .post(
            "/api/v1/shop/products",
            Some(&admin.access),
            json!({"name": "텀블러", "price": price, "stock": stock, "category": "kitchen"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    p["id"].as_str().unwrap().to_owned()
}

async fn campaign(app: &TestApp, admin: &Session, quantity: i64, open: bool) -> String {
    let (starts, ends) = if open {
        ("2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z")
    } else {
        ("2098-01-01T00:00:00Z", "2099-01-01T00:00:00Z")
    };
    let (s, c) = app
        .post("/api/v1/shop/coupon-campaigns", Some(&admin.access),
            json!({"name": "오픈 기념 3천원", "quantity": quantity, "discount_amount": 3000, "starts_at": starts, "ends_at": ends}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    c["id"].as_str().unwrap().to_owned()
}

async fn order(app: &TestApp, who: &Session, key: &str, body: Value) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url("/api/v1/shop/orders"))
        .bearer_auth(&who.access)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

fn addr() -> Value {
    json!({"recipient": "김철수", "phone": "010-9876-5432", "address": "부산시 해운대구 1", "postal_code": "48094"})
}

async fn stock(app: &TestApp, id: &str) -> i64 {
    app.stored_i64("shop_products", "stock", id).await
}

async fn coupon_status(app: &TestApp, who: &Session) -> String {
    app.get("/api/v1/shop/coupons", Some(&who.access)).await.1["items"][0]["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

matrix! {
    async fn pay_with_a_coupon_then_cancel_for_a_refund(app) {
        let admin = app.admin("payadmin@example.com").await;
        let pid = product(&app, &admin, 20_000, 10).await;
        let camp = campaign(&app, &admin, 5, true).await;
        let buyer = app.user("payer@example.com", "payer").await;
        let (s, c) = app.post(&format!("/api/v1/shop/coupon-campaigns/{camp}/claim"), Some(&buyer.access), json!({})).await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        let coupon = c["coupon_id"].as_str().unwrap();

        let (s, o) = order(&app, &buyer, "pay-1", json!({"lines": [{"product_id": pid, "quantity": 2}], "shipping_address": addr(), "coupon_id": coupon})).await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
        assert_eq!(o["subtotal"], 40_000);
        assert_eq!(o["discount"], 3_000);
        assert_eq!(o["total"], 37_000);
        assert_eq!(coupon_status(&app, &buyer).await, "RESERVED");
        let id = o["id"].as_str().unwrap();

        let (s, b) = app.post(&format!("/api/v1/shop/orders/{id}/payment/approve"), Some(&buyer.access), json!({"pg_token": "ok"})).await;
        assert_problem(s, &b, 409, "payment_not_started");
        let (s, started) = app.post(&format!("/api/v1/shop/orders/{id}/payment"), Some(&buyer.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{started}");
        assert_eq!(started["amount"], 37_000);
        let (_, again) = app.post(&format!("/api/v1/shop/orders/{id}/payment"), Some(&buyer.access), json!({})).await;
        assert_eq!(again["tid"], started["tid"], "starting twice reuses the payment");

        // The gateway is down once: nothing changes, and the retry goes through.
        let gateway = app.gateway.clone().unwrap();
        gateway.fail_next(1);
        let (s, b) = app.post(&format!("/api/v1/shop/orders/{id}/payment/approve"), Some(&buyer.access), json!({"pg_token": "ok"})).await;
        assert_problem(s, &b, 502, "payment_unavailable");
        let (s, paid) = app.post(&format!("/api/v1/shop/orders/{id}/payment/approve"), Some(&buyer.access), json!({"pg_token": "ok"})).await;
        assert_eq!(s, StatusCode::OK, "{paid}");
        assert_eq!(paid["status"], "PAID");
        let (_, paid_again) = app.post(&format!("/api/v1/shop/orders/{id}/payment/approve"), Some(&buyer.access), json!({"pg_token": "ok"})).await;
        assert_eq!(paid_again["status"], "PAID");
        assert_eq!(gateway.approvals(), 1, "charged once");
        let tid = started["tid"].as_str().unwrap();
        assert_eq!(gateway.approved_amount(tid), Some(37_000));
        assert_eq!(gateway.calls(tid).approve, 1, "the failed try reached nothing; the paid order answers retries itself");
        assert_eq!(coupon_status(&app, &buyer).await, "USED");
        assert_eq!(stock(&app, &pid).await, 8);

        // A paid order cancelled: refunded through the gateway, then its stock returns.
        let (s, c) = app.post(&format!("/api/v1/shop/orders/{id}/cancel"), Some(&buyer.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{c}");
        assert_eq!(c["status"], "REFUNDING");
        app.eventually(|| async {
            app.get(&format!("/api/v1/shop/orders/{id}"), Some(&buyer.access)).await.1["status"] == "REFUNDED"
        }).await;
        assert_eq!(gateway.refunded_amount(tid), 37_000);
        assert_eq!(gateway.calls(tid).cancel, 1, "refunded by one call");
        assert_eq!(stock(&app, &pid).await, 10);
        assert_eq!(coupon_status(&app, &buyer).await, "USED", "a paid coupon stays spent");

        // The refund event delivered again changes nothing.
        let event = surge_kernel::events::EventEnvelope {
            id: uuid::Uuid::now_v7(),
            topic: "shop.refund_requested".into(),
            key: id.into(),
            payload: json!({"order_id": id, "tid": tid, "amount": 37_000, "order_refund": true}),
            occurred_at: 0,
        };
        app.app_foundation.bus.publish(&event).await.unwrap();
        app.app_foundation.bus.publish(&event).await.unwrap();
        // Each delivery asks the gateway again (cancel is once per tid there); wait for them.
        // JetStream drops the second publish of one event id (its duplicate window).
        let on_nats = app.backend != surge_testkit::Backend::Embedded && surge_testkit::nats_url().is_some();
        let deliveries = if on_nats { 1 } else { 2 };
        // Wait for the redelivered event's own transaction, not only its gateway calls,
        // so a second release of the stock would show in the check below.
        app.eventually(|| async {
            gateway.calls(tid).cancel == 1 + deliveries
                && surge_kernel::events::is_handled(&app.app_foundation.db, surge_shop::payment::REFUND_CONSUMER, event.id)
                    .await
                    .unwrap()
        }).await;
        assert_eq!(gateway.refunds(), 1);
        assert_eq!(gateway.refunded_amount(tid), 37_000, "never refunded twice");
        assert_eq!(stock(&app, &pid).await, 10, "stock released once");

        // Notifications tell the buyer.
        app.eventually(|| async {
            let (_, n) = app.get("/api/v1/notifications?limit=10", Some(&buyer.access)).await;
            let kinds: Vec<&str> = n["items"].as_array().unwrap().iter().filter_map(|i| i["kind"].as_str()).collect();
            kinds.contains(&"order_paid") && kinds.contains(&"order_refunded")
        }).await;
    }

    async fn a_declined_payment_cancels_the_order_and_returns_stock_and_coupon(app) {
        let admin = app.admin("declineadmin@example.com").await;
        let pid = product(&app, &admin, 10_000, 1).await;
        let camp = campaign(&app, &admin, 1, true).await;
        let buyer = app.user("decline@example.com", "decliner").await;
        let (_, c) = app.post(&format!("/api/v1/shop/coupon-campaigns/{camp}/claim"), Some(&buyer.access), json!({})).await;
        let (_, o) = order(&app, &buyer, "d1", json!({"lines": [{"product_id": pid, "quantity": 1}], "shipping_address": addr(), "coupon_id": c["coupon_id"]})).await;
        let id = o["id"].as_str().unwrap();
        assert_eq!(stock(&app, &pid).await, 0);
        let (_, started) = app.post(&format!("/api/v1/shop/orders/{id}/payment"), Some(&buyer.access), json!({})).await;
        let tid = started["tid"].as_str().unwrap().to_owned();
        let (s, b) = app.post(&format!("/api/v1/shop/orders/{id}/payment/approve"), Some(&buyer.access), json!({"pg_token": "decline"})).await;
        assert_problem(s, &b, 402, "payment_declined");
        let (_, o) = app.get(&format!("/api/v1/shop/orders/{id}"), Some(&buyer.access)).await;
        assert_eq!(o["status"], "CANCELLED");
        assert_eq!(stock(&app, &pid).await, 1, "stock back");
        assert_eq!(coupon_status(&app, &buyer).await, "AVAILABLE", "coupon back");
        let gw = app.gateway.as_ref().unwrap();
        assert_eq!(gw.approvals(), 0);
        assert_eq!((gw.calls(&tid).approve, gw.calls(&tid).cancel), (1, 0), "one declined approval, nothing to refund");
    }

    async fn admins_fulfil_orders_through_legal_steps_only(app) {
        let admin = app.admin("fulfil@example.com").await;
        let pid = product(&app, &admin, 1_000, 5).await;
        let buyer = app.user("fulfilme@example.com", "fulfilme").await;
        let (_, o) = order(&app, &buyer, "f1", json!({"lines": [{"product_id": pid, "quantity": 1}], "shipping_address": addr()})).await;
        let id = o["id"].as_str().unwrap();
        let step = |status: &'static str| {
            let app = &app;
            let admin = &admin;
            async move { app.post(&format!("/api/v1/shop/admin/orders/{id}/status"), Some(&admin.access), json!({"status": status})).await }
        };
        let (s, b) = step("SHIPPING").await;
        assert_problem(s, &b, 409, "invalid_transition");
        let (s, b) = app.post(&format!("/api/v1/shop/admin/orders/{id}/status"), Some(&buyer.access), json!({"status": "PREPARING"})).await;
        assert_problem(s, &b, 403, "forbidden");
        app.post(&format!("/api/v1/shop/orders/{id}/payment"), Some(&buyer.access), json!({})).await;
        app.post(&format!("/api/v1/shop/orders/{id}/payment/approve"), Some(&buyer.access), json!({"pg_token": "ok"})).await;
        for next in ["PREPARING", "SHIPPING", "DELIVERED"] {
            let (s, b) = step(next).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            assert_eq!(b["status"], next);
        }
        let (s, b) = step("CANCELLED").await;
        assert_problem(s, &b, 422, "validation_failed");
        let (s, b) = app.post(&format!("/api/v1/shop/orders/{id}/cancel"), Some(&buyer.access), json!({})).await;
        assert_problem(s, &b, 409, "invalid_transition");
    }

    async fn a_thousand_claims_by_five_hundred_users_issue_exactly_one_hundred(app) {
        let admin = app.admin("couponadmin@example.com").await;
        let camp = campaign(&app, &admin, 100, true).await;
        let users = app.quick_users(500).await;
        let path = format!("/api/v1/shop/coupon-campaigns/{camp}/claim");
        let results = join_all(users.iter().chain(users.iter()).map(|u| {
            app.post(&path, Some(&u.access), json!({}))
        })).await;
        let issued: Vec<&Value> = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).map(|(_, b)| b).collect();
        assert_eq!(issued.len(), 100, "exactly the quantity");
        let mut owners: Vec<String> = Vec::new();
        for u in &users {
            let (_, mine) = app.get("/api/v1/shop/coupons", Some(&u.access)).await;
            let n = mine["items"].as_array().unwrap().len();
            assert!(n <= 1, "nobody twice");
            if n == 1 { owners.push(u.user_id.clone()); }
        }
        assert_eq!(owners.len(), 100);
        for (s, b) in &results {
            if *s != StatusCode::CREATED {
                assert_eq!(*s, StatusCode::CONFLICT, "{b}");
                assert!(b["code"] == "sold_out" || b["code"] == "already_claimed", "{b}");
            }
        }
        let (_, c) = app.get(&format!("/api/v1/shop/coupon-campaigns/{camp}"), None).await;
        assert_eq!(c["issued"], 100);
        assert_eq!(c["remaining"], 0);

        let closed = campaign(&app, &admin, 10, false).await;
        let (s, b) = app.post(&format!("/api/v1/shop/coupon-campaigns/{closed}/claim"), Some(&users[0].access), json!({})).await;
        assert_problem(s, &b, 403, "not_open");
    }
}
