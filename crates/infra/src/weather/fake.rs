//! [`FakeWeatherAlerts`]: an offline stand-in for KMA, labelled as such, that behaves
//! like the real source: the alerts in force now (one per zone and kind), which tests
//! and the demo change between polls (`put`, `lift`, `set`), and outages on demand
//! (`fail_next`), which are errors, never an empty list.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use surge_kernel::weather::{
    AlertKind, AlertSnapshot, WeatherAlert, WeatherAlertError, WeatherAlertSource,
};
use surge_kernel::Millis;

#[derive(Debug, Default)]
struct State {
    /// By (zone, kind): a new alert of the same kind over a zone replaces the old one.
    alerts: BTreeMap<(String, AlertKind), WeatherAlert>,
    fail_next: usize,
    reads: usize,
}

#[derive(Debug, Default)]
pub struct FakeWeatherAlerts {
    state: Mutex<State>,
}

impl FakeWeatherAlerts {
    /// No alert in force.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Issues (or replaces) an alert.
    pub fn put(&self, alert: WeatherAlert) {
        self.lock()
            .alerts
            .insert((alert.region_code.clone(), alert.kind), alert);
    }

    /// Exactly these alerts are in force from now on.
    pub fn set(&self, alerts: Vec<WeatherAlert>) {
        let mut s = self.lock();
        s.alerts.clear();
        for a in alerts {
            s.alerts.insert((a.region_code.clone(), a.kind), a);
        }
    }

    /// Lifts the alert of `kind` over `zone`.
    pub fn lift(&self, zone: &str, kind: AlertKind) {
        self.lock().alerts.remove(&(zone.to_owned(), kind));
    }

    /// The alerts in force.
    pub fn alerts(&self) -> Vec<WeatherAlert> {
        self.lock().alerts.values().cloned().collect()
    }

    /// The next `n` reads fail as an outage.
    pub fn fail_next(&self, n: usize) {
        self.lock().fail_next = n;
    }

    /// Reads served (or failed) so far.
    pub fn reads(&self) -> usize {
        self.lock().reads
    }
}

#[async_trait]
impl WeatherAlertSource for FakeWeatherAlerts {
    fn kind(&self) -> &'static str {
        "fake"
    }

    async fn current(&self, _now: Millis) -> Result<AlertSnapshot, WeatherAlertError> {
        let mut s = self.lock();
        s.reads += 1;
        if s.fail_next > 0 {
            s.fail_next -= 1;
            return Err(WeatherAlertError::Unavailable(
                "the fake weather alert source is down".into(),
            ));
        }
        Ok(AlertSnapshot {
            alerts: s.alerts.values().cloned().collect(),
            unreadable: Vec::new(),
        })
    }
}
