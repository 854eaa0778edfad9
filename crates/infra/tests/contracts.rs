//! Every adapter passes its port's contract suite: in-process always, Redis when
//! `SURGE_TEST_REDIS_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use surge_infra::bus::LocalBus;
use surge_infra::cache::{MokaCache, RedisCache};
use surge_infra::pubsub::{LocalPubSub, RedisPubSub};
use surge_testkit::{configured_or_skip, contracts};

use std::sync::Arc;
use std::time::Duration;

use sea_orm_migration::{MigrationTrait, MigratorTrait};
use surge_infra::delivery::{Deliveries, RetryPolicy};

struct KernelTables;

impl MigratorTrait for KernelTables {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        surge_kernel::migration::migrations()
    }
}

/// Retries and dead letters on a fresh SQLite file, with its worker running.
async fn deliveries() -> Arc<Deliveries> {
    let path = std::env::temp_dir().join(format!("surge-contract-{}.db", uuid::Uuid::new_v4()));
    let dbs = surge_infra::db::connect(&format!("sqlite://{}?mode=rwc", path.display()), None, 2)
        .await
        .unwrap();
    KernelTables::up(&dbs.primary, None).await.unwrap();
    let d = Arc::new(Deliveries::new(
        dbs.primary,
        Arc::new(surge_kernel::clock::SystemClock),
        RetryPolicy {
            first_delay: Duration::from_millis(50),
            ..RetryPolicy::default()
        },
    ));
    tokio::spawn(d.clone().run());
    d
}

fn prefix() -> String {
    format!("surge-contract:{}:", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn moka_cache() {
    contracts::cache(&MokaCache::default()).await;
}

#[tokio::test]
async fn redis_cache() {
    let Some(url) = configured_or_skip("SURGE_TEST_REDIS_URL") else {
        return;
    };
    contracts::cache(&RedisCache::connect(&url, &prefix()).await.unwrap()).await;
}

#[tokio::test]
async fn local_pubsub() {
    contracts::pubsub(&LocalPubSub::default()).await;
}

#[tokio::test]
async fn redis_pubsub() {
    let Some(url) = configured_or_skip("SURGE_TEST_REDIS_URL") else {
        return;
    };
    contracts::pubsub(&RedisPubSub::connect(&url, &prefix()).await.unwrap()).await;
}

#[tokio::test]
async fn local_bus() {
    contracts::event_bus(&LocalBus::new(deliveries().await)).await;
}

#[tokio::test]
async fn nats_bus() {
    let Some(url) = configured_or_skip("SURGE_TEST_NATS_URL") else {
        return;
    };
    let bus = surge_infra::nats::NatsBus::connect(
        &url,
        &format!("contract-{}", uuid::Uuid::new_v4().simple()),
        std::time::Duration::from_secs(600),
        deliveries().await,
    )
    .await
    .unwrap();
    contracts::event_bus(&bus).await;
    bus.delete_stream().await.unwrap();
}

#[tokio::test]
async fn memory_waiting_room() {
    contracts::waiting_room(&surge_infra::waiting_room::MemoryWaitingRoom::default()).await;
}

#[tokio::test]
async fn redis_waiting_room() {
    let Some(url) = configured_or_skip("SURGE_TEST_REDIS_URL") else {
        return;
    };
    use surge_kernel::waiting_room::WaitingRoom;

    let prefix = prefix();
    let room = surge_infra::waiting_room::RedisWaitingRoom::connect(&url, &prefix)
        .await
        .unwrap();
    contracts::waiting_room(&room).await;

    // Every key carries a TTL, and `clear` leaves nothing behind.
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys = |conn: &mut redis::aio::MultiplexedConnection| {
        let pattern = format!("{prefix}*");
        let mut conn = conn.clone();
        async move {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(pattern)
                .query_async(&mut conn)
                .await
                .unwrap();
            keys
        }
    };
    assert_eq!(
        keys(&mut conn).await,
        Vec::<String>::new(),
        "the suite cleared its sales"
    );
    let sale = uuid::Uuid::new_v4();
    room.join(sale, uuid::Uuid::new_v4(), 1_000).await.unwrap();
    let policy = surge_kernel::waiting_room::AdmissionPolicy {
        rate_per_sec: 1,
        max_active: 1,
        pass_ttl_ms: 1_000,
    };
    room.admit(sale, policy, 1_000).await.unwrap();
    let written = keys(&mut conn).await;
    assert_eq!(
        written.len(),
        5,
        "seq, waiting→active, info, admitted, bucket: {written:?}"
    );
    for key in &written {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 6 * 24 * 3600 * 1000, "{key} expires: {ttl}");
    }
    room.clear(sale).await.unwrap();
    assert_eq!(
        keys(&mut conn).await,
        Vec::<String>::new(),
        "clear deletes every key"
    );
}
