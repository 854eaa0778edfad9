//! The `Cache` contract: [`cache_contract!`](crate::cache_contract).

use std::time::Duration;

use surge_kernel::ports::Cache;

use super::key;

/// One test per case of the `Cache` contract for the adapter `$make` gives (see the
/// [module doc](crate::contracts)).
#[macro_export]
macro_rules! cache_contract {
    ($name:ident, $make:expr $(, after = $after:path)? $(,)?) => {
        $crate::__contract_tests!(cache, $name, $make, [$($after)?], [
            get_set_overwrite_and_delete,
            a_value_expires_after_its_ttl,
            set_if_absent_keeps_the_first_value,
            one_of_many_concurrent_set_if_absent_wins,
            a_value_is_taken_once,
            concurrent_increments_are_atomic,
            decr_takes_one_back_and_never_creates_a_key,
            an_increment_window_restarts_after_its_ttl,
            ping_answers,
        ]);
    };
}

pub async fn get_set_overwrite_and_delete(c: &dyn Cache) {
    let k = key("get-set");
    assert_eq!(c.get(&k).await.unwrap(), None, "missing key reads as None");
    c.set(&k, b"v1", Duration::from_secs(60)).await.unwrap();
    assert_eq!(c.get(&k).await.unwrap().as_deref(), Some(&b"v1"[..]));
    c.set(&k, b"v2", Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        c.get(&k).await.unwrap().as_deref(),
        Some(&b"v2"[..]),
        "set overwrites"
    );
    let ttl = c.ttl_secs(&k).await.unwrap().unwrap();
    assert!((1..=60).contains(&ttl), "ttl {ttl}");
    c.delete(&k).await.unwrap();
    assert_eq!(c.get(&k).await.unwrap(), None, "delete removes");
}

pub async fn a_value_expires_after_its_ttl(c: &dyn Cache) {
    let short = key("ttl");
    c.set(&short, b"x", Duration::from_millis(150))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(c.get(&short).await.unwrap(), None, "expired value is gone");
}

pub async fn set_if_absent_keeps_the_first_value(c: &dyn Cache) {
    let nx = key("nx");
    assert!(c
        .set_if_absent(&nx, b"first", Duration::from_secs(60))
        .await
        .unwrap());
    assert!(!c
        .set_if_absent(&nx, b"second", Duration::from_secs(60))
        .await
        .unwrap());
    assert_eq!(c.get(&nx).await.unwrap().as_deref(), Some(&b"first"[..]));
}

pub async fn one_of_many_concurrent_set_if_absent_wins(c: &dyn Cache) {
    let race = key("nx-race");
    let wins = futures::future::join_all((0..50).map(|i| {
        let race = race.clone();
        async move {
            c.set_if_absent(&race, format!("{i}").as_bytes(), Duration::from_secs(60))
                .await
                .unwrap()
        }
    }))
    .await;
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "one winner");
}

pub async fn a_value_is_taken_once(c: &dyn Cache) {
    let once = key("take");
    c.set(&once, b"state", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(c.take(&once).await.unwrap().as_deref(), Some(&b"state"[..]));
    assert_eq!(c.take(&once).await.unwrap(), None, "a value is taken once");
}

/// 100 concurrent increments of a fresh counter give 1..=100; returns the counter.
async fn hundred_increments(c: &dyn Cache) -> String {
    let counter = key("incr");
    let counts =
        futures::future::join_all((0..100).map(|_| c.incr(&counter, Duration::from_secs(60))))
            .await;
    let mut counts: Vec<i64> = counts.into_iter().map(Result::unwrap).collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=100).collect::<Vec<_>>(),
        "concurrent increments are atomic"
    );
    counter
}

pub async fn concurrent_increments_are_atomic(c: &dyn Cache) {
    let counter = hundred_increments(c).await;
    assert!(
        c.ttl_secs(&counter).await.unwrap().is_some(),
        "the counter has a TTL"
    );
}

pub async fn decr_takes_one_back_and_never_creates_a_key(c: &dyn Cache) {
    let counter = hundred_increments(c).await;
    c.decr(&counter).await.unwrap();
    assert_eq!(
        c.incr(&counter, Duration::from_secs(60)).await.unwrap(),
        100,
        "decr takes one back"
    );
    let absent = key("decr-absent");
    c.decr(&absent).await.unwrap();
    assert_eq!(
        c.get(&absent).await.unwrap(),
        None,
        "decr never creates a key"
    );
}

pub async fn an_increment_window_restarts_after_its_ttl(c: &dyn Cache) {
    let window = key("incr-window");
    assert_eq!(
        c.incr(&window, Duration::from_millis(150)).await.unwrap(),
        1
    );
    assert_eq!(
        c.incr(&window, Duration::from_millis(150)).await.unwrap(),
        2
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        c.incr(&window, Duration::from_millis(150)).await.unwrap(),
        1,
        "window restarts"
    );
}

pub async fn ping_answers(c: &dyn Cache) {
    c.ping().await.unwrap();
}
