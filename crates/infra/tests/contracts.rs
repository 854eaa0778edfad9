//! Every adapter passes its port's contract suite: in-process always, Redis when
//! `SURGE_TEST_REDIS_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use surge_infra::bus::LocalBus;
use surge_infra::cache::{MokaCache, RedisCache};
use surge_infra::pubsub::{LocalPubSub, RedisPubSub};
use surge_testkit::{contracts, redis_url};

fn prefix() -> String {
    format!("surge-contract:{}:", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn moka_cache() {
    contracts::cache(&MokaCache::default()).await;
}

#[tokio::test]
async fn redis_cache() {
    let Some(url) = redis_url() else { return };
    contracts::cache(&RedisCache::connect(&url, &prefix()).await.unwrap()).await;
}

#[tokio::test]
async fn local_pubsub() {
    contracts::pubsub(&LocalPubSub::default()).await;
}

#[tokio::test]
async fn redis_pubsub() {
    let Some(url) = redis_url() else { return };
    contracts::pubsub(&RedisPubSub::connect(&url, &prefix()).await.unwrap()).await;
}

#[tokio::test]
async fn local_bus() {
    contracts::event_bus(&LocalBus::default()).await;
}

#[tokio::test]
async fn nats_bus() {
    let Some(url) = surge_testkit::nats_url() else {
        return;
    };
    let bus = surge_infra::nats::NatsBus::connect(
        &url,
        &format!("contract-{}", uuid::Uuid::new_v4().simple()),
        std::time::Duration::from_secs(600),
    )
    .await
    .unwrap();
    contracts::event_bus(&bus).await;
    bus.delete_stream().await.unwrap();
}
