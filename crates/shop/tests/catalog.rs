//! Browsing and keeping the catalog; saved addresses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix};

matrix! {
    async fn admins_keep_the_catalog_and_everyone_browses_it(app) {
        let admin = app.admin("catalog@example.com").await;
        let user = app.user("browser@example.com", "browser").await;
        let (s, b) = app.post("/api/v1/shop/products", Some(&user.access),
            json!({"name": "x", "price": 1, "stock": 1, "category": "c"})).await;
        assert_problem(s, &b, 403, "forbidden");
        let (s, b) = app.post("/api/v1/shop/products", Some(&admin.access),
            json!({"name": "", "price": 1, "stock": 1, "category": "c"})).await;
        assert_problem(s, &b, 422, "validation_failed");
        let (s, b) = app.post("/api/v1/shop/products", Some(&admin.access),
            json!({"name": "x", "price": -5, "stock": 1, "category": "c"})).await;
        assert_problem(s, &b, 422, "validation_failed");

        let mut ids = Vec::new();
        for (name, price, cat) in [("A", 3000, "food"), ("B", 1000, "food"), ("C", 2000, "books"), ("D", 1000, "food"), ("E", 5000, "food")] {
            let (s, p) = app.post("/api/v1/shop/products", Some(&admin.access),
                json!({"name": name, "price": price, "stock": 3, "category": cat, "image_url": "https://img.example.com/a.png"})).await;
            assert_eq!(s, StatusCode::CREATED, "{p}");
            assert_eq!(p["sold_out"], false);
            ids.push(p["id"].as_str().unwrap().to_owned());
        }
        let names = |page: &Value| page["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        let (_, page) = app.get("/api/v1/shop/products", None).await;
        assert_eq!(names(&page), ["E", "D", "C", "B", "A"], "newest first");
        // Price order walks pages with a cursor; ties break by id.
        let mut seen = Vec::new();
        let mut q = "?category=food&sort=price_asc&limit=2".to_owned();
        loop {
            let (s, page) = app.get(&format!("/api/v1/shop/products{q}"), None).await;
            assert_eq!(s, StatusCode::OK, "{page}");
            seen.extend(names(&page));
            match page["next_cursor"].as_str() { Some(c) => q = format!("?category=food&sort=price_asc&limit=2&cursor={c}"), None => break }
        }
        assert_eq!(seen, ["B", "D", "A", "E"]);
        let (_, page) = app.get("/api/v1/shop/products?sort=price_desc&limit=1", None).await;
        assert_eq!(names(&page), ["E"]);
        let (s, b) = app.get("/api/v1/shop/products?sort=cheapest", None).await;
        assert_problem(s, &b, 400, "invalid_query");

        let a = &ids[0];
        let (s, p) = app.call(Method::PATCH, &format!("/api/v1/shop/products/{a}"), Some(&admin.access), Some(json!({"price": 3500}))).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        let (_, p) = app.get(&format!("/api/v1/shop/products/{a}"), None).await;
        assert_eq!(p["price"], 3500, "a change is visible at once (cache dropped)");
        let (_, p) = app.post(&format!("/api/v1/shop/products/{a}/restock"), Some(&admin.access), json!({"quantity": 7})).await;
        assert_eq!(p["stock"], 10);
        let (s, _) = app.call(Method::DELETE, &format!("/api/v1/shop/products/{a}"), Some(&admin.access), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, b) = app.get(&format!("/api/v1/shop/products/{a}"), None).await;
        assert_problem(s, &b, 404, "not_found");
        let (s, b) = app.get("/api/v1/shop/products/not-a-uuid", None).await;
        assert_problem(s, &b, 400, "invalid_path");
    }

    async fn saved_addresses_are_private_and_usable_for_orders(app) {
        let admin = app.admin("addr-admin@example.com").await;
        let me = app.user("addr@example.com", "addresser").await;
        let other = app.user("addr2@example.com", "addresser2").await;
        let body = json!({"label": "집", "recipient": "이영희", "phone": "010-2222-3333", "address": "대전시 유성구 2", "postal_code": "34141"});
        let (s, a) = app.post("/api/v1/shop/addresses", Some(&me.access), body.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        let id = a["id"].as_str().unwrap();
        let (s, b) = app.post("/api/v1/shop/addresses", Some(&me.access), json!({"recipient": "x", "phone": "no", "address": "y", "postal_code": "12345"})).await;
        assert_problem(s, &b, 422, "validation_failed");
        let (_, list) = app.get("/api/v1/shop/addresses", Some(&other.access)).await;
        assert_eq!(list.as_array().unwrap().len(), 0);
        let (s, b) = app.call(Method::DELETE, &format!("/api/v1/shop/addresses/{id}"), Some(&other.access), None).await;
        assert_problem(s, &b, 404, "not_found");
        let mut changed = body.clone();
        changed["label"] = json!("회사");
        let (s, a2) = app.call(Method::PUT, &format!("/api/v1/shop/addresses/{id}"), Some(&me.access), Some(changed)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(a2["label"], "회사");

        let (_, p) = app.post("/api/v1/shop/products", Some(&admin.access), json!({"name": "펜", "price": 1500, "stock": 5, "category": "office"})).await;
        let res = app.client.post(app.url("/api/v1/shop/orders")).bearer_auth(&me.access).header("Idempotency-Key", "addr-order")
            .json(&json!({"lines": [{"product_id": p["id"], "quantity": 1}], "address_id": id})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let o: Value = res.json().await.unwrap();
        assert_eq!(o["shipping_address"]["recipient"], "이영희");
        let res = app.client.post(app.url("/api/v1/shop/orders")).bearer_auth(&other.access).header("Idempotency-Key", "steal")
            .json(&json!({"lines": [{"product_id": p["id"], "quantity": 1}], "address_id": id})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "someone else's address is not usable");
        let (s, _) = app.call(Method::DELETE, &format!("/api/v1/shop/addresses/{id}"), Some(&me.access), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }
}
