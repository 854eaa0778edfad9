//! Weather-alert rooms: the poller reads the (offline fake) alert source and each
//! province's room follows its alerts: a new alert opens it, a change renames it, an
//! alert gone or past its end closes it (when none is left), a new one reopens it. One
//! poller works across instances; followers of a province are told once per opening;
//! rooms closed over 7 days ago are deleted with their messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use surge_chat::alerts::{AlertSource, Tick, ALERT_ROOM_OPENED};
use surge_infra::weather::{FakeWeatherAlerts, WeatherAlertsConfig};
use surge_kernel::clock::Clock;
use surge_kernel::events::EventEnvelope;
use surge_kernel::weather::{AlertKind, AlertLevel, Province, WeatherAlert};
use surge_testkit::reqwest::{Method, StatusCode};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{assert_problem, matrix, Session, TestApp};

const SEOUL: &str = "L1100000";
const BUSAN: &str = "L1150000";
const HOUR: i64 = 3600;

fn fake_alerts(c: &mut surge_testkit::Config) {
    c.chat.weather_alerts = Some(WeatherAlertsConfig {
        source: "fake".into(),
        interval_secs: HOUR as u64,
        ..Default::default()
    });
    c.chat_sends_per_second = 1_000;
    c.chat_send_burst = 1_000;
    // The tests move the clock by hours and days; sessions outlive that.
    c.access_token_ttl_secs = 60 * 24 * HOUR as u64;
}

fn source(app: &TestApp) -> Arc<FakeWeatherAlerts> {
    app.weather_alerts
        .clone()
        .expect("the fake alert source is configured")
}

/// An alert announced `ago` minutes before the app's now, in force from then.
fn alert(
    app: &TestApp,
    zone: &str,
    name: &str,
    kind: AlertKind,
    level: AlertLevel,
    ago: i64,
) -> WeatherAlert {
    let now = app.clock.now_ms();
    let at = now - now % 60_000 - ago * 60_000;
    WeatherAlert {
        region_code: zone.into(),
        region_name: name.into(),
        province: Province::of_zone(zone).unwrap(),
        kind,
        level,
        announced_at: at,
        effective_at: at,
        ends_at: None,
        station: None,
    }
}

/// One tick that must poll; returns the poll.
async fn poll(app: &TestApp) -> Value {
    let t: Tick = app.chat.alerts.tick().await.unwrap();
    let p = t.polled.expect("a poll was due");
    serde_json::to_value(p).unwrap()
}

/// The province's alert room, as `GET /provinces` shows it.
async fn province_room(app: &TestApp, who: &Session, code: &str) -> Value {
    let (s, list) = app.get("/api/v1/chat/provinces", Some(&who.access)).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == code)
        .unwrap()["room"]
        .clone()
}

async fn room_view(app: &TestApp, who: &Session, id: &str) -> Value {
    let (s, r) = app
        .get(&format!("/api/v1/chat/rooms/{id}"), Some(&who.access))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    r
}

async fn alert_notices(app: &TestApp, who: &Session) -> Vec<Value> {
    let (_, n) = app
        .get("/api/v1/notifications?limit=100", Some(&who.access))
        .await;
    n["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "weather_alert_room")
        .cloned()
        .collect()
}

matrix! {
    #[config(fake_alerts)]
    async fn alert_rooms_open_rename_close_expire_and_reopen_with_their_alerts(app) {
        let fake = source(&app);
        let kim = app.user("kim@example.com", "kim").await;
        let heat = alert(&app, "L1100100", "서울", AlertKind::HeatWave, AlertLevel::Advisory, 30);
        fake.set(vec![heat.clone()]);
        // New: 서울's room opens.
        let p = poll(&app).await;
        assert_eq!((p["status"].as_str(), p["opened"].as_i64(), p["alerts"].as_i64()), (Some("SUCCEEDED"), Some(1), Some(1)), "{p}");
        let seoul = province_room(&app, &kim, SEOUL).await;
        assert_eq!(seoul["name"], "서울 폭염주의보");
        let room_id = seoul["id"].as_str().unwrap().to_owned();
        let r = room_view(&app, &kim, &room_id).await;
        assert_eq!((r["kind"].as_str(), r["status"].as_str(), r["province_code"].as_str()), (Some("WEATHER_ALERT"), Some("ACTIVE"), Some(SEOUL)));
        // Members talk in it like in any room.
        join(&app, &kim, &room_id).await;
        let mut ws = connect(&app.base, &kim.access).await;
        ws_join(&mut ws, &room_id, None).await;
        assert_eq!(ws_send_acked(&mut ws, &room_id, "m1", "덥다").await["seq"], 1);
        // Not due before the interval: nothing polled.
        assert!(app.chat.alerts.tick().await.unwrap().polled.is_none());

        // Changed: the same alert now a 경보, and a second kind: the room is renamed.
        app.clock.advance_secs(HOUR);
        let mut heat_warning = heat.clone();
        heat_warning.level = AlertLevel::Warning;
        let rain = alert(&app, "L1100100", "서울", AlertKind::HeavyRain, AlertLevel::Advisory, 5);
        fake.set(vec![heat_warning, rain.clone()]);
        let p = poll(&app).await;
        assert_eq!((p["renamed"].as_i64(), p["opened"].as_i64()), (Some(1), Some(0)), "{p}");
        assert_eq!(room_view(&app, &kim, &room_id).await["name"], "서울 폭염경보 · 호우주의보");

        // Another province: its own room. An outage is no "nothing in force": rooms stay.
        app.clock.advance_secs(HOUR);
        let busan = alert(&app, "L1150100", "부산동부", AlertKind::HeavyRain, AlertLevel::Warning, 1);
        fake.put(busan.clone());
        fake.fail_next(1);
        let p = poll(&app).await;
        assert_eq!(p["status"], "FAILED", "{p}");
        assert_eq!(room_view(&app, &kim, &room_id).await["status"], "ACTIVE");
        // A failed poll is tried again 5 minutes later, not an hour.
        app.clock.advance_secs(5 * 60);
        let p = poll(&app).await;
        assert_eq!((p["status"].as_str(), p["opened"].as_i64()), (Some("SUCCEEDED"), Some(1)), "{p}");
        assert_eq!(province_room(&app, &kim, BUSAN).await["name"], "부산 호우경보");

        // Gone: both of 서울's alerts lifted; its room closes (history kept), 부산's stays.
        app.clock.advance_secs(HOUR);
        fake.lift("L1100100", AlertKind::HeatWave);
        fake.lift("L1100100", AlertKind::HeavyRain);
        let p = poll(&app).await;
        assert_eq!((p["closed"].as_i64(), p["renamed"].as_i64()), (Some(1), Some(0)), "{p}");
        assert_eq!(room_view(&app, &kim, &room_id).await["status"], "CLOSED");
        let (_, list) = app.get("/api/v1/chat/rooms", Some(&kim.access)).await;
        let listed: Vec<&str> = list["items"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(listed, ["부산 호우경보"], "closed rooms leave the list");
        let sent = ws_send_acked(&mut ws, &room_id, "m2", "아직 덥다").await;
        assert_eq!((sent["type"].as_str(), sent["code"].as_str()), (Some("error"), Some("room_closed")), "{sent}");

        // Expired: 부산's alert is lifted for an hour from now; still in force until then.
        app.clock.advance_secs(HOUR);
        let mut ending = busan.clone();
        ending.ends_at = Some(app.clock.now_ms() + HOUR * 1000);
        fake.put(ending);
        let p = poll(&app).await;
        assert_eq!((p["closed"].as_i64(), p["renamed"].as_i64()), (Some(0), Some(0)), "{p}");
        app.clock.advance_secs(HOUR + 60);
        let p = poll(&app).await;
        assert_eq!(p["closed"], 1, "listed but past its end: {p}");
        assert_eq!(province_room(&app, &kim, BUSAN).await["status"], "CLOSED");

        // Reopened: a new alert over 서울 opens the same room again, history and members kept.
        app.clock.advance_secs(HOUR);
        fake.set(vec![alert(&app, "L1100100", "서울", AlertKind::HeatWave, AlertLevel::Advisory, 0)]);
        let p = poll(&app).await;
        assert_eq!((p["reopened"].as_i64(), p["opened"].as_i64()), (Some(1), Some(0)), "{p}");
        let again = room_view(&app, &kim, &room_id).await;
        assert_eq!((again["status"].as_str(), again["name"].as_str(), again["member_count"].as_i64()), (Some("ACTIVE"), Some("서울 폭염주의보"), Some(1)));
        let h = history(&app, &kim, &room_id, "").await;
        assert_eq!(seqs(&h["items"]), [1]);
        // Still one room per province.
        let (_, provinces) = app.get("/api/v1/chat/provinces", Some(&kim.access)).await;
        let with_rooms = provinces["items"].as_array().unwrap().iter().filter(|p| !p["room"].is_null()).count();
        assert_eq!(with_rooms, 2);
    }

    #[config(fake_alerts)]
    async fn one_poller_works_across_two_instances(app) {
        let fake = source(&app);
        fake.set(vec![alert(&app, "L1100100", "서울", AlertKind::HeatWave, AlertLevel::Advisory, 10)]);
        // A second instance of the deployment with the same source.
        let other = app.another_instance().await;
        let (_, second) = surge_chat::module(
            &other,
            surge_chat::ChatConfig::default(),
            surge_chat::Ports {
                notifier: app.notifier.clone(),
                alerts: Some(AlertSource { source: fake.clone(), every: std::time::Duration::from_secs(HOUR as u64) }),
            },
        )
        .unwrap();
        let mut first_holds = Vec::new();
        for round in 0..10 {
            if round == 5 {
                // Past the interval (and past the second instance's shorter lease: the
                // lease may change hands here, never be held twice).
                app.clock.advance_secs(HOUR);
            }
            let (a, b) = tokio::join!(app.chat.alerts.tick(), second.alerts.tick());
            let (a, b) = (a.unwrap(), b.unwrap());
            assert!(a.held != b.held, "round {round}: exactly one instance holds the lease");
            assert!(a.polled.is_none() || b.polled.is_none());
            first_holds.push(a.held);
        }
        assert!(first_holds[..5].iter().all(|h| *h == first_holds[0]), "the holder keeps its lease while it ticks: {first_holds:?}");
        // One read at the start and one after the interval: never two instances at once.
        assert_eq!(fake.reads(), 2);
        let kim = app.user("kim@example.com", "kim").await;
        let (_, rooms) = app.get("/api/v1/chat/rooms", Some(&kim.access)).await;
        assert_eq!(rooms["items"].as_array().unwrap().len(), 1, "{rooms}");
    }

    #[config(fake_alerts)]
    async fn followers_are_told_once_per_opening(app) {
        let fake = source(&app);
        let kim = app.user("kim@example.com", "kim").await;
        let lee = app.user("lee@example.com", "lee").await;
        let choi = app.user("choi@example.com", "choi").await;
        let (s, f) = app.call(Method::PUT, &format!("/api/v1/chat/provinces/{SEOUL}/follow"), Some(&kim.access), None).await;
        assert_eq!(s, StatusCode::OK, "{f}");
        assert_eq!((f["followed"].as_bool(), f["short"].as_str()), (Some(true), Some("서울")));
        // Following again changes nothing; unknown provinces are refused.
        let (s, _) = app.call(Method::PUT, &format!("/api/v1/chat/provinces/{SEOUL}/follow"), Some(&kim.access), None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, e) = app.call(Method::PUT, "/api/v1/chat/provinces/L9990000/follow", Some(&kim.access), None).await;
        assert_problem(s, &e, 404, "unknown_province");
        app.call(Method::PUT, &format!("/api/v1/chat/provinces/{BUSAN}/follow"), Some(&lee.access), None).await;
        app.call(Method::PUT, &format!("/api/v1/chat/provinces/{SEOUL}/follow"), Some(&choi.access), None).await;
        let (s, _) = app.call(Method::DELETE, &format!("/api/v1/chat/provinces/{SEOUL}/follow"), Some(&choi.access), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (_, list) = app.get("/api/v1/chat/provinces", Some(&kim.access)).await;
        let followed: Vec<&str> = list["items"].as_array().unwrap().iter().filter(|p| p["followed"] == true).map(|p| p["code"].as_str().unwrap()).collect();
        assert_eq!(followed, [SEOUL]);
        assert_eq!(list["items"].as_array().unwrap().len(), surge_kernel::weather::PROVINCES.len());

        fake.set(vec![alert(&app, "L1100100", "서울", AlertKind::HeatWave, AlertLevel::Advisory, 10)]);
        poll(&app).await;
        app.eventually(|| async { alert_notices(&app, &kim).await.len() == 1 }).await;
        let notice = alert_notices(&app, &kim).await.remove(0);
        assert_eq!(notice["body"], "서울 폭염주의보");
        let room_id = province_room(&app, &kim, SEOUL).await["id"].clone();
        assert_eq!(notice["data"]["room_id"], room_id);

        // The opening delivered again, to another instance's handler: nobody told twice.
        let other = app.another_instance().await;
        let (module, _) = surge_chat::module(&other, surge_chat::ChatConfig::default(),
            surge_chat::Ports { notifier: app.notifier.clone(), alerts: None }).unwrap();
        let handler = module.subscriptions.iter().find(|s| s.topics.contains(&ALERT_ROOM_OPENED)).unwrap().handler.clone();
        let redelivered = EventEnvelope {
            id: notice["data"]["opening_id"].as_str().unwrap().parse().unwrap(),
            topic: ALERT_ROOM_OPENED.into(),
            key: room_id.as_str().unwrap().into(),
            payload: json!({"room_id": room_id, "province_code": SEOUL, "room_name": "서울 폭염주의보", "description": "", "reopened": false}),
            occurred_at: app.clock.now_ms(),
        };
        let (a, b) = tokio::join!(handler.handle(&redelivered), handler.handle(&redelivered));
        a.unwrap();
        b.unwrap();
        assert_eq!(alert_notices(&app, &kim).await.len(), 1);
        assert!(alert_notices(&app, &lee).await.is_empty(), "부산 did not open");
        assert!(alert_notices(&app, &choi).await.is_empty(), "choi stopped following");

        // Closed and reopened: a new opening, told once more.
        app.clock.advance_secs(HOUR);
        fake.set(vec![]);
        poll(&app).await;
        app.clock.advance_secs(HOUR);
        fake.set(vec![alert(&app, "L1100100", "서울", AlertKind::HeavyRain, AlertLevel::Warning, 1)]);
        assert_eq!(poll(&app).await["reopened"], 1);
        app.eventually(|| async { alert_notices(&app, &kim).await.len() == 2 }).await;
        // Nothing more arrives later.
        assert!(app.chat.alerts.cleanup().await.unwrap().notices_sent == 0);
        assert_eq!(alert_notices(&app, &kim).await.len(), 2);
    }

    #[config(fake_alerts)]
    async fn alert_rooms_closed_seven_days_ago_are_deleted_with_their_messages(app) {
        let fake = source(&app);
        let admin = app.admin("chat-admin@example.com").await;
        let kim = app.user("kim@example.com", "kim").await;
        fake.set(vec![alert(&app, "L1100100", "서울", AlertKind::HeatWave, AlertLevel::Advisory, 10)]);
        poll(&app).await;
        let room_id = province_room(&app, &kim, SEOUL).await["id"].as_str().unwrap().to_owned();
        join(&app, &kim, &room_id).await;
        let mut ws = connect(&app.base, &kim.access).await;
        ws_join(&mut ws, &room_id, None).await;
        for i in 0..3 {
            ws_send_acked(&mut ws, &room_id, &format!("c{i}"), "비 온다").await;
        }
        // The newest messages are cached now.
        assert_eq!(seqs(&history(&app, &kim, &room_id, "").await["items"]), [1, 2, 3]);
        // A general room an admin closed is history, never cleaned up.
        let general = room(&app, &admin, "공지").await;
        app.post(&format!("/api/v1/chat/rooms/{general}/close"), Some(&admin.access), json!({})).await;

        app.clock.advance_secs(HOUR);
        fake.set(vec![]);
        assert_eq!(poll(&app).await["closed"], 1);
        app.clock.advance_secs(6 * 24 * HOUR);
        let c = app.chat.alerts.cleanup().await.unwrap();
        assert_eq!(c.rooms_deleted, 0, "closed 6 days ago: kept");
        room_view(&app, &kim, &room_id).await;

        app.clock.advance_secs(24 * HOUR + 60);
        let c = app.chat.alerts.cleanup().await.unwrap();
        assert_eq!((c.rooms_deleted, c.messages_deleted), (1, 3));
        let (s, r) = app.get(&format!("/api/v1/chat/rooms/{room_id}"), Some(&kim.access)).await;
        assert_problem(s, &r, 404, "not_found");
        let (_, mine) = app.get("/api/v1/chat/rooms/mine", Some(&kim.access)).await;
        assert!(mine["items"].as_array().unwrap().is_empty(), "membership and read marker gone: {mine}");
        assert_eq!(count(&app, "chat_messages", &room_id).await, 0);
        assert_eq!(count(&app, "chat_members", &room_id).await, 0);
        let cached = app.app_foundation.cache.get(&format!("chat:recent:{room_id}")).await.unwrap();
        assert!(cached.is_none(), "the cached window is gone");
        room_view(&app, &admin, &general).await;
        assert!(province_room(&app, &kim, SEOUL).await.is_null());

        // A later alert opens a new room.
        fake.set(vec![alert(&app, "L1100100", "서울", AlertKind::ColdWave, AlertLevel::Advisory, 0)]);
        app.clock.advance_secs(HOUR);
        assert_eq!(poll(&app).await["opened"], 1);
        let new_room = province_room(&app, &kim, SEOUL).await;
        assert_ne!(new_room["id"].as_str(), Some(room_id.as_str()));
        assert_eq!(new_room["name"], "서울 한파주의보");
    }
}

/// Rows of `table` whose `room_id` is `room`, read straight from the database.
async fn count(app: &TestApp, table: &str, room: &str) -> i64 {
    use sea_orm::sea_query::{Alias, Expr, Func, Query};
    use sea_orm::ConnectionTrait;
    let id: uuid::Uuid = room.parse().unwrap();
    let db = &app.app_foundation.db;
    let q = Query::select()
        .expr(Func::count(Expr::col(Alias::new("room_id"))))
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new("room_id")).eq(id))
        .to_owned();
    let row = db
        .query_one(db.get_database_backend().build(&q))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}
