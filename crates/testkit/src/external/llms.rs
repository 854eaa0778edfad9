//! A fake OpenAI-compatible chat-completions server (wiremock) for the `Llm` adapter,
//! answering fixtures of the documented shapes (platform.openai.com/docs/api-reference/chat):
//! a completion with `choices[0].message.content` and `usage`, and `error` objects for a
//! bad key (401), a rate limit (429 with `retry-after`) and a model without JSON mode
//! (400 naming `response_format`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use surge_infra::llm::LlmConfig;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const CHAT_COMPLETION: &str = include_str!("../../fixtures/openai/chat-completion.json");
pub const ERROR_INVALID_KEY: &str = include_str!("../../fixtures/openai/error-invalid-key.json");
pub const ERROR_RATE_LIMIT: &str = include_str!("../../fixtures/openai/error-rate-limit.json");
pub const ERROR_RESPONSE_FORMAT: &str =
    include_str!("../../fixtures/openai/error-response-format.json");
/// The key the fake accepts.
pub const FAKE_KEY: &str = "sk-fake-0123456789";
pub const MODEL: &str = "gpt-4o-mini";

#[derive(Default)]
struct State {
    /// Answers given before the default one: `(status, body, retry-after secs)`.
    script: VecDeque<(u16, String, Option<u64>)>,
    /// The content the default completion carries (the fixture's when `None`).
    content: Option<String>,
    no_json_mode: bool,
}

pub struct OpenAiFake {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

#[derive(Clone)]
struct Responder(Arc<Mutex<State>>);

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = lock(&self.0);
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if auth != Some(&format!("Bearer {FAKE_KEY}")) {
            return ResponseTemplate::new(401).set_body_string(ERROR_INVALID_KEY);
        }
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        if body["model"].as_str().unwrap_or_default().is_empty() || !body["messages"].is_array() {
            return ResponseTemplate::new(400).set_body_string(
                r#"{"error":{"message":"you must provide a model and messages","type":"invalid_request_error","param":null,"code":null}}"#,
            );
        }
        if s.no_json_mode && !body["response_format"].is_null() {
            return ResponseTemplate::new(400).set_body_string(ERROR_RESPONSE_FORMAT);
        }
        if let Some((status, text, retry)) = s.script.pop_front() {
            let mut r = ResponseTemplate::new(status).set_body_string(text);
            if let Some(secs) = retry {
                r = r.insert_header("retry-after", secs.to_string().as_str());
            }
            return r;
        }
        let mut doc: serde_json::Value = serde_json::from_str(CHAT_COMPLETION).unwrap_or_default();
        if let Some(c) = &s.content {
            doc["choices"][0]["message"]["content"] = serde_json::Value::String(c.clone());
        }
        ResponseTemplate::new(200).set_body_json(doc)
    }
}

impl OpenAiFake {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        Self { server, state }
    }

    /// `[resumes.llm]` pointing at this fake, with quick retries.
    pub fn config(&self) -> LlmConfig {
        LlmConfig {
            base_url: format!("{}/v1", self.server.uri()),
            model: MODEL.into(),
            api_key: Some(FAKE_KEY.to_owned().into()),
            timeout_secs: 5,
            attempts: 3,
            retry_base_ms: 10,
            max_tokens: 1_000,
        }
    }

    /// The content of every default completion from now on.
    pub fn answer_with(&self, content: impl Into<String>) {
        lock(&self.state).content = Some(content.into());
    }
    /// The next `n` requests answer 429 (`retry-after: secs` when given).
    pub fn rate_limit_next(&self, n: usize, retry_after: Option<u64>) {
        let mut s = lock(&self.state);
        for _ in 0..n {
            s.script
                .push_back((429, ERROR_RATE_LIMIT.to_owned(), retry_after));
        }
    }
    /// The next `n` requests answer `status` with an OpenAI error object.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut s = lock(&self.state);
        for _ in 0..n {
            s.script.push_back((
                status,
                r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}"#.to_owned(),
                None,
            ));
        }
    }
    /// Requests with `response_format` are refused like a model without JSON mode.
    pub fn without_json_mode(&self) {
        lock(&self.state).no_json_mode = true;
    }
    /// The JSON bodies of the requests received so far.
    pub async fn requests(&self) -> Vec<serde_json::Value> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap_or_default())
            .collect()
    }
}
