//! Time comes from a `Clock`, so tests can fix and move it.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::Millis;

pub trait Clock: Send + Sync + 'static {
    /// Now, in milliseconds since the Unix epoch (UTC).
    fn now_ms(&self) -> Millis;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that only moves when told to: for tests of expiry and windows.
#[derive(Debug)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn new(start_ms: Millis) -> Self {
        Self(AtomicI64::new(start_ms))
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn set_ms(&self, ms: Millis) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// Korea Standard Time, UTC+9 all year (no daylight saving): "today" for every module
/// is the Korean calendar day.
pub mod kst {
    use chrono::{Datelike, NaiveDate};

    use crate::Millis;

    pub const OFFSET_MS: Millis = 9 * 3_600_000;
    pub const DAY_MS: Millis = 86_400_000;

    /// The Korean calendar day an instant falls on.
    pub fn day(ms: Millis) -> NaiveDate {
        let days = (ms + OFFSET_MS).div_euclid(DAY_MS);
        // 719_163 days from 0001-01-01 (CE day 1) to 1970-01-01.
        NaiveDate::from_num_days_from_ce_opt((days + 719_163) as i32).unwrap_or_default()
    }

    /// 00:00 KST of a day, as an instant.
    pub fn start_of(day: NaiveDate) -> Millis {
        (day.num_days_from_ce() as i64 - 719_163) * DAY_MS - OFFSET_MS
    }

    /// 00:00 KST of the day an instant falls on.
    pub fn day_start(ms: Millis) -> Millis {
        let local = ms + OFFSET_MS;
        local - local.rem_euclid(DAY_MS) - OFFSET_MS
    }

    /// 00:00 KST of the next day: when a daily quota or count starts again.
    pub fn next_day_start(ms: Millis) -> Millis {
        day_start(ms) + DAY_MS
    }

    /// The Monday (KST) of the ISO week an instant falls in.
    pub fn week_monday(ms: Millis) -> NaiveDate {
        let d = day(ms);
        d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_korean_day_starts_at_15_utc() {
        let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        // 2026-12-01 14:59:59.999 UTC is still the 1st in Korea; 15:00 UTC is the 2nd.
        let first = 1_796_137_199_999; // 2026-12-01T14:59:59.999Z
        assert_eq!(kst::day(first), date(2026, 12, 1));
        assert_eq!(kst::day(first + 1), date(2026, 12, 2));
        assert_eq!(kst::day_start(first), first + 1 - kst::DAY_MS);
        assert_eq!(kst::next_day_start(first), first + 1);
        assert_eq!(kst::start_of(kst::day(first + 1)), first + 1);
        // Thursday 2026-12-03 (KST) is in the week of Monday 2026-11-30.
        assert_eq!(
            kst::week_monday(first + 1 + kst::DAY_MS),
            date(2026, 11, 30)
        );
        // Before 1970 too.
        assert_eq!(kst::day(-kst::OFFSET_MS - 1), date(1969, 12, 31));
    }

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let c = FixedClock::new(1_000);
        assert_eq!(c.now_ms(), 1_000);
        c.advance_ms(500);
        assert_eq!(c.now_ms(), 1_500);
        c.set_ms(7);
        assert_eq!(c.now_ms(), 7);
    }
}
