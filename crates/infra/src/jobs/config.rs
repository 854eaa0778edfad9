//! A `[careers.sources.<name>]` section: what a source reads, how often, and how its
//! requests are bounded.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;
use secrecy::SecretString;
use serde::Deserialize;

use super::fetch::Fetcher;

/// One `[careers.sources.<name>]` section.
#[derive(Clone, Deserialize)]
pub struct JobSourceConfig {
    /// `saramin`, `work24`, `greenhouse` or `fake`.
    pub kind: String,
    /// Saramin's `access-key` or Work24's `authKey`.
    #[serde(default)]
    pub key: Option<SecretString>,
    /// Greenhouse: the board token (`boards.greenhouse.io/<board>`).
    #[serde(default)]
    pub board: Option<String>,
    /// Greenhouse: the company name shown on its postings (default: the board token).
    #[serde(default)]
    pub company: Option<String>,
    /// Another endpoint than the public one (a proxy, a test server).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Seconds between scheduled runs; 0: only when an admin or `surge careers sync` asks.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    /// Postings asked for per page (each source has its own maximum).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Extra query parameters passed as they are (Saramin `job_mid_cd = "2"`, Work24
    /// `occupation = "024"`): what part of the board this source reads.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// One request, all told.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Attempts per page (the first included) on network errors, 5xx and 429.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Wait before the second attempt; doubles with each further one.
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
    /// `fake`: how many postings the board starts with, and their seed.
    #[serde(default)]
    pub postings: Option<usize>,
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_interval_secs() -> u64 {
    3600
}
fn default_timeout_secs() -> u64 {
    10
}
fn default_attempts() -> u32 {
    4
}
fn default_retry_base_ms() -> u64 {
    500
}

impl JobSourceConfig {
    /// A section of this kind with every default.
    pub fn new(kind: &str) -> Self {
        Self {
            kind: kind.into(),
            key: None,
            board: None,
            company: None,
            base_url: None,
            interval_secs: default_interval_secs(),
            page_size: None,
            params: BTreeMap::new(),
            timeout_secs: default_timeout_secs(),
            attempts: default_attempts(),
            retry_base_ms: default_retry_base_ms(),
            postings: None,
            seed: None,
        }
    }

    pub(crate) fn key(&self, what: &str) -> anyhow::Result<SecretString> {
        self.key
            .clone()
            .ok_or_else(|| anyhow::anyhow!("a {} source needs `key` ({what})", self.kind))
    }

    pub(crate) fn base(&self, default: &str) -> anyhow::Result<Url> {
        let raw = self.base_url.as_deref().unwrap_or(default).trim();
        let url = Url::parse(raw).map_err(|e| anyhow::anyhow!("invalid base_url: {e}"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https") && url.host_str().is_some(),
            "base_url must be an http(s) URL with a host"
        );
        Ok(url)
    }

    pub(crate) fn fetcher(&self, name: &'static str) -> anyhow::Result<Fetcher> {
        Fetcher::new(
            name,
            Duration::from_secs(self.timeout_secs.max(1)),
            self.attempts.clamp(1, 10),
            Duration::from_millis(self.retry_base_ms),
        )
    }
}

impl std::fmt::Debug for JobSourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobSourceConfig")
            .field("kind", &self.kind)
            .field("key", &self.key.as_ref().map(|_| "[set]"))
            .field("board", &self.board)
            .field("base_url", &self.base_url)
            .field("interval_secs", &self.interval_secs)
            .finish_non_exhaustive()
    }
}
