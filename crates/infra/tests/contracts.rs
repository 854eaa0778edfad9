//! Every adapter passes its port's contract suite, one test per case: in-process always,
//! Redis and NATS when `SURGE_TEST_REDIS_URL` / `SURGE_TEST_NATS_URL` are set (else
//! SKIPPED, or failed under `SURGE_TEST_REQUIRE_BACKENDS=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use surge_infra::bus::LocalBus;
use surge_infra::cache::{MokaCache, RedisCache};
use surge_infra::pubsub::{LocalPubSub, RedisPubSub};
use surge_kernel::waiting_room::{AdmissionPolicy, Place, RoomStats, WaitingRoom};
use surge_testkit::configured_or_skip;
use uuid::Uuid;

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

surge_testkit::cache_contract!(moka_cache, async { Some(MokaCache::default()) });

surge_testkit::cache_contract!(redis_cache, async {
    let url = configured_or_skip("SURGE_TEST_REDIS_URL")?;
    Some(RedisCache::connect(&url, &prefix()).await.unwrap())
});

surge_testkit::pubsub_contract!(local_pubsub, async { Some(LocalPubSub::default()) });

surge_testkit::pubsub_contract!(redis_pubsub, async {
    let url = configured_or_skip("SURGE_TEST_REDIS_URL")?;
    Some(RedisPubSub::connect(&url, &prefix()).await.unwrap())
});

surge_testkit::event_bus_contract!(local_bus, async { Some(LocalBus::new(deliveries().await)) });

surge_testkit::event_bus_contract!(
    nats_bus,
    async {
        let url = configured_or_skip("SURGE_TEST_NATS_URL")?;
        let bus = surge_infra::nats::NatsBus::connect(
            &url,
            &format!("contract-{}", uuid::Uuid::new_v4().simple()),
            Duration::from_secs(600),
            deliveries().await,
        )
        .await
        .unwrap();
        Some(bus)
    },
    after = delete_stream
);

/// Each case has its own stream; it goes with the case.
async fn delete_stream(bus: &surge_infra::nats::NatsBus) {
    bus.delete_stream().await.unwrap();
}

surge_testkit::waiting_room_contract!(memory_waiting_room, async {
    Some(surge_infra::waiting_room::MemoryWaitingRoom::default())
});

surge_testkit::waiting_room_contract!(
    redis_waiting_room,
    async {
        let url = configured_or_skip("SURGE_TEST_REDIS_URL")?;
        Some(RedisRoom::connect(url).await)
    },
    after = RedisRoom::left_nothing
);

/// The Redis waiting room under its own key prefix, with a connection to read its keys.
struct RedisRoom {
    room: surge_infra::waiting_room::RedisWaitingRoom,
    prefix: String,
    conn: redis::aio::MultiplexedConnection,
}

#[async_trait::async_trait]
impl WaitingRoom for RedisRoom {
    async fn join(&self, sale: Uuid, user: Uuid, now_ms: i64) -> anyhow::Result<Place> {
        self.room.join(sale, user, now_ms).await
    }

    async fn place(&self, sale: Uuid, user: Uuid, now_ms: i64) -> anyhow::Result<Option<Place>> {
        self.room.place(sale, user, now_ms).await
    }

    async fn admit(&self, sale: Uuid, policy: AdmissionPolicy, now_ms: i64) -> anyhow::Result<u64> {
        self.room.admit(sale, policy, now_ms).await
    }

    async fn leave(&self, sale: Uuid, user: Uuid) -> anyhow::Result<bool> {
        self.room.leave(sale, user).await
    }

    async fn stats(&self, sale: Uuid, now_ms: i64) -> anyhow::Result<RoomStats> {
        self.room.stats(sale, now_ms).await
    }

    async fn clear(&self, sale: Uuid) -> anyhow::Result<()> {
        self.room.clear(sale).await
    }
}

impl RedisRoom {
    async fn connect(url: String) -> Self {
        let prefix = prefix();
        let room = surge_infra::waiting_room::RedisWaitingRoom::connect(&url, &prefix)
            .await
            .unwrap();
        let conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        Self { room, prefix, conn }
    }

    async fn keys(&self) -> Vec<String> {
        redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut self.conn.clone())
            .await
            .unwrap()
    }

    /// Every case clears its sales: nothing of them is left in Redis.
    async fn left_nothing(&self) {
        assert_eq!(
            self.keys().await,
            Vec::<String>::new(),
            "the case cleared its sales"
        );
    }
}

#[tokio::test]
async fn redis_waiting_room_keys_expire_and_clear_deletes_them() {
    let Some(url) = configured_or_skip("SURGE_TEST_REDIS_URL") else {
        return;
    };
    let room = RedisRoom::connect(url).await;
    let sale = Uuid::new_v4();
    room.join(sale, Uuid::new_v4(), 1_000).await.unwrap();
    let policy = AdmissionPolicy {
        rate_per_sec: 1,
        max_active: 1,
        pass_ttl_ms: 1_000,
    };
    room.admit(sale, policy, 1_000).await.unwrap();
    let written = room.keys().await;
    assert_eq!(
        written.len(),
        5,
        "seq, waiting→active, info, admitted, bucket: {written:?}"
    );
    for key in &written {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut room.conn.clone())
            .await
            .unwrap();
        assert!(ttl > 6 * 24 * 3600 * 1000, "{key} expires: {ttl}");
    }
    room.clear(sale).await.unwrap();
    assert_eq!(
        room.keys().await,
        Vec::<String>::new(),
        "clear deletes every key"
    );
}

/// JetStream must not redeliver an event while its handler may still be running, and a
/// durable consumer left by an older release (30 s ack wait) takes the current wait.
#[tokio::test]
async fn nats_consumers_wait_for_acks_longer_than_a_handler_may_run() {
    let Some(url) = configured_or_skip("SURGE_TEST_NATS_URL") else {
        return;
    };
    let prefix = format!("ackwait-{}", uuid::Uuid::new_v4().simple());
    let deliveries = deliveries().await;
    let limit = deliveries.policy().handler_timeout;
    let bus =
        surge_infra::nats::NatsBus::connect(&url, &prefix, Duration::from_secs(600), deliveries)
            .await
            .unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    let stream = js
        .get_stream(surge_infra::nats::NatsBus::stream_name(&prefix))
        .await
        .unwrap();
    let old = async_nats::jetstream::consumer::pull::Config {
        durable_name: Some("mail__orders".into()),
        filter_subject: format!("{prefix}.events.orders"),
        ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        ..Default::default()
    };
    stream.create_consumer(old).await.unwrap();
    struct Nothing;
    #[async_trait::async_trait]
    impl surge_kernel::ports::EventHandler for Nothing {
        async fn handle(&self, _: &surge_kernel::events::EventEnvelope) -> anyhow::Result<()> {
            Ok(())
        }
    }
    use surge_kernel::ports::EventBus;
    bus.subscribe("mail", &["orders"], Arc::new(Nothing))
        .await
        .unwrap();
    let mut consumer = stream
        .get_consumer::<async_nats::jetstream::consumer::pull::Config>("mail__orders")
        .await
        .unwrap();
    let wait = consumer.info().await.unwrap().config.ack_wait;
    assert!(
        wait > limit,
        "ack wait {wait:?} must outlast the handler limit {limit:?}"
    );
    bus.delete_stream().await.unwrap();
}
