//! The `WeatherAlertSource` contract: [`weather_alert_contract!`](crate::weather_alert_contract).
//! What chat relies on: a read returns each alert in force once, with its zone, its
//! province and the time it was announced; no alert in force is an empty list; a lifted
//! alert is missing from the next read; an outage is an error, never an empty list (an
//! empty list closes every alert room).

use std::collections::HashSet;

use surge_infra::weather::FakeWeatherAlerts;
use surge_kernel::clock::{Clock, SystemClock};
use surge_kernel::weather::{
    AlertKind, AlertLevel, Province, WeatherAlert, WeatherAlertError, WeatherAlertSource,
};
use surge_kernel::Millis;

use crate::weather_api::{Failure, KmaFake};

/// One test per case of the `WeatherAlertSource` contract for the
/// [`AlertFeedFixture`] `$make` gives (see the [module doc](crate::contracts)).
#[macro_export]
macro_rules! weather_alert_contract {
    ($name:ident, $make:expr $(, after = $after:path)? $(,)?) => {
        $crate::__contract_tests!(weather_alerts, $name, $make, [$($after)?], [
            the_alerts_in_force_are_read_once_each,
            alerts_name_their_zone_province_kind_and_times,
            no_alert_in_force_is_an_empty_list,
            a_lifted_alert_is_missing_from_the_next_read,
            an_outage_is_an_error_not_an_empty_list,
            two_reads_agree,
        ]);
    };
}

/// An adapter and its far end.
pub trait AlertFeedFixture: Send + Sync {
    fn source(&self) -> &dyn WeatherAlertSource;
    /// From now on exactly these alerts are in force.
    fn publish(&self, alerts: &[WeatherAlert]);
    /// Lifts one alert, effective at `at` (in the past).
    fn lift(&self, alert: &WeatherAlert, at: Millis);
    /// The next `n` reads meet an outage.
    fn fail_next(&self, n: usize);
}

impl AlertFeedFixture for FakeWeatherAlerts {
    fn source(&self) -> &dyn WeatherAlertSource {
        self
    }
    fn publish(&self, alerts: &[WeatherAlert]) {
        self.set(alerts.to_vec());
    }
    fn lift(&self, alert: &WeatherAlert, _at: Millis) {
        FakeWeatherAlerts::lift(self, &alert.region_code, alert.kind);
    }
    fn fail_next(&self, n: usize) {
        FakeWeatherAlerts::fail_next(self, n);
    }
}

/// `(adapter, fake API)`.
impl<S: WeatherAlertSource> AlertFeedFixture for (S, KmaFake) {
    fn source(&self) -> &dyn WeatherAlertSource {
        &self.0
    }
    fn publish(&self, alerts: &[WeatherAlert]) {
        self.1.clear();
        for a in alerts {
            self.1.issue(a);
        }
    }
    fn lift(&self, alert: &WeatherAlert, at: Millis) {
        self.1.lift(alert, at);
    }
    fn fail_next(&self, n: usize) {
        self.1.fail_next(n, Failure::Status(503));
    }
}

const MINUTE: Millis = 60_000;

/// A minute boundary an hour or more ago (KMA times are to the minute).
fn minutes_ago(m: i64) -> Millis {
    let now = SystemClock.now_ms();
    now - now.rem_euclid(MINUTE) - m * MINUTE
}

fn alert(zone: &str, name: &str, kind: AlertKind, level: AlertLevel, ago: i64) -> WeatherAlert {
    WeatherAlert {
        region_code: zone.into(),
        region_name: name.into(),
        province: Province::of_zone(zone).expect("a land zone"),
        kind,
        level,
        announced_at: minutes_ago(ago),
        effective_at: minutes_ago(ago - 30),
        ends_at: None,
        station: Some("108".into()),
    }
}

/// Four alerts over three provinces, two over one zone.
pub fn sample_alerts() -> Vec<WeatherAlert> {
    vec![
        alert(
            "L1100100",
            "서울",
            AlertKind::HeatWave,
            AlertLevel::Advisory,
            180,
        ),
        alert(
            "L1150100",
            "부산동부",
            AlertKind::HeavyRain,
            AlertLevel::Warning,
            120,
        ),
        alert(
            "L1150100",
            "부산동부",
            AlertKind::StrongWind,
            AlertLevel::Advisory,
            100,
        ),
        alert(
            "L1090100",
            "제주도북부",
            AlertKind::StrongWind,
            AlertLevel::Advisory,
            90,
        ),
    ]
}

async fn read(f: &impl AlertFeedFixture) -> Result<Vec<WeatherAlert>, WeatherAlertError> {
    let mut alerts = f.source().current(SystemClock.now_ms()).await?.alerts;
    alerts.sort_by_key(WeatherAlert::key);
    Ok(alerts)
}

fn keys(alerts: &[WeatherAlert]) -> Vec<String> {
    let mut k: Vec<String> = alerts.iter().map(WeatherAlert::key).collect();
    k.sort();
    k
}

pub async fn the_alerts_in_force_are_read_once_each(f: &impl AlertFeedFixture) {
    let published = sample_alerts();
    f.publish(&published);
    let got = read(f).await.expect("a read");
    let unique: HashSet<String> = got.iter().map(WeatherAlert::key).collect();
    assert_eq!(unique.len(), got.len(), "an alert twice: {got:?}");
    assert_eq!(keys(&got), keys(&published));
    for p in &published {
        let g = got.iter().find(|g| g.key() == p.key()).expect("read back");
        assert_eq!(
            (g.level, &g.region_name),
            (p.level, &p.region_name),
            "{g:?}"
        );
        assert_eq!(g.ends_at, None, "{g:?}");
    }
}

pub async fn alerts_name_their_zone_province_kind_and_times(f: &impl AlertFeedFixture) {
    f.publish(&sample_alerts());
    let now = SystemClock.now_ms();
    for a in read(f).await.expect("a read") {
        assert!(
            !a.region_code.trim().is_empty() && !a.region_name.trim().is_empty(),
            "{a:?}"
        );
        assert_eq!(Province::of_zone(&a.region_code), Some(a.province), "{a:?}");
        assert!(a.announced_at > 0 && a.announced_at <= now, "{a:?}");
        assert!(a.effective_at > 0, "{a:?}");
        assert!(!a.kind.korean().is_empty());
    }
}

pub async fn no_alert_in_force_is_an_empty_list(f: &impl AlertFeedFixture) {
    f.publish(&[]);
    let snapshot = f
        .source()
        .current(SystemClock.now_ms())
        .await
        .expect("no alert is an answer, not an error");
    assert!(snapshot.alerts.is_empty(), "{:?}", snapshot.alerts);
}

pub async fn a_lifted_alert_is_missing_from_the_next_read(f: &impl AlertFeedFixture) {
    let published = sample_alerts();
    f.publish(&published);
    let gone = &published[1];
    f.lift(gone, minutes_ago(10));
    let got = read(f).await.expect("a read");
    assert!(
        !keys(&got).contains(&gone.key()),
        "{} is still in force",
        gone.key()
    );
    let rest: Vec<WeatherAlert> = published
        .iter()
        .filter(|a| a.key() != gone.key())
        .cloned()
        .collect();
    assert_eq!(keys(&got), keys(&rest));
}

pub async fn an_outage_is_an_error_not_an_empty_list(f: &impl AlertFeedFixture) {
    f.publish(&sample_alerts());
    f.fail_next(1000);
    let r = f.source().current(SystemClock.now_ms()).await;
    assert!(
        matches!(r, Err(WeatherAlertError::Unavailable(_))),
        "an outage must not read as alerts: {:?}",
        r.map(|s| s.alerts.len())
    );
    f.fail_next(0);
    assert_eq!(read(f).await.expect("back").len(), sample_alerts().len());
}

pub async fn two_reads_agree(f: &impl AlertFeedFixture) {
    f.publish(&sample_alerts());
    let a = read(f).await.expect("a read");
    let b = read(f).await.expect("a second read");
    assert_eq!(a, b, "the same alerts read the same");
}
