//! Audit findings on identity, through the real server: throttles that hold under
//! parallel requests, the client address behind proxies, password-guarded account
//! changes, one nickname per Unicode spelling, security state that other traffic cannot
//! push out, OAuth logins bound to the browser that started them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::future::join_all;
use surge_identity::oauth::ProviderConfig;
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, Backend, TestApp};

/// The app on every configured backend, with `tweak` applied.
async fn apps(tweak: impl Fn(&mut surge_testkit::Config)) -> Vec<TestApp> {
    let mut all = Vec::new();
    for b in [Backend::Embedded, Backend::Postgres, Backend::Mysql] {
        if let Some(app) = TestApp::spawn_on(b, &tweak).await {
            all.push(app);
        }
    }
    all
}

async fn login_status(app: &TestApp, email: &str, password: &str, xff: Option<&str>) -> StatusCode {
    let mut req = app
        .client
        .post(app.url("/api/v1/identity/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    req.send().await.unwrap().status()
}

matrix! {
    async fn parallel_wrong_passwords_are_checked_at_most_limit_times(app) {
        app.user("target@example.com", "target").await;
        let answers = join_all((0..25).map(|i| {
            let app = &app;
            async move { login_status(app, "target@example.com", &format!("guess-{i:04}"), None).await }
        }))
        .await;
        let checked = answers.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
        let refused = answers.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
        assert_eq!(checked, 5, "only the first 5 guesses are checked: {answers:?}");
        assert_eq!(refused, 20);
        assert_eq!(
            login_status(&app, "target@example.com", "password-1234", None).await,
            StatusCode::TOO_MANY_REQUESTS,
            "the account waits out its window"
        );
        // Absurd input is refused before it becomes a key or costs a hash.
        let long = format!("{}@example.com", "a".repeat(5000));
        assert_eq!(login_status(&app, &long, "password-1234", None).await, StatusCode::UNAUTHORIZED);
    }

    async fn changing_the_password_is_throttled_and_closing_the_account_needs_it(app) {
        let u = app.user("careful@example.com", "careful").await;
        for i in 0..5 {
            let (s, b) = app.post("/api/v1/identity/me/password", Some(&u.access),
                json!({"current_password": format!("guess-{i:04}"), "new_password": "taken-over-1"})).await;
            assert_problem(s, &b, 401, "wrong_password");
        }
        let (s, b) = app.post("/api/v1/identity/me/password", Some(&u.access),
            json!({"current_password": "password-1234", "new_password": "taken-over-1"})).await;
        assert_problem(s, &b, 429, "rate_limited");

        let v = app.user("victim@example.com", "victim").await;
        let (s, b) = app.call(Method::DELETE, "/api/v1/identity/me", Some(&v.access), None).await;
        assert_problem(s, &b, 401, "wrong_password");
        let (s, b) = app.call(Method::DELETE, "/api/v1/identity/me", Some(&v.access), Some(json!({"password": "nope-nope-1"}))).await;
        assert_problem(s, &b, 401, "wrong_password");
        let (s, _) = app.get("/api/v1/identity/me", Some(&v.access)).await;
        assert_eq!(s, StatusCode::OK, "still open");
        let (s, _) = app.call(Method::DELETE, "/api/v1/identity/me", Some(&v.access), Some(json!({"password": "password-1234"}))).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, b) = app.get("/api/v1/identity/me", Some(&v.access)).await;
        assert_problem(s, &b, 401, "session_revoked");
    }

    async fn a_nickname_is_one_account_in_every_unicode_form(app) {
        let nfc = "김서울";
        let nfd = "\u{1100}\u{1175}\u{11B7}\u{1109}\u{1165}\u{110B}\u{116E}\u{11AF}";
        assert_ne!(nfc, nfd, "two spellings of one name");
        let (s, b) = app.post("/api/v1/identity/signup", None,
            json!({"email": "nfc@example.com", "password": "password-1234", "nickname": nfc})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (s, b) = app.get(&format!("/api/v1/identity/nicknames/{nfd}"), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["available"], false, "{b}");
        assert_eq!(b["nickname"], nfc);
        let (s, b) = app.post("/api/v1/identity/signup", None,
            json!({"email": "nfd@example.com", "password": "password-1234", "nickname": nfd})).await;
        assert_problem(s, &b, 409, "nickname_taken");
        // Compatibility forms too: full-width letters are the ASCII name.
        app.user("ascii@example.com", "surge").await;
        let (s, b) = app.post("/api/v1/identity/signup", None,
            json!({"email": "wide@example.com", "password": "password-1234", "nickname": "ＳＵＲＧＥ"})).await;
        assert_problem(s, &b, 409, "nickname_taken");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_client_address_is_the_entry_our_proxy_wrote() {
    for app in apps(|c| {
        c.trust_forwarded_for = true;
        c.login_max_failures_per_ip = 3;
        c.login_max_failures_per_account = 100;
    })
    .await
    {
        // The client forges a new left-most address every time; our proxy appends the
        // one it saw, which is what counts.
        for i in 0..3 {
            let s = login_status(
                &app,
                &format!("nobody{i}@example.com"),
                "password-1234",
                Some(&format!("10.9.8.{i}, 203.0.113.7")),
            )
            .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
        let s = login_status(
            &app,
            "nobody9@example.com",
            "password-1234",
            Some("10.9.8.200, 203.0.113.7"),
        )
        .await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{:?}", app.backend);
        // Another client behind the same proxy is not affected.
        let s = login_status(
            &app,
            "nobody9@example.com",
            "password-1234",
            Some("203.0.113.8"),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_traffic_cannot_push_out_throttles_or_revocations() {
    for app in apps(|c| {
        // A general cache of one entry: had throttle counters and revocation markers
        // shared it, at most one of the three entries below could survive.
        c.cache_max_entries = 1;
        c.oauth_authorize_per_minute = 10_000;
        c.oauth
            .insert("github".into(), provider("github", "http://127.0.0.1:9"));
    })
    .await
    {
        app.user("locked@example.com", "locked").await;
        for _ in 0..5 {
            login_status(&app, "locked@example.com", "wrong-password", None).await;
        }
        let gone = app.user("gone@example.com", "gone").await;
        let (s, _) = app
            .post("/api/v1/identity/logout", Some(&gone.access), json!({}))
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        // Anyone can make the server store things: here, a thousand OAuth login states.
        for _ in 0..1000 {
            let res = app
                .client
                .get(app.url("/api/v1/identity/oauth/github/authorize"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
        }
        app.app_foundation.cache.ping().await.unwrap();
        assert_eq!(
            login_status(&app, "locked@example.com", "password-1234", None).await,
            StatusCode::TOO_MANY_REQUESTS,
            "the throttle held ({:?})",
            app.backend
        );
        let (s, b) = app.get("/api/v1/identity/me", Some(&gone.access)).await;
        assert_problem(s, &b, 401, "session_revoked");
    }
}

fn provider(name: &str, base: &str) -> ProviderConfig {
    ProviderConfig {
        name: name.into(),
        client_id: "client-123".into(),
        client_secret: "shh-secret".to_owned().into(),
        redirect_uri: format!("http://127.0.0.1/api/v1/identity/oauth/{name}/callback"),
        authorize_url: Some(format!("{base}/authorize")),
        token_url: Some(format!("{base}/token")),
        userinfo_url: Some(format!("{base}/user")),
        scopes: None,
    }
}

/// (state, Set-Cookie pair) of a started login.
async fn start(app: &TestApp) -> (String, Option<String>) {
    let res = app
        .client
        .get(app.url("/api/v1/identity/oauth/github/authorize"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let loc = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let state = loc
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("surge_oauth_state="))
        .map(|v| v.split(';').next().unwrap().to_owned());
    (state, cookie)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oauth_login_completes_only_in_the_browser_that_started_it() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "t", "token_type": "bearer"})),
        )
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 4242, "login": "attacker", "email": null})),
        )
        .mount(&fake)
        .await;
    for app in apps(|c| {
        c.oauth
            .insert("github".into(), provider("github", &fake.uri()));
        c.oauth_authorize_per_minute = 5;
    })
    .await
    {
        // The attacker starts a login in their browser and sends the victim the callback
        // link with their own code and state: the victim's browser has no such cookie.
        let (state, cookie) = start(&app).await;
        let cookie = cookie.expect("authorize sets the state cookie");
        assert_eq!(cookie, format!("surge_oauth_state={state}"));
        let callback = format!("/api/v1/identity/oauth/github/callback?code=good&state={state}");
        let res = app.client.get(app.url(&callback)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let b: Value = res.json().await.unwrap();
        assert_eq!(b["code"], "invalid_oauth_state");
        let res = app
            .client
            .get(app.url(&callback))
            .header("cookie", "surge_oauth_state=someone-elses")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        // The browser that started it completes it (the state was not spent above).
        let res = app
            .client
            .get(app.url(&callback))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{:?}", app.backend);
        let cleared = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.starts_with("surge_oauth_state=;") && v.contains("Max-Age=0"));
        assert!(cleared, "the state cookie is cleared");

        // Starting logins is rate-limited per client address (5 a minute here; one used).
        let mut statuses = Vec::new();
        for _ in 0..5 {
            let res = app
                .client
                .get(app.url("/api/v1/identity/oauth/github/authorize"))
                .send()
                .await
                .unwrap();
            statuses.push(res.status());
        }
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::SEE_OTHER)
                .count(),
            4,
            "{statuses:?}"
        );
        assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    }
}
