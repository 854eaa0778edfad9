//! OAuth2 login end to end against a local fake provider (wiremock), on every backend:
//! linking and creating accounts race on the database's unique indexes, and the login
//! state lives in the shared cache (Redis when configured).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use surge_identity::oauth::{pkce_challenge, ProviderConfig};
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, Backend, TestApp};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn provider(name: &str, fake: &MockServer) -> ProviderConfig {
    ProviderConfig {
        name: name.into(),
        client_id: "client-123".into(),
        client_secret: "shh-secret".to_owned().into(),
        redirect_uri: format!("http://127.0.0.1/api/v1/identity/oauth/{name}/callback"),
        authorize_url: Some(format!("{}/authorize", fake.uri())),
        token_url: Some(format!("{}/token", fake.uri())),
        userinfo_url: Some(format!("{}/user", fake.uri())),
        scopes: None,
    }
}

/// Runs each test on every backend, like `matrix!`, but hands the test its backend: the
/// provider configuration points at a fake started inside the test, which a `matrix!`
/// `#[config]` (a plain function) cannot capture. An unconfigured backend makes
/// [`app_with`] answer `None` (SKIPPED, or a failure under `SURGE_TEST_REQUIRE_BACKENDS=1`).
macro_rules! on_every_backend {
    ($( async fn $name:ident($backend:ident) $body:block )*) => {
        $(
            mod $name {
                use super::*;

                async fn run($backend: Backend) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn embedded() {
                    run(Backend::Embedded).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    run(Backend::Postgres).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn mysql() {
                    run(Backend::Mysql).await;
                }
            }
        )*
    };
}

/// The app on `backend` with these providers; `None` when the backend is not configured.
async fn app_with(backend: Backend, providers: Vec<ProviderConfig>) -> Option<TestApp> {
    TestApp::spawn_on(backend, |cfg| {
        for p in providers {
            cfg.oauth.insert(p.name.clone(), p);
        }
    })
    .await
}

fn form(req: &Request) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect()
}

/// Follows the authorize redirect like a browser would, returning (state, challenge).
async fn start(app: &TestApp, name: &str) -> (String, String) {
    let res = app
        .client
        .get(app.url(&format!("/api/v1/identity/oauth/{name}/authorize")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let loc = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = loc.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "client-123");
    assert_eq!(q["code_challenge_method"], "S256");
    (q["state"].clone(), q["code_challenge"].clone())
}

/// The provider's redirect back, from the browser that started the login (it carries
/// the state cookie the authorize step set).
async fn callback(app: &TestApp, path: &str, state: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .get(app.url(path))
        .header("cookie", format!("surge_oauth_state={state}"))
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

type Verifiers = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A fake Kakao login: refusals are HTTP 400 `invalid_grant` (RFC 6749 §5.2, as Kakao's
/// token endpoint answers them).
async fn fake_provider(userinfo: Value) -> (MockServer, Verifiers) {
    let fake = MockServer::start().await;
    let verifiers = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = verifiers.clone();
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(move |req: &Request| {
            let f = form(req);
            let ok = f.get("grant_type").map(String::as_str) == Some("authorization_code")
                && f.get("code").map(String::as_str) == Some("good-code")
                && f.get("client_secret").map(String::as_str) == Some("shh-secret");
            seen.lock()
                .unwrap()
                .push(f.get("code_verifier").cloned().unwrap_or_default());
            if ok {
                ResponseTemplate::new(200).set_body_json(
                    json!({"access_token": "provider-token", "token_type": "bearer"}),
                )
            } else {
                ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"}))
            }
        })
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .and(header("authorization", "Bearer provider-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(userinfo))
        .mount(&fake)
        .await;
    (fake, verifiers)
}

/// A fake GitHub, answering as docs.github.com documents:
/// - the token endpoint answers refusals with HTTP 200 and an `error` field ("Troubleshooting
///   OAuth app access token request errors": `bad_verification_code`,
///   `incorrect_client_credentials`, `redirect_uri_mismatch`),
/// - `GET /user` has only the public `email` (often null),
/// - `GET /user/emails` lists `{email, primary, verified, visibility}` ("List email
///   addresses for the authenticated user", needs the `user:email` scope).
async fn fake_github(user: Value, emails: Value) -> (MockServer, Verifiers) {
    let fake = MockServer::start().await;
    let verifiers = Verifiers::default();
    let seen = verifiers.clone();
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(move |req: &Request| {
            let f = form(req);
            seen.lock()
                .unwrap()
                .push(f.get("code_verifier").cloned().unwrap_or_default());
            let error = |code: &str, description: &str| {
                ResponseTemplate::new(200).set_body_json(json!({
                    "error": code,
                    "error_description": description,
                    "error_uri": format!("https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#{}", code.replace('_', "-")),
                }))
            };
            if f.get("client_secret").map(String::as_str) != Some("shh-secret") {
                return error(
                    "incorrect_client_credentials",
                    "The client_id and/or client_secret passed are incorrect.",
                );
            }
            if f.get("code").map(String::as_str) != Some("good-code") {
                return error("bad_verification_code", "The code passed is incorrect or expired.");
            }
            ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "provider-token", "token_type": "bearer", "scope": "read:user,user:email"
            }))
        })
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .and(header("authorization", "Bearer provider-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user))
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/user/emails"))
        .and(header("authorization", "Bearer provider-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(emails))
        .mount(&fake)
        .await;
    (fake, verifiers)
}

async fn github_app(backend: Backend, fake: &MockServer) -> Option<TestApp> {
    app_with(backend, vec![provider("github", fake)]).await
}

async fn github_login(app: &TestApp, code: &str) -> (StatusCode, Value) {
    let (state, _) = start(app, "github").await;
    let state = state.as_str();
    callback(
        app,
        &format!("/api/v1/identity/oauth/github/callback?code={code}&state={state}"),
        state,
    )
    .await
}

on_every_backend! {
    async fn github_refusals_answered_with_http_200_are_rejected_codes(backend) {
        let (fake, _) = fake_github(json!({"id": 1, "login": "octo", "email": null}), json!([])).await;
        let Some(app) = github_app(backend, &fake).await else { return };
        let (s, b) = github_login(&app, "expired-code").await;
        assert_problem(s, &b, 400, "oauth_code_rejected");
        assert!(
            b["detail"]
                .as_str()
                .unwrap()
                .contains("bad_verification_code"),
            "{b}"
        );

        let mut wrong = provider("github", &fake);
        wrong.client_secret = "not-the-secret".to_owned().into();
        let app = app_with(backend, vec![wrong]).await.expect("configured a moment ago");
        let (s, b) = github_login(&app, "good-code").await;
        assert_problem(s, &b, 502, "oauth_provider_error");
    }

    async fn github_login_links_by_the_primary_verified_address_from_user_emails(backend) {
        let (fake, _) = fake_github(
            json!({"id": 31, "login": "octo", "email": null}),
            json!([
                {"email": "old@example.com", "primary": false, "verified": true, "visibility": null},
                {"email": "octo@example.com", "primary": true, "verified": true, "visibility": "private"}
            ]),
        )
        .await;
        let Some(app) = github_app(backend, &fake).await else { return };
        let existing = app.user("octo@example.com", "octo_pw").await;
        let (s, tokens) = github_login(&app, "good-code").await;
        assert_eq!(s, StatusCode::OK, "{tokens}");
        let (_, me) = app
            .get("/api/v1/identity/me", tokens["access_token"].as_str())
            .await;
        assert_eq!(
            me["id"].as_str().unwrap(),
            existing.user_id,
            "linked by the verified address"
        );
    }

    async fn github_public_email_that_is_not_verified_links_nothing(backend) {
        let (fake, _) = fake_github(
            json!({"id": 32, "login": "mallory", "email": "victim@example.com"}),
            json!([
                {"email": "victim@example.com", "primary": true, "verified": false, "visibility": "public"}
            ]),
        )
        .await;
        let Some(app) = github_app(backend, &fake).await else { return };
        let victim = app.user("victim@example.com", "victim_pw").await;
        let (s, tokens) = github_login(&app, "good-code").await;
        assert_eq!(s, StatusCode::OK, "{tokens}");
        let (_, me) = app
            .get("/api/v1/identity/me", tokens["access_token"].as_str())
            .await;
        assert_ne!(me["id"].as_str().unwrap(), victim.user_id, "not taken over");
        assert_ne!(me["email"], "victim@example.com");
    }

    async fn github_login_creates_then_reuses_the_account(backend) {
        let (fake, verifiers) = fake_github(
            json!({"id": 9001, "login": "octocat", "email": null}),
            json!([{"email": "octocat@users.noreply.github.com", "primary": true, "verified": false, "visibility": null}]),
        )
        .await;
        let Some(app) = github_app(backend, &fake).await else { return };
        let (_, providers) = app.get("/api/v1/identity/oauth/providers", None).await;
        assert_eq!(providers, json!(["github"]));

        let (state, challenge) = start(&app, "github").await;
        let (s, tokens) = callback(
            &app,
            &format!("/api/v1/identity/oauth/github/callback?code=good-code&state={state}"),
            &state,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{tokens}");
        // PKCE: the verifier sent to the token endpoint matches the challenge we advertised.
        let verifier = verifiers.lock().unwrap()[0].clone();
        assert_eq!(pkce_challenge(&verifier), challenge);
        let (_, me) = app
            .get("/api/v1/identity/me", tokens["access_token"].as_str())
            .await;
        assert_eq!(me["nickname"], "octocat");
        assert_eq!(me["role"], "USER");

        // The state is single-use.
        let (s, b) = callback(
            &app,
            &format!("/api/v1/identity/oauth/github/callback?code=good-code&state={state}"),
            &state,
        )
        .await;
        assert_problem(s, &b, 400, "invalid_oauth_state");

        // Logging in again finds the same account.
        let (state, _) = start(&app, "github").await;
        let (_, tokens) = callback(
            &app,
            &format!("/api/v1/identity/oauth/github/callback?code=good-code&state={state}"),
            &state,
        )
        .await;
        let (_, me2) = app
            .get("/api/v1/identity/me", tokens["access_token"].as_str())
            .await;
        assert_eq!(me2["id"], me["id"]);

        // A rejected code, a denied consent, an unknown provider, a forged state.
        let (state, _) = start(&app, "github").await;
        let (s, b) = callback(
            &app,
            &format!("/api/v1/identity/oauth/github/callback?code=bad-code&state={state}"),
            &state,
        )
        .await;
        assert_problem(s, &b, 400, "oauth_code_rejected");
        let (s, b) = app
            .get(
                "/api/v1/identity/oauth/github/callback?error=access_denied",
                None,
            )
            .await;
        assert_problem(s, &b, 400, "oauth_denied");
        let (s, b) = app
            .get("/api/v1/identity/oauth/myspace/authorize", None)
            .await;
        assert_problem(s, &b, 404, "unknown_provider");
        let (s, b) = app
            .get(
                "/api/v1/identity/oauth/github/callback?code=good-code&state=forged",
                None,
            )
            .await;
        assert_problem(s, &b, 400, "invalid_oauth_state");
    }

    async fn kakao_login_with_a_verified_email_links_the_existing_account_and_nicknames_stay_unique(backend) {
        let (fake, _) = fake_provider(json!({
            "id": 123456,
            "kakao_account": {"email": "minji@example.com", "is_email_verified": true, "is_email_valid": true,
                               "profile": {"nickname": "민지"}}
        }))
        .await;
        let Some(app) = app_with(backend, vec![provider("kakao", &fake)]).await else { return };
        let existing = app.user("minji@example.com", "minji_pw").await;
        let (state, _) = start(&app, "kakao").await;
        let (s, tokens) = callback(
            &app,
            &format!("/api/v1/identity/oauth/kakao/callback?code=good-code&state={state}"),
            &state,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{tokens}");
        let (_, me) = app
            .get("/api/v1/identity/me", tokens["access_token"].as_str())
            .await;
        assert_eq!(
            me["id"].as_str().unwrap(),
            existing.user_id,
            "linked, not duplicated"
        );

        // A different Kakao user whose nickname is taken gets a unique variant.
        let (fake2, _) =
            fake_provider(json!({"id": 777, "kakao_account": {"profile": {"nickname": "minji_pw"}}}))
                .await;
        let app2 = app_with(backend, vec![provider("kakao", &fake2)]).await.expect("configured a moment ago");
        app2.user("someone@example.com", "minji_pw").await;
        let (state, _) = start(&app2, "kakao").await;
        let (s, tokens) = callback(
            &app2,
            &format!("/api/v1/identity/oauth/kakao/callback?code=good-code&state={state}"),
            &state,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{tokens}");
        let (_, me) = app2
            .get("/api/v1/identity/me", tokens["access_token"].as_str())
            .await;
        assert_ne!(me["nickname"], "minji_pw");
        assert!(me["nickname"].as_str().unwrap().starts_with("minji_pw"));
    }

    async fn a_resume_asked_without_a_username_reads_the_linked_github_login(backend) {
        let (fake, _) = fake_github(
            json!({"id": 4242, "login": "hana-dev", "email": null}),
            json!([{"email": "hana@example.com", "primary": true, "verified": true, "visibility": null}]),
        )
        .await;
        let Some(app) = github_app(backend, &fake).await else { return };
        let (s, tokens) = github_login(&app, "good-code").await;
        assert_eq!(s, StatusCode::OK, "{tokens}");
        let at = tokens["access_token"].as_str();
        let (s, r) = app.post("/api/v1/resumes", at, json!({"position": "BACKEND"})).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{r}");
        assert_eq!(r["github_username"], "hana-dev");
        // A password account has no GitHub login to fall back on.
        let other = app.user("nogithub@example.com", "깃허브없음").await;
        let (s, b) = app.post("/api/v1/resumes", Some(&other.access), json!({"position": "BACKEND"})).await;
        assert_problem(s, &b, 422, "validation_failed");
        assert_eq!((b["field"].as_str(), b["reason"].as_str()), (Some("github_username"), Some("required")));
    }
}
