//! The operational surface: health, readiness, metrics, OpenAPI, docs, request ids.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::Value;
use surge_testkit::{matrix, TestApp};

matrix! {
    async fn health_readiness_and_metrics(app) {
        let (s, b) = app.get("/healthz", None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["status"], "ok");
        let (s, b) = app.get("/readyz", None).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        for check in ["database", "database_read", "cache", "pubsub", "event_bus"] {
            assert_eq!(b["checks"][check], "ok", "{check}: {b}");
        }
        app.get("/api/v1/identity/nicknames/metric", None).await;
        let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(text.contains("surge_http_requests_total"), "{text}");
        assert!(text.contains("route=\"/api/v1/identity/nicknames/{nickname}\""), "per-route labels");
        assert!(text.contains("surge_http_request_duration_seconds_bucket"), "latency histogram");
        assert!(text.contains("surge_db_pool_connections"), "pool gauge");
    }
}

#[tokio::test]
async fn openapi_documents_every_route_and_docs_render_offline() {
    let app = TestApp::spawn().await;
    let (s, spec) = app.get("/api/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    let paths = spec["paths"].as_object().unwrap();
    let expected = [
        ("/api/v1/identity/signup", "post"),
        ("/api/v1/identity/login", "post"),
        ("/api/v1/identity/token/refresh", "post"),
        ("/api/v1/identity/logout", "post"),
        ("/api/v1/identity/logout-all", "post"),
        ("/api/v1/identity/me", "get"),
        ("/api/v1/identity/me", "patch"),
        ("/api/v1/identity/me", "delete"),
        ("/api/v1/identity/me/password", "post"),
        ("/api/v1/identity/nicknames/{nickname}", "get"),
        ("/api/v1/identity/admin/users", "get"),
        ("/api/v1/identity/admin/users/{id}", "patch"),
        ("/api/v1/identity/oauth/providers", "get"),
        ("/api/v1/identity/oauth/{provider}/authorize", "get"),
        ("/api/v1/identity/oauth/{provider}/callback", "get"),
        ("/api/v1/notifications", "get"),
        ("/api/v1/notifications/unread-count", "get"),
        ("/api/v1/notifications/read", "post"),
        ("/api/v1/notifications/stream", "get"),
        ("/api/v1/shop/products", "get"),
        ("/api/v1/shop/products", "post"),
        ("/api/v1/shop/products/{id}", "get"),
        ("/api/v1/shop/products/{id}", "patch"),
        ("/api/v1/shop/products/{id}", "delete"),
        ("/api/v1/shop/products/{id}/restock", "post"),
        ("/api/v1/shop/orders", "post"),
        ("/api/v1/shop/orders", "get"),
        ("/api/v1/shop/orders/{id}", "get"),
        ("/api/v1/shop/orders/{id}/cancel", "post"),
        ("/api/v1/shop/orders/{id}/payment", "post"),
        ("/api/v1/shop/orders/{id}/payment/approve", "post"),
        ("/api/v1/shop/admin/orders", "get"),
        ("/api/v1/shop/admin/orders/{id}/status", "post"),
        ("/api/v1/shop/coupon-campaigns", "post"),
        ("/api/v1/shop/coupon-campaigns/{id}", "get"),
        ("/api/v1/shop/coupon-campaigns/{id}/claim", "post"),
        ("/api/v1/shop/coupons", "get"),
        ("/api/v1/shop/addresses", "get"),
        ("/api/v1/shop/addresses", "post"),
        ("/api/v1/shop/addresses/{id}", "put"),
        ("/api/v1/shop/addresses/{id}", "delete"),
        ("/api/v1/ticketing/flights", "get"),
        ("/api/v1/ticketing/flights", "post"),
        ("/api/v1/ticketing/flights/{id}", "get"),
        ("/api/v1/ticketing/flights/{id}", "patch"),
        ("/api/v1/ticketing/flights/{id}/cancel", "post"),
        ("/api/v1/ticketing/flights/{id}/seats", "get"),
        ("/api/v1/ticketing/sales", "post"),
        ("/api/v1/ticketing/sales/{id}", "get"),
        ("/api/v1/ticketing/sales/{id}/close", "post"),
        ("/api/v1/ticketing/sales/{id}/queue", "post"),
        ("/api/v1/ticketing/sales/{id}/queue/me", "get"),
        ("/api/v1/ticketing/sales/{id}/queue/me", "delete"),
        ("/api/v1/ticketing/sales/{id}/queue/stream", "get"),
        ("/api/v1/ticketing/holds", "post"),
        ("/api/v1/ticketing/holds/{id}", "delete"),
        ("/api/v1/ticketing/holds/{id}/payment", "post"),
        ("/api/v1/ticketing/holds/{id}/payment/approve", "post"),
        ("/api/v1/ticketing/reservations", "get"),
        ("/api/v1/ticketing/reservations/{id}", "get"),
        ("/api/v1/ticketing/reservations/{id}/cancel", "post"),
        ("/api/v1/partner/rooms", "get"),
        ("/api/v1/partner/rooms", "post"),
        ("/api/v1/partner/rooms/{id}", "get"),
        ("/api/v1/partner/rooms/{id}", "patch"),
        ("/api/v1/partner/rooms/{id}", "delete"),
        ("/api/v1/partner/rooms/{id}/restore", "post"),
        ("/api/v1/partner/rooms/{id}/join", "post"),
        ("/api/v1/partner/rooms/{id}/leave", "post"),
        ("/api/v1/partner/rooms/{id}/complete", "post"),
        ("/api/v1/partner/rooms/{id}/comments", "get"),
        ("/api/v1/partner/rooms/{id}/comments", "post"),
        ("/api/v1/partner/comments/{id}", "patch"),
        ("/api/v1/partner/comments/{id}", "delete"),
        ("/api/v1/partner/random-matches", "post"),
        ("/api/v1/partner/random-matches/mine", "get"),
        ("/api/v1/partner/random-matches/count", "get"),
        ("/api/v1/partner/random-matches/{category}", "delete"),
        ("/api/v1/partner/matches", "get"),
        ("/api/v1/partner/matches/{id}", "get"),
        ("/api/v1/partner/matches/{id}/reviews", "post"),
        ("/api/v1/partner/activity/me", "get"),
        ("/api/v1/partner/activity/leaderboard", "get"),
        ("/api/v1/careers/postings", "get"),
        ("/api/v1/careers/postings", "post"),
        ("/api/v1/careers/postings/{id}", "get"),
        ("/api/v1/careers/postings/{id}", "patch"),
        ("/api/v1/careers/postings/{id}", "delete"),
        ("/api/v1/careers/postings/{id}/scrap", "put"),
        ("/api/v1/careers/postings/{id}/scrap", "delete"),
        ("/api/v1/careers/scraps", "get"),
        ("/api/v1/careers/points/me", "get"),
        ("/api/v1/careers/points/grants", "post"),
        ("/api/v1/careers/mentoring/programs", "get"),
        ("/api/v1/careers/mentoring/programs", "post"),
        ("/api/v1/careers/mentoring/programs/{id}", "get"),
        ("/api/v1/careers/mentoring/programs/{id}", "patch"),
        ("/api/v1/careers/mentoring/programs/{id}/close", "post"),
        ("/api/v1/careers/mentoring/programs/{id}/cancel", "post"),
        (
            "/api/v1/careers/mentoring/programs/{id}/applications",
            "get",
        ),
        (
            "/api/v1/careers/mentoring/programs/{id}/applications",
            "post",
        ),
        ("/api/v1/careers/mentoring/applications/mine", "get"),
        ("/api/v1/careers/mentoring/applications/{id}/accept", "post"),
        ("/api/v1/careers/mentoring/applications/{id}/reject", "post"),
        ("/api/v1/careers/mentoring/applications/{id}/cancel", "post"),
        ("/api/v1/community/posts", "get"),
        ("/api/v1/community/posts", "post"),
        ("/api/v1/community/posts/{id}", "get"),
        ("/api/v1/community/posts/{id}", "patch"),
        ("/api/v1/community/posts/{id}", "delete"),
        ("/api/v1/community/posts/{id}/vote", "put"),
        ("/api/v1/community/posts/{id}/vote", "delete"),
        ("/api/v1/community/posts/{id}/comments", "get"),
        ("/api/v1/community/posts/{id}/comments", "post"),
        ("/api/v1/community/comments/{id}", "patch"),
        ("/api/v1/community/comments/{id}", "delete"),
        ("/api/v1/community/images", "post"),
        ("/api/v1/community/images/{id}", "get"),
        ("/api/v1/community/missions", "get"),
        ("/api/v1/community/missions", "post"),
        ("/api/v1/community/missions/{id}", "put"),
        ("/api/v1/community/missions/today", "post"),
        ("/api/v1/community/mission-histories", "get"),
        ("/api/v1/community/mission-histories/{id}", "get"),
        ("/api/v1/community/mission-histories/{id}/proof", "post"),
        ("/api/v1/community/admin/mission-proofs", "get"),
        (
            "/api/v1/community/admin/mission-proofs/{id}/approve",
            "post",
        ),
        ("/api/v1/community/admin/mission-proofs/{id}/reject", "post"),
        ("/api/v1/community/points/me", "get"),
        ("/api/v1/community/rankings", "get"),
        ("/api/v1/chat/rooms", "get"),
        ("/api/v1/chat/rooms", "post"),
        ("/api/v1/chat/rooms/mine", "get"),
        ("/api/v1/chat/rooms/{id}", "get"),
        ("/api/v1/chat/rooms/{id}/join", "post"),
        ("/api/v1/chat/rooms/{id}/leave", "post"),
        ("/api/v1/chat/rooms/{id}/close", "post"),
        ("/api/v1/chat/rooms/{id}/members", "get"),
        ("/api/v1/chat/rooms/{id}/read", "post"),
        ("/api/v1/chat/rooms/{id}/messages", "get"),
        ("/api/v1/chat/ws", "get"),
        ("/api/v1/chat/provinces", "get"),
        ("/api/v1/chat/provinces/{code}/follow", "put"),
        ("/api/v1/chat/provinces/{code}/follow", "delete"),
        ("/api/v1/careers/sources", "get"),
        ("/api/v1/careers/sources/{name}/sync", "post"),
        ("/api/v1/careers/sync-runs", "get"),
        ("/api/v1/careers/sync-runs/{id}", "get"),
        ("/api/v1/careers/news", "get"),
        ("/api/v1/careers/news/feeds/{name}/refresh", "post"),
        ("/api/v1/admin/dead-letters", "get"),
        ("/api/v1/admin/dead-letters/{id}/retry", "post"),
        ("/api/v1/billing/usage/me", "get"),
        ("/api/v1/billing/subscriptions", "post"),
        ("/api/v1/billing/subscriptions/{id}/approve", "post"),
        ("/api/v1/billing/subscriptions/me", "get"),
        ("/api/v1/billing/subscriptions/me", "delete"),
        ("/api/v1/admin/batch-runs", "get"),
        ("/api/v1/resumes", "get"),
        ("/api/v1/resumes", "post"),
        ("/api/v1/resumes/mine", "get"),
        ("/api/v1/resumes/{id}", "get"),
        ("/api/v1/resumes/{id}", "put"),
        ("/api/v1/resumes/{id}", "patch"),
        ("/api/v1/resumes/{id}", "delete"),
        ("/api/v1/resumes/{id}/edit", "post"),
        ("/api/v1/resumes/{id}/versions", "get"),
        ("/api/v1/resumes/{id}/likes", "post"),
        ("/api/v1/resumes/{id}/like", "put"),
        ("/api/v1/resumes/{id}/like", "delete"),
        ("/api/v1/resumes/{id}/comments", "get"),
        ("/api/v1/resumes/{id}/comments", "post"),
        ("/api/v1/resumes/{id}/comments/{cid}", "patch"),
        ("/api/v1/resumes/{id}/comments/{cid}", "delete"),
    ];
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is documented"
        );
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        expected.len(),
        "no undocumented or stale operations"
    );
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    error_answers_are_documented(&spec);

    let res = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let res = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "assets are served locally");
}

/// The contract generated clients rely on: every error a route gives by construction
/// is documented, always as problem+json, and operation ids are unique.
fn error_answers_are_documented(spec: &Value) {
    let shared = &spec["components"]["responses"];
    let resolve = |r: &Value| -> Value {
        match r["$ref"].as_str() {
            Some(rf) => {
                let name = rf.strip_prefix("#/components/responses/").unwrap();
                shared[name].clone()
            }
            None => r.clone(),
        }
    };
    let mut ids = std::collections::HashSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap();
            assert!(
                ids.insert(id.to_owned()),
                "{name}: operationId {id} is unique"
            );
            let responses = op["responses"].as_object().unwrap();
            for (status, r) in responses {
                if status.parse::<u16>().unwrap() < 400 {
                    continue;
                }
                let content = resolve(r)["content"].clone();
                let keys: Vec<&String> = content.as_object().unwrap().keys().collect();
                assert_eq!(
                    keys,
                    ["application/problem+json"],
                    "{name} {status}: {content}"
                );
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{name} {status}"
                );
            }
            let has = |s: &str| responses.contains_key(s);
            let bearer: Vec<&Value> = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|req| req.get("bearer"))
                .collect();
            if !bearer.is_empty() {
                assert!(has("401"), "{name}: a bearer route documents 401");
            }
            if bearer
                .iter()
                .any(|scopes| scopes.as_array().unwrap().iter().any(|s| s == "ADMIN"))
            {
                assert!(has("403"), "{name}: an admin route documents 403");
            }
            if op.get("requestBody").is_some() {
                for s in ["400", "413", "415", "422"] {
                    assert!(has(s), "{name}: a route with a JSON body documents {s}");
                }
            }
            if op["parameters"].as_array().is_some_and(|ps| !ps.is_empty())
                && op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["in"] == "path" || p["in"] == "query")
            {
                assert!(has("400"), "{name}: a route with parameters documents 400");
            }
            for s in ["408", "500"] {
                assert!(has(s), "{name}: every route documents {s}");
            }
        }
    }
    assert!(spec["components"]["schemas"]["Problem"].is_object());
    let admin_only = &spec["paths"]["/api/v1/shop/products"]["post"]["security"];
    assert_eq!(
        admin_only[0]["bearer"][0], "ADMIN",
        "admin routes name the role"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(res.headers().get("x-request-id").is_some());
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-1");
    let res = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn scaled_mode_requires_a_jwt_secret_before_touching_the_database() {
    // Nothing listens on port 1: had the server connected or migrated first, the error
    // would be about the database, not the missing secret.
    let cfg = surge_server::Config {
        database_url: Some("postgres://surge@127.0.0.1:1/never_created".into()),
        ..surge_server::Config::default()
    };
    let err = surge_server::build(&cfg, std::sync::Arc::new(surge_kernel::clock::SystemClock))
        .await
        .err()
        .expect("a scaled start without SURGE_JWT_SECRET is refused");
    assert!(err.to_string().contains("SURGE_JWT_SECRET"), "{err}");
}
