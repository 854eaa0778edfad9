//! The web app through the real server: sessions in cookies, CSRF, sign-in/out,
//! buying, and pages of modules that are not served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use surge_testkit::reqwest::{header, StatusCode};
use surge_testkit::{matrix, TestApp};

matrix! {
    /// Every unsafe request needs the form's token; SameSite alone is not relied on.
    async fn forms_without_the_csrf_token_are_refused(app) {
        let b = Browser::new(&app);
        b.get("/login").await;
        // No token, and a token of another browser: both 403 pages, no sign-in.
        app.user("csrf@example.com", "csrf_user").await;
        let no_token = b.post("/login", &[("email", "csrf@example.com"), ("password", "password-1234")]).await;
        assert_eq!(no_token.status, StatusCode::FORBIDDEN);
        assert!(no_token.body.contains("보안 토큰"), "{}", no_token.body);
        let other = Browser::new(&app);
        let foreign = other.get("/login").await.csrf();
        let forged = b.post("/login", &[("_csrf", &foreign), ("email", "csrf@example.com"), ("password", "password-1234")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert!(b.cookie("surge_at").is_none(), "no session from a refused form");

        // Signed in, the token is bound to the session: the pre-login token no longer works.
        let old = b.get("/login").await.csrf();
        b.sign_in("csrf@example.com").await;
        let stale = b.post("/logout", &[("_csrf", &old)]).await;
        assert_eq!(stale.status, StatusCode::FORBIDDEN);
        let me = b.get("/me").await;
        assert_eq!(me.status, StatusCode::OK, "still signed in");
        // htmx sends it as a header instead.
        let with_header = b.send(app.client.post(app.url("/notifications/read")).header("x-csrf-token", me.csrf())).await;
        assert_eq!(with_header.status, StatusCode::SEE_OTHER);
    }

    async fn session_cookies_are_http_only_lax_and_site_wide(app) {
        let b = Browser::new(&app);
        b.sign_up("flags@example.com", "flags").await;
        let lines = b.set_lines.lock().unwrap().clone();
        for name in ["surge_at=", "surge_rt=", "surge_anon="] {
            let line = lines.iter().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {lines:?}"));
            assert!(line.contains("HttpOnly"), "{line}");
            assert!(line.contains("SameSite=Lax"), "{line}");
            assert!(line.contains("Path=/"), "{line}");
            assert!(!line.contains("Secure"), "tests run without secure cookies: {line}");
        }
        let me = b.get("/me").await;
        assert_eq!(me.status, StatusCode::OK);
        assert!(me.body.contains("flags@example.com"));
    }

    #[config(|c| c.secure_cookies = true)]
    async fn cookies_are_secure_when_configured(app) {
        let b = Browser::new(&app);
        b.sign_up("secure@example.com", "secure").await;
        let lines = b.set_lines.lock().unwrap().clone();
        assert!(lines.iter().filter(|l| l.starts_with("surge_")).all(|l| l.contains("; Secure")), "{lines:?}");
    }

    /// A browser session is an identity session: logging out (here, or everywhere
    /// through the API) ends it, and its old cookies no longer sign anyone in.
    async fn a_logged_out_sessions_cookies_no_longer_work(app) {
        app.user("out@example.com", "outgoing").await;
        let b = Browser::new(&app);
        b.sign_in("out@example.com").await;
        let stolen = b.cookie_header();
        let me = b.get("/me").await;
        assert_eq!(me.status, StatusCode::OK);
        let out = b.post("/logout", &[("_csrf", &me.csrf())]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert!(b.cookie("surge_at").is_none() && b.cookie("surge_rt").is_none(), "cookies cleared");
        // The old cookies, replayed: not signed in, and told to forget them.
        let replay = app.client.get(app.url("/me")).header(header::COOKIE, &stolen).send().await.unwrap();
        assert_eq!(replay.status(), StatusCode::SEE_OTHER);
        assert_eq!(replay.headers()[header::LOCATION], "/login?next=%2Fme");
        let cleared: Vec<_> = replay.headers().get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        assert!(cleared.iter().any(|l| l.starts_with("surge_rt=;") && l.contains("Max-Age=0")), "{cleared:?}");

        // Log out everywhere through the API ends a browser session too.
        let b2 = Browser::new(&app);
        b2.sign_in("out@example.com").await;
        let api = app.login("out@example.com", "password-1234").await;
        let (s, _) = app.post("/api/v1/identity/logout-all", Some(&api.access), surge_testkit::serde_json::json!({})).await;
        assert!(s.is_success(), "{s}");
        let after = b2.get("/me").await;
        assert_eq!(after.status, StatusCode::SEE_OTHER, "signed out by logout-all");
    }

    /// When the access token has expired the refresh cookie renews the session, once:
    /// a page and requests racing it share the renewal instead of tripping reuse detection.
    async fn an_expired_access_token_is_renewed_once_for_racing_requests(app) {
        app.user("renew@example.com", "renewer").await;
        let b = Browser::new(&app);
        b.sign_in("renew@example.com").await;
        let before = b.cookie("surge_at").unwrap();
        app.clock.advance_secs(20 * 60);
        let cookies = b.cookie_header();
        let pages = futures_join(&app, &cookies, 8).await;
        for (status, set) in &pages {
            assert_eq!(*status, StatusCode::OK, "every racing request is still signed in");
            assert!(set.iter().any(|l| l.starts_with("surge_at=") && !l.contains("Max-Age=0")), "{set:?}");
        }
        let at = pages[0].1.iter().find(|l| l.starts_with("surge_at=")).unwrap();
        assert!(!at.contains(&before), "a new access token");
        // The family was not revoked: the renewed session keeps working.
        let b2 = Browser::new(&app);
        for line in &pages[0].1 {
            let kv = line.split(';').next().unwrap();
            let (k, v) = kv.split_once('=').unwrap();
            b2.cookies.lock().unwrap().insert(k.to_owned(), v.to_owned());
        }
        assert_eq!(b2.get("/me").await.status, StatusCode::OK);
    }

    async fn sign_up_errors_come_back_in_korean_beside_the_field(app) {
        app.user("taken@example.com", "taken_nick").await;
        let b = Browser::new(&app);
        let csrf = b.get("/signup").await.csrf();
        let bad = b.post("/signup", &[("_csrf", &csrf), ("email", "not-an-email"), ("nickname", "ok_nick"), ("password", "password-1234")]).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.body.contains("이메일 형식이 올바르지 않습니다"), "{}", bad.body);
        assert!(bad.body.contains(r#"aria-describedby="email-error""#), "the field points at its message");
        assert!(bad.body.contains(r#"value="ok_nick""#), "what was typed is kept");
        let taken = b.post("/signup", &[("_csrf", &csrf), ("email", "taken@example.com"), ("nickname", "other_nick"), ("password", "password-1234")]).await;
        assert_eq!(taken.status, StatusCode::CONFLICT);
        assert!(taken.body.contains("이미 가입된 이메일입니다"));
        let wrong = b.post("/login", &[("_csrf", &csrf), ("email", "taken@example.com"), ("password", "wrong-password")]).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.body.contains("이메일 또는 비밀번호가 올바르지 않습니다"));
        assert!(b.get("/nowhere").await.body.contains("페이지를 찾을 수 없습니다"));
    }

    async fn a_buyer_orders_pays_and_sees_the_order(app) {
        let admin = app.admin("shopadmin@example.com").await;
        let (s, p) = app.post("/api/v1/shop/products", Some(&admin.access),
            surge_testkit::serde_json::json!({"name": "한정판 머그컵", "price": 12000, "stock": 3, "category": "주방"})).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let id = p["id"].as_str().unwrap().to_owned();
        let b = Browser::new(&app);
        b.sign_up("buyer@example.com", "buyer").await;
        let catalog = b.get("/shop?category=주방&sort=price_asc").await;
        assert!(catalog.body.contains("한정판 머그컵") && catalog.body.contains("12,000원"), "{}", catalog.body);
        let product = b.get(&format!("/shop/products/{id}")).await;
        assert!(product.body.contains("남은 수량 <strong>3</strong>"));
        let (csrf, idem) = (product.csrf(), field_value(&product.body, "idem"));
        let form = |qty: &'static str, phone: &'static str| {
            vec![("_csrf", csrf.clone()), ("product_id", id.clone()), ("idem", idem.clone()), ("quantity", qty.to_owned()),
                 ("recipient", "김구매".to_owned()), ("phone", phone.to_owned()), ("address", "서울시 중구 1".to_owned()), ("postal_code", "04524".to_owned())]
        };
        let bad = b.post_owned("/shop/orders", &form("1", "call me")).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.body.contains("연락처를 확인해 주세요"), "{}", bad.body);
        let too_many = b.post_owned("/shop/orders", &form("5", "010-1111-2222")).await;
        assert_eq!(too_many.status, StatusCode::CONFLICT, "{}", too_many.body);
        assert!(too_many.body.contains("재고가 부족합니다"), "{}", too_many.body);
        let placed = b.post_owned("/shop/orders", &form("2", "010-1111-2222")).await;
        assert_eq!(placed.status, StatusCode::SEE_OTHER, "{}", placed.body);
        let order_url = placed.location.unwrap();
        // The same form sent again (a double click) is the same order.
        let again = b.post_owned("/shop/orders", &form("2", "010-1111-2222")).await;
        assert_eq!(again.location.as_deref(), Some(order_url.as_str()));
        let order = b.get(&order_url).await;
        assert!(order.body.contains("결제 대기") && order.body.contains("24,000원"), "{}", order.body);
        let paid = b.post(&format!("{order_url}/pay"), &[("_csrf", &order.csrf())]).await;
        assert_eq!(paid.status, StatusCode::SEE_OTHER, "{}", paid.body);
        let order = b.get(&paid.location.unwrap()).await;
        assert!(order.body.contains("결제 완료") && order.body.contains("결제가 완료되었습니다"), "{}", order.body);
        let mine = b.get("/shop/orders").await;
        assert!(mine.body.contains("한정판 머그컵") && mine.body.contains("결제 완료"));
        // Two sold, once (the product cache may answer the old stock for up to a second).
        app.eventually(|| async {
            app.get(&format!("/api/v1/shop/products/{id}"), None).await.1["stock"] == 1
        }).await;
        // Someone else's order is not found.
        let other = Browser::new(&app);
        other.sign_up("other@example.com", "other").await;
        assert_eq!(other.get(&order_url).await.status, StatusCode::NOT_FOUND);
    }

    #[config(|c| c.modules = Some("identity,notifications,web".into()))]
    async fn pages_of_a_module_not_served_are_not_found(app) {
        let b = Browser::new(&app);
        let home = b.get("/").await;
        assert_eq!(home.status, StatusCode::OK);
        assert!(!home.body.contains("/shop"), "no link to the shop");
        let shop = b.get("/shop").await;
        assert_eq!(shop.status, StatusCode::NOT_FOUND);
        assert!(shop.body.contains("페이지를 찾을 수 없습니다"));
    }

    #[config(|c| c.modules = Some("identity,shop".into()))]
    async fn no_pages_when_web_is_not_served(app) {
        let b = Browser::new(&app);
        assert_eq!(b.get("/").await.status, StatusCode::NOT_FOUND);
        assert_eq!(b.get("/login").await.status, StatusCode::NOT_FOUND);
    }
}

/// `n` simultaneous GET /me with the same cookies: (status, Set-Cookie lines) each.
async fn futures_join(app: &TestApp, cookies: &str, n: usize) -> Vec<(StatusCode, Vec<String>)> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let req = app
            .client
            .get(app.url("/me"))
            .header(header::COOKIE, cookies.to_owned());
        tasks.push(tokio::spawn(async move {
            let res = req.send().await.unwrap();
            let set = res
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
            (res.status(), set)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}
