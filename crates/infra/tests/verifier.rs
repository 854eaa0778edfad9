//! The vision `MissionVerifier` against a fake OpenAI-compatible server (wiremock)
//! answering in the documented chat-completion shape: the verdict is parsed, the photo
//! travels as a base64 data URL, a malformed answer is an error (the proof then goes to
//! the admins' queue), and 429 is retried honouring `Retry-After`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use surge_infra::verifier::{VisionVerifier, VisionVerifierConfig};
use surge_kernel::verifier::{MissionVerifier, ProofToVerify, Verdict, VerifierError};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const FIXTURE: &str = include_str!("../../testkit/fixtures/openai/chat_completion_verdict.json");

fn verifier(server: &MockServer) -> VisionVerifier {
    VisionVerifier::new(VisionVerifierConfig {
        base_url: format!("{}/v1", server.uri()),
        model: "gpt-4o-mini".into(),
        api_key: "sk-test-secret".to_owned().into(),
        timeout: Duration::from_secs(2),
        attempts: 3,
        base_delay: Duration::from_millis(10),
    })
    .unwrap()
}

fn proof() -> ProofToVerify {
    ProofToVerify {
        mission_title: "아침 하늘".into(),
        mission_description: "오늘 아침 하늘을 찍어 주세요".into(),
        content_type: "image/jpeg".into(),
        image: vec![0xff, 0xd8, 0xff, 0xe0, 1, 2, 3],
    }
}

/// The fixture with another message content.
fn completion(content: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    v["choices"][0]["message"]["content"] = content.into();
    v.to_string()
}

#[tokio::test]
async fn a_verdict_is_parsed_and_the_photo_is_sent_as_a_data_url() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-test-secret"))
        .respond_with(ResponseTemplate::new(200).set_body_string(FIXTURE))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        verifier(&server).verify(&proof()).await.unwrap(),
        Verdict::Approved
    );
    let sent: serde_json::Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(sent["model"], "gpt-4o-mini");
    let content = &sent["messages"][1]["content"];
    assert!(content[0]["text"].as_str().unwrap().contains("아침 하늘"));
    assert_eq!(content[1]["type"], "image_url");
    assert_eq!(
        content[1]["image_url"]["url"],
        "data:image/jpeg;base64,/9j/4AECAw=="
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string(completion(
            r#"{"verdict":"reject","reason":"실내 사진이에요"}"#,
        )))
        .mount(&server)
        .await;
    assert_eq!(
        verifier(&server).verify(&proof()).await.unwrap(),
        Verdict::Rejected {
            reason: "실내 사진이에요".into()
        }
    );
}

#[tokio::test]
async fn a_malformed_or_refused_answer_is_an_error_for_the_admin_queue() {
    for content in ["I think it is fine!", r#"{"verdict":"maybe"}"#] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string(completion(content)))
            .mount(&server)
            .await;
        let e = verifier(&server).verify(&proof()).await.unwrap_err();
        assert!(matches!(e, VerifierError::Malformed(_)), "{e}");
    }
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>gateway</html>"))
        .mount(&server)
        .await;
    let e = verifier(&server).verify(&proof()).await.unwrap_err();
    assert!(matches!(e, VerifierError::Malformed(_)), "{e}");
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string(r#"{"error":{"message":"bad key"}}"#),
        )
        .expect(1)
        .mount(&server)
        .await;
    let e = verifier(&server).verify(&proof()).await.unwrap_err();
    assert!(
        matches!(e, VerifierError::Refused { status: 401, .. }),
        "{e}"
    );
    assert!(!e.to_string().contains("sk-test-secret"));
}

/// 429 with `Retry-After: 1` twice, then the verdict.
struct RateLimitedTwice(Arc<AtomicUsize>);

impl Respond for RateLimitedTwice {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.0.fetch_add(1, Ordering::SeqCst) < 2 {
            ResponseTemplate::new(429).insert_header("retry-after", "1")
        } else {
            ResponseTemplate::new(200).set_body_string(FIXTURE)
        }
    }
}

#[tokio::test]
async fn rate_limits_and_outages_are_retried() {
    let server = MockServer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .respond_with(RateLimitedTwice(calls.clone()))
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    assert_eq!(
        verifier(&server).verify(&proof()).await.unwrap(),
        Verdict::Approved
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After honoured"
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    let e = verifier(&server).verify(&proof()).await.unwrap_err();
    assert!(matches!(e, VerifierError::Unavailable(_)), "{e}");
}
