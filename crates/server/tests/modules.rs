//! An instance consumes only the events of the modules it serves (`SURGE_MODULES`): an
//! identity-only instance must not take the shop's refunds or the welcome mails away
//! from the instances that serve those modules (on NATS the instances share durable
//! consumers, so a message it took would never reach the right one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use sea_orm::sea_query::{Alias, Query};
use sea_orm::ConnectionTrait;
use surge_kernel::events::{enqueue, EventEnvelope};
use surge_kernel::ports::EventHandler;
use surge_testkit::serde_json::json;
use surge_testkit::{matrix, TestApp};

/// Sees every event of the topics it is subscribed to.
#[derive(Default, Clone)]
struct Probe(Arc<Mutex<BTreeSet<uuid::Uuid>>>);

#[async_trait::async_trait]
impl EventHandler for Probe {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        self.0.lock().unwrap().insert(event.id);
        Ok(())
    }
}

/// A sign-up (identity's `user_registered`, consumed by notifications) and a shop refund
/// request for an order that does not exist (consumed by the shop, a no-op apart from
/// recording it) go through the outbox. Returns once a probe consumer has seen both and
/// the outbox is empty: on the in-process bus every subscribed consumer has then handled
/// them (a publish returns after its handlers).
async fn send_other_modules_events(app: &TestApp) {
    let f = &app.app_foundation;
    let probe = Probe::default();
    f.bus
        .subscribe(
            "test.probe",
            &[
                surge_notifications::welcome::TOPIC_USER_REGISTERED,
                surge_shop::orders::TOPIC_REFUND_REQUESTED,
            ],
            Arc::new(probe.clone()),
        )
        .await
        .unwrap();
    app.user("served@example.com", "served").await;
    let refund = EventEnvelope::new(
        surge_shop::orders::TOPIC_REFUND_REQUESTED,
        "nobody's order",
        json!({"order_id": uuid::Uuid::new_v4(), "tid": "", "amount": 0, "order_refund": true}),
        f.clock.now_ms(),
    );
    enqueue(&f.db, &refund).await.unwrap();
    f.outbox.wake();
    app.eventually(|| async {
        probe.0.lock().unwrap().len() == 2 && column(app, "outbox", "topic").await.is_empty()
    })
    .await;
}

/// Every value of one text column of a table.
async fn column(app: &TestApp, table: &str, column: &str) -> BTreeSet<String> {
    let db = &app.app_foundation.db;
    let q = Query::select()
        .column(Alias::new(column))
        .from(Alias::new(table))
        .to_owned();
    let rows = db
        .query_all(db.get_database_backend().build(&q))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect()
}

matrix! {
    /// Nothing but identity: no other module's consumer runs here.
    #[config(|c| c.modules = Some("identity".into()))]
    async fn an_identity_only_instance_handles_no_other_modules_events(app) {
        send_other_modules_events(&app).await;
        let handled = column(&app, "processed_events", "consumer").await;
        assert!(handled.is_empty(), "an identity-only instance handled {handled:?}");
        let (status, _) = app.get("/api/v1/shop/products", None).await;
        assert_eq!(status, 404, "the shop's routes are not served either");
    }

    /// The control: the same events on an instance that serves their modules are handled.
    #[config(|c| c.modules = Some("identity,notifications,shop".into()))]
    async fn an_instance_handles_the_events_of_the_modules_it_serves(app) {
        send_other_modules_events(&app).await;
        let want: BTreeSet<String> = [
            surge_notifications::welcome::WELCOME_CONSUMER,
            surge_shop::payment::REFUND_CONSUMER,
        ]
        .into_iter()
        .map(String::from)
        .collect();
        app.eventually(|| async { column(&app, "processed_events", "consumer").await == want })
            .await;
    }
}
