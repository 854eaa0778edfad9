//! A fake GitHub REST API for the `CodeHost` adapter: a local HTTP server (wiremock)
//! serving fixtures of the documented shapes (docs.github.com/rest, 2022-11-28) for the
//! user `hana-dev`, with GitHub's pagination (`Link` with `rel="next"`/`"last"`, two
//! repositories a page whatever `per_page` asks, so every list has pages), strong
//! ETags answered with 304 to a matching `If-None-Match`, a used-up rate limit
//! (403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`), secondary limits
//! (429 with `Retry-After`) and outages (503). [`offline_like_fixtures`] holds the same
//! facts in the offline fake, so both pass one contract.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use surge_infra::code_host::fake::FakeRepo;
use surge_infra::code_host::{FakeCodeHost, GitHubConfig};
use surge_kernel::code_host::Repository;
use surge_kernel::Millis;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// `GET /users/{u}/repos` (List repositories for a user), all pages at once, most
/// recently pushed first: `surge` (Rust, topics), `kiosk` (TypeScript, no README) and
/// `dotfiles` (an archived fork without a description).
pub const USER_REPOS: &str = include_str!("../../fixtures/github/user-repos.json");
/// `GET /repos/{o}/{r}/languages` (bytes per language), by repository name.
pub const REPO_LANGUAGES: &str = include_str!("../../fixtures/github/repo-languages.json");
/// `GET /repos/{o}/{r}/readme` for `surge`: base64 `content` in 60-column lines, with
/// an HTML logo line and a badge line before the text.
pub const README_SURGE: &str = include_str!("../../fixtures/github/readme-surge.json");
/// `GET /repos/{o}/{r}/commits` objects, newest first, by repository name (`dotfiles`
/// has none: GitHub answers 409 "Git Repository is empty").
pub const REPO_COMMITS: &str = include_str!("../../fixtures/github/repo-commits.json");

pub const LOGIN: &str = "hana-dev";
pub const UNKNOWN_LOGIN: &str = "nobody-here";
/// The repositories of [`LOGIN`], most recently pushed first.
pub const REPOS: [&str; 3] = ["surge", "kiosk", "dotfiles"];
/// Commits by [`LOGIN`] to `surge` since 2026-09-01: three (a fourth is older, one more
/// since then is by someone else).
pub const COMMITS_SINCE: &str = "2026-09-01T00:00:00Z";
pub const COMMITS_BY_LOGIN_SINCE: u64 = 3;
pub const README_PHRASE: &str = "transactional outbox";
/// GitHub's page size in the fake, whatever `per_page` asks.
pub const PAGE_SIZE: usize = 2;

#[derive(Debug, Default)]
struct State {
    requests: usize,
    not_modified: usize,
    fail_next: usize,
    /// Epoch seconds until which the primary limit is used up.
    limited_until: Option<i64>,
    /// The next `n` answers are 429 with `Retry-After: secs`.
    secondary: Option<(usize, u64)>,
}

/// A local fake of the GitHub REST API.
pub struct GitHubFake {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

#[derive(Clone)]
struct Responder {
    base: String,
    state: Arc<Mutex<State>>,
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

fn parse(doc: &str) -> Value {
    serde_json::from_str(doc).unwrap_or(Value::Null)
}

fn error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.to_string(),
    }))
}

fn etag(body: &str) -> String {
    let mut h = DefaultHasher::new();
    body.hash(&mut h);
    format!("\"{:016x}\"", h.finish())
}

/// An RFC 3339 time of the fixtures as epoch milliseconds.
fn millis(s: &str) -> Millis {
    surge_kernel::parse_rfc3339(s, "time").unwrap_or(0)
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = lock(&self.state);
        s.requests += 1;
        if let Some(reset) = s.limited_until {
            return error(
                403,
                "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit.)",
            )
            .insert_header("x-ratelimit-limit", "60")
            .insert_header("x-ratelimit-remaining", "0")
            .insert_header("x-ratelimit-reset", reset.to_string().as_str());
        }
        if let Some((n, secs)) = s.secondary {
            s.secondary = (n > 1).then_some((n - 1, secs));
            return error(429, "You have exceeded a secondary rate limit.")
                .insert_header("retry-after", secs.to_string().as_str());
        }
        if s.fail_next > 0 {
            s.fail_next -= 1;
            return ResponseTemplate::new(503).set_body_string("unavailable");
        }
        let param = |name: &str| {
            req.url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let segs: Vec<String> = req
            .url
            .path_segments()
            .map(|p| p.map(str::to_owned).collect())
            .unwrap_or_default();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let page = param("page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let (body, link) = match segs.as_slice() {
            ["users", LOGIN, "repos"] => {
                let all = parse(USER_REPOS).as_array().cloned().unwrap_or_default();
                self.paged(req, &all, page, PAGE_SIZE)
            }
            ["users", _, "repos"] => return error(404, "Not Found"),
            ["repos", LOGIN, repo, "languages"] => match parse(REPO_LANGUAGES).get(*repo) {
                Some(v) => (v.to_string(), None),
                None => return error(404, "Not Found"),
            },
            ["repos", LOGIN, "surge", "readme"] => (README_SURGE.to_owned(), None),
            ["repos", LOGIN, _, "readme"] => return error(404, "Not Found"),
            ["repos", LOGIN, repo, "commits"] => {
                let Some(all) = parse(REPO_COMMITS)
                    .get(*repo)
                    .and_then(|v| v.as_array().cloned())
                else {
                    if REPOS.contains(repo) {
                        return error(409, "Git Repository is empty.");
                    }
                    return error(404, "Not Found");
                };
                let since = param("since").map(|s| millis(&s)).unwrap_or(i64::MIN);
                let author = param("author");
                let picked: Vec<Value> = all
                    .into_iter()
                    .filter(|c| {
                        author.as_deref().is_none_or(|a| {
                            c["author"]["login"]
                                .as_str()
                                .is_some_and(|l| l.eq_ignore_ascii_case(a))
                        }) && c["commit"]["author"]["date"]
                            .as_str()
                            .map(millis)
                            .unwrap_or(0)
                            >= since
                    })
                    .collect();
                let per_page = param("per_page")
                    .and_then(|p| p.parse::<usize>().ok())
                    .unwrap_or(30)
                    .clamp(1, 100);
                self.paged(req, &picked, page, per_page)
            }
            _ => return error(404, "Not Found"),
        };
        let tag = etag(&body);
        let mut res = if req
            .headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == tag)
        {
            s.not_modified += 1;
            ResponseTemplate::new(304)
        } else {
            ResponseTemplate::new(200).set_body_raw(body, "application/json; charset=utf-8")
        };
        res = res
            .insert_header("etag", tag.as_str())
            .insert_header("x-ratelimit-limit", "60")
            .insert_header("x-ratelimit-remaining", "59");
        if let Some(l) = link {
            res = res.insert_header("link", l.as_str());
        }
        res
    }
}

impl Responder {
    /// One page of `all` and its `Link` header (none when everything fits one page).
    fn paged(
        &self,
        req: &Request,
        all: &[Value],
        page: usize,
        size: usize,
    ) -> (String, Option<String>) {
        let pages = all.len().div_ceil(size).max(1);
        let items: Vec<&Value> = all.iter().skip((page - 1) * size).take(size).collect();
        let body = serde_json::to_string(&items).unwrap_or_default();
        if pages == 1 {
            return (body, None);
        }
        let at = |p: usize| {
            let mut u = req.url.clone();
            let kept: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| k != "page")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            u.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair("page", &p.to_string());
            format!(
                "{}{}?{}",
                self.base,
                u.path(),
                u.query().unwrap_or_default()
            )
        };
        let mut rels = Vec::new();
        if page < pages {
            rels.push(format!("<{}>; rel=\"next\"", at(page + 1)));
            rels.push(format!("<{}>; rel=\"last\"", at(pages)));
        }
        if page > 1 {
            rels.push(format!("<{}>; rel=\"first\"", at(1)));
            rels.push(format!("<{}>; rel=\"prev\"", at(page - 1)));
        }
        (body, (!rels.is_empty()).then(|| rels.join(", ")))
    }
}

impl GitHubFake {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        Mock::given(method("GET"))
            .respond_with(Responder {
                base: server.uri(),
                state: state.clone(),
            })
            .mount(&server)
            .await;
        Self { server, state }
    }

    /// `[resumes.github]` pointing at this fake, with quick retries.
    pub fn config(&self) -> GitHubConfig {
        GitHubConfig {
            base_url: self.server.uri(),
            token: Some("ghp_fake0123456789".to_owned().into()),
            timeout_secs: 5,
            attempts: 3,
            retry_base_ms: 10,
        }
    }

    /// Every request answers 403 rate limited until `reset` (epoch seconds); `None` lifts it.
    pub fn limit_until(&self, reset: Option<i64>) {
        lock(&self.state).limited_until = reset;
    }
    /// The next `n` requests answer 429 with `Retry-After: secs`.
    pub fn secondary_limit(&self, n: usize, secs: u64) {
        lock(&self.state).secondary = (n > 0).then_some((n, secs));
    }
    /// The next `n` requests answer 503.
    pub fn fail_next(&self, n: usize) {
        lock(&self.state).fail_next = n;
    }
    pub fn requests(&self) -> usize {
        lock(&self.state).requests
    }
    /// How many requests were answered 304 Not Modified.
    pub fn not_modified(&self) -> usize {
        lock(&self.state).not_modified
    }
}

/// The offline fake code host holding the facts of the GitHub fixtures.
pub fn offline_like_fixtures(clock: Arc<dyn surge_kernel::clock::Clock>) -> FakeCodeHost {
    let host = FakeCodeHost::new(clock);
    let langs = parse(REPO_LANGUAGES);
    let commits = parse(REPO_COMMITS);
    for r in parse(USER_REPOS).as_array().cloned().unwrap_or_default() {
        let name = r["name"].as_str().unwrap_or_default().to_owned();
        let languages: Vec<(String, u64)> = langs[&name]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        let readme = (name == "surge").then(|| {
            "# Surge\n\nA modular Rust backend built on axum and SeaORM. Every write that matters goes through a transactional outbox, consumers claim each event exactly once, and lists page by keyset cursors.\n\n## Running\n\n    cargo run -p surge-server".to_owned()
        });
        let commit_list: Vec<(String, Millis)> = commits[&name]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        (
                            c["author"]["login"].as_str().unwrap_or_default().to_owned(),
                            c["commit"]["author"]["date"]
                                .as_str()
                                .map(millis)
                                .unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let topics: Vec<String> = r["topics"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        host.add(
            LOGIN,
            FakeRepo {
                repo: Repository {
                    owner: LOGIN.to_owned(),
                    name: name.clone(),
                    url: r["html_url"].as_str().unwrap_or_default().to_owned(),
                    description: r["description"].as_str().unwrap_or_default().to_owned(),
                    language: r["language"].as_str().map(str::to_owned),
                    stars: r["stargazers_count"].as_u64().unwrap_or(0),
                    forks: r["forks_count"].as_u64().unwrap_or(0),
                    fork: r["fork"].as_bool().unwrap_or(false),
                    archived: r["archived"].as_bool().unwrap_or(false),
                    topics,
                    pushed_at: r["pushed_at"].as_str().map(millis),
                },
                languages,
                readme,
                commits: commit_list,
            },
        );
    }
    host
}
