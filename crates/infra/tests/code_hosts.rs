//! The `CodeHost` adapters: the GitHub adapter against a local fake of the REST API
//! (fixtures of the documented shapes, `surge_testkit::external::code_hosts`) and the offline fake
//! pass one contract; the GitHub adapter follows `Link` pages, reuses its stored body on
//! 304, waits out short `Retry-After`s, stops asking while the limit is used up, and
//! sends GitHub's headers and the token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use surge_infra::cache::{MokaCache, RedisCache};
use surge_infra::code_host::GitHub;
use surge_kernel::clock::{Clock, FixedClock, SystemClock};
use surge_kernel::code_host::{CodeHost, CodeHostError};
use surge_testkit::external::code_hosts::{offline_like_fixtures, GitHubFake, LOGIN, REPOS};

fn github(fake: &GitHubFake) -> GitHub {
    GitHub::new(
        &fake.config(),
        Arc::new(MokaCache::default()),
        Arc::new(SystemClock),
    )
    .unwrap()
}

surge_testkit::code_host_contract!(offline_fake, async {
    Some(offline_like_fixtures(Arc::new(SystemClock)))
});

surge_testkit::code_host_contract!(github_against_the_fake, async {
    let fake = GitHubFake::start().await;
    Some((github(&fake), fake))
});

#[tokio::test]
async fn every_page_is_read_and_a_second_read_is_answered_304_from_the_stored_body() {
    let fake = GitHubFake::start().await;
    let gh = github(&fake);
    let first = gh.repositories(LOGIN, 100).await.unwrap();
    assert_eq!(first.len(), REPOS.len());
    assert_eq!(
        fake.requests(),
        2,
        "three repositories, two a page: two pages"
    );
    assert_eq!(fake.not_modified(), 0);
    let second = gh.repositories(LOGIN, 100).await.unwrap();
    assert_eq!(second, first, "the stored bodies, pages included");
    assert_eq!(
        fake.not_modified(),
        2,
        "both pages were asked with If-None-Match"
    );
    let langs = gh.languages(LOGIN, "surge").await.unwrap();
    assert_eq!(gh.languages(LOGIN, "surge").await.unwrap(), langs);
    assert_eq!(fake.not_modified(), 3);
}

#[tokio::test]
async fn github_headers_and_the_token_are_sent() {
    let fake = GitHubFake::start().await;
    github(&fake).readme(LOGIN, "surge", 100).await.unwrap();
    let reqs = fake.server.received_requests().await.unwrap();
    let h = &reqs[0].headers;
    assert_eq!(h["accept"], "application/vnd.github+json");
    assert_eq!(h["x-github-api-version"], "2022-11-28");
    assert_eq!(h["authorization"], "Bearer ghp_fake0123456789");
    assert_eq!(reqs[0].url.path(), "/repos/hana-dev/surge/readme");
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_and_a_long_one_is_rate_limited() {
    let fake = GitHubFake::start().await;
    let gh = github(&fake);
    fake.secondary_limit(1, 1);
    let started = std::time::Instant::now();
    assert_eq!(
        gh.languages(LOGIN, "kiosk").await.unwrap()[0].0,
        "TypeScript"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After honoured"
    );

    fake.secondary_limit(1, 600);
    let now = SystemClock.now_ms();
    match gh.languages(LOGIN, "kiosk").await {
        Err(CodeHostError::RateLimited { reset_at }) => {
            assert!(
                (reset_at - (now + 600_000)).abs() < 5_000,
                "{reset_at} vs {now}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn while_the_limit_is_used_up_nothing_is_sent_and_after_its_reset_requests_resume() {
    let fake = GitHubFake::start().await;
    let clock = Arc::new(FixedClock::new(1_800_000_000_000));
    let gh = GitHub::new(
        &fake.config(),
        Arc::new(MokaCache::default()),
        clock.clone(),
    )
    .unwrap();
    let reset = clock.now_ms() / 1000 + 60;
    fake.limit_until(Some(reset));
    let err = gh.languages(LOGIN, "surge").await.unwrap_err();
    assert_eq!(
        err,
        CodeHostError::RateLimited {
            reset_at: reset * 1000
        }
    );
    fake.limit_until(None);
    let sent = fake.requests();
    let err = gh.readme(LOGIN, "surge", 100).await.unwrap_err();
    assert_eq!(
        err,
        CodeHostError::RateLimited {
            reset_at: reset * 1000
        }
    );
    assert_eq!(
        fake.requests(),
        sent,
        "no request while the limit is used up"
    );
    clock.set_ms(reset * 1000);
    assert!(gh.readme(LOGIN, "surge", 100).await.unwrap().is_some());
    assert_eq!(fake.requests(), sent + 1);
}

#[tokio::test]
async fn a_readme_without_badges_keeps_its_text() {
    let fake = GitHubFake::start().await;
    let text = github(&fake)
        .readme(LOGIN, "surge", 5_000)
        .await
        .unwrap()
        .unwrap();
    assert!(
        text.starts_with("# Surge\n\nA modular Rust backend"),
        "{text}"
    );
    assert!(text.ends_with("cargo run -p surge-server"), "{text}");
    assert!(
        !text.contains("badge.svg") && !text.contains("<p"),
        "{text}"
    );
}

#[tokio::test]
async fn etags_in_redis_are_shared_by_every_instance() {
    let Some(url) = surge_testkit::configured_or_skip("SURGE_TEST_REDIS_URL") else {
        return;
    };
    let prefix = format!("t:{}:", uuid::Uuid::new_v4());
    let fake = GitHubFake::start().await;
    let cache: Arc<dyn surge_kernel::ports::Cache> =
        Arc::new(RedisCache::connect(&url, &prefix).await.unwrap());
    let one = GitHub::new(&fake.config(), cache.clone(), Arc::new(SystemClock)).unwrap();
    let two = GitHub::new(&fake.config(), cache, Arc::new(SystemClock)).unwrap();
    let first = one.languages(LOGIN, "surge").await.unwrap();
    assert_eq!(two.languages(LOGIN, "surge").await.unwrap(), first);
    assert_eq!(
        fake.not_modified(),
        1,
        "the second instance sent the first one's ETag"
    );
}
