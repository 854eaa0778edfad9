//! The daily quota: taken atomically inside the caller's transaction, shown at
//! `usage/me`, counting again on the next Korean day.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use sea_orm::TransactionTrait;
use surge_kernel::clock::{kst, Clock};
use surge_kernel::plans::{Plan, QuotaError, UsageQuota};
use surge_testkit::reqwest::StatusCode;
use surge_testkit::{matrix, TestApp};
use uuid::Uuid;

/// Takes one use in a transaction of its own and commits it when `commit`.
async fn take(
    app: &TestApp,
    quota: &Arc<dyn UsageQuota>,
    user: Uuid,
    commit: bool,
) -> Result<i64, QuotaError> {
    let txn = app.app_foundation.db.begin().await.unwrap();
    let taken = quota.take(&txn, user, app.clock.now_ms()).await;
    match &taken {
        Ok(_) if commit => txn.commit().await.unwrap(),
        _ => txn.rollback().await.unwrap(),
    }
    taken.map(|u| u.used)
}

matrix! {
    async fn ten_concurrent_takes_with_one_left_take_exactly_one(app) {
        let user = app.user("quota@example.com", "quota").await;
        let id: Uuid = user.user_id.parse().unwrap();
        let quota = app.billing.quota.clone();

        let (s, me) = app.get("/api/v1/billing/usage/me", Some(&user.access)).await;
        assert_eq!(s, StatusCode::OK, "{me}");
        assert_eq!((me["plan"].as_str(), me["used"].as_i64(), me["limit"].as_i64()), (Some("FREE"), Some(0), Some(3)));
        let resets = surge_kernel::rfc3339(kst::next_day_start(app.clock.now_ms()));
        assert_eq!(me["resets_at"], resets.as_str());

        // A use taken by work that rolls back is not taken.
        assert_eq!(take(&app, &quota, id, false).await.unwrap(), 1);
        assert_eq!(take(&app, &quota, id, true).await.unwrap(), 1);
        assert_eq!(take(&app, &quota, id, true).await.unwrap(), 2);

        let mut tasks = Vec::new();
        for _ in 0..10 {
            let app_db = app.app_foundation.db.clone();
            let quota = quota.clone();
            let now = app.clock.now_ms();
            tasks.push(tokio::spawn(async move {
                let txn = app_db.begin().await.unwrap();
                let r = quota.take(&txn, id, now).await;
                if r.is_ok() {
                    txn.commit().await.unwrap();
                }
                r
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(u) => {
                    ok += 1;
                    assert_eq!((u.used, u.limit, u.plan), (3, 3, Plan::Free));
                }
                Err(QuotaError::Exceeded { plan, limit, resets_at }) => {
                    assert_eq!((plan, limit), (Plan::Free, 3));
                    assert_eq!(resets_at, kst::next_day_start(app.clock.now_ms()));
                }
                Err(e) => panic!("a take failed: {e:?}"),
            }
        }
        assert_eq!(ok, 1, "exactly one of ten concurrent takes gets the last use");
        let (_, me) = app.get("/api/v1/billing/usage/me", Some(&user.access)).await;
        assert_eq!((me["used"].as_i64(), me["limit"].as_i64()), (Some(3), Some(3)), "{me}");

        // The 429 a metering module answers with names the limit and the reset.
        let err = take(&app, &quota, id, true).await.unwrap_err();
        let api: surge_kernel::ApiError = err.into();
        let body = api.body();
        assert_eq!(body["code"], "quota_exceeded");
        assert_eq!(body["limit"], 3);
        assert_eq!(body["resets_at"], resets.as_str());

        // Work that produced nothing gives its use back, once it is on the same day.
        let txn = app.app_foundation.db.begin().await.unwrap();
        quota.give_back(&txn, id, app.clock.now_ms()).await.unwrap();
        txn.commit().await.unwrap();
        let (_, me) = app.get("/api/v1/billing/usage/me", Some(&user.access)).await;
        assert_eq!(me["used"], 2, "{me}");

        // The next Korean day counts from zero, and yesterday's use cannot be given back.
        let to_tomorrow = kst::next_day_start(app.clock.now_ms()) - app.clock.now_ms() + 1_000;
        let yesterday = app.clock.now_ms();
        app.clock.advance_secs(to_tomorrow / 1000 + 1);
        let user = app.login("quota@example.com", "password-1234").await;
        let (_, me) = app.get("/api/v1/billing/usage/me", Some(&user.access)).await;
        assert_eq!((me["used"].as_i64(), me["limit"].as_i64()), (Some(0), Some(3)), "{me}");
        let txn = app.app_foundation.db.begin().await.unwrap();
        quota.give_back(&txn, id, yesterday).await.unwrap();
        txn.commit().await.unwrap();
        assert_eq!(take(&app, &quota, id, true).await.unwrap(), 1);
    }

    async fn usage_needs_a_signed_in_user(app) {
        let (s, _) = app.get("/api/v1/billing/usage/me", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
}
