//! Adapters of the `ChatNotifier` port: [`SlackWebhook`] (a Slack incoming webhook, over
//! reqwest and rustls) and [`RecordingChat`] (in-process, for the embedded mode and tests:
//! it keeps and logs the messages instead of posting them).
//!
//! The text given to [`ChatNotifier::post`] is plain text. Slack reads `&`, `<` and `>` as
//! control characters (`<https://x|links>`, `<@U123>` mentions, `<!channel>`), so
//! [`SlackWebhook`] escapes them as `&amp;`, `&lt;` and `&gt;`: the channel shows exactly
//! the given text, and a text cannot ping `@channel` or disguise a link. [`RecordingChat`]
//! keeps the given (unescaped) text, i.e. what readers of the channel would see.
//!
//! Both refuse a blank text (Slack answers `400 no_text`) without posting anything.

use std::time::Duration;

use anyhow::anyhow;
use async_trait::async_trait;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use surge_kernel::ports::ChatNotifier;

use crate::recorder::{Recorder, RECORDER_CAPACITY};
use crate::redact::{endpoint_of, redact_url, Secret};

fn default_timeout_secs() -> u64 {
    10
}

/// How to reach the Slack channel: `[chat.slack]` in configuration.
///
/// The webhook URL (`https://hooks.slack.com/services/T…/B…/…`) is a secret: whoever has
/// it can post to the channel. `Debug`, logs and errors show only its scheme and host.
#[derive(Clone, Deserialize)]
pub struct SlackConfig {
    pub webhook_url: String,
    /// How long one post may take, all told (connect, TLS, request, answer). At least 1 s.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

impl SlackConfig {
    /// A configuration with the default timeout (10 s).
    pub fn new(webhook_url: impl Into<String>) -> Self {
        Self {
            webhook_url: webhook_url.into(),
            timeout_secs: default_timeout_secs(),
        }
    }
}

impl std::fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackConfig")
            .field(
                "webhook_url",
                &redact_url(&self.webhook_url, Secret::AllButEndpoint),
            )
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

/// Escapes Slack's control characters: `&` → `&amp;`, `<` → `&lt;`, `>` → `&gt;`.
/// Nothing else is touched (Slack's docs ask for exactly these three).
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn check_text(text: &str) -> anyhow::Result<()> {
    if text.trim().is_empty() {
        anyhow::bail!("a chat message needs some text");
    }
    Ok(())
}

/// How much of an answer's body is kept in a [`SlackError`].
const MAX_BODY_CHARS: usize = 300;

/// Slack did not take the message: any answer but 2xx. Returned inside the
/// `anyhow::Error` of [`SlackWebhook::post`]; `err.downcast_ref::<SlackError>()` gives it
/// back (for the status or the `Retry-After`).
///
/// Slack's documented answers include `400 invalid_payload` / `no_text`,
/// `403 invalid_token` / `action_prohibited`, `404 no_service` / `channel_not_found`,
/// `410 channel_is_archived`, `429` (with `Retry-After`, in seconds) and
/// `500 rollup_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackError {
    /// The HTTP status Slack answered.
    pub status: u16,
    /// Slack's answer (its error code, e.g. `invalid_token`), trimmed and shortened.
    pub body: String,
    /// The `Retry-After` header, as sent (Slack sends seconds), on any answer that has it.
    pub retry_after: Option<String>,
    /// Scheme and host of the webhook, never its secret path.
    pub endpoint: String,
}

impl SlackError {
    /// `Retry-After` in seconds, when it is given as a number of seconds.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.as_deref()?.trim().parse().ok()
    }

    /// Whether the same post may succeed later: rate limited (429), timed out (408) or a
    /// server error (5xx). Other refusals need a configuration change.
    pub fn is_transient(&self) -> bool {
        self.status == 408 || self.status == 429 || self.status >= 500
    }
}

impl std::fmt::Display for SlackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.status {
            429 => "is rate limiting posts",
            500..=599 => "is unavailable",
            400..=499 => "refused the message",
            _ => "gave an unexpected answer",
        };
        write!(
            f,
            "Slack webhook {} {what}: HTTP {}",
            self.endpoint, self.status
        )?;
        if let Some(after) = &self.retry_after {
            match self.retry_after_secs() {
                Some(secs) => write!(f, " (Retry-After: {secs} s)")?,
                None => write!(f, " (Retry-After: {after})")?,
            }
        }
        if self.body.is_empty() {
            write!(f, ", empty body")
        } else {
            write!(f, ": {}", self.body)
        }
    }
}

impl std::error::Error for SlackError {}

/// The first [`MAX_BODY_CHARS`] characters of an answer, trimmed.
fn shorten(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(MAX_BODY_CHARS) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}

/// A reqwest error and its causes, without the request URL (it holds the secret).
fn transport_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// Posts to a Slack channel through an incoming webhook: `POST {"text": …}` as JSON,
/// answered `200 ok`. Any other answer is an error holding a [`SlackError`]; a network
/// failure or a post slower than [`SlackConfig::timeout_secs`] is an error too. There is
/// no retry here: the caller decides (see [`SlackError::is_transient`]).
///
/// Redirects are not followed (the webhook URL is never sent anywhere else).
pub struct SlackWebhook {
    http: reqwest::Client,
    url: Url,
    timeout: Duration,
    /// Scheme and host only, for logs, errors and `Debug`.
    endpoint: String,
}

impl std::fmt::Debug for SlackWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackWebhook")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SlackWebhook {
    /// Checks the URL (`http` or `https`, with a host); connects lazily, on the first post.
    pub fn new(config: &SlackConfig) -> anyhow::Result<Self> {
        // The parse error never repeats the input, so the secret stays out of it.
        let url = Url::parse(config.webhook_url.trim())
            .map_err(|e| anyhow!("invalid Slack webhook URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!(
                "the Slack webhook URL must be http or https, not {:?}",
                url.scheme()
            );
        }
        if url.host_str().is_none_or(str::is_empty) {
            anyhow::bail!("the Slack webhook URL has no host");
        }
        let timeout = Duration::from_secs(config.timeout_secs.max(1));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("surge")
            .build()
            .map_err(|e| anyhow!("cannot build the Slack HTTP client: {}", transport_error(e)))?;
        Ok(Self {
            http,
            endpoint: endpoint_of(&url),
            url,
            timeout,
        })
    }

    fn failed(&self, e: reqwest::Error) -> anyhow::Error {
        if e.is_timeout() {
            anyhow!(
                "Slack webhook {} did not answer within {} s",
                self.endpoint,
                self.timeout.as_secs()
            )
        } else {
            anyhow!(
                "Slack webhook {} is unreachable: {}",
                self.endpoint,
                transport_error(e)
            )
        }
    }
}

#[async_trait]
impl ChatNotifier for SlackWebhook {
    #[tracing::instrument(name = "slack.post", skip_all, fields(endpoint = %self.endpoint), err(level = "warn"))]
    async fn post(&self, text: &str) -> anyhow::Result<()> {
        check_text(text)?;
        let body = serde_json::json!({ "text": escape_text(text) });
        let res = self
            .http
            .post(self.url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| self.failed(e))?;
        let status = res.status();
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .map(|v| shorten(&String::from_utf8_lossy(v.as_bytes())));
        let answer = res.text().await.map_err(|e| self.failed(e))?;
        if status.is_success() {
            if answer.trim() != "ok" {
                tracing::debug!(endpoint = %self.endpoint, answer = %shorten(&answer), "Slack answered 2xx without \"ok\"");
            }
            tracing::debug!(endpoint = %self.endpoint, "chat message posted");
            return Ok(());
        }
        let error = SlackError {
            status: status.as_u16(),
            body: shorten(&answer),
            retry_after,
            endpoint: self.endpoint.clone(),
        };
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            tracing::warn!(%error, "chat message not posted");
        } else {
            tracing::error!(%error, "chat message refused");
        }
        Err(error.into())
    }
}

/// How many messages a [`RecordingChat`] keeps (the oldest are dropped first).
pub const RECORDING_CHAT_CAPACITY: usize = RECORDER_CAPACITY;

/// Keeps messages in memory instead of posting them, and logs each at info level so that
/// a developer running the embedded server sees what would have been posted. Keeps the
/// text as given (unescaped: what the channel would show). Tests read the messages back
/// with [`RecordingChat::posted`] and simulate an outage with [`Recorder::fail_next`].
pub type RecordingChat = Recorder<String>;

impl Recorder<String> {
    /// The messages taken so far, oldest first (at most [`RECORDING_CHAT_CAPACITY`]).
    pub fn posted(&self) -> Vec<String> {
        self.items()
    }
}

#[async_trait]
impl ChatNotifier for RecordingChat {
    async fn post(&self, text: &str) -> anyhow::Result<()> {
        check_text(text)?;
        if self.take_failure() {
            tracing::warn!(%text, "chat message not posted: simulated outage");
            anyhow::bail!("simulated chat outage (RecordingChat::fail_next)");
        }
        tracing::info!(%text, "chat message (recorded, not posted)");
        self.record(text.to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_exactly_the_three_control_characters() {
        assert_eq!(
            escape_text("a < b && c > d; <@U1> <!channel> \"q\" 'x' 한글 🙂"),
            "a &lt; b &amp;&amp; c &gt; d; &lt;@U1&gt; &lt;!channel&gt; \"q\" 'x' 한글 🙂"
        );
        assert_eq!(
            escape_text("&amp;"),
            "&amp;amp;",
            "plain text, escaped again"
        );
        assert_eq!(escape_text(""), "");
    }

    #[test]
    fn debug_shows_scheme_and_host_only() {
        let shown = format!(
            "{:?}",
            SlackConfig::new("https://hooks.slack.com/services/T000/B000/XXXX")
        );
        assert!(!shown.contains("XXXX"), "{shown}");
        assert!(shown.contains("https://hooks.slack.com/***"), "{shown}");
    }

    #[test]
    fn error_text_is_short() {
        let long = "x".repeat(1000);
        assert_eq!(shorten(&long).chars().count(), MAX_BODY_CHARS + 1);
        assert_eq!(shorten("  한글  "), "한글");
    }
}
