//! The `WeatherAlertSource` port: the special weather reports (기상특보) in force now, one
//! alert per warning zone (특보구역) and kind, each with the province (상위구역) it lies
//! in. Adapters (`surge-infra::weather`): KMA's data.go.kr `WthrWrnInfoService` and an
//! offline fake. Every adapter passes `surge_testkit::contracts::weather_alerts`.
//!
//! The provinces are KMA's upper warning zones: a zone code's first four characters
//! and `0000` (`L1100100` 서울 → `L1100000` 서울특별시). That rule and the codes below
//! come from KMA API허브 `wrn_reg` data as quoted by a public client's tests (REG_UP of
//! each REG_ID); `L1130000` (광주) is not in that table and is inferred from the pattern.

use async_trait::async_trait;

use crate::Millis;

/// A province: one of KMA's upper land warning zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Province {
    /// e.g. `L1100000`.
    pub code: &'static str,
    /// e.g. `서울특별시`.
    pub name: &'static str,
    /// e.g. `서울`: what a room's title says.
    pub short: &'static str,
}

/// Every province, north to south roughly as KMA lists them.
#[rustfmt::skip]
pub const PROVINCES: &[Province] = &[
    Province { code: "L1100000", name: "서울특별시", short: "서울" },
    Province { code: "L1110000", name: "인천광역시", short: "인천" },
    Province { code: "L1010000", name: "경기도", short: "경기" },
    Province { code: "L1020000", name: "강원특별자치도", short: "강원" },
    Province { code: "L1040000", name: "충청북도", short: "충북" },
    Province { code: "L1030000", name: "충청남도", short: "충남" },
    Province { code: "L1120000", name: "대전광역시", short: "대전" },
    Province { code: "L1170000", name: "세종특별자치시", short: "세종" },
    Province { code: "L1060000", name: "전북특별자치도", short: "전북" },
    Province { code: "L1050000", name: "전라남도", short: "전남" },
    Province { code: "L1130000", name: "광주광역시", short: "광주" },
    Province { code: "L1070000", name: "경상북도", short: "경북" },
    Province { code: "L1140000", name: "대구광역시", short: "대구" },
    Province { code: "L1080000", name: "경상남도", short: "경남" },
    Province { code: "L1150000", name: "부산광역시", short: "부산" },
    Province { code: "L1160000", name: "울산광역시", short: "울산" },
    Province { code: "L1090000", name: "제주특별자치도", short: "제주" },
];

impl Province {
    /// The province of this code, if it is one.
    pub fn by_code(code: &str) -> Option<Province> {
        PROVINCES.iter().copied().find(|p| p.code == code)
    }

    /// The province a land warning zone (`L…`) lies in; `None` for sea zones and codes
    /// of no known province.
    pub fn of_zone(zone_code: &str) -> Option<Province> {
        let zone = zone_code.trim();
        if zone.len() != 8 || !zone.is_ascii() || !zone.starts_with('L') {
            return None;
        }
        Self::by_code(&format!("{}0000", &zone[..4]))
    }
}

/// What kind of weather an alert is about (KMA `warnVar`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum AlertKind {
    /// 강풍
    StrongWind,
    /// 호우
    HeavyRain,
    /// 한파
    ColdWave,
    /// 건조
    Dry,
    /// 폭풍해일
    StormSurge,
    /// 풍랑
    HighSeas,
    /// 태풍
    Typhoon,
    /// 대설
    HeavySnow,
    /// 황사
    YellowDust,
    /// 폭염
    HeatWave,
}

impl AlertKind {
    pub const ALL: [AlertKind; 10] = [
        AlertKind::StrongWind,
        AlertKind::HeavyRain,
        AlertKind::ColdWave,
        AlertKind::Dry,
        AlertKind::StormSurge,
        AlertKind::HighSeas,
        AlertKind::Typhoon,
        AlertKind::HeavySnow,
        AlertKind::YellowDust,
        AlertKind::HeatWave,
    ];

    /// The Korean name: `폭염`, `호우` …
    pub fn korean(self) -> &'static str {
        match self {
            AlertKind::StrongWind => "강풍",
            AlertKind::HeavyRain => "호우",
            AlertKind::ColdWave => "한파",
            AlertKind::Dry => "건조",
            AlertKind::StormSurge => "폭풍해일",
            AlertKind::HighSeas => "풍랑",
            AlertKind::Typhoon => "태풍",
            AlertKind::HeavySnow => "대설",
            AlertKind::YellowDust => "황사",
            AlertKind::HeatWave => "폭염",
        }
    }

    /// A stable ASCII name for storage and the wire: `HEAT_WAVE` …
    pub fn code(self) -> &'static str {
        match self {
            AlertKind::StrongWind => "STRONG_WIND",
            AlertKind::HeavyRain => "HEAVY_RAIN",
            AlertKind::ColdWave => "COLD_WAVE",
            AlertKind::Dry => "DRY",
            AlertKind::StormSurge => "STORM_SURGE",
            AlertKind::HighSeas => "HIGH_SEAS",
            AlertKind::Typhoon => "TYPHOON",
            AlertKind::HeavySnow => "HEAVY_SNOW",
            AlertKind::YellowDust => "YELLOW_DUST",
            AlertKind::HeatWave => "HEAT_WAVE",
        }
    }

    pub fn from_code(code: &str) -> Option<AlertKind> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// How severe: 주의보 (advisory) or 경보 (warning).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum AlertLevel {
    /// 주의보
    Advisory,
    /// 경보
    Warning,
}

impl AlertLevel {
    pub fn korean(self) -> &'static str {
        match self {
            AlertLevel::Advisory => "주의보",
            AlertLevel::Warning => "경보",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            AlertLevel::Advisory => "ADVISORY",
            AlertLevel::Warning => "WARNING",
        }
    }

    pub fn from_code(code: &str) -> Option<AlertLevel> {
        [AlertLevel::Advisory, AlertLevel::Warning]
            .into_iter()
            .find(|l| l.code() == code)
    }
}

/// One alert in force: a kind at a level over one warning zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeatherAlert {
    /// The warning zone (특보구역), e.g. `L1100100`.
    pub region_code: String,
    /// e.g. `서울`, `부산동부`.
    pub region_name: String,
    pub province: Province,
    pub kind: AlertKind,
    pub level: AlertLevel,
    /// When KMA announced it (발표시각).
    pub announced_at: Millis,
    /// When it takes effect (발효시각).
    pub effective_at: Millis,
    /// When it ends, when already announced (a lifting announced for later); `None`:
    /// until further notice.
    pub ends_at: Option<Millis>,
    /// The office that issued it (KMA `stnId`, e.g. `108` 서울), when given.
    pub station: Option<String>,
}

impl WeatherAlert {
    /// What identifies this alert across reads: zone, announcement, effect and kind.
    /// The same key seen again is the same alert (its level or names may change).
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.region_code,
            self.announced_at,
            self.effective_at,
            self.kind.code()
        )
    }
}

/// An item of the source's answer that could not be read: skipped, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableAlert {
    /// Its zone, when that much could be read.
    pub region_code: Option<String>,
    pub reason: String,
}

/// What is in force now.
#[derive(Debug, Clone, Default)]
pub struct AlertSnapshot {
    /// One alert per (zone, kind) at most.
    pub alerts: Vec<WeatherAlert>,
    pub unreadable: Vec<UnreadableAlert>,
}

/// Why the alerts could not be read (after the adapter's own retries). "No alert in
/// force" is never an error: it is an empty snapshot.
#[derive(Debug, thiserror::Error)]
pub enum WeatherAlertError {
    /// Network failure, timeout, 5xx, or a temporary error of the service (KMA
    /// `resultCode` 01, 02, 04, 05, 99) that outlasted the retries: try again later.
    #[error("the weather alert service is unavailable: {0}")]
    Unavailable(String),
    /// The key's request quota is spent (KMA `22`): try again after the quota resets.
    #[error("the weather alert service's request quota is used up: {0}")]
    QuotaExceeded(String),
    /// The service refused the request (an unregistered, expired or disabled key, an
    /// unknown operation: KMA `12`, `20`, `21`, `30`, `31`, `32`, `33`, `10`, `11`):
    /// fix configuration.
    #[error("the weather alert service refused the request ({code}): {detail}")]
    Refused { code: String, detail: String },
    /// The answer as a whole is not of the documented shape.
    #[error("the weather alert service answered in an unexpected shape: {0}")]
    Malformed(String),
}

/// The special weather reports in force.
#[async_trait]
pub trait WeatherAlertSource: Send + Sync + 'static {
    /// `kma` or `fake`.
    fn kind(&self) -> &'static str;
    /// The alerts in force at `now` (the caller's clock). An alert whose `ends_at` is
    /// at or before `now` may still be listed; callers treat it as ended.
    async fn current(&self, now: Millis) -> Result<AlertSnapshot, WeatherAlertError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_map_to_their_province() {
        assert_eq!(Province::of_zone("L1100100").map(|p| p.short), Some("서울"));
        assert_eq!(Province::of_zone("L1150200").map(|p| p.short), Some("부산"));
        assert_eq!(Province::of_zone("L1061400").map(|p| p.short), Some("전북"));
        // Sea zones and nonsense have none.
        assert_eq!(Province::of_zone("S1131000"), None);
        assert_eq!(Province::of_zone("L9990100"), None);
        assert_eq!(Province::of_zone("L11"), None);
        assert_eq!(Province::of_zone("L1100100가"), None);
    }

    #[test]
    fn provinces_are_listed_once() {
        for (i, p) in PROVINCES.iter().enumerate() {
            assert!(p.code.ends_with("0000"), "{p:?}");
            assert!(!PROVINCES[..i]
                .iter()
                .any(|q| q.code == p.code || q.short == p.short));
        }
    }

    #[test]
    fn kinds_and_levels_round_trip_their_codes() {
        for k in AlertKind::ALL {
            assert_eq!(AlertKind::from_code(k.code()), Some(k));
        }
        assert_eq!(AlertLevel::from_code("WARNING"), Some(AlertLevel::Warning));
        assert_eq!(AlertLevel::from_code("x"), None);
    }
}
