//! The `ChatNotifier` adapters: both pass the contract suite (the Slack webhook against a
//! fake Slack built with wiremock), and the Slack one reports refusals, rate limits,
//! outages and timeouts as errors without ever showing its secret URL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use surge_infra::chat::{
    RecordingChat, SlackConfig, SlackError, SlackWebhook, RECORDING_CHAT_CAPACITY,
};
use surge_kernel::ports::ChatNotifier;
use surge_testkit::contracts::ChatChannel;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The secret part of the webhook URL, as Slack issues it.
const HOOK_PATH: &str = "/services/T0SURGE01/B0SURGE02/s3cr3tW3bh00kT0k3nXYZ";
const SECRET: &str = "s3cr3tW3bh00kT0k3nXYZ";

fn slack(server: &MockServer) -> SlackWebhook {
    SlackWebhook::new(&SlackConfig::new(format!("{}{HOOK_PATH}", server.uri()))).unwrap()
}

/// Decodes Slack's three entities, checking that the wire text is one Slack reads as
/// plain text: no raw `<` or `>`, and every `&` starts `&amp;`, `&lt;` or `&gt;`.
fn unslack(wire: &str) -> String {
    assert!(
        !wire.contains(['<', '>']),
        "raw control character on the wire: {wire:?}"
    );
    let mut out = String::new();
    let mut rest = wire;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (plain, len) = [("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")]
            .into_iter()
            .find(|(_, entity)| tail.starts_with(entity))
            .map(|(plain, entity)| (plain, entity.len()))
            .unwrap_or_else(|| panic!("unescaped & on the wire: {wire:?}"));
        out.push_str(plain);
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------
// A fake Slack incoming webhook: checks the request like Slack, keeps the texts taken.

#[derive(Default)]
struct SlackState {
    /// Wire texts of the posts answered `200 ok`.
    taken: Vec<String>,
    fail_next: usize,
}

#[derive(Clone, Default)]
struct SlackResponder(Arc<Mutex<SlackState>>);

impl Respond for SlackResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let json = req
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let body: Option<serde_json::Value> = serde_json::from_slice(&req.body).ok();
        let text = body
            .as_ref()
            .and_then(|b| b.as_object())
            .filter(|b| b.len() == 1)
            .and_then(|b| b.get("text"))
            .and_then(|t| t.as_str());
        let Some(text) = text.filter(|_| json) else {
            return ResponseTemplate::new(400).set_body_string("invalid_payload");
        };
        if text.trim().is_empty() {
            return ResponseTemplate::new(400).set_body_string("no_text");
        }
        let mut state = self.0.lock().unwrap();
        if state.fail_next > 0 {
            state.fail_next -= 1;
            return ResponseTemplate::new(500).set_body_string("rollup_error");
        }
        state.taken.push(text.to_owned());
        ResponseTemplate::new(200).set_body_string("ok")
    }
}

struct FakeSlack {
    server: MockServer,
    state: SlackResponder,
}

impl FakeSlack {
    async fn start() -> Self {
        let server = MockServer::start().await;
        let state = SlackResponder::default();
        Mock::given(method("POST"))
            .and(path(HOOK_PATH))
            .respond_with(state.clone())
            .mount(&server)
            .await;
        Self { server, state }
    }

    fn wire(&self) -> Vec<String> {
        self.state.0.lock().unwrap().taken.clone()
    }
}

#[async_trait::async_trait]
impl ChatChannel for FakeSlack {
    async fn seen(&self) -> Vec<String> {
        self.wire().iter().map(|w| unslack(w)).collect()
    }

    async fn fail_next(&self, n: usize) {
        self.state.0.lock().unwrap().fail_next = n;
    }
}

/// A server answering every post with `template`.
async fn answering(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains(SECRET), "the secret leaks: {text}");
    assert!(!text.contains("/services/"), "the path leaks: {text}");
}

// ---------------------------------------------------------------------------------

surge_testkit::chat_contract!(recording_chat, async { Some(RecordingChat::new()) });

surge_testkit::chat_contract!(slack_webhook, async {
    let fake = FakeSlack::start().await;
    Some((slack(&fake.server), fake))
});

#[tokio::test]
async fn slack_posts_escaped_json_text() {
    let fake = FakeSlack::start().await;
    slack(&fake.server)
        .post("배포 완료 <v1.2> & 롤백 없음 > 0건 <!here>")
        .await
        .unwrap();
    let requests = fake.server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.method.as_str(), "POST");
    assert_eq!(req.url.path(), HOOK_PATH);
    assert_eq!(
        req.headers.get("content-type").unwrap().to_str().unwrap(),
        "application/json"
    );
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "text": "배포 완료 &lt;v1.2&gt; &amp; 롤백 없음 &gt; 0건 &lt;!here&gt;"
        })
    );
}

#[tokio::test]
async fn slack_refusals_are_errors_with_status_and_body() {
    let cases: [(u16, &str); 7] = [
        (400, "invalid_payload"),
        (400, "no_text"),
        (403, "invalid_token"),
        (404, "no_service"),
        (410, "channel_is_archived"),
        (500, "rollup_error"),
        (503, "<html>Service Unavailable</html>"),
    ];
    for (status, body) in cases {
        let server = answering(ResponseTemplate::new(status).set_body_string(body)).await;
        let err = slack(&server).post("알림").await.unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains(&status.to_string()), "{status}: {text}");
        assert!(text.contains(body), "{status}: {text}");
        assert_no_secret(&text);
        assert_no_secret(&format!("{err:?}"));
        let slack_err = err.downcast_ref::<SlackError>().unwrap();
        assert_eq!(slack_err.status, status);
        assert_eq!(slack_err.body, body);
        assert_eq!(slack_err.retry_after, None);
        assert_eq!(slack_err.is_transient(), status >= 500, "{status}");
    }
}

#[tokio::test]
async fn slack_rate_limit_says_when_to_retry() {
    let server = answering(
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "30")
            .set_body_string("rate_limited"),
    )
    .await;
    let err = slack(&server).post("알림").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("429"), "{text}");
    assert!(text.contains("Retry-After: 30 s"), "{text}");
    assert!(text.contains("rate_limited"), "{text}");
    let slack_err = err.downcast_ref::<SlackError>().unwrap();
    assert_eq!(slack_err.retry_after_secs(), Some(30));
    assert!(slack_err.is_transient());
    assert_no_secret(&text);

    // Without the header, or with a date, it is still a 429 error.
    let server = answering(ResponseTemplate::new(429)).await;
    let err = slack(&server).post("알림").await.unwrap_err();
    assert!(err.to_string().contains("429"), "{err}");
    assert_eq!(err.downcast_ref::<SlackError>().unwrap().retry_after, None);
    let date = "Wed, 21 Oct 2015 07:28:00 GMT";
    let server = answering(ResponseTemplate::new(429).insert_header("Retry-After", date)).await;
    let err = slack(&server).post("알림").await.unwrap_err();
    assert!(err.to_string().contains(date), "{err}");
    assert_eq!(
        err.downcast_ref::<SlackError>().unwrap().retry_after_secs(),
        None
    );
}

#[tokio::test]
async fn slack_redirects_are_not_followed() {
    let server = answering(
        ResponseTemplate::new(302).insert_header("Location", "https://elsewhere.example/x"),
    )
    .await;
    let err = slack(&server).post("알림").await.unwrap_err();
    assert!(err.to_string().contains("302"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn slack_timeout_is_an_error() {
    let server = answering(
        ResponseTemplate::new(200)
            .set_body_string("ok")
            .set_delay(Duration::from_secs(5)),
    )
    .await;
    let hook = SlackWebhook::new(&SlackConfig {
        webhook_url: format!("{}{HOOK_PATH}", server.uri()),
        timeout_secs: 1,
    })
    .unwrap();
    let started = Instant::now();
    let err = hook.post("느린 서버").await.unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "gave up after {took:?}");
    let text = format!("{err:#}");
    assert!(text.contains("did not answer within 1 s"), "{text}");
    assert_no_secret(&text);
}

#[tokio::test]
async fn slack_unreachable_is_an_error_without_the_secret() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let hook = SlackWebhook::new(&SlackConfig::new(format!(
        "http://127.0.0.1:{port}{HOOK_PATH}"
    )))
    .unwrap();
    let err = hook.post("알림").await.unwrap_err();
    let text = format!("{err:#} / {err:?}");
    assert!(text.contains("unreachable"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert_no_secret(&text);
}

#[tokio::test]
async fn slack_refuses_blank_text_without_posting() {
    let fake = FakeSlack::start().await;
    let hook = slack(&fake.server);
    assert!(hook.post("").await.is_err());
    assert!(hook.post(" \n").await.is_err());
    assert!(fake.server.received_requests().await.unwrap().is_empty());
}

#[test]
fn slack_config_debug_hides_the_secret_path() {
    let cfg = SlackConfig::new(format!("https://hooks.slack.com{HOOK_PATH}"));
    let shown = format!("{cfg:?}");
    assert_no_secret(&shown);
    assert!(shown.contains("https://hooks.slack.com"), "{shown}");
    assert!(shown.contains("timeout_secs: 10"), "{shown}");

    let hook = SlackWebhook::new(&cfg).unwrap();
    let shown = format!("{hook:?}");
    assert_no_secret(&shown);
    assert!(shown.contains("https://hooks.slack.com"), "{shown}");

    // User info, query and fragment are hidden too; an unparseable URL is not shown.
    let odd = SlackConfig::new(format!(
        "https://user:pw@hooks.slack.com:8443{HOOK_PATH}?token={SECRET}#{SECRET}"
    ));
    let shown = format!("{odd:?}");
    assert_no_secret(&shown);
    assert!(!shown.contains("pw"), "{shown}");
    assert!(shown.contains("https://hooks.slack.com:8443"), "{shown}");
    let bad = SlackConfig::new(format!("hooks.slack.com{HOOK_PATH}"));
    assert_no_secret(&format!("{bad:?}"));
}

#[test]
fn slack_config_deserializes_with_a_default_timeout() {
    let cfg: SlackConfig =
        serde_json::from_value(serde_json::json!({ "webhook_url": "https://hooks.slack.com/x" }))
            .unwrap();
    assert_eq!(cfg.timeout_secs, 10);
    assert_eq!(cfg.webhook_url, "https://hooks.slack.com/x");
    let cfg: SlackConfig = serde_json::from_value(
        serde_json::json!({ "webhook_url": "https://hooks.slack.com/x", "timeout_secs": 3 }),
    )
    .unwrap();
    assert_eq!(cfg.timeout_secs, 3);
}

#[test]
fn slack_webhook_url_must_be_http_or_https() {
    for bad in [
        String::new(),
        "not a url".into(),
        format!("hooks.slack.com{HOOK_PATH}"),
        format!("ftp://hooks.slack.com{HOOK_PATH}"),
        format!("file:///etc{HOOK_PATH}"),
        format!("mailto:{SECRET}@example.com"),
        "https://".into(),
    ] {
        let err = SlackWebhook::new(&SlackConfig::new(bad)).unwrap_err();
        assert_no_secret(&format!("{err:#}"));
    }
    for good in [
        format!("https://hooks.slack.com{HOOK_PATH}"),
        format!("http://127.0.0.1:9{HOOK_PATH}"),
        format!("  https://hooks.slack.com{HOOK_PATH}\n"),
    ] {
        SlackWebhook::new(&SlackConfig::new(good)).unwrap();
    }
}

#[tokio::test]
async fn recording_chat_keeps_the_latest_messages() {
    let rec = RecordingChat::new();
    rec.post("a < b & c").await.unwrap();
    assert_eq!(rec.posted(), vec!["a < b & c".to_owned()], "kept unescaped");
    rec.fail_next(1);
    let err = rec.post("실패").await.unwrap_err();
    assert!(err.to_string().contains("simulated"), "{err}");
    rec.post("성공").await.unwrap();
    assert!(rec.post("  ").await.is_err());
    assert_eq!(
        rec.posted(),
        vec!["a < b & c".to_owned(), "성공".to_owned()]
    );
    for i in 0..RECORDING_CHAT_CAPACITY {
        rec.post(&format!("bulk {i}")).await.unwrap();
    }
    let posted = rec.posted();
    assert_eq!(posted.len(), RECORDING_CHAT_CAPACITY, "bounded");
    assert_eq!(posted[0], "bulk 0", "the oldest are dropped first");
    rec.clear();
    assert!(rec.posted().is_empty());
}
