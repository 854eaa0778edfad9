//! The nightly batch killed while charges are in flight, then run again: no period is
//! charged twice, no renewal is lost, and the same night run again does nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use chrono::{Months, NaiveDate};
use sea_orm::{ConnectionTrait, Statement};
use surge_kernel::clock::{kst, Clock};
use surge_testkit::{matrix, TestApp};

/// (sid, subscription status, period_end, charge status) of every subscription.
async fn ledger(app: &TestApp) -> Vec<(String, String, i64, Option<String>)> {
    let db = &app.app_foundation.db;
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT s.sid, s.status, s.period_end, c.status FROM billing_subscriptions s \
             LEFT JOIN billing_charges c ON c.subscription_id = s.id",
        ))
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| {
            (
                r.try_get_by_index::<Option<String>>(0).unwrap().unwrap(),
                r.try_get_by_index(1).unwrap(),
                r.try_get_by_index(2).unwrap(),
                r.try_get_by_index(3).unwrap(),
            )
        })
        .collect()
}

async fn nightly(app: &TestApp, day: NaiveDate) -> surge_billing::batch::RunReport {
    app.billing
        .batch
        .run_nightly(Some(day), &|_| {})
        .await
        .unwrap()
}

const DUE: u64 = 200;

matrix! {
    #[config(|c| { c.billing_batch_chunk = 50; c.billing_batch_concurrency = 8; })]
    async fn a_batch_killed_mid_way_then_rerun_charges_every_period_at_most_once(app) {
        let due = kst::day(app.clock.now_ms()).checked_add_months(Months::new(1)).unwrap();
        let written = app.billing.generator.due_subscriptions(DUE, due, &|_| {}).await.unwrap();
        assert_eq!(written, DUE);
        let gateway = app.subscription_gateway.clone().unwrap();
        gateway.set_delay(Duration::from_millis(20));

        // Killed in its second chunk: some of that chunk's charges happened at the
        // provider, and none of their answers were recorded.
        let batch = app.billing.batch.clone();
        let task = tokio::spawn(async move { batch.run_nightly(Some(due), &|_| {}).await });
        app.eventually(|| async { gateway.total_charges() >= 60 }).await;
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        let charged_before = gateway.total_charges();
        assert!(charged_before < DUE as usize, "killed before the end");
        gateway.set_delay(Duration::ZERO);

        let rerun = nightly(&app, due).await;
        let c = rerun.counts;
        assert!(c.held >= 1 && c.held <= 50, "the killed chunk's lost answers are held: {rerun:?}");
        assert_eq!(c.failed, 0);

        let next = kst::start_of(due.checked_add_months(Months::new(1)).unwrap());
        let rows = ledger(&app).await;
        assert_eq!(rows.len(), DUE as usize, "one ledger row per subscription and period");
        let mut by_status: HashMap<String, usize> = HashMap::new();
        for (sid, status, period_end, charge) in &rows {
            let charge = charge.clone().expect("every due subscription has its period's charge");
            let times = gateway.charges(sid);
            assert!(times <= 1, "{sid} was charged {times} times");
            match charge.as_str() {
                "PAID" => assert_eq!(times, 1, "a PAID period was charged once"),
                "UNKNOWN" => {}
                other => panic!("a charge left {other}"),
            }
            assert_eq!(status, "ACTIVE", "no renewal is lost");
            assert_eq!(*period_end, next);
            *by_status.entry(charge).or_default() += 1;
        }
        assert_eq!(by_status.get("UNKNOWN").copied().unwrap_or(0) as i64, c.held);
        assert_eq!(gateway.total_charges(), charged_before + c.charged as usize);

        // The same night again: nothing is charged.
        let again = nightly(&app, due).await;
        assert_eq!((again.counts.charged, again.counts.held, again.counts.failed), (0, 0, 0), "{again:?}");
        assert_eq!(gateway.total_charges(), charged_before + c.charged as usize);

        // The killed run is on record as ABORTED, the others DONE.
        let runs = app.billing.batch.runs(10).await.unwrap();
        let states: Vec<_> = runs.iter().map(|r| format!("{:?}", r.state)).collect();
        assert_eq!(states, ["Done", "Done", "Aborted"], "{runs:?}");
    }

    async fn one_runner_at_a_time(app) {
        let due = kst::day(app.clock.now_ms()).checked_add_months(Months::new(1)).unwrap();
        app.billing.generator.due_subscriptions(20, due, &|_| {}).await.unwrap();
        let gateway = app.subscription_gateway.clone().unwrap();
        gateway.pause();
        let batch = app.billing.batch.clone();
        let first = tokio::spawn(async move { batch.run_nightly(Some(due), &|_| {}).await });
        app.eventually(|| async { gateway.arrived() >= 1 }).await;
        // Another instance's runner finds the lease taken.
        let other = app.another_instance().await;
        let (_, billing) = surge_billing::module(
            &other,
            surge_billing::BillingConfig { schedule_every: None, ..Default::default() },
            surge_billing::Ports { gateway: Some(gateway.clone()), notifier: app.notifier.clone() },
        )
        .unwrap();
        let busy = billing.batch.run_nightly(Some(due), &|_| {}).await;
        assert!(matches!(busy, Err(surge_billing::batch::BatchError::Busy { .. })), "{busy:?}");
        gateway.resume();
        let report = first.await.unwrap().unwrap();
        assert_eq!(report.counts.charged, 20);
        assert_eq!(gateway.total_charges(), 20);
    }
}
