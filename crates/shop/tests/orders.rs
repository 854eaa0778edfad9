//! Flash-sale orders through the real HTTP server: no oversell, all or nothing,
//! idempotent retries, cancellation and expiry returning stock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::future::join_all;
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, Session, TestApp};

async fn product(app: &TestApp, admin: &Session, name: &str, price: i64, stock: i64) -> String {
    let (s, p) = app
        .post("/api/v1/shop/products", Some(&admin.access),
            json!({"name": name, "description": "한정판", "price": price, "stock": stock, "category": "limited"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    p["id"].as_str().unwrap().to_owned()
}

fn address() -> Value {
    json!({"recipient": "홍길동", "phone": "010-1234-5678", "address": "서울시 강남구 테헤란로 1", "postal_code": "06236"})
}

fn order_body(lines: Value) -> Value {
    json!({"lines": lines, "shipping_address": address()})
}

async fn order(app: &TestApp, who: &Session, key: &str, lines: Value) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url("/api/v1/shop/orders"))
        .bearer_auth(&who.access)
        .header("Idempotency-Key", key)
        .json(&order_body(lines))
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

/// Orders as a second instance over the same database places them.
async fn other_instance(app: &TestApp) -> surge_shop::orders::Orders {
    let f = &app.another_instance().await;
    let catalog = std::sync::Arc::new(surge_shop::catalog::Catalog::new(f));
    surge_shop::orders::Orders::new(f, catalog, std::time::Duration::from_secs(900))
}

fn as_user(who: &Session) -> surge_kernel::auth::AuthUser {
    surge_kernel::auth::AuthUser {
        id: who.user_id.parse().unwrap(),
        role: surge_kernel::auth::Role::User,
        session_id: uuid::Uuid::nil(),
    }
}

/// The order `order()` sends over HTTP for one line, with the hash of that body.
fn direct(pid: &str, quantity: i64, key: &str) -> surge_shop::orders::PlaceOrder {
    let body = serde_json::to_vec(&order_body(
        json!([{"product_id": pid, "quantity": quantity}]),
    ))
    .unwrap();
    surge_shop::orders::PlaceOrder {
        lines: surge_shop::domain::OrderLines::new(vec![surge_shop::domain::OrderLine {
            product_id: pid.parse().unwrap(),
            quantity,
        }])
        .unwrap(),
        shipping: surge_shop::domain::ShippingChoice::new(
            Some(serde_json::from_value(address()).unwrap()),
            None,
        )
        .unwrap(),
        coupon_id: None,
        idem_key: key.into(),
        request_hash: surge_kernel::idempotency::sha256_hex(&body),
    }
}

async fn stock(app: &TestApp, id: &str) -> i64 {
    app.stored_i64("shop_products", "stock", id).await
}

matrix! {
    async fn five_hundred_buyers_for_fifty_units_never_oversell(app) {
        let admin = app.admin("shopadmin@example.com").await;
        let pid = product(&app, &admin, "한정 운동화", 129_000, 50).await;
        let buyers = app.quick_users(500).await;
        let results = join_all(buyers.iter().enumerate().map(|(i, b)| {
            let app = &app;
            let pid = pid.clone();
            async move { order(app, b, &format!("k-{i}"), json!([{"product_id": pid, "quantity": 1}])).await }
        })).await;
        let created: Vec<&Value> = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).map(|(_, b)| b).collect();
        let refused = results.iter().filter(|(s, b)| *s == StatusCode::CONFLICT && b["code"] == "out_of_stock").count();
        assert_eq!(created.len(), 50, "exactly the stock is sold");
        assert_eq!(refused, 450, "everyone else hears out_of_stock");
        for o in &created {
            assert_eq!(o["status"], "PENDING_PAYMENT");
            assert_eq!(o["total"], 129_000);
        }
        let mut ids: Vec<&str> = created.iter().map(|o| o["id"].as_str().unwrap()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 50);
        let (_, p) = app.get(&format!("/api/v1/shop/products/{pid}"), None).await;
        assert_eq!(p["stock"], 0);
        assert_eq!(p["sold_out"], true, "sold out shows at once");
        // The admin's view agrees: 50 orders in the store.
        let mut total = 0;
        let mut q = "?limit=100".to_owned();
        loop {
            let (_, page) = app.get(&format!("/api/v1/shop/admin/orders{q}"), Some(&admin.access)).await;
            total += page["items"].as_array().unwrap().len();
            match page["next_cursor"].as_str() { Some(c) => q = format!("?limit=100&cursor={c}"), None => break }
        }
        assert_eq!(total, 50);
    }

    async fn the_same_idempotency_key_makes_one_order(app) {
        let admin = app.admin("idemadmin@example.com").await;
        let pid = product(&app, &admin, "머그컵", 9_000, 10).await;
        let buyer = app.user("buyer@example.com", "buyer").await;
        let lines = json!([{"product_id": pid, "quantity": 2}]);
        let (s1, first) = order(&app, &buyer, "same-key", lines.clone()).await;
        let (s2, second) = order(&app, &buyer, "same-key", lines.clone()).await;
        assert_eq!(s1, StatusCode::CREATED);
        assert_eq!(s2, StatusCode::CREATED);
        assert_eq!(first, second, "the same response, replayed");
        assert_eq!(stock(&app, &pid).await, 8, "stock taken once");
        let (_, mine) = app.get("/api/v1/shop/orders", Some(&buyer.access)).await;
        assert_eq!(mine["items"].as_array().unwrap().len(), 1);
        let (s, b) = order(&app, &buyer, "same-key", json!([{"product_id": pid, "quantity": 3}])).await;
        assert_problem(s, &b, 422, "idempotency_mismatch");
        let res = app.client.post(app.url("/api/v1/shop/orders")).bearer_auth(&buyer.access)
            .json(&json!({"lines": lines, "shipping_address": address()})).send().await.unwrap();
        let s = res.status();
        assert_problem(s, &res.json().await.unwrap(), 400, "idempotency_key_required");

        // A double-click storm: twenty concurrent sends of one key make one order.
        let storm = join_all((0..20).map(|_| order(&app, &buyer, "storm", lines.clone()))).await;
        let ids: Vec<&Value> = storm.iter().map(|(s, b)| { assert_eq!(*s, StatusCode::CREATED, "{b}"); &b["id"] }).collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "every answer names the same order");
        assert_eq!(stock(&app, &pid).await, 6, "stock taken once more, not twenty times");
    }

    async fn a_retry_that_reaches_another_instance_replays_its_order(app) {
        // The batcher only looks up keys it has been sent before; a retry that lands on
        // another instance (here: a second Orders over the same database) is caught by
        // the unique index and answered from the stored order, never made twice.
        let admin = app.admin("retryadmin@example.com").await;
        let pid = product(&app, &admin, "텀블러", 15_000, 10).await;
        let buyer = app.user("retrier@example.com", "retrier").await;
        let lines = json!([{"product_id": pid, "quantity": 2}]);
        let (s, first) = order(&app, &buyer, "retry-key", lines.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{first}");

        let other = other_instance(&app).await;
        let replayed = other.place(&as_user(&buyer), direct(&pid, 2, "retry-key")).await.unwrap();
        assert_eq!(serde_json::to_value(&replayed).unwrap(), first, "the stored order, replayed");
        // The same key with another quantity: its hash is the real hash of that body.
        let changed = other.place(&as_user(&buyer), direct(&pid, 3, "retry-key")).await.unwrap_err();
        assert_eq!(changed.code, "idempotency_mismatch");
        assert_eq!(stock(&app, &pid).await, 8, "stock taken once");
        let (_, mine) = app.get("/api/v1/shop/orders", Some(&buyer.access)).await;
        assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    }

    async fn a_sold_out_product_answers_fast_yet_replays_orders_and_sells_restocked_units(app) {
        let admin = app.admin("soldoutadmin@example.com").await;
        let pid = product(&app, &admin, "한정 키캡", 45_000, 1).await;
        let lucky = app.user("lucky@example.com", "lucky").await;
        let late = app.user("late@example.com", "late").await;
        let one = json!([{"product_id": pid, "quantity": 1}]);
        let (s, won) = order(&app, &lucky, "won", one.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{won}");
        let (s, b) = order(&app, &late, "late-1", one.clone()).await;
        assert_problem(s, &b, 409, "out_of_stock");
        // Sold out a moment ago: new orders are refused without a transaction, but a
        // retry of a stored order still gets that order back, on this instance...
        let (s, b) = order(&app, &late, "late-2", one.clone()).await;
        assert_problem(s, &b, 409, "out_of_stock");
        let (s, again) = order(&app, &lucky, "won", one.clone()).await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(again, won, "the stored order, replayed");
        // ...and on another one that has just seen the product sold out too.
        let other = other_instance(&app).await;
        let refused = other.place(&as_user(&late), direct(&pid, 1, "late-3")).await.unwrap_err();
        assert_eq!(refused.code, "out_of_stock");
        let replayed = other.place(&as_user(&lucky), direct(&pid, 1, "won")).await.unwrap();
        assert_eq!(serde_json::to_value(&replayed).unwrap(), won);
        // Restocked units are sold again (within a second).
        let (s, _) = app.post(&format!("/api/v1/shop/products/{pid}/restock"), Some(&admin.access), json!({"quantity": 2})).await;
        assert_eq!(s, StatusCode::OK);
        let attempt = std::sync::atomic::AtomicUsize::new(0);
        app.eventually(|| async {
            let key = format!("late-4-{}", attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            let (s, b) = order(&app, &late, &key, one.clone()).await;
            assert!(s == StatusCode::CREATED || b["code"] == "out_of_stock", "{b}");
            s == StatusCode::CREATED
        }).await;
        assert_eq!(stock(&app, &pid).await, 1, "one of the two restocked units sold, once");
    }

    async fn a_basket_is_all_or_nothing(app) {
        let admin = app.admin("basketadmin@example.com").await;
        let a = product(&app, &admin, "양말", 3_000, 5).await;
        let b = product(&app, &admin, "모자", 25_000, 1).await;
        let buyer = app.user("basket@example.com", "basket").await;
        let (s, body) = order(&app, &buyer, "b1", json!([{"product_id": a, "quantity": 2}, {"product_id": b, "quantity": 2}])).await;
        assert_problem(s, &body, 409, "out_of_stock");
        assert_eq!(body["line"], 1, "names the line that could not be filled");
        assert_eq!(stock(&app, &a).await, 5, "nothing taken");
        assert_eq!(stock(&app, &b).await, 1);
        let (s, o) = order(&app, &buyer, "b2", json!([{"product_id": a, "quantity": 2}, {"product_id": b, "quantity": 1}])).await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
        assert_eq!(o["total"], 31_000);
        assert_eq!(o["lines"].as_array().unwrap().len(), 2);

        // Bad input is refused clearly, and nothing is taken.
        for (lines, code) in [
            (json!([]), "validation_failed"),
            (json!([{"product_id": a, "quantity": 0}]), "validation_failed"),
            (json!([{"product_id": a, "quantity": 1}, {"product_id": a, "quantity": 1}]), "validation_failed"),
            (json!([{"product_id": "0190a6c2-0000-7000-8000-000000000000", "quantity": 1}]), "not_found"),
        ] {
            let (s, body) = order(&app, &buyer, &format!("bad-{code}-{}", lines.to_string().len()), lines).await;
            assert_eq!(body["code"], code, "{s} {body}");
        }
        assert_eq!(stock(&app, &a).await, 3);
    }

    async fn cancelling_or_expiring_an_unpaid_order_returns_its_stock(app) {
        let admin = app.admin("cancel-admin@example.com").await;
        let pid = product(&app, &admin, "키링", 5_000, 3).await;
        let buyer = app.user("canceller@example.com", "canceller").await;
        let other = app.user("other@example.com", "other").await;
        let (_, o) = order(&app, &buyer, "c1", json!([{"product_id": pid, "quantity": 2}])).await;
        let id = o["id"].as_str().unwrap();
        let (s, b) = app.get(&format!("/api/v1/shop/orders/{id}"), Some(&other.access)).await;
        assert_problem(s, &b, 404, "not_found");
        let (s, b) = app.post(&format!("/api/v1/shop/orders/{id}/cancel"), Some(&other.access), json!({})).await;
        assert_problem(s, &b, 404, "not_found");
        let (s, b) = app.post(&format!("/api/v1/shop/orders/{id}/cancel"), Some(&buyer.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["status"], "CANCELLED");
        assert_eq!(stock(&app, &pid).await, 3);
        let (s, b) = app.post(&format!("/api/v1/shop/orders/{id}/cancel"), Some(&buyer.access), json!({})).await;
        assert_problem(s, &b, 409, "invalid_transition");

        let (_, o) = order(&app, &buyer, "c2", json!([{"product_id": pid, "quantity": 3}])).await;
        let id = o["id"].as_str().unwrap().to_owned();
        assert_eq!(stock(&app, &pid).await, 0);
        app.clock.advance_secs(16 * 60);
        let buyer = app.login("canceller@example.com", "password-1234").await; // the old token expired too
        app.eventually(|| async {
            app.get(&format!("/api/v1/shop/orders/{id}"), Some(&buyer.access)).await.1["status"] == "CANCELLED"
        }).await;
        assert_eq!(stock(&app, &pid).await, 3, "the sweeper returned the stock");
    }
}
