//! The `CodeHost` contract: [`code_host_contract!`](crate::code_host_contract), run on
//! the GitHub adapter against [`GitHubFake`](crate::external::code_hosts::GitHubFake) and on the
//! offline fake holding the same facts
//! ([`offline_like_fixtures`](crate::external::code_hosts::offline_like_fixtures)). What resumes
//! relies on: every repository once, most recently pushed first; languages largest
//! first; README excerpts as bounded plain text; commit counts by author and time; an
//! unknown user is `NotFound`, a used-up limit `RateLimited` with its reset time, an
//! outage `Unavailable` (never an empty profile).

use surge_infra::code_host::FakeCodeHost;
use surge_kernel::code_host::{CodeHost, CodeHostError};
use surge_kernel::Millis;

use crate::external::code_hosts::{
    GitHubFake, COMMITS_BY_LOGIN_SINCE, COMMITS_SINCE, LOGIN, README_PHRASE, REPOS, UNKNOWN_LOGIN,
};

/// One test per case of the `CodeHost` contract for the [`CodeHostFixture`] `$make`
/// gives (see the [module doc](crate::contracts)).
#[macro_export]
macro_rules! code_host_contract {
    ($name:ident, $make:expr $(, after = $after:path)? $(,)?) => {
        $crate::__contract_tests!(code_host, $name, $make, [$($after)?], [
            repositories_come_once_most_recently_pushed_first,
            a_limit_bounds_the_repositories,
            an_unknown_user_is_not_found,
            languages_come_largest_first,
            a_readme_is_a_bounded_plain_excerpt_and_a_missing_one_is_none,
            commits_are_counted_by_author_since_a_time,
            a_used_up_rate_limit_is_an_error_with_its_reset_time,
            an_outage_is_unavailable_not_an_empty_profile,
        ]);
    };
}

/// A host holding the facts of `crate::external::code_hosts` and its far end.
pub trait CodeHostFixture: Send + Sync {
    fn host(&self) -> &dyn CodeHost;
    /// Every request is refused as rate limited until `reset_at` (whole seconds);
    /// `None` lifts it.
    fn limit_until(&self, reset_at: Option<Millis>);
    /// The next `n` requests fail (503 or the fake's outage), more than any retries.
    fn fail_next(&self, n: usize);
}

impl CodeHostFixture for FakeCodeHost {
    fn host(&self) -> &dyn CodeHost {
        self
    }
    fn limit_until(&self, reset_at: Option<Millis>) {
        FakeCodeHost::limit_until(self, reset_at);
    }
    fn fail_next(&self, n: usize) {
        FakeCodeHost::fail_next(self, n);
    }
}

/// `(adapter, fake GitHub)`.
impl<H: CodeHost> CodeHostFixture for (H, GitHubFake) {
    fn host(&self) -> &dyn CodeHost {
        &self.0
    }
    fn limit_until(&self, reset_at: Option<Millis>) {
        self.1.limit_until(reset_at.map(|ms| ms / 1000));
    }
    fn fail_next(&self, n: usize) {
        self.1.fail_next(n);
    }
}

pub async fn repositories_come_once_most_recently_pushed_first(f: &impl CodeHostFixture) {
    let repos = f
        .host()
        .repositories(LOGIN, 100)
        .await
        .expect("repositories");
    let names: Vec<&str> = repos.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names, REPOS,
        "every repository once, most recently pushed first"
    );
    let surge = &repos[0];
    assert_eq!(surge.owner, LOGIN);
    assert_eq!(surge.language.as_deref(), Some("Rust"));
    assert_eq!(surge.stars, 42);
    assert!(
        surge.topics.contains(&"axum".to_owned()),
        "{:?}",
        surge.topics
    );
    assert!(surge.url.ends_with("/hana-dev/surge"), "{}", surge.url);
    assert!(!surge.fork);
    let dotfiles = &repos[2];
    assert!(dotfiles.fork && dotfiles.archived);
    assert_eq!(dotfiles.description, "", "no description is an empty one");
    let pushed: Vec<Millis> = repos
        .iter()
        .map(|r| r.pushed_at.expect("pushed_at"))
        .collect();
    assert!(pushed.windows(2).all(|w| w[0] >= w[1]), "{pushed:?}");
}

pub async fn a_limit_bounds_the_repositories(f: &impl CodeHostFixture) {
    let repos = f.host().repositories(LOGIN, 1).await.expect("repositories");
    let names: Vec<&str> = repos.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["surge"]);
}

pub async fn an_unknown_user_is_not_found(f: &impl CodeHostFixture) {
    let err = f
        .host()
        .repositories(UNKNOWN_LOGIN, 10)
        .await
        .expect_err("unknown user");
    assert!(matches!(err, CodeHostError::NotFound { .. }), "{err:?}");
    let err = f
        .host()
        .languages(LOGIN, "no-such-repo")
        .await
        .expect_err("unknown repo");
    assert!(matches!(err, CodeHostError::NotFound { .. }), "{err:?}");
}

pub async fn languages_come_largest_first(f: &impl CodeHostFixture) {
    let langs = f.host().languages(LOGIN, "surge").await.expect("languages");
    assert_eq!(
        langs,
        vec![
            ("Rust".to_owned(), 120_000),
            ("Python".to_owned(), 3_000),
            ("Shell".to_owned(), 800)
        ]
    );
}

pub async fn a_readme_is_a_bounded_plain_excerpt_and_a_missing_one_is_none(
    f: &impl CodeHostFixture,
) {
    let text = f
        .host()
        .readme(LOGIN, "surge", 2_000)
        .await
        .expect("readme")
        .expect("surge has a README");
    assert!(
        text.starts_with("# Surge"),
        "badges and HTML are gone: {text:?}"
    );
    assert!(text.contains(README_PHRASE), "{text:?}");
    let short = f
        .host()
        .readme(LOGIN, "surge", 60)
        .await
        .expect("readme")
        .expect("surge has a README");
    assert!(short.chars().count() <= 61, "{short:?}");
    assert!(short.ends_with('…'), "a cut is marked: {short:?}");
    assert_eq!(
        f.host()
            .readme(LOGIN, "kiosk", 2_000)
            .await
            .expect("no readme"),
        None
    );
}

pub async fn commits_are_counted_by_author_since_a_time(f: &impl CodeHostFixture) {
    let since = surge_kernel::parse_rfc3339(COMMITS_SINCE, "since").expect("since");
    let n = f
        .host()
        .commit_count(LOGIN, "surge", LOGIN, since)
        .await
        .expect("count");
    assert_eq!(n, COMMITS_BY_LOGIN_SINCE);
    let all = f
        .host()
        .commit_count(LOGIN, "surge", LOGIN, 0)
        .await
        .expect("count");
    assert_eq!(
        all,
        COMMITS_BY_LOGIN_SINCE + 1,
        "an older commit counts from an older time"
    );
    let other = f
        .host()
        .commit_count(LOGIN, "surge", "minsu", since)
        .await
        .expect("count");
    assert_eq!(other, 1, "only the author's commits");
    let empty = f
        .host()
        .commit_count(LOGIN, "dotfiles", LOGIN, 0)
        .await
        .expect("count");
    assert_eq!(empty, 0, "an empty repository has none");
}

pub async fn a_used_up_rate_limit_is_an_error_with_its_reset_time(f: &impl CodeHostFixture) {
    let now = chrono_now();
    let reset_at = (now / 1000 + 3_600) * 1000;
    f.limit_until(Some(reset_at));
    let err = f
        .host()
        .repositories(LOGIN, 10)
        .await
        .expect_err("rate limited");
    assert_eq!(err, CodeHostError::RateLimited { reset_at });
    let err = f
        .host()
        .readme(LOGIN, "surge", 100)
        .await
        .expect_err("still limited");
    assert_eq!(err, CodeHostError::RateLimited { reset_at });
}

pub async fn an_outage_is_unavailable_not_an_empty_profile(f: &impl CodeHostFixture) {
    f.fail_next(10);
    let err = f.host().repositories(LOGIN, 10).await.expect_err("down");
    assert!(matches!(err, CodeHostError::Unavailable { .. }), "{err:?}");
}

fn chrono_now() -> Millis {
    use surge_kernel::clock::Clock;
    surge_kernel::clock::SystemClock.now_ms()
}
