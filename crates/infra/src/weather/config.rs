//! The `[chat.weather_alerts]` section: which source, its key and endpoint, how often
//! it is polled, and how its requests are bounded.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// The `[chat.weather_alerts]` section.
#[derive(Clone, Deserialize)]
pub struct WeatherAlertsConfig {
    /// `kma` (the default) or `fake` (an offline source that starts empty).
    #[serde(default = "default_source")]
    pub source: String,
    /// The data.go.kr service key (일반 인증키, the *Decoding* form: it is URL-encoded
    /// once on the way out). Without it the KMA source is off.
    #[serde(default)]
    pub service_key: Option<SecretString>,
    /// Another endpoint than `https://apis.data.go.kr/1360000/WthrWrnInfoService`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Seconds between polls (one poller across instances).
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    /// Days of announcements read back (`fromTmFc`): an alert announced earlier and
    /// still in force is not seen.
    #[serde(default = "default_lookback_days")]
    pub lookback_days: u32,
    /// Records asked for per page (`numOfRows`).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// One request, all told.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Attempts per page (the first included) on network errors, 5xx, 429 and the
    /// service's temporary result codes.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Wait before the second attempt; doubles with each further one.
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
}

fn default_source() -> String {
    "kma".into()
}
fn default_interval_secs() -> u64 {
    3600
}
fn default_lookback_days() -> u32 {
    7
}
fn default_page_size() -> u32 {
    1000
}
fn default_timeout_secs() -> u64 {
    10
}
fn default_attempts() -> u32 {
    4
}
fn default_retry_base_ms() -> u64 {
    500
}

impl Default for WeatherAlertsConfig {
    fn default() -> Self {
        Self {
            source: default_source(),
            service_key: None,
            base_url: None,
            interval_secs: default_interval_secs(),
            lookback_days: default_lookback_days(),
            page_size: default_page_size(),
            timeout_secs: default_timeout_secs(),
            attempts: default_attempts(),
            retry_base_ms: default_retry_base_ms(),
        }
    }
}

impl std::fmt::Debug for WeatherAlertsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeatherAlertsConfig")
            .field("source", &self.source)
            .field("service_key", &self.service_key.as_ref().map(|_| "[set]"))
            .field("base_url", &self.base_url)
            .field("interval_secs", &self.interval_secs)
            .finish_non_exhaustive()
    }
}

impl WeatherAlertsConfig {
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs.max(1))
    }
}
