//! `getPwnCd` (특보코드조회) records, and how they fold into the alerts in force.
//!
//! Each record is one step of an alert's life in one warning zone (field names and
//! codes as the 기상청_기상특보 조회서비스 활용가이드 documents them, quoted by public
//! clients of the API; JSON types as observed in a recorded answer): `stnId` (string,
//! the issuing office), `tmFc` (number, YYYYMMDDHHmm KST: the announcement), `tmSeq`
//! (number: its sequence), `areaCode`/`areaName` (strings: the zone), `warnVar` (number:
//! 1 강풍, 2 호우, 3 한파, 4 건조, 5 폭풍해일, 6 풍랑, 7 태풍, 8 대설, 9 황사, 12 폭염),
//! `warnStress` (number: 0 주의보, 1 경보), `command` (string: 1 발표, 2 해제, 3 연장,
//! 6 정정, 7 변경발표, 8 변경해제), `cancel` (string: 1 = the record was withdrawn),
//! `startTime` (발표 records only: when it takes effect), `endTime` (해제 records only:
//! when the lifting takes effect), `allEndTime` (not used: its meaning is not
//! documented clearly enough to act on).
//!
//! The fold: per (zone, kind), the records in announcement order (within one
//! announcement a lifting before an issue, so a 변경 from 주의보 to 경보 ends on the
//! 경보); the last one decides. An issue (발표, 변경발표) or a continuation (연장, 정정)
//! is in force; a lifting (해제, 변경해제) is in force until its `endTime` when that is
//! still ahead, with that `ends_at`; withdrawn records are ignored.

use std::collections::BTreeMap;

use serde_json::Value;
use surge_kernel::clock::kst;
use surge_kernel::weather::{AlertKind, AlertLevel, Province, UnreadableAlert, WeatherAlert};
use surge_kernel::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Issue,
    Lift,
    Extend,
    Correct,
    ChangeIssue,
    ChangeLift,
}

impl Command {
    fn parse(v: &Value) -> Option<Command> {
        let s = text(v);
        Some(match s.as_str() {
            "1" | "발표" => Command::Issue,
            "2" | "해제" => Command::Lift,
            "3" | "연장" => Command::Extend,
            "6" | "정정" => Command::Correct,
            "7" | "변경발표" => Command::ChangeIssue,
            "8" | "변경해제" => Command::ChangeLift,
            _ => return None,
        })
    }

    fn lifts(self) -> bool {
        matches!(self, Command::Lift | Command::ChangeLift)
    }

    /// Starts an alert (as opposed to continuing or lifting one).
    fn issues(self) -> bool {
        matches!(self, Command::Issue | Command::ChangeIssue)
    }
}

/// One readable record.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    zone: String,
    zone_name: String,
    province: Province,
    station: Option<String>,
    announced_at: Millis,
    seq: i64,
    kind: AlertKind,
    level: Option<AlertLevel>,
    command: Command,
    start: Option<Millis>,
    end: Option<Millis>,
}

/// What one item of a page is.
#[derive(Debug)]
pub(crate) enum Item {
    Record(Box<Record>),
    /// A withdrawn record, or a sea zone (no province has a room for it).
    Skipped,
    Unreadable(UnreadableAlert),
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn number(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| text(v).parse().ok())
}

/// `YYYYMMDDHHmm` in KST (a number or a string), as an instant; 0 or absent: `None`.
pub(crate) fn kst_minute(v: &Value) -> Option<Millis> {
    let digits = text(v);
    if digits.len() != 12 {
        return None;
    }
    let t = chrono::NaiveDateTime::parse_from_str(&digits, "%Y%m%d%H%M").ok()?;
    Some(t.and_utc().timestamp_millis() - kst::OFFSET_MS)
}

fn kind(code: i64) -> Option<AlertKind> {
    Some(match code {
        1 => AlertKind::StrongWind,
        2 => AlertKind::HeavyRain,
        3 => AlertKind::ColdWave,
        4 => AlertKind::Dry,
        5 => AlertKind::StormSurge,
        6 => AlertKind::HighSeas,
        7 => AlertKind::Typhoon,
        8 => AlertKind::HeavySnow,
        9 => AlertKind::YellowDust,
        12 => AlertKind::HeatWave,
        _ => return None,
    })
}

/// Reads one item of `response.body.items.item`.
pub(crate) fn item(v: &Value) -> Item {
    let zone = text(&v["areaCode"]);
    if zone.is_empty() {
        return Item::Unreadable(UnreadableAlert {
            region_code: None,
            reason: "no areaCode".into(),
        });
    }
    let bad = |reason: String| {
        Item::Unreadable(UnreadableAlert {
            region_code: Some(zone.clone()),
            reason,
        })
    };
    if text(&v["cancel"]) == "1" {
        return Item::Skipped;
    }
    let Some(province) = Province::of_zone(&zone) else {
        // Sea zones (S…) have no province; a land zone of none we know is an error.
        if zone.starts_with('L') {
            return bad(format!("zone {zone} is in no known province"));
        }
        return Item::Skipped;
    };
    let Some(announced_at) = kst_minute(&v["tmFc"]) else {
        return bad("no tmFc".into());
    };
    let Some(kind) = number(&v["warnVar"]).and_then(kind) else {
        return bad(format!("unknown warnVar {}", text(&v["warnVar"])));
    };
    let Some(command) = Command::parse(&v["command"]) else {
        return bad(format!("unknown command {}", text(&v["command"])));
    };
    // 0 주의보, 1 경보; a higher grade than 경보 (not in the guide's list) is a 경보 here.
    let level = number(&v["warnStress"]).map(|s| {
        if s >= 1 {
            AlertLevel::Warning
        } else {
            AlertLevel::Advisory
        }
    });
    if command.issues() && level.is_none() {
        return bad("an issue without warnStress".into());
    }
    let name = text(&v["areaName"]);
    let station = Some(text(&v["stnId"])).filter(|s| !s.is_empty());
    Item::Record(Box::new(Record {
        zone_name: if name.is_empty() { zone.clone() } else { name },
        zone,
        province,
        station,
        announced_at,
        seq: number(&v["tmSeq"]).unwrap_or(0),
        kind,
        level,
        command,
        start: kst_minute(&v["startTime"]),
        end: kst_minute(&v["endTime"]),
    }))
}

/// The alerts in force at `now`, one per (zone, kind), from every record read.
pub(crate) fn in_force(records: Vec<Record>, now: Millis) -> Vec<WeatherAlert> {
    let mut by_alert: BTreeMap<(String, AlertKind), Vec<Record>> = BTreeMap::new();
    for r in records {
        by_alert
            .entry((r.zone.clone(), r.kind))
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for (_, mut history) in by_alert {
        // Stable: records of one announcement keep the answer's order otherwise.
        history.sort_by_key(|r| (r.announced_at, r.seq, !r.command.lifts()));
        let Some(last) = history.last() else { continue };
        let ends_at = if last.command.lifts() {
            match last.end {
                Some(end) if end > now => Some(end),
                _ => continue,
            }
        } else {
            None
        };
        // What the alert is: the newest issue before the last record (a 연장 or 정정
        // continues it), else the last record itself.
        let origin = history
            .iter()
            .rev()
            .find(|r| r.command.issues())
            .unwrap_or(last);
        let Some(level) = history.iter().rev().find_map(|r| r.level) else {
            continue;
        };
        out.push(WeatherAlert {
            region_code: origin.zone.clone(),
            region_name: last.zone_name.clone(),
            province: origin.province,
            kind: origin.kind,
            level,
            announced_at: origin.announced_at,
            effective_at: origin.start.unwrap_or(origin.announced_at),
            ends_at,
            station: origin.station.clone(),
        });
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(v: Value) -> Record {
        match item(&v) {
            Item::Record(r) => *r,
            other => panic!("not a record: {other:?}"),
        }
    }

    fn ev(zone: &str, tm: i64, seq: i64, var: i64, stress: i64, cmd: &str) -> Value {
        json!({"stnId": "108", "tmFc": tm, "tmSeq": seq, "areaCode": zone, "areaName": "서울",
               "warnVar": var, "warnStress": stress, "command": cmd, "cancel": "0",
               "startTime": tm, "endTime": 0, "allEndTime": 0})
    }

    const NOW: Millis = 1_796_000_000_000;

    #[test]
    fn an_issue_is_in_force_and_a_past_lifting_ends_it() {
        let issued = vec![record(ev("L1100100", 202612011000, 1, 12, 0, "1"))];
        let alerts = in_force(issued.clone(), NOW);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].kind, AlertKind::HeatWave);
        assert_eq!(alerts[0].level, AlertLevel::Advisory);
        assert_eq!(alerts[0].province.short, "서울");
        // 2026-12-01 10:00 KST = 01:00 UTC.
        assert_eq!(alerts[0].announced_at, 1_796_086_800_000);
        let mut lifted = issued;
        let mut lift = ev("L1100100", 202612011600, 2, 12, 0, "2");
        lift["endTime"] = json!(202612011700i64);
        lifted.push(record(lift));
        assert!(in_force(lifted.clone(), 1_796_200_000_000).is_empty());
        // Before the lifting takes effect the alert is still in force, ending then.
        let before = in_force(lifted, 1_796_090_000_000);
        assert_eq!(before[0].ends_at, Some(1_796_112_000_000));
    }

    #[test]
    fn a_change_to_warning_ends_on_the_warning_and_withdrawn_records_do_not_count() {
        let rs = vec![
            record(ev("L1150100", 202612011000, 1, 2, 0, "1")),
            // One announcement: the advisory's change-lifting after the warning in the
            // answer's order; the lifting still sorts first.
            record(ev("L1150100", 202612011300, 2, 2, 1, "7")),
            record(ev("L1150100", 202612011300, 2, 2, 0, "8")),
        ];
        let a = in_force(rs, NOW);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].level, AlertLevel::Warning);
        let mut withdrawn = ev("L1150100", 202612011400, 3, 2, 0, "2");
        withdrawn["cancel"] = json!("1");
        assert!(matches!(item(&withdrawn), Item::Skipped));
    }

    #[test]
    fn sea_zones_are_skipped_and_nonsense_is_unreadable() {
        assert!(matches!(
            item(&ev("S1131000", 202612011000, 1, 6, 0, "1")),
            Item::Skipped
        ));
        assert!(matches!(
            item(&ev("L9990100", 202612011000, 1, 6, 0, "1")),
            Item::Unreadable(_)
        ));
        assert!(matches!(
            item(&ev("L1100100", 202612011000, 1, 13, 0, "1")),
            Item::Unreadable(_)
        ));
        assert!(matches!(
            item(&ev("L1100100", 202612011000, 1, 12, 0, "9")),
            Item::Unreadable(_)
        ));
        assert!(matches!(
            item(&json!({"tmFc": 202612011000i64})),
            Item::Unreadable(_)
        ));
    }
}
