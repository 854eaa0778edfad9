//! PRO subscriptions through the real HTTP server and the nightly batch: started,
//! approved, renewed, cancelled and ended; a declined card retried for three nights.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Months, NaiveDate};
use sea_orm::{ConnectionTrait, Statement};
use surge_kernel::clock::{kst, Clock};
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{matrix, Session, TestApp};

/// Starts and approves PRO for `user`; returns the subscription.
pub async fn subscribe(app: &TestApp, user: &Session) -> Value {
    let res = app
        .client
        .post(app.url("/api/v1/billing/subscriptions"))
        .bearer_auth(&user.access)
        .header("Idempotency-Key", format!("pro-{}", uuid::Uuid::new_v4()))
        .json(&json!({"plan": "PRO"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let started: Value = res.json().await.unwrap();
    assert_eq!(started["amount"], 19_900);
    assert!(started["redirect_url"]
        .as_str()
        .unwrap()
        .starts_with("fake-pay://"));
    let id = started["subscription_id"].as_str().unwrap().to_owned();
    let (s, sub) = app
        .post(
            &format!("/api/v1/billing/subscriptions/{id}/approve"),
            Some(&user.access),
            json!({"pg_token": "ok"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{sub}");
    assert_eq!(sub["status"], "ACTIVE");
    sub
}

/// The sid stored for subscription `id`.
pub async fn sid_of(app: &TestApp, id: &str) -> String {
    let db = &app.app_foundation.db;
    let backend = db.get_database_backend();
    let id: uuid::Uuid = id.parse().unwrap();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => "SELECT sid FROM billing_subscriptions WHERE id = $1",
        _ => "SELECT sid FROM billing_subscriptions WHERE id = ?",
    };
    let row = db
        .query_one(Statement::from_sql_and_values(backend, sql, [id.into()]))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<Option<String>>(0).unwrap().unwrap()
}

async fn nightly(app: &TestApp, day: NaiveDate) -> surge_billing::batch::RunReport {
    app.billing
        .batch
        .run_nightly(Some(day), &|_| {})
        .await
        .unwrap()
}

async fn me(app: &TestApp, user: &Session) -> (Value, Value) {
    let (_, sub) = app
        .get("/api/v1/billing/subscriptions/me", Some(&user.access))
        .await;
    let (_, usage) = app
        .get("/api/v1/billing/usage/me", Some(&user.access))
        .await;
    (sub, usage)
}

async fn has_notice(app: &TestApp, user: &Session, kind: &str, n: usize) -> bool {
    let (_, page) = app.get("/api/v1/notifications", Some(&user.access)).await;
    page["items"]
        .as_array()
        .is_some_and(|items| items.iter().filter(|i| i["kind"] == kind).count() >= n)
}

matrix! {
    async fn subscribe_renew_cancel_and_end_at_the_period_end(app) {
        let user = app.user("pro@example.com", "pro").await;
        let (s, none) = app.get("/api/v1/billing/subscriptions/me", Some(&user.access)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{none}");
        let sub = subscribe(&app, &user).await;
        let id = sub["id"].as_str().unwrap().to_owned();
        let today = kst::day(app.clock.now_ms());
        let renews = today.checked_add_months(Months::new(1)).unwrap();
        assert_eq!(sub["period_end"], surge_kernel::rfc3339(kst::start_of(renews)).as_str());
        let (_, usage) = me(&app, &user).await.clone();
        assert_eq!((usage["plan"].as_str(), usage["limit"].as_i64()), (Some("PRO"), Some(100)), "{usage}");

        // A second subscription while one is live is refused.
        let (s, dup) = app.post("/api/v1/billing/subscriptions", Some(&user.access), json!({"plan": "PRO"})).await;
        assert_eq!((s, dup["code"].as_str()), (StatusCode::CONFLICT, Some("already_subscribed")), "{dup}");

        let gateway = app.subscription_gateway.clone().unwrap();
        let sid = sid_of(&app, &id).await;
        // Nothing is due before the period ends.
        let early = nightly(&app, renews.pred_opt().unwrap()).await;
        assert_eq!(early.counts.charged, 0);
        assert_eq!(gateway.charges(&sid), 0);

        let night = nightly(&app, renews).await;
        assert_eq!((night.counts.charged, night.counts.failed), (1, 0), "{night:?}");
        assert_eq!(gateway.charges(&sid), 1);
        let next = renews.checked_add_months(Months::new(1)).unwrap();
        let (sub, _) = me(&app, &user).await;
        assert_eq!(sub["period_end"], surge_kernel::rfc3339(kst::start_of(next)).as_str(), "{sub}");
        app.eventually(|| has_notice(&app, &user, "subscription_renewed", 1)).await;

        // The same night again does nothing.
        let again = nightly(&app, renews).await;
        assert_eq!(again.counts.charged, 0, "{again:?}");
        assert_eq!(gateway.charges(&sid), 1, "a period is never charged twice");

        let (s, cancelled) = app.call(surge_testkit::reqwest::Method::DELETE, "/api/v1/billing/subscriptions/me", Some(&user.access), None).await;
        assert_eq!(s, StatusCode::OK, "{cancelled}");
        assert_eq!(cancelled["status"], "CANCELLING");
        let (_, usage) = me(&app, &user).await;
        assert_eq!(usage["plan"], "PRO", "PRO until the period ends");

        let end = nightly(&app, next).await;
        assert_eq!((end.counts.charged, end.counts.downgraded), (0, 1), "{end:?}");
        assert_eq!(gateway.charges(&sid), 1, "a cancelled subscription is not charged");
        let (sub, usage) = me(&app, &user).await;
        assert_eq!((sub["status"].as_str(), usage["plan"].as_str(), usage["limit"].as_i64()), (Some("EXPIRED"), Some("FREE"), Some(3)));
        app.eventually(|| has_notice(&app, &user, "subscription_ended", 1)).await;

        // Subscribing again works once the old one ended.
        subscribe(&app, &user).await;
    }

    async fn a_declined_card_is_past_due_then_free_after_three_nights(app) {
        let user = app.user("card@example.com", "card").await;
        let sub = subscribe(&app, &user).await;
        let sid = sid_of(&app, sub["id"].as_str().unwrap()).await;
        let gateway = app.subscription_gateway.clone().unwrap();
        let due = kst::day(app.clock.now_ms()).checked_add_months(Months::new(1)).unwrap();
        gateway.decline_all(true);

        let first = nightly(&app, due).await;
        assert_eq!((first.counts.charged, first.counts.failed), (0, 1), "{first:?}");
        let (sub, usage) = me(&app, &user).await;
        assert_eq!((sub["status"].as_str(), sub["failed_charges"].as_i64()), (Some("PAST_DUE"), Some(1)));
        assert_eq!(usage["plan"], "PRO", "PRO while the charge is retried");
        app.eventually(|| has_notice(&app, &user, "subscription_charge_failed", 1)).await;

        // Once a night: the same night again sends nothing.
        let calls = gateway.arrived();
        let again = nightly(&app, due).await;
        assert_eq!((again.counts.failed, again.counts.skipped), (0, 1), "{again:?}");
        assert_eq!(gateway.arrived(), calls, "no second attempt the same night");

        let second = nightly(&app, due.succ_opt().unwrap()).await;
        assert_eq!(second.counts.failed, 1, "{second:?}");
        let (sub, _) = me(&app, &user).await;
        assert_eq!((sub["status"].as_str(), sub["failed_charges"].as_i64()), (Some("PAST_DUE"), Some(2)));

        let third = nightly(&app, due.succ_opt().unwrap().succ_opt().unwrap()).await;
        assert_eq!((third.counts.failed, third.counts.downgraded), (0, 1), "{third:?}");
        let (sub, usage) = me(&app, &user).await;
        assert_eq!((sub["status"].as_str(), usage["plan"].as_str()), (Some("EXPIRED"), Some("FREE")));
        app.eventually(|| has_notice(&app, &user, "subscription_ended", 1)).await;
        assert_eq!(gateway.charges(&sid), 0);
    }

    async fn a_past_due_subscription_paid_on_the_retry_is_active_again(app) {
        let user = app.user("retry@example.com", "retry").await;
        let sub = subscribe(&app, &user).await;
        let sid = sid_of(&app, sub["id"].as_str().unwrap()).await;
        let gateway = app.subscription_gateway.clone().unwrap();
        let due = kst::day(app.clock.now_ms()).checked_add_months(Months::new(1)).unwrap();
        gateway.decline_all(true);
        assert_eq!(nightly(&app, due).await.counts.failed, 1);
        gateway.decline_all(false);
        let retry = nightly(&app, due.succ_opt().unwrap()).await;
        assert_eq!(retry.counts.charged, 1, "{retry:?}");
        assert_eq!(gateway.charges(&sid), 1);
        let (sub, _) = me(&app, &user).await;
        assert_eq!((sub["status"].as_str(), sub["failed_charges"].as_i64()), (Some("ACTIVE"), Some(0)));
        // The period still runs from the due date, not from the retry.
        let next = due.checked_add_months(Months::new(1)).unwrap();
        assert_eq!(sub["period_end"], surge_kernel::rfc3339(kst::start_of(next)).as_str());
    }

    async fn batch_runs_are_listed_for_admins(app) {
        let admin = app.admin("ops@example.com").await;
        let user = app.user("plain@example.com", "plain").await;
        nightly(&app, kst::day(app.clock.now_ms())).await;
        let (s, _) = app.get("/api/v1/admin/batch-runs", Some(&user.access)).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, runs) = app.get("/api/v1/admin/batch-runs", Some(&admin.access)).await;
        assert_eq!(s, StatusCode::OK, "{runs}");
        let r = &runs[0];
        assert_eq!((r["job"].as_str(), r["state"].as_str(), r["charged"].as_i64()), (Some("nightly"), Some("DONE"), Some(0)), "{runs}");
        assert!(r["duration_ms"].as_i64().is_some());
    }
}
