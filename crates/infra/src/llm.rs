//! The `Llm` port over the OpenAI-compatible chat-completions API
//! (`POST {base_url}/chat/completions`): OpenAI, vLLM and Ollama (`/v1`) speak it.
//!
//! - The answer is `choices[0].message.content`; `usage` gives the token counts. No
//!   choice, or an empty or null content, is `Unavailable` (never an empty text).
//! - `response_format: {"type": "json_object"}` when the prompt asks for JSON; a server
//!   that rejects the parameter (a 400 naming `response_format`) is asked once more
//!   without it, the prompt itself still asking for JSON.
//! - A timeout per request; 429 and 5xx and network failures are retried with
//!   exponential back-off, honouring `Retry-After` / `retry-after-ms` up to
//!   [`MAX_DELAY`]; a 429 that outlasts the attempts is `RateLimited`. Any other 4xx is
//!   `Refused` with the server's `error.message` (the key is never shown).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use surge_kernel::clock::Clock;
use surge_kernel::llm::{Completion, Llm, LlmError, Prompt};

/// The longest wait between two attempts, whatever `Retry-After` asks.
pub const MAX_DELAY: Duration = Duration::from_secs(20);

/// `[resumes.llm]`.
#[derive(Clone, Deserialize)]
pub struct LlmConfig {
    /// e.g. `https://api.openai.com/v1`, `http://127.0.0.1:8000/v1` (vLLM),
    /// `http://127.0.0.1:11434/v1` (Ollama).
    pub base_url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer`; local servers need none.
    #[serde(default)]
    pub api_key: Option<SecretString>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Attempts per completion (the first included) on network errors, 5xx and 429.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
}

fn default_timeout_secs() -> u64 {
    60
}
fn default_attempts() -> u32 {
    3
}
fn default_retry_base_ms() -> u64 {
    1_000
}
fn default_max_tokens() -> u32 {
    2_000
}

pub struct OpenAiChat {
    http: reqwest::Client,
    url: Url,
    model: String,
    key: Option<SecretString>,
    attempts: u32,
    base_delay: Duration,
    max_tokens: u32,
    clock: Arc<dyn Clock>,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl OpenAiChat {
    pub fn new(cfg: &LlmConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let base = cfg.base_url.trim().trim_end_matches('/');
        let url = Url::parse(&format!("{base}/chat/completions"))
            .map_err(|e| anyhow::anyhow!("[resumes.llm] base_url: {e}"))?;
        anyhow::ensure!(!cfg.model.trim().is_empty(), "[resumes.llm] model is empty");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .user_agent("surge-resumes/0.1")
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the LLM HTTP client: {e}"))?;
        Ok(Self {
            http,
            url,
            model: cfg.model.trim().to_owned(),
            key: cfg.api_key.clone(),
            attempts: cfg.attempts.max(1),
            base_delay: Duration::from_millis(cfg.retry_base_ms),
            max_tokens: cfg.max_tokens,
            clock,
        })
    }

    fn body(&self, prompt: &Prompt, json: bool) -> serde_json::Value {
        let mut body = serde_json::json!({
            "model": self.model,
            "messages": prompt.messages,
            "max_tokens": prompt.max_tokens.unwrap_or(self.max_tokens),
        });
        if json {
            body["response_format"] = serde_json::json!({"type": "json_object"});
        }
        body
    }
}

#[async_trait]
impl Llm for OpenAiChat {
    fn kind(&self) -> &'static str {
        "openai"
    }

    #[tracing::instrument(skip_all, fields(model = %self.model))]
    async fn complete(&self, prompt: &Prompt) -> Result<Completion, LlmError> {
        let mut json = prompt.json;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self
                .http
                .post(self.url.clone())
                .json(&self.body(prompt, json));
            if let Some(k) = &self.key {
                req = req.header(AUTHORIZATION, format!("Bearer {}", k.expose_secret()));
            }
            let (detail, retry_after, limited) = match req.send().await {
                Err(e) => (transport_error(e), None, false),
                Ok(res) => {
                    let status = res.status();
                    let retry_after = retry_after(res.headers());
                    let text = res.text().await.unwrap_or_default();
                    if status.is_success() {
                        return completion(&text, &self.model);
                    }
                    let message = error_message(&text);
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        (format!("HTTP 429: {message}"), retry_after, true)
                    } else if status.is_server_error() {
                        (format!("HTTP {status}: {message}"), retry_after, false)
                    } else if json
                        && status == StatusCode::BAD_REQUEST
                        && message.contains("response_format")
                    {
                        // The server has no JSON mode: ask again without it, now.
                        json = false;
                        attempt -= 1;
                        continue;
                    } else {
                        return Err(LlmError::Refused {
                            status: status.as_u16(),
                            detail: message,
                        });
                    }
                }
            };
            if attempt >= self.attempts {
                if limited {
                    let retry_at = retry_after.map(|d| {
                        self.clock.now_ms() + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
                    });
                    return Err(LlmError::RateLimited { retry_at });
                }
                return Err(LlmError::Unavailable {
                    detail: format!("{detail} (after {attempt} attempts)"),
                });
            }
            let backoff = self.base_delay * 2u32.saturating_pow(attempt - 1);
            let wait = retry_after
                .map_or(backoff, |r| r.max(backoff))
                .min(MAX_DELAY);
            tracing::debug!(attempt, ?wait, %detail, "retrying a chat completion");
            tokio::time::sleep(wait).await;
        }
    }
}

fn completion(text: &str, asked: &str) -> Result<Completion, LlmError> {
    let r: ChatResponse = serde_json::from_str(text).map_err(|e| LlmError::Unavailable {
        detail: format!("a completion of an unexpected shape: {e}"),
    })?;
    let content = r
        .choices
        .into_iter()
        .next()
        .and_then(|c| c.message.content)
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| LlmError::Unavailable {
            detail: "a completion without content".into(),
        })?;
    let usage = r.usage.unwrap_or(Usage {
        prompt_tokens: 0,
        completion_tokens: 0,
    });
    Ok(Completion {
        text: content,
        model: if r.model.is_empty() {
            asked.to_owned()
        } else {
            r.model
        },
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
    })
}

/// `retry-after-ms` (OpenAI) or `Retry-After` in seconds.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    get("retry-after-ms")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
        .or_else(|| {
            get(RETRY_AFTER.as_str())
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs)
        })
}

/// The documented `error.message`, or the start of the body.
fn error_message(body: &str) -> String {
    let m = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned());
    surge_kernel::code_host::excerpt(&m, 300)
}

fn transport_error(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text = format!("{text}: {c}");
        }
        source = cause.source();
    }
    if timeout {
        format!("timed out: {text}")
    } else {
        text
    }
}
