//! The OpenAI-compatible `Llm` adapter against a local fake of the chat-completions API
//! (fixtures of the documented shapes, `surge_testkit::external::llms`): the answer and its usage,
//! JSON mode and its fallback, retries on 429 and 5xx honouring `Retry-After`, a bad
//! key refused without retries, a rate limit that outlasts the attempts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use surge_infra::llm::{LlmConfig, OpenAiChat};
use surge_kernel::clock::SystemClock;
use surge_kernel::llm::{Llm, LlmError, Message, Prompt};
use surge_testkit::external::llms::{OpenAiFake, MODEL};

fn chat(cfg: &LlmConfig) -> OpenAiChat {
    OpenAiChat::new(cfg, Arc::new(SystemClock)).unwrap()
}

fn prompt(json: bool) -> Prompt {
    Prompt {
        messages: vec![
            Message::system("You write resumes as JSON."),
            Message::user("Repositories: surge (Rust)"),
        ],
        json,
        max_tokens: Some(500),
    }
}

#[tokio::test]
async fn a_completion_is_the_first_choice_with_its_usage_and_the_request_is_documented() {
    let fake = OpenAiFake::start().await;
    let c = chat(&fake.config()).complete(&prompt(true)).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&c.text).unwrap();
    assert_eq!(v["skills"][0], "Rust");
    assert_eq!(c.model, "gpt-4o-mini-2024-07-18");
    assert_eq!((c.prompt_tokens, c.completion_tokens), (412, 96));
    let reqs = fake.requests().await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["model"], MODEL);
    assert_eq!(reqs[0]["messages"][0]["role"], "system");
    assert_eq!(
        reqs[0]["messages"][1]["content"],
        "Repositories: surge (Rust)"
    );
    assert_eq!(reqs[0]["response_format"]["type"], "json_object");
    assert_eq!(reqs[0]["max_tokens"], 500);
}

#[tokio::test]
async fn a_server_without_json_mode_is_asked_again_without_it() {
    let fake = OpenAiFake::start().await;
    fake.without_json_mode();
    let c = chat(&fake.config()).complete(&prompt(true)).await.unwrap();
    assert!(c.text.starts_with('{'));
    let reqs = fake.requests().await;
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1]["response_format"].is_null());
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_honouring_retry_after() {
    let fake = OpenAiFake::start().await;
    fake.rate_limit_next(1, Some(1));
    fake.fail_next(1, 503);
    let started = Instant::now();
    let c = chat(&fake.config()).complete(&prompt(false)).await.unwrap();
    assert!(!c.text.is_empty());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(fake.requests().await.len(), 3);
}

#[tokio::test]
async fn a_rate_limit_outlasting_the_attempts_says_when_to_come_back() {
    let fake = OpenAiFake::start().await;
    fake.rate_limit_next(3, Some(0));
    let err = chat(&fake.config())
        .complete(&prompt(false))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LlmError::RateLimited { retry_at: Some(_) }),
        "{err:?}"
    );
    assert_eq!(fake.requests().await.len(), 3);
}

#[tokio::test]
async fn an_outage_outlasting_the_attempts_is_unavailable() {
    let fake = OpenAiFake::start().await;
    fake.fail_next(3, 500);
    let err = chat(&fake.config())
        .complete(&prompt(false))
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn a_bad_key_is_refused_at_once_without_showing_the_key() {
    let fake = OpenAiFake::start().await;
    let mut cfg = fake.config();
    cfg.api_key = Some("sk-mine-secret".to_owned().into());
    let err = chat(&cfg).complete(&prompt(false)).await.unwrap_err();
    match &err {
        LlmError::Refused { status, detail } => {
            assert_eq!(*status, 401);
            assert!(detail.contains("Incorrect API key"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("sk-mine-secret"));
    assert_eq!(fake.requests().await.len(), 1, "no retry of a refusal");
}

#[tokio::test]
async fn an_empty_answer_is_unavailable_not_an_empty_text() {
    let fake = OpenAiFake::start().await;
    fake.answer_with("   ");
    let err = chat(&fake.config())
        .complete(&prompt(false))
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn a_timeout_is_unavailable() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_string(surge_testkit::external::llms::CHAT_COMPLETION)
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let cfg = LlmConfig {
        base_url: server.uri(),
        model: MODEL.into(),
        api_key: None,
        timeout_secs: 1,
        attempts: 1,
        retry_base_ms: 10,
        max_tokens: 100,
    };
    let err = chat(&cfg).complete(&prompt(false)).await.unwrap_err();
    match err {
        LlmError::Unavailable { detail } => assert!(detail.contains("timed out"), "{detail}"),
        other => panic!("{other:?}"),
    }
}
