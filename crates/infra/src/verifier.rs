//! `MissionVerifier` over an OpenAI-compatible vision chat-completions API: the mission
//! text and the photo (a base64 data URL in `messages[].content[{type: "image_url"}]`)
//! go to `POST {base_url}/chat/completions`, asking for a strict JSON verdict
//! (`{"verdict": "approve" | "reject" | "uncertain", "reason": "…"}`). Timeouts, and
//! retries with back-off on network failures, 429 and 5xx (`Retry-After` honoured up
//! to a bound); the key is a `SecretString`, never logged.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use surge_kernel::verifier::{MissionVerifier, ProofToVerify, Verdict, VerifierError};

#[derive(Debug, Clone)]
pub struct VisionVerifierConfig {
    /// e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub model: String,
    pub api_key: SecretString,
    pub timeout: Duration,
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// The first back-off; doubled each retry.
    pub base_delay: Duration,
}

pub struct VisionVerifier {
    http: reqwest::Client,
    cfg: VisionVerifierConfig,
}

/// The longest wait between two attempts, whatever `Retry-After` asks.
const MAX_DELAY: Duration = Duration::from_secs(30);

const INSTRUCTIONS: &str =
    "You check photos sent as proof of a daily mission. Answer only a JSON object \
{\"verdict\": \"approve\" | \"reject\" | \"uncertain\", \"reason\": \"<one short sentence>\"}. \
Approve only if the photo clearly shows what the mission asks; answer uncertain when unsure.";

impl VisionVerifier {
    pub fn new(cfg: VisionVerifierConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .user_agent("surge-community/0.1")
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the verifier HTTP client: {e}"))?;
        Ok(Self { http, cfg })
    }

    fn body(&self, p: &ProofToVerify) -> serde_json::Value {
        let url = format!(
            "data:{};base64,{}",
            p.content_type,
            STANDARD.encode(&p.image)
        );
        serde_json::json!({
            "model": self.cfg.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": [
                    {"type": "text", "text": format!("Mission: {}\n{}", p.mission_title, p.mission_description)},
                    {"type": "image_url", "image_url": {"url": url}}
                ]}
            ]
        })
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Answer {
    verdict: String,
    #[serde(default)]
    reason: String,
}

/// The verdict in a chat completion's first choice.
pub fn parse_completion(body: &str) -> Result<Verdict, VerifierError> {
    let c: Completion = serde_json::from_str(body)
        .map_err(|e| VerifierError::Malformed(format!("not a chat completion: {e}")))?;
    let content = c
        .choices
        .into_iter()
        .next()
        .and_then(|c| c.message.content)
        .ok_or_else(|| VerifierError::Malformed("no message content".into()))?;
    let a: Answer = serde_json::from_str(content.trim())
        .map_err(|e| VerifierError::Malformed(format!("not the JSON verdict: {e}")))?;
    match a.verdict.trim().to_ascii_lowercase().as_str() {
        "approve" | "approved" => Ok(Verdict::Approved),
        "reject" | "rejected" => Ok(Verdict::Rejected { reason: a.reason }),
        "uncertain" => Ok(Verdict::Uncertain { reason: a.reason }),
        other => Err(VerifierError::Malformed(format!(
            "unknown verdict {other:?}"
        ))),
    }
}

#[async_trait::async_trait]
impl MissionVerifier for VisionVerifier {
    async fn verify(&self, proof: &ProofToVerify) -> Result<Verdict, VerifierError> {
        let url = format!(
            "{}/chat/completions",
            self.cfg.base_url.trim_end_matches('/')
        );
        let body = self.body(proof);
        let attempts = self.cfg.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .http
                .post(&url)
                .bearer_auth(self.cfg.api_key.expose_secret())
                .json(&body)
                .send()
                .await;
            let (detail, retry_after) = match sent {
                Ok(res) => {
                    let status = res.status();
                    let retry_after = res
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    match res.text().await {
                        Ok(text) if status.is_success() => return parse_completion(&text),
                        Ok(text)
                            if status != StatusCode::TOO_MANY_REQUESTS
                                && !status.is_server_error() =>
                        {
                            return Err(VerifierError::Refused {
                                status: status.as_u16(),
                                detail: text.chars().take(200).collect(),
                            })
                        }
                        Ok(_) => (format!("HTTP {status}"), retry_after),
                        Err(e) => (e.without_url().to_string(), None),
                    }
                }
                Err(e) => (e.without_url().to_string(), None),
            };
            if attempt >= attempts {
                return Err(VerifierError::Unavailable(format!(
                    "{detail} (after {attempt} attempts)"
                )));
            }
            let backoff = self.cfg.base_delay * 2u32.saturating_pow(attempt - 1);
            let wait = retry_after
                .map_or(backoff, |r| r.max(backoff))
                .min(MAX_DELAY);
            tracing::debug!(attempt, ?wait, %detail, "retrying the mission verifier");
            tokio::time::sleep(wait).await;
        }
    }
}
