//! The `WeatherAlertSource` adapters: the offline fake and the KMA adapter (against a
//! local fake of `getPwnCd` serving records of the documented shape) pass the contract;
//! the KMA adapter maps the recorded records' fields, folds issues, changes and
//! liftings into what is in force, reads NODATA as no alert, maps the service's error
//! codes, retries what is temporary and never shows its key in an error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use surge_infra::weather::kma::Kma;
use surge_infra::weather::{build, FakeWeatherAlerts, WeatherAlertsConfig};
use surge_kernel::clock::{Clock, SystemClock};
use surge_kernel::weather::{AlertKind, AlertLevel, WeatherAlertError, WeatherAlertSource};
use surge_testkit::weather_api::{
    Failure, KmaFake, GATEWAY_KEY_NOT_REGISTERED, KMA_FAKE_KEY, KMA_QUOTA_EXCEEDED,
    KMA_SERVICE_TIMEOUT,
};

surge_testkit::weather_alert_contract!(offline_fake, async { Some(FakeWeatherAlerts::new()) });

surge_testkit::weather_alert_contract!(kma, async {
    let fake = KmaFake::start().await;
    Some((Kma::new(&fake.config()).unwrap(), fake))
});

fn now() -> i64 {
    SystemClock.now_ms()
}

/// 2026-12-01 hh:mm KST, in ms.
fn dec1(h: i64, m: i64) -> i64 {
    1_796_083_200_000 - 9 * 3_600_000 + (h * 60 + m) * 60_000
}

#[tokio::test]
async fn recorded_records_fold_into_the_alerts_in_force() {
    let fake = KmaFake::start().await;
    let kma = Kma::new(&fake.config()).unwrap();
    let snapshot = kma.current(now()).await.unwrap();
    let mut alerts = snapshot.alerts.clone();
    alerts.sort_by_key(|a| a.region_code.clone());
    let summary: Vec<(&str, &str, AlertKind, AlertLevel)> = alerts
        .iter()
        .map(|a| (a.region_code.as_str(), a.province.short, a.kind, a.level))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "L1100100",
                "서울",
                AlertKind::HeatWave,
                AlertLevel::Advisory
            ),
            // 호우주의보 changed to 경보 in one announcement (변경발표 + 변경해제).
            (
                "L1150100",
                "부산",
                AlertKind::HeavyRain,
                AlertLevel::Warning
            ),
            (
                "L1150200",
                "부산",
                AlertKind::HeavyRain,
                AlertLevel::Advisory
            ),
        ]
    );
    let seoul = &alerts[0];
    assert_eq!(seoul.region_name, "서울");
    assert_eq!(seoul.province.code, "L1100000");
    assert_eq!(seoul.announced_at, dec1(10, 0));
    assert_eq!(seoul.effective_at, dec1(11, 0));
    assert_eq!(seoul.station.as_deref(), Some("108"));
    assert_eq!(seoul.ends_at, None);
    // The warning is the alert announced with the change.
    assert_eq!(alerts[1].announced_at, dec1(13, 0));
    assert_eq!(alerts[1].effective_at, dec1(14, 0));
    // The record without a zone is unreadable; the withdrawn one, the lifted 건조주의보
    // and the sea zone are simply not in force.
    assert_eq!(snapshot.unreadable.len(), 1, "{:?}", snapshot.unreadable);
    // Both pages were read, with the documented parameters.
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    for (n, q) in requests.iter().enumerate() {
        let get = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("serviceKey"),
            Some(KMA_FAKE_KEY),
            "decoded once on the far end"
        );
        assert_eq!(get("dataType"), Some("JSON"));
        assert_eq!(get("numOfRows"), Some("5"));
        assert_eq!(get("pageNo"), Some((n + 1).to_string().as_str()));
        assert_eq!(get("fromTmFc").map(str::len), Some(8));
        assert!(get("fromTmFc") < get("toTmFc"), "a window of days: {q:?}");
    }
}

#[tokio::test]
async fn a_lifting_announced_for_later_keeps_the_alert_until_then() {
    let fake = KmaFake::start().await;
    let kma = Kma::new(&fake.config()).unwrap();
    let seoul = kma
        .current(now())
        .await
        .unwrap()
        .alerts
        .into_iter()
        .find(|a| a.region_code == "L1100100")
        .unwrap();
    let later = now() + 2 * 3_600_000;
    let later = later - later % 60_000;
    fake.lift(&seoul, later);
    let again = kma.current(now()).await.unwrap().alerts;
    let still = again
        .iter()
        .find(|a| a.key() == seoul.key())
        .expect("in force until then");
    assert_eq!(still.ends_at, Some(later));
    let after = kma.current(later + 60_000).await.unwrap().alerts;
    assert!(after.iter().all(|a| a.key() != seoul.key()));
}

#[tokio::test]
async fn nodata_is_no_alert() {
    let fake = KmaFake::start().await;
    fake.clear();
    let kma = Kma::new(&fake.config()).unwrap();
    let s = kma.current(now()).await.unwrap();
    assert!(s.alerts.is_empty() && s.unreadable.is_empty());
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn temporary_failures_are_retried_and_an_outage_is_unavailable() {
    let fake = KmaFake::start().await;
    let kma = Kma::new(&fake.config()).unwrap();
    // Two 503s, then the answer: 3 attempts for page 1, then page 2.
    fake.fail_next(2, Failure::Status(503));
    assert_eq!(kma.current(now()).await.unwrap().alerts.len(), 3);
    assert_eq!(fake.requests().len(), 4);
    // The service's own SERVICETIME_OUT (05) inside an HTTP 200 is retried too.
    fake.fail_next(1, Failure::Body(KMA_SERVICE_TIMEOUT));
    assert_eq!(kma.current(now()).await.unwrap().alerts.len(), 3);
    // Past the attempts it is an outage, not an empty list.
    fake.fail_next(10, Failure::Status(500));
    let e = kma.current(now()).await.unwrap_err();
    assert!(matches!(e, WeatherAlertError::Unavailable(_)), "{e:?}");
    assert!(e.to_string().contains("after 3 attempts"), "{e}");
}

#[tokio::test]
async fn the_quota_and_a_refused_key_are_not_retried_and_never_show_the_key() {
    let fake = KmaFake::start().await;
    let kma = Kma::new(&fake.config()).unwrap();
    fake.fail_next(5, Failure::Body(KMA_QUOTA_EXCEEDED));
    let e = kma.current(now()).await.unwrap_err();
    assert!(matches!(e, WeatherAlertError::QuotaExceeded(_)), "{e:?}");
    assert_eq!(fake.requests().len(), 1, "a spent quota is not retried");

    let mut cfg = fake.config();
    cfg.service_key = Some("wrong+key/secret==".to_owned().into());
    let e = Kma::new(&cfg).unwrap().current(now()).await.unwrap_err();
    match &e {
        WeatherAlertError::Refused { code, detail } => {
            assert_eq!(code, "30");
            assert!(
                detail.contains("SERVICE_KEY_IS_NOT_REGISTERED_ERROR"),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{e} {e:?}").contains("wrong+key"), "{e:?}");
    assert!(GATEWAY_KEY_NOT_REGISTERED.contains("<returnReasonCode>30"));
    // A timeout never shows the URL (and its key) either.
    let mut slow = fake.config();
    slow.base_url = Some("http://127.0.0.1:9/1360000/WthrWrnInfoService".into());
    slow.attempts = 1;
    let e = Kma::new(&slow).unwrap().current(now()).await.unwrap_err();
    assert!(!format!("{e} {e:?}").contains(KMA_FAKE_KEY), "{e:?}");
}

#[tokio::test]
async fn without_a_service_key_the_kma_source_is_off() {
    assert!(build(&WeatherAlertsConfig::default()).unwrap().is_none());
    let fake = build(&WeatherAlertsConfig {
        source: "fake".into(),
        ..Default::default()
    })
    .unwrap()
    .unwrap();
    assert_eq!(fake.source.kind(), "fake");
    assert!(fake.fake.is_some());
    assert!(build(&WeatherAlertsConfig {
        source: "nope".into(),
        ..Default::default()
    })
    .is_err());
    let on = build(&WeatherAlertsConfig {
        service_key: Some("k".to_owned().into()),
        ..Default::default()
    })
    .unwrap()
    .unwrap();
    assert_eq!(on.source.kind(), "kma");
}
