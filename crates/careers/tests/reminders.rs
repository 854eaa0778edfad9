//! Deadline reminders: the day before a scrapped posting's deadline (KST), once per
//! scrapper and deadline, even with two instances sweeping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use surge_testkit::matrix;
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::json;

fn reminders(ns: &[surge_testkit::serde_json::Value]) -> usize {
    ns.iter()
        .filter(|n| n["kind"] == "posting_deadline")
        .count()
}

matrix! {
    async fn scrappers_are_reminded_once_the_day_before_the_deadline(app) {
        let admin = app.admin("careers-admin@example.com").await;
        let keen = app.user("keen@example.com", "열정").await;
        let gone = app.user("gone@example.com", "포기").await;
        // Due three days from now; another posting nobody scrapped.
        let p = posting(&app, &admin, json!({"deadline": at(&app, 72)})).await;
        posting(&app, &admin, json!({"title": "아무도 안 본 공고", "deadline": at(&app, 72)})).await;
        let path = format!("/api/v1/careers/postings/{}/scrap", p["id"].as_str().unwrap());
        for who in [&keen, &gone] {
            assert_eq!(app.call(Method::PUT, &path, Some(&who.access), None).await.0, StatusCode::OK);
        }
        assert_eq!(app.call(Method::DELETE, &path, Some(&gone.access), None).await.0, StatusCode::NO_CONTENT);
        // Three days before the deadline a sweep sends nothing (the clock stands still,
        // so neither does the background sweeper).
        assert_eq!(app.careers.reminders.sweep().await.unwrap(), 0);
        assert_eq!(reminders(&notifications(&app, &keen).await), 0);
        // Two days later it is the day before in Korea (or the deadline's own day at
        // worst): the sweeper (every 50 ms in tests) sends it, on any instance, once.
        app.clock.advance_secs(2 * 24 * 3600 + 60);
        // (Access tokens expired meanwhile: log in again.)
        let keen = app.login("keen@example.com", "password-1234").await;
        let gone = app.login("gone@example.com", "password-1234").await;
        let admin = app.login("careers-admin@example.com", "password-1234").await;
        // Sweeps at the same moment (as on several instances) send it once between them.
        let sweeps = futures::future::join_all((0..4).map(|_| app.careers.reminders.sweep())).await;
        let sent: usize = sweeps.into_iter().map(|r| r.unwrap()).sum();
        assert!(sent <= 1, "{sent} sweeps sent it");
        app.eventually(|| async { reminders(&notifications(&app, &keen).await) == 1 }).await;
        let n = notifications(&app, &keen).await;
        let r = n.iter().find(|n| n["kind"] == "posting_deadline").unwrap();
        assert_eq!(r["data"]["posting_id"], p["id"], "{r}");
        // Another sweep (as a second instance runs) sends nothing more.
        let twice = app.careers.reminders.sweep().await.unwrap();
        assert_eq!(twice, 0);
        assert_eq!(reminders(&notifications(&app, &keen).await), 1);
        assert_eq!(reminders(&notifications(&app, &gone).await), 0, "no longer scrapped");
        // A moved deadline is a new reminder; past the deadline, none.
        let (s, _) = app.call(Method::PATCH, &format!("/api/v1/careers/postings/{}", p["id"].as_str().unwrap()),
            Some(&admin.access), Some(json!({"deadline": at(&app, 20)}))).await;
        assert_eq!(s, StatusCode::OK);
        app.eventually(|| async { reminders(&notifications(&app, &keen).await) == 2 }).await;
        app.clock.advance_secs(3 * 24 * 3600);
        let keen = app.login("keen@example.com", "password-1234").await;
        assert_eq!(app.careers.reminders.sweep().await.unwrap(), 0, "past the deadline");
        assert_eq!(reminders(&notifications(&app, &keen).await), 2);
    }

    async fn two_instances_sweeping_at_once_remind_once(app) {
        let admin = app.admin("careers-admin@example.com").await;
        let users = app.quick_users(20).await;
        let p = posting(&app, &admin, json!({"deadline": at(&app, 20)})).await;
        let path = format!("/api/v1/careers/postings/{}/scrap", p["id"].as_str().unwrap());
        for u in &users {
            assert_eq!(app.call(Method::PUT, &path, Some(&u.access), None).await.0, StatusCode::OK);
        }
        // A second instance (its own database pool on PostgreSQL/MariaDB) with the same
        // sweeper, racing this instance's worker and itself.
        let (_, other) = surge_careers::module(
            &app.another_instance().await,
            surge_careers::CareersConfig::default(),
            surge_careers::Ports { users: std::sync::Arc::new(NoDirectory), notifier: app.notifier.clone() },
        )
        .unwrap();
        let sweeps = futures::future::join_all((0..3).flat_map(|_| [other.reminders.sweep(), app.careers.reminders.sweep()])).await;
        let sent: usize = sweeps.into_iter().map(|r| r.unwrap()).sum();
        assert!(sent <= users.len(), "{sent} reminders for {} scrappers", users.len());
        for u in &users {
            app.eventually(|| async { reminders(&notifications(&app, u).await) == 1 }).await;
        }
        // Both instances sweep again: every scrapper was reminded, so nothing more.
        assert_eq!(other.reminders.sweep().await.unwrap() + app.careers.reminders.sweep().await.unwrap(), 0);
        for u in &users {
            assert_eq!(reminders(&notifications(&app, u).await), 1);
        }
    }
}
