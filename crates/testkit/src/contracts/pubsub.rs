//! The `PubSub` contract: [`pubsub_contract!`](crate::pubsub_contract).

use std::time::Duration;

use futures::StreamExt;
use surge_kernel::ports::PubSub;

use super::key;

/// One test per case of the `PubSub` contract for the adapter `$make` gives (see the
/// [module doc](crate::contracts)).
#[macro_export]
macro_rules! pubsub_contract {
    ($name:ident, $make:expr $(, after = $after:path)? $(,)?) => {
        $crate::__contract_tests!(pubsub, $name, $make, [$($after)?], [
            every_subscriber_gets_each_message_in_order,
            other_channels_receive_nothing,
            publishing_with_nobody_subscribed_is_fine,
        ]);
    };
}

pub async fn every_subscriber_gets_each_message_in_order(p: &dyn PubSub) {
    let ch = key("chan");
    let mut a = p.subscribe(&ch).await.unwrap();
    let mut b = p.subscribe(&ch).await.unwrap();
    p.publish(&ch, b"hello".to_vec()).await.unwrap();
    p.publish(&ch, b"world".to_vec()).await.unwrap();
    for s in [&mut a, &mut b] {
        let got = tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .unwrap();
        assert_eq!(got.as_deref(), Some(&b"hello"[..]));
        let got = tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .unwrap();
        assert_eq!(
            got.as_deref(),
            Some(&b"world"[..]),
            "order kept per channel"
        );
    }
}

pub async fn other_channels_receive_nothing(p: &dyn PubSub) {
    let ch = key("chan");
    let other = key("other");
    let mut a = p.subscribe(&ch).await.unwrap();
    let mut c = p.subscribe(&other).await.unwrap();
    p.publish(&ch, b"hello".to_vec()).await.unwrap();
    // Once the subscriber of `ch` has the message, `other` would have had it too.
    let got = tokio::time::timeout(Duration::from_secs(5), a.next())
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some(&b"hello"[..]));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), c.next())
            .await
            .is_err(),
        "other channels receive nothing"
    );
}

pub async fn publishing_with_nobody_subscribed_is_fine(p: &dyn PubSub) {
    p.publish(&key("empty"), b"x".to_vec()).await.unwrap();
    p.ping().await.unwrap();
}
