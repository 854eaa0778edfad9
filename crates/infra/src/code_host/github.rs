//! The GitHub REST API (docs.github.com/rest, version 2022-11-28) as a `CodeHost`.
//!
//! - Repositories: `GET /users/{u}/repos?type=owner&sort=pushed&direction=desc`, every
//!   page by the `Link` header's `rel="next"` (followed only while it stays on the
//!   configured base URL, so a token never travels elsewhere).
//! - Languages: `GET /repos/{o}/{r}/languages` (bytes per language).
//! - README: `GET /repos/{o}/{r}/readme` (base64 `content`), badge and HTML lines
//!   dropped, trimmed to an excerpt.
//! - Commit counts: `GET /repos/{o}/{r}/commits?author=&since=&per_page=1`: with one
//!   commit per page, the `Link` header's `rel="last"` page number is the count. Chosen
//!   over `/stats/participation`, which counts the owner's commits, not a given
//!   author's, by week for a fixed year, and answers 202 (nothing yet) while GitHub
//!   computes it. An empty repository (409) has 0.
//! - Rate limits: a 403/429 with `x-ratelimit-remaining: 0` is
//!   [`CodeHostError::RateLimited`] until `x-ratelimit-reset`; until then no request is
//!   sent at all. A `Retry-After` (secondary limit) up to [`MAX_WAIT`] is waited out and
//!   retried, a longer one is `RateLimited`. 5xx and network failures are retried with
//!   exponential back-off.
//! - ETags: every 200 is stored with its `ETag` (and `Link`) in the `Cache` port (shared
//!   by every instance, Redis when configured) for [`ETAG_TTL`]; the next request sends
//!   `If-None-Match` and a 304 (which GitHub does not count against the limit) reuses
//!   the stored body.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, ETAG, IF_NONE_MATCH, LINK, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use surge_kernel::clock::Clock;
use surge_kernel::code_host::{excerpt, CodeHost, CodeHostError, Repository};
use surge_kernel::ports::Cache;
use surge_kernel::Millis;

/// The longest `Retry-After` waited out in place; a longer one is `RateLimited`.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// How long a stored ETag and its body are kept.
pub const ETAG_TTL: Duration = Duration::from_secs(24 * 3600);
/// GitHub's largest page.
const PER_PAGE: usize = 100;
/// Pages of repositories read at most (10 000 repositories).
const MAX_PAGES: usize = 100;

/// `[resumes.github]`.
#[derive(Clone, Deserialize)]
pub struct GitHubConfig {
    /// `https://api.github.com` unless set (GitHub Enterprise, a test server).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// A token raises the limit from 60 to 5,000 requests an hour; public data needs none.
    #[serde(default)]
    pub token: Option<SecretString>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Attempts per request (the first included) on network errors, 5xx and short
    /// `Retry-After`s.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
}

fn default_base_url() -> String {
    "https://api.github.com".into()
}
fn default_timeout_secs() -> u64 {
    10
}
fn default_attempts() -> u32 {
    3
}
fn default_retry_base_ms() -> u64 {
    500
}

impl Default for GitHubConfig {
    fn default() -> Self {
        Self {
            base_url: default_base_url(),
            token: None,
            timeout_secs: default_timeout_secs(),
            attempts: default_attempts(),
            retry_base_ms: default_retry_base_ms(),
        }
    }
}

pub struct GitHub {
    http: reqwest::Client,
    base: Url,
    token: Option<SecretString>,
    attempts: u32,
    base_delay: Duration,
    cache: Arc<dyn Cache>,
    clock: Arc<dyn Clock>,
    /// Until when the primary limit is used up (ms; 0: not known to be).
    limited_until: AtomicI64,
}

/// A stored 200: its ETag, body and `Link` header.
#[derive(Serialize, Deserialize)]
struct Stored {
    etag: String,
    body: String,
    link: Option<String>,
}

/// A 2xx (or a 304 answered from the store).
struct Answer {
    body: String,
    link: Option<String>,
}

/// What a request came to.
enum Outcome {
    Found(Answer),
    /// 404 or 409 (an empty repository), with the status.
    Missing(u16),
}

impl GitHub {
    pub fn new(
        cfg: &GitHubConfig,
        cache: Arc<dyn Cache>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let mut base = Url::parse(cfg.base_url.trim())
            .map_err(|e| anyhow::anyhow!("[resumes.github] base_url: {e}"))?;
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .user_agent("surge-resumes/0.1")
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the GitHub HTTP client: {e}"))?;
        Ok(Self {
            http,
            base,
            token: cfg.token.clone(),
            attempts: cfg.attempts.max(1),
            base_delay: Duration::from_millis(cfg.retry_base_ms),
            cache,
            clock,
            limited_until: AtomicI64::new(0),
        })
    }

    fn url(&self, segments: &[&str]) -> Result<Url, CodeHostError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| unavailable("the base URL cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn get(&self, url: Url) -> Result<Outcome, CodeHostError> {
        let key = format!("github:etag:{url}");
        let stored: Option<Stored> = match self.cache.get(&key).await {
            Ok(v) => v.and_then(|b| serde_json::from_slice(&b).ok()),
            Err(e) => {
                tracing::warn!(error = %e, "the GitHub ETag store is unreadable; asking afresh");
                None
            }
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let until = self.limited_until.load(Ordering::SeqCst);
            if until > self.clock.now_ms() {
                return Err(CodeHostError::RateLimited { reset_at: until });
            }
            let mut req = self
                .http
                .get(url.clone())
                .header(ACCEPT, "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28");
            if let Some(t) = &self.token {
                req = req.header(AUTHORIZATION, format!("Bearer {}", t.expose_secret()));
            }
            if let Some(s) = &stored {
                req = req.header(IF_NONE_MATCH, s.etag.as_str());
            }
            let detail = match req.send().await {
                Err(e) => transport_error(e),
                Ok(res) => {
                    let status = res.status();
                    let headers = res.headers().clone();
                    if status == StatusCode::NOT_MODIFIED {
                        if let Some(s) = stored {
                            return Ok(Outcome::Found(Answer {
                                body: s.body,
                                link: s.link,
                            }));
                        }
                        return Err(unavailable("304 Not Modified to a request without an ETag"));
                    }
                    let body = res
                        .text()
                        .await
                        .map_err(|e| unavailable(transport_error(e)))?;
                    if status.is_success() {
                        let link = header(&headers, LINK.as_str());
                        if let Some(etag) = header(&headers, ETAG.as_str()) {
                            let s = Stored {
                                etag,
                                body: body.clone(),
                                link: link.clone(),
                            };
                            if let Ok(bytes) = serde_json::to_vec(&s) {
                                if let Err(e) = self.cache.set(&key, &bytes, ETAG_TTL).await {
                                    tracing::warn!(error = %e, "cannot store a GitHub ETag");
                                }
                            }
                        }
                        return Ok(Outcome::Found(Answer { body, link }));
                    }
                    if status == StatusCode::NOT_FOUND || status == StatusCode::CONFLICT {
                        return Ok(Outcome::Missing(status.as_u16()));
                    }
                    if status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS {
                        if let Some(wait) = self.rate_limit(&headers, attempt)? {
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                    }
                    if !status.is_server_error() {
                        return Err(unavailable(format!(
                            "GitHub refused the request (HTTP {status}): {}",
                            message(&body)
                        )));
                    }
                    format!("HTTP {status}: {}", message(&body))
                }
            };
            if attempt >= self.attempts {
                return Err(unavailable(format!("{detail} (after {attempt} attempts)")));
            }
            let wait = self.base_delay * 2u32.saturating_pow(attempt - 1);
            tracing::debug!(attempt, ?wait, %detail, "retrying a GitHub request");
            tokio::time::sleep(wait.min(MAX_WAIT)).await;
        }
    }

    /// A 403/429: `Err(RateLimited)` for a used-up limit, `Ok(Some(wait))` for a short
    /// `Retry-After` with attempts left, `Ok(None)` for a plain refusal.
    fn rate_limit(&self, h: &HeaderMap, attempt: u32) -> Result<Option<Duration>, CodeHostError> {
        let now = self.clock.now_ms();
        let retry_after =
            header(h, RETRY_AFTER.as_str()).and_then(|v| v.trim().parse::<u64>().ok());
        let remaining =
            header(h, "x-ratelimit-remaining").and_then(|v| v.trim().parse::<i64>().ok());
        let reset = header(h, "x-ratelimit-reset")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(|s| s.saturating_mul(1000));
        if let Some(secs) = retry_after {
            let wait = Duration::from_secs(secs);
            if wait <= MAX_WAIT && attempt < self.attempts {
                return Ok(Some(wait));
            }
            let reset_at = now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX / 2) * 1000);
            return Err(CodeHostError::RateLimited { reset_at });
        }
        if remaining == Some(0) {
            // No reset given: GitHub's guidance is to wait at least a minute.
            let reset_at = reset.filter(|r| *r > now).unwrap_or(now + 60_000);
            self.limited_until.fetch_max(reset_at, Ordering::SeqCst);
            return Err(CodeHostError::RateLimited { reset_at });
        }
        Ok(None)
    }
}

#[derive(Deserialize)]
struct RepoJson {
    name: String,
    owner: OwnerJson,
    html_url: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    stargazers_count: u64,
    #[serde(default)]
    forks_count: u64,
    #[serde(default)]
    fork: bool,
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    topics: Vec<String>,
    #[serde(default)]
    pushed_at: Option<String>,
}

#[derive(Deserialize)]
struct OwnerJson {
    login: String,
}

#[derive(Deserialize)]
struct ReadmeJson {
    content: String,
    #[serde(default)]
    encoding: String,
}

#[async_trait]
impl CodeHost for GitHub {
    fn kind(&self) -> &'static str {
        "github"
    }

    #[tracing::instrument(skip(self))]
    async fn repositories(
        &self,
        login: &str,
        limit: usize,
    ) -> Result<Vec<Repository>, CodeHostError> {
        let mut url = self.url(&["users", login, "repos"])?;
        url.query_pairs_mut()
            .append_pair("type", "owner")
            .append_pair("sort", "pushed")
            .append_pair("direction", "desc")
            .append_pair("per_page", &PER_PAGE.min(limit.max(1)).to_string());
        let mut repos = Vec::new();
        for _ in 0..MAX_PAGES {
            let answer = match self.get(url).await? {
                Outcome::Found(a) => a,
                Outcome::Missing(_) => {
                    return Err(CodeHostError::NotFound {
                        what: format!("the user {login}"),
                    })
                }
            };
            let page: Vec<RepoJson> = serde_json::from_str(&answer.body).map_err(|e| {
                unavailable(format!("a repository list of an unexpected shape: {e}"))
            })?;
            for r in page {
                repos.push(Repository {
                    owner: r.owner.login,
                    name: r.name,
                    url: r.html_url,
                    description: r.description.unwrap_or_default().trim().to_owned(),
                    language: r.language,
                    stars: r.stargazers_count,
                    forks: r.forks_count,
                    fork: r.fork,
                    archived: r.archived,
                    topics: r.topics,
                    pushed_at: r.pushed_at.as_deref().and_then(parse_time),
                });
                if repos.len() >= limit {
                    return Ok(repos);
                }
            }
            match answer
                .link
                .as_deref()
                .and_then(|l| link(l, "next"))
                .and_then(|u| Url::parse(&u).ok())
            {
                Some(next) if next.as_str().starts_with(self.base.as_str()) => url = next,
                _ => return Ok(repos),
            }
        }
        Ok(repos)
    }

    #[tracing::instrument(skip(self))]
    async fn languages(
        &self,
        owner: &str,
        repo: &str,
    ) -> Result<Vec<(String, u64)>, CodeHostError> {
        let url = self.url(&["repos", owner, repo, "languages"])?;
        let body = match self.get(url).await? {
            Outcome::Found(a) => a.body,
            Outcome::Missing(_) => return Err(not_found(owner, repo)),
        };
        let map: std::collections::BTreeMap<String, u64> = serde_json::from_str(&body)
            .map_err(|e| unavailable(format!("languages of an unexpected shape: {e}")))?;
        let mut langs: Vec<(String, u64)> = map.into_iter().collect();
        langs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(langs)
    }

    #[tracing::instrument(skip(self))]
    async fn readme(
        &self,
        owner: &str,
        repo: &str,
        max_chars: usize,
    ) -> Result<Option<String>, CodeHostError> {
        let url = self.url(&["repos", owner, repo, "readme"])?;
        let body = match self.get(url).await? {
            Outcome::Found(a) => a.body,
            Outcome::Missing(_) => return Ok(None),
        };
        let r: ReadmeJson = serde_json::from_str(&body)
            .map_err(|e| unavailable(format!("a README of an unexpected shape: {e}")))?;
        if r.encoding != "base64" {
            return Err(unavailable(format!(
                "a README in {:?} encoding",
                r.encoding
            )));
        }
        let packed: String = r.content.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(packed)
            .map_err(|e| unavailable(format!("a README that is not base64: {e}")))?;
        let text = plain_readme(&String::from_utf8_lossy(&bytes));
        Ok((!text.is_empty()).then(|| excerpt(&text, max_chars)))
    }

    #[tracing::instrument(skip(self))]
    async fn commit_count(
        &self,
        owner: &str,
        repo: &str,
        author: &str,
        since: Millis,
    ) -> Result<u64, CodeHostError> {
        let mut url = self.url(&["repos", owner, repo, "commits"])?;
        url.query_pairs_mut()
            .append_pair("author", author)
            .append_pair("since", &surge_kernel::rfc3339(since))
            .append_pair("per_page", "1");
        let answer = match self.get(url).await? {
            Outcome::Found(a) => a,
            Outcome::Missing(409) => return Ok(0),
            Outcome::Missing(_) => return Err(not_found(owner, repo)),
        };
        if let Some(last) = answer.link.as_deref().and_then(|l| link(l, "last")) {
            let page = Url::parse(&last)
                .ok()
                .and_then(|u| {
                    u.query_pairs()
                        .find(|(k, _)| k == "page")
                        .and_then(|(_, v)| v.parse::<u64>().ok())
                })
                .ok_or_else(|| unavailable("a Link rel=\"last\" without a page number"))?;
            return Ok(page);
        }
        let page: Vec<serde_json::Value> = serde_json::from_str(&answer.body)
            .map_err(|e| unavailable(format!("a commit list of an unexpected shape: {e}")))?;
        Ok(page.len() as u64)
    }
}

/// The URL of the `rel` relation in a `Link` header
/// (`<https://…?page=2>; rel="next", <https://…?page=5>; rel="last"`).
pub fn link(header: &str, rel: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let mut pieces = part.split(';');
        let url = pieces.next()?.trim();
        let url = url.strip_prefix('<')?.strip_suffix('>')?;
        pieces
            .any(|p| {
                let p = p.trim();
                p == format!("rel=\"{rel}\"") || p == format!("rel={rel}")
            })
            .then(|| url.to_owned())
    })
}

/// A README without its badge, image and HTML lines, blank runs folded.
fn plain_readme(md: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for line in md.lines() {
        let t = line.trim();
        let noise = t.starts_with("[![") || t.starts_with("![") || t.starts_with('<');
        if noise || (t.is_empty() && out.last().is_none_or(|l| l.trim().is_empty())) {
            continue;
        }
        out.push(line.trim_end());
    }
    out.join("\n").trim().to_owned()
}

fn parse_time(s: &str) -> Option<Millis> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn message(body: &str) -> String {
    let m = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.to_owned());
    excerpt(&m, 200)
}

fn not_found(owner: &str, repo: &str) -> CodeHostError {
    CodeHostError::NotFound {
        what: format!("the repository {owner}/{repo}"),
    }
}

fn unavailable(detail: impl std::fmt::Display) -> CodeHostError {
    CodeHostError::Unavailable {
        detail: detail.to_string(),
    }
}

/// A reqwest error and its causes, without the URL.
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

#[cfg(test)]
mod tests {
    use super::{link, plain_readme};

    #[test]
    fn link_headers_name_next_and_last() {
        let h = r#"<https://api.github.com/user/1/repos?page=2>; rel="next", <https://api.github.com/user/1/repos?page=5>; rel="last""#;
        assert_eq!(
            link(h, "next").as_deref(),
            Some("https://api.github.com/user/1/repos?page=2")
        );
        assert_eq!(
            link(h, "last").as_deref(),
            Some("https://api.github.com/user/1/repos?page=5")
        );
        assert_eq!(link(h, "prev"), None);
    }

    #[test]
    fn a_readme_loses_its_badges_and_html() {
        let md = "<p align=\"center\">\n[![ci](x.svg)](y)\n\n\n# Surge\n\nFast.\n";
        assert_eq!(plain_readme(md), "# Surge\n\nFast.");
    }
}
