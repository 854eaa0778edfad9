//! What the HTTP adapters share: GETs with a timeout, retries with exponential back-off
//! on network failures, 5xx and 429 (`Retry-After` honoured up to a bound), and errors
//! that name the source but never the URL (its query holds the key).

use std::time::Duration;

use reqwest::{StatusCode, Url};
use surge_kernel::jobs::JobSourceError;

/// GETs with a timeout and retries; errors name the source and never the URL.
pub(crate) struct Fetcher {
    http: reqwest::Client,
    name: &'static str,
    attempts: u32,
    base_delay: Duration,
}

/// The longest wait between two attempts, whatever `Retry-After` asks.
const MAX_DELAY: Duration = Duration::from_secs(30);
/// How much of an error answer is kept.
const MAX_BODY_CHARS: usize = 200;

impl Fetcher {
    pub(crate) fn new(
        name: &'static str,
        timeout: Duration,
        attempts: u32,
        base_delay: Duration,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent("surge-careers/0.1")
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the {name} HTTP client: {e}"))?;
        Ok(Self {
            http,
            name,
            attempts,
            base_delay,
        })
    }

    /// The body of a 2xx answer to `GET url`.
    pub(crate) async fn get(&self, url: Url) -> Result<String, JobSourceError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (detail, retry_after) = match self.http.get(url.clone()).send().await {
                Ok(res) => {
                    let status = res.status();
                    let retry_after = res
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let body = res.text().await;
                    match body {
                        Ok(body) if status.is_success() => return Ok(body),
                        Ok(body)
                            if status != StatusCode::TOO_MANY_REQUESTS
                                && !status.is_server_error() =>
                        {
                            return Err(JobSourceError::Refused {
                                source_name: self.name,
                                status: status.as_u16(),
                                detail: shorten(&body),
                            });
                        }
                        Ok(body) => (format!("HTTP {status}: {}", shorten(&body)), retry_after),
                        Err(e) => (transport_error(e), None),
                    }
                }
                Err(e) => (transport_error(e), None),
            };
            if attempt >= self.attempts {
                return Err(JobSourceError::Unavailable {
                    source_name: self.name,
                    detail: format!("{detail} (after {attempt} attempts)"),
                });
            }
            let backoff = self.base_delay * 2u32.saturating_pow(attempt - 1);
            let wait = retry_after
                .map_or(backoff, |r| r.max(backoff))
                .min(MAX_DELAY);
            tracing::debug!(source = self.name, attempt, ?wait, %detail, "retrying a job source page");
            tokio::time::sleep(wait).await;
        }
    }
}

fn shorten(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(MAX_BODY_CHARS) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}

/// A reqwest error and its causes, without the URL (its query holds the key).
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

pub(crate) fn malformed(name: &'static str, detail: impl std::fmt::Display) -> JobSourceError {
    JobSourceError::Malformed {
        source_name: name,
        detail: shorten(&detail.to_string()),
    }
}
