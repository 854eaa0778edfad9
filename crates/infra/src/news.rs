//! Adapters of the `NewsSource` port: [`HttpFeed`] (an RSS or Atom feed over HTTP,
//! parsed with feed-rs; a conditional GET with `If-None-Match` / `If-Modified-Since`,
//! retries with back-off on network failures, 5xx and 429, polite to its host through
//! [`HostGates`]) and [`FakeFeed`] (offline).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use surge_kernel::news::{FeedFetch, FeedValidators, NewsItem, NewsSource, NewsSourceError};

use crate::jobs::text::plain_text;

/// One `[careers.feeds.<name>]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct FeedConfig {
    /// The RSS or Atom URL.
    pub url: String,
    /// Seconds between scheduled fetches; 0: only on demand.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Attempts per fetch (the first included) on network errors, 5xx and 429.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
}

fn default_interval_secs() -> u64 {
    3600
}
fn default_timeout_secs() -> u64 {
    10
}
fn default_attempts() -> u32 {
    3
}
fn default_retry_base_ms() -> u64 {
    1000
}

impl FeedConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            interval_secs: default_interval_secs(),
            timeout_secs: default_timeout_secs(),
            attempts: default_attempts(),
            retry_base_ms: default_retry_base_ms(),
        }
    }
}

/// Politeness per host, shared by every feed of this process: at most one request to a
/// host in flight, and each starts at least `gap` after the previous one to that host
/// ended (retries included). Several instances each keep their own.
#[derive(Debug, Clone)]
pub struct HostGates {
    gap: Duration,
    hosts: Arc<Mutex<HashMap<String, Gate>>>,
}

/// When the host's last request ended; held while a request is in flight.
type Gate = Arc<tokio::sync::Mutex<Option<tokio::time::Instant>>>;

impl HostGates {
    pub fn new(gap: Duration) -> Self {
        Self {
            gap,
            hosts: Arc::default(),
        }
    }

    fn gate(&self, host: &str) -> Gate {
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        hosts.entry(host.to_owned()).or_default().clone()
    }
}

pub struct HttpFeed {
    http: reqwest::Client,
    url: Url,
    attempts: u32,
    base_delay: Duration,
    /// `host:port`, the politeness key.
    host: String,
    gates: HostGates,
}

/// One attempt's outcome: final, or worth retrying (why).
enum Attempt {
    Done(Result<FeedFetch, NewsSourceError>),
    Retry(String),
}

impl HttpFeed {
    /// A feed whose requests go through `gates` (shared by every feed).
    pub fn new(cfg: &FeedConfig, gates: &HostGates) -> anyhow::Result<Self> {
        let url =
            Url::parse(cfg.url.trim()).map_err(|e| anyhow::anyhow!("invalid feed url: {e}"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https") && url.host_str().is_some(),
            "a feed url is http(s) with a host"
        );
        let host = format!(
            "{}:{}",
            url.host_str().unwrap_or_default().to_lowercase(),
            url.port_or_known_default().unwrap_or_default()
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .user_agent("surge-careers/0.1")
            .build()?;
        Ok(Self {
            http,
            url,
            attempts: cfg.attempts.clamp(1, 10),
            base_delay: Duration::from_millis(cfg.retry_base_ms),
            host,
            gates: gates.clone(),
        })
    }

    /// One request, with the host's gate held from its start to the end of its body.
    async fn attempt(&self, since: &FeedValidators) -> Attempt {
        let gate = self.gates.gate(&self.host);
        let mut last = gate.lock().await;
        if let Some(ended) = *last {
            tokio::time::sleep_until(ended + self.gates.gap).await;
        }
        let outcome = self.request(since).await;
        *last = Some(tokio::time::Instant::now());
        outcome
    }

    async fn request(&self, since: &FeedValidators) -> Attempt {
        let mut req = self.http.get(self.url.clone());
        if let Some(e) = &since.etag {
            req = req.header(IF_NONE_MATCH, e);
        }
        if let Some(m) = &since.last_modified {
            req = req.header(IF_MODIFIED_SINCE, m);
        }
        match req.send().await {
            Ok(res) if res.status() == StatusCode::NOT_MODIFIED => {
                Attempt::Done(Ok(FeedFetch::NotModified))
            }
            Ok(res) if res.status().is_success() => {
                let validators = FeedValidators {
                    etag: header(&res, ETAG),
                    last_modified: header(&res, LAST_MODIFIED),
                };
                match res.bytes().await {
                    Ok(body) => Attempt::Done(
                        parse(&body).map(|items| FeedFetch::Fetched { items, validators }),
                    ),
                    Err(e) => Attempt::Retry(e.without_url().to_string()),
                }
            }
            Ok(res)
                if res.status() == StatusCode::TOO_MANY_REQUESTS
                    || res.status().is_server_error() =>
            {
                Attempt::Retry(format!("HTTP {}", res.status()))
            }
            Ok(res) => Attempt::Done(Err(NewsSourceError::Unreadable(format!(
                "HTTP {}",
                res.status()
            )))),
            Err(e) => Attempt::Retry(e.without_url().to_string()),
        }
    }
}

fn header(res: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    res.headers().get(name)?.to_str().ok().map(str::to_owned)
}

#[async_trait]
impl NewsSource for HttpFeed {
    async fn fetch(&self, since: &FeedValidators) -> Result<FeedFetch, NewsSourceError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let detail = match self.attempt(since).await {
                Attempt::Done(outcome) => return outcome,
                Attempt::Retry(detail) => detail,
            };
            if attempt >= self.attempts {
                return Err(NewsSourceError::Unavailable(format!(
                    "{detail} (after {attempt} attempts)"
                )));
            }
            tokio::time::sleep(self.base_delay * 2u32.saturating_pow(attempt - 1)).await;
        }
    }
}

/// The entries of an RSS or Atom document; an entry without a link is skipped.
pub fn parse(body: &[u8]) -> Result<Vec<NewsItem>, NewsSourceError> {
    let feed =
        feed_rs::parser::parse(body).map_err(|e| NewsSourceError::Unreadable(e.to_string()))?;
    Ok(feed
        .entries
        .into_iter()
        .filter_map(|e| {
            let url = e.links.first()?.href.trim().to_owned();
            let title = plain_text(&e.title.map(|t| t.content).unwrap_or_default());
            let summary = e
                .summary
                .map(|s| s.content)
                .or_else(|| e.content.and_then(|c| c.body))
                .map(|s| plain_text(&s))
                .unwrap_or_default();
            let guid = if e.id.trim().is_empty() {
                url.clone()
            } else {
                e.id.trim().to_owned()
            };
            Some(NewsItem {
                guid,
                title,
                url,
                summary,
                published_at: e.published.or(e.updated).map(|t| t.timestamp_millis()),
            })
        })
        .collect())
}

/// An offline feed: entries set by the caller (`surge demo`'s sample news); its `ETag` is a version that
/// changes with every change, so an unchanged feed answers "not modified".
#[derive(Debug, Default)]
pub struct FakeFeed {
    state: Mutex<(u64, Vec<NewsItem>)>,
}

impl FakeFeed {
    fn lock(&self) -> MutexGuard<'_, (u64, Vec<NewsItem>)> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the entries (a new version).
    pub fn set(&self, items: Vec<NewsItem>) {
        let mut s = self.lock();
        s.0 += 1;
        s.1 = items;
    }
}

#[async_trait]
impl NewsSource for FakeFeed {
    async fn fetch(&self, since: &FeedValidators) -> Result<FeedFetch, NewsSourceError> {
        let s = self.lock();
        let etag = format!("\"v{}\"", s.0);
        if since.etag.as_deref() == Some(etag.as_str()) {
            return Ok(FeedFetch::NotModified);
        }
        Ok(FeedFetch::Fetched {
            items: s.1.clone(),
            validators: FeedValidators {
                etag: Some(etag),
                last_modified: None,
            },
        })
    }
}
