//! Adapters of the `WeatherAlertSource` port: [`kma::Kma`] (기상청 기상특보 조회서비스 on
//! data.go.kr, JSON, service key) and [`fake::FakeWeatherAlerts`] (offline, for the
//! embedded demo and tests). [`build`] picks one from `[chat.weather_alerts]`.

mod config;
pub mod fake;
pub mod kma;
mod pwn;

use std::sync::Arc;

use surge_kernel::weather::WeatherAlertSource;

pub use config::WeatherAlertsConfig;
pub use fake::FakeWeatherAlerts;

/// What the section builds: the source, and the fake itself when it is one (tests
/// change it between polls).
pub struct BuiltAlertSource {
    pub source: Arc<dyn WeatherAlertSource>,
    pub fake: Option<Arc<FakeWeatherAlerts>>,
}

/// The source the section names; `None` (off) for KMA without a service key. Fails on
/// an unknown source or a bad base URL.
pub fn build(cfg: &WeatherAlertsConfig) -> anyhow::Result<Option<BuiltAlertSource>> {
    match cfg.source.as_str() {
        "kma" => {
            if cfg.service_key.is_none() {
                return Ok(None);
            }
            Ok(Some(BuiltAlertSource {
                source: Arc::new(kma::Kma::new(cfg)?),
                fake: None,
            }))
        }
        "fake" => {
            let fake = Arc::new(FakeWeatherAlerts::new());
            Ok(Some(BuiltAlertSource {
                source: fake.clone(),
                fake: Some(fake),
            }))
        }
        other => anyhow::bail!("unknown weather alert source {other:?} (kma or fake)"),
    }
}
