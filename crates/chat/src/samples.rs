//! Demo data: the special weather reports `surge demo` opens its alert rooms with.

use surge_kernel::weather::{AlertKind, AlertLevel, Province, WeatherAlert};
use surge_kernel::Millis;

/// A 폭염주의보 over 서울 and 호우 over 부산 (경보 in the east, 주의보 in the west),
/// announced this hour, as the KMA source would list them.
pub fn alerts(now: Millis) -> Vec<WeatherAlert> {
    let hour = now - now.rem_euclid(3_600_000);
    [
        (
            "L1100100",
            "서울",
            AlertKind::HeatWave,
            AlertLevel::Advisory,
            "108",
        ),
        (
            "L1150100",
            "부산동부",
            AlertKind::HeavyRain,
            AlertLevel::Warning,
            "159",
        ),
        (
            "L1150200",
            "부산서부",
            AlertKind::HeavyRain,
            AlertLevel::Advisory,
            "159",
        ),
    ]
    .into_iter()
    .filter_map(|(zone, name, kind, level, station)| {
        Some(WeatherAlert {
            region_code: zone.into(),
            region_name: name.into(),
            province: Province::of_zone(zone)?,
            kind,
            level,
            announced_at: hour,
            effective_at: hour,
            ends_at: None,
            station: Some(station.into()),
        })
    })
    .collect()
}
