//! An offline code host (labelled `fake`): users and repositories held in memory, for
//! the embedded mode (no network) and tests. Behaves like the GitHub adapter: most
//! recently pushed first, unknown users and repositories not found, a used-up rate
//! limit refused until its reset, outages injectable.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use surge_kernel::clock::{Clock, SystemClock};
use surge_kernel::code_host::{excerpt, CodeHost, CodeHostError, Repository};
use surge_kernel::Millis;

/// One repository of the fake host and what is behind it.
#[derive(Debug, Clone)]
pub struct FakeRepo {
    pub repo: Repository,
    pub languages: Vec<(String, u64)>,
    pub readme: Option<String>,
    /// `(author login, when)` of every commit.
    pub commits: Vec<(String, Millis)>,
}

#[derive(Default)]
struct State {
    /// login → repositories.
    users: BTreeMap<String, Vec<FakeRepo>>,
    limited_until: Option<Millis>,
    fail_next: usize,
}

pub struct FakeCodeHost {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

impl Default for FakeCodeHost {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

const DAY: Millis = 86_400_000;

impl FakeCodeHost {
    /// A host where every login nobody [`add`](Self::add)ed has three repositories
    /// derived from the login (the same ones every time), pushed in the weeks before
    /// now: what the embedded mode shows without a network. Logins starting with
    /// `nobody` (and the empty one) do not exist.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds (or replaces, by name) a repository of `login`.
    pub fn add(&self, login: &str, repo: FakeRepo) {
        let mut s = self.lock();
        let repos = s.users.entry(login.to_owned()).or_default();
        repos.retain(|r| r.repo.name != repo.repo.name);
        repos.push(repo);
    }

    /// A user with no repositories.
    pub fn add_user(&self, login: &str) {
        self.lock().users.entry(login.to_owned()).or_default();
    }

    /// Every request is refused as rate limited until `reset_at` (`None`: lifted).
    pub fn limit_until(&self, reset_at: Option<Millis>) {
        self.lock().limited_until = reset_at;
    }

    /// The next `n` requests fail as unavailable.
    pub fn fail_next(&self, n: usize) {
        self.lock().fail_next = n;
    }

    /// The repositories of `login`, or what a refused request comes to.
    fn user(&self, login: &str) -> Result<Vec<FakeRepo>, CodeHostError> {
        let now = self.clock.now_ms();
        let mut s = self.lock();
        if let Some(reset_at) = s.limited_until.filter(|r| *r > now) {
            return Err(CodeHostError::RateLimited { reset_at });
        }
        if s.fail_next > 0 {
            s.fail_next -= 1;
            return Err(CodeHostError::Unavailable {
                detail: "the fake code host is down (injected)".into(),
            });
        }
        if let Some(repos) = s.users.get(login) {
            return Ok(repos.clone());
        }
        drop(s);
        if login.is_empty() || login.starts_with("nobody") {
            return Err(CodeHostError::NotFound {
                what: format!("the user {login}"),
            });
        }
        Ok(demo_repos(login, now))
    }

    fn repo(&self, owner: &str, name: &str) -> Result<FakeRepo, CodeHostError> {
        self.user(owner)?
            .into_iter()
            .find(|r| r.repo.name == name)
            .ok_or_else(|| CodeHostError::NotFound {
                what: format!("the repository {owner}/{name}"),
            })
    }
}

/// A demo repository: name, main language, description, bytes per language.
type DemoSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, u64)],
);

/// Three repositories for a login nobody added, the same for the same login and day.
fn demo_repos(login: &str, now: Millis) -> Vec<FakeRepo> {
    let seed = login
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let today = now - now.rem_euclid(DAY);
    let specs: [DemoSpec; 3] = [
        (
            "api-server",
            "Rust",
            "An HTTP API with a transactional outbox, idempotent writes and a background worker.",
            &[("Rust", 84_000), ("SQL", 6_200), ("Shell", 900)],
        ),
        (
            "web-console",
            "TypeScript",
            "An admin console: tables with keyset pagination and live updates over SSE.",
            &[("TypeScript", 52_000), ("CSS", 7_400), ("HTML", 1_100)],
        ),
        (
            "algorithms",
            "Python",
            "Solutions to algorithm problems with tests and complexity notes.",
            &[("Python", 23_000)],
        ),
    ];
    specs
        .iter()
        .enumerate()
        .map(|(i, (name, lang, about, langs))| {
            let i = i as i64;
            let pushed = today - (i * 9 + 1) * DAY;
            let commits = (seed % 7 + 3) as i64 * (3 - i);
            FakeRepo {
                repo: Repository {
                    owner: login.to_owned(),
                    name: (*name).to_owned(),
                    url: format!("https://github.com/{login}/{name}"),
                    description: (*about).to_owned(),
                    language: Some((*lang).to_owned()),
                    stars: (seed % 50) * (3 - i as u64),
                    forks: seed % 5,
                    fork: false,
                    archived: false,
                    topics: vec![lang.to_lowercase()],
                    pushed_at: Some(pushed),
                },
                languages: langs.iter().map(|(l, b)| ((*l).to_owned(), *b)).collect(),
                readme: Some(format!("# {name}\n\n{about}")),
                commits: (0..commits)
                    .map(|c| (login.to_owned(), pushed - c * DAY / 2))
                    .collect(),
            }
        })
        .collect()
}

#[async_trait]
impl CodeHost for FakeCodeHost {
    fn kind(&self) -> &'static str {
        "fake"
    }

    async fn repositories(
        &self,
        login: &str,
        limit: usize,
    ) -> Result<Vec<Repository>, CodeHostError> {
        let mut repos: Vec<Repository> = self.user(login)?.into_iter().map(|r| r.repo).collect();
        repos.sort_by(|a, b| {
            b.pushed_at
                .cmp(&a.pushed_at)
                .then_with(|| a.name.cmp(&b.name))
        });
        repos.truncate(limit);
        Ok(repos)
    }

    async fn languages(
        &self,
        owner: &str,
        repo: &str,
    ) -> Result<Vec<(String, u64)>, CodeHostError> {
        let mut langs = self.repo(owner, repo)?.languages;
        langs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(langs)
    }

    async fn readme(
        &self,
        owner: &str,
        repo: &str,
        max_chars: usize,
    ) -> Result<Option<String>, CodeHostError> {
        Ok(self
            .repo(owner, repo)?
            .readme
            .map(|t| excerpt(&t, max_chars))
            .filter(|t| !t.is_empty()))
    }

    async fn commit_count(
        &self,
        owner: &str,
        repo: &str,
        author: &str,
        since: Millis,
    ) -> Result<u64, CodeHostError> {
        let r = self.repo(owner, repo)?;
        Ok(r.commits
            .iter()
            .filter(|(a, at)| a.eq_ignore_ascii_case(author) && *at >= since)
            .count() as u64)
    }
}
