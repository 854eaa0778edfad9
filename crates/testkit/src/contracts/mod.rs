//! One contract suite per port: every adapter must pass the same one.
//!
//! Each suite is a module of cases, one `pub async fn` per behaviour, and a macro that
//! turns an adapter into one named test per case (the way quickwit's
//! `metastore_test_suite!` does), so the first failing case does not hide the others:
//!
//! ```ignore
//! surge_testkit::cache_contract!(moka_cache, async { Some(MokaCache::default()) });
//! surge_testkit::cache_contract!(redis_cache, async {
//!     let url = surge_testkit::configured_or_skip("SURGE_TEST_REDIS_URL")?;
//!     Some(RedisCache::connect(&url, "p:").await.unwrap())
//! });
//! ```
//!
//! expands to `mod moka_cache { #[tokio::test] async fn <case>() … }` for every case.
//! The constructor is an async expression giving `Option<fixture>`: `None` skips the case
//! (use [`configured_or_skip`](crate::configured_or_skip), which prints SKIPPED, or fails
//! under `SURGE_TEST_REQUIRE_BACKENDS=1`). Every case builds its own fixture. An optional
//! `after = path::to::async_fn` runs on the fixture after each case (a check that the case
//! left nothing behind, or a teardown).
//!
//! The fixture is the adapter itself for single-port suites (`&fixture` must coerce to
//! `&dyn Port`); the mailer, chat and payment suites take a fixture trait (the adapter and
//! its far end), implemented for pairs and for the recording adapters.

pub mod cache;
pub mod chat;
pub mod code_host;
pub mod event_bus;
pub mod job_source;
pub mod mailer;
pub mod object_store;
pub mod payment;
pub mod pubsub;
pub mod waiting_room;
pub mod weather_alerts;

pub use chat::{ChatChannel, ChatFixture};
pub use code_host::CodeHostFixture;
pub use job_source::JobBoardFixture;
pub use mailer::{Inbox, MailerFixture};
pub use payment::{PaymentFixture, SubscriptionFixture};
pub use weather_alerts::AlertFeedFixture;

/// A fresh key or name under `prefix`, so cases never see each other's data.
pub(crate) fn key(prefix: &str) -> String {
    format!("{prefix}:{}", uuid::Uuid::new_v4())
}

/// The `after` of a suite macro invoked without one.
#[doc(hidden)]
pub async fn nothing_after<T: ?Sized>(_: &T) {}

/// Expands one suite into `mod $name { #[tokio::test] async fn <case>() … }`.
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_tests {
    ($suite:ident, $name:ident, $make:expr, [], [$($case:ident),* $(,)?]) => {
        $crate::__contract_tests!(
            $suite, $name, $make, [$crate::contracts::nothing_after], [$($case),*]
        );
    };
    ($suite:ident, $name:ident, $make:expr, [$after:path], [$($case:ident),* $(,)?]) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[::tokio::test]
                async fn $case() {
                    let Some(fixture) = $make.await else {
                        return;
                    };
                    $crate::contracts::$suite::$case(&fixture).await;
                    $after(&fixture).await;
                }
            )*
        }
    };
}
