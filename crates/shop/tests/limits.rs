//! Audit findings on the shop: no hoarding through unpaid orders, free orders are paid
//! at once, and the saved-address cap holds under parallel requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::future::join_all;
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, Session, TestApp};

async fn product(app: &TestApp, admin: &Session, name: &str, price: i64, stock: i64) -> String {
    let (s, p) = app
        .post(
            "/api/v1/shop/products",
            Some(&admin.access),
            json!({"name": name, "price": price, "stock": stock, "category": "limited"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    p["id"].as_str().unwrap().to_owned()
}

fn addr() -> Value {
    json!({"recipient": "홍길동", "phone": "010-1234-5678", "address": "서울시 강남구 테헤란로 1", "postal_code": "06236"})
}

async fn order(
    app: &TestApp,
    who: &Session,
    key: &str,
    lines: Value,
    coupon: Option<&str>,
) -> (StatusCode, Value) {
    let mut body = json!({"lines": lines, "shipping_address": addr()});
    if let Some(c) = coupon {
        body["coupon_id"] = json!(c);
    }
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

fn count(answers: &[(StatusCode, Value)], status: StatusCode, code: Option<&str>) -> usize {
    answers
        .iter()
        .filter(|(s, b)| *s == status && code.is_none_or(|c| b["code"] == c))
        .count()
}

matrix! {
    async fn one_buyer_keeps_at_most_ten_unpaid_units_of_a_product(app) {
        let admin = app.admin("hoard-shop@example.com").await;
        let pid = product(&app, &admin, "한정 운동화", 129_000, 100).await;
        let other = product(&app, &admin, "양말", 5_000, 100).await;
        let a = app.user("hoard-a@example.com", "hoarda").await;
        let (s, first) = order(&app, &a, "a1", json!([{"product_id": pid, "quantity": 6}]), None).await;
        assert_eq!(s, StatusCode::CREATED, "{first}");
        let (s, e) = order(&app, &a, "a2", json!([{"product_id": pid, "quantity": 5}]), None).await;
        assert_problem(s, &e, 409, "unpaid_limit");
        assert_eq!(e["unpaid_units"], 6);
        let (s, _) = order(&app, &a, "a3", json!([{"product_id": pid, "quantity": 4}]), None).await;
        assert_eq!(s, StatusCode::CREATED);
        // Baskets count too.
        let (s, e) = order(&app, &a, "a4", json!([{"product_id": other, "quantity": 1}, {"product_id": pid, "quantity": 1}]), None).await;
        assert_problem(s, &e, 409, "unpaid_limit");
        assert_eq!(e["line"], 1);
        // Cancelling gives the allowance back.
        let (s, _) = app.post(&format!("/api/v1/shop/orders/{}/cancel", first["id"].as_str().unwrap()), Some(&a.access), json!({})).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = order(&app, &a, "a5", json!([{"product_id": other, "quantity": 1}, {"product_id": pid, "quantity": 6}]), None).await;
        assert_eq!(s, StatusCode::CREATED);

        // In parallel, through the batcher and through baskets.
        let b = app.user("hoard-b@example.com", "hoardb").await;
        let answers = join_all((0..15).map(|i| {
            let (app, b, pid) = (&app, &b, &pid);
            async move { order(app, b, &format!("b{i}"), json!([{"product_id": pid, "quantity": 1}]), None).await }
        })).await;
        assert_eq!(count(&answers, StatusCode::CREATED, None), 10, "{answers:?}");
        assert_eq!(count(&answers, StatusCode::CONFLICT, Some("unpaid_limit")), 5);
        let c = app.user("hoard-c@example.com", "hoardc").await;
        let answers = join_all((0..15).map(|i| {
            let (app, c, pid, other) = (&app, &c, &pid, &other);
            async move {
                if i % 2 == 0 {
                    order(app, c, &format!("c{i}"), json!([{"product_id": pid, "quantity": 1}]), None).await
                } else {
                    order(app, c, &format!("c{i}"), json!([{"product_id": other, "quantity": 1}, {"product_id": pid, "quantity": 1}]), None).await
                }
            }
        })).await;
        assert_eq!(count(&answers, StatusCode::CREATED, None), 10, "{answers:?}");
        assert_eq!(count(&answers, StatusCode::CONFLICT, Some("unpaid_limit")), 5);
    }

    async fn a_buyer_at_the_cap_is_refused_yet_their_retries_replay_and_a_cancel_lets_them_back(app) {
        let admin = app.admin("cap-shop@example.com").await;
        let pid = product(&app, &admin, "한정 키링", 5_000, 100).await;
        let a = app.user("cap-a@example.com", "capa").await;
        let one = json!([{"product_id": pid, "quantity": 1}]);
        let (s, first) = order(&app, &a, "k1", json!([{"product_id": pid, "quantity": 10}]), None).await;
        assert_eq!(s, StatusCode::CREATED, "{first}");
        // Sale-day spam from a buyer at the cap, mixed with retries of their stored order:
        // every new order is refused, every retry is answered with the stored order.
        for _ in 0..3 {
            let answers = join_all((0..60).map(|i| {
                let (app, a, one, pid) = (&app, &a, &one, &pid);
                let key = if i % 10 == 0 { "k1".to_owned() } else { format!("spam{i}") };
                async move {
                    if key == "k1" {
                        order(app, a, &key, json!([{"product_id": pid, "quantity": 10}]), None).await
                    } else {
                        order(app, a, &key, one.clone(), None).await
                    }
                }
            }))
            .await;
            for (i, (s, b)) in answers.iter().enumerate() {
                if i % 10 == 0 {
                    assert_eq!(b["id"], first["id"], "a retry replays the stored order: {s} {b}");
                } else {
                    assert_problem(*s, b, 409, "unpaid_limit");
                    assert_eq!(b["unpaid_units"], 10);
                }
            }
        }
        assert_eq!(app.stored_i64("shop_products", "stock", &pid).await, 90, "only the first order took stock");
        // Cancelling gives the allowance back at once, not after the refusals' memory fades.
        let (s, _) = app.post(&format!("/api/v1/shop/orders/{}/cancel", first["id"].as_str().unwrap()), Some(&a.access), json!({})).await;
        assert_eq!(s, StatusCode::OK);
        let (s, again) = order(&app, &a, "k2", one.clone(), None).await;
        assert_eq!(s, StatusCode::CREATED, "{again}");
        assert_eq!(app.stored_i64("shop_products", "stock", &pid).await, 99);
    }

    async fn a_coupon_worth_the_whole_price_pays_the_order_at_once(app) {
        let admin = app.admin("free-shop@example.com").await;
        let pid = product(&app, &admin, "스티커", 2_000, 5).await;
        let (s, camp) = app.post("/api/v1/shop/coupon-campaigns", Some(&admin.access),
            json!({"name": "3천원", "quantity": 5, "discount_amount": 3000,
                   "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"})).await;
        assert_eq!(s, StatusCode::CREATED, "{camp}");
        let buyer = app.user("free-buyer@example.com", "freebuyer").await;
        let (s, c) = app.post(&format!("/api/v1/shop/coupon-campaigns/{}/claim", camp["id"].as_str().unwrap()), Some(&buyer.access), json!({})).await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        let coupon = c["coupon_id"].as_str().unwrap();
        let (s, o) = order(&app, &buyer, "free-1", json!([{"product_id": pid, "quantity": 1}]), Some(coupon)).await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
        assert_eq!(o["total"], 0);
        assert_eq!(o["status"], "PAID", "nothing to pay: paid at once, no gateway");
        let oid = o["id"].as_str().unwrap();
        let (_, coupons) = app.get("/api/v1/shop/coupons", Some(&buyer.access)).await;
        assert_eq!(coupons["items"][0]["status"], "USED");
        let (s, e) = app.post(&format!("/api/v1/shop/orders/{oid}/payment"), Some(&buyer.access), json!({})).await;
        assert_eq!(s, StatusCode::CONFLICT, "{e}");
        // The payment window passing changes nothing: the stock stays sold. Sweep now, as
        // the sweeper task would, so the checks below see what a sweep does.
        app.clock.advance_secs(16 * 60);
        let catalog = std::sync::Arc::new(surge_shop::catalog::Catalog::new(&app.app_foundation));
        let orders = surge_shop::orders::Orders::new(&app.app_foundation, catalog, std::time::Duration::from_secs(900));
        assert_eq!(orders.sweep_expired().await.unwrap(), 0, "a paid order is not swept");
        assert_eq!(app.stored_i64("shop_products", "stock", &pid).await, 4);
        let buyer = app.login("free-buyer@example.com", "password-1234").await;
        let (_, again) = app.get(&format!("/api/v1/shop/orders/{oid}"), Some(&buyer.access)).await;
        assert_eq!(again["status"], "PAID");
        let (_, mine) = app.get("/api/v1/shop/orders", Some(&buyer.access)).await;
        assert_eq!(mine["items"][0]["status"], "PAID", "{mine}");
        // It can still be cancelled like any paid order (nothing to refund).
        let (s, cancelled) = app.post(&format!("/api/v1/shop/orders/{oid}/cancel"), Some(&buyer.access), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{cancelled}");
        app.eventually(|| async {
            let (_, o) = app.get(&format!("/api/v1/shop/orders/{oid}"), Some(&buyer.access)).await;
            o["status"] == "REFUNDED"
        }).await;
    }

    async fn the_address_cap_holds_under_parallel_requests(app) {
        let me = app.user("many-addresses@example.com", "manyaddresses").await;
        let answers = join_all((0..40).map(|i| {
            let (app, me) = (&app, &me);
            async move {
                app.post("/api/v1/shop/addresses", Some(&me.access),
                    json!({"label": format!("곳 {i}"), "recipient": "홍길동", "phone": "010-1234-5678",
                           "address": "서울시 강남구 테헤란로 1", "postal_code": "06236"})).await
            }
        })).await;
        assert_eq!(count(&answers, StatusCode::CREATED, None), 20, "{answers:?}");
        assert_eq!(count(&answers, StatusCode::CONFLICT, Some("too_many_addresses")), 20);
        let (_, list) = app.get("/api/v1/shop/addresses", Some(&me.access)).await;
        assert_eq!(list.as_array().unwrap().len(), 20);
    }
}
