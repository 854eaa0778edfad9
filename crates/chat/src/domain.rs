//! Chat rules: a room's states and their legal moves, and the validated values the use
//! cases take (room names, message bodies, client ids, read markers, history pages).
//! Pure Rust: the only SeaORM here is `DeriveActiveEnum`.

use sea_orm::sea_query::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};
use surge_kernel::weather::{AlertKind, AlertLevel, Province};

/// Longest message body, in characters (not bytes: Korean text is 3 bytes a character).
pub const MAX_BODY_CHARS: usize = 1_000;
/// Longest room name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest room description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Longest client-chosen message id.
pub const MAX_CLIENT_ID_CHARS: usize = 64;
/// Most messages one history page holds.
pub const MAX_PAGE: u64 = 100;
/// Messages a history page holds when the caller does not say.
pub const DEFAULT_PAGE: u64 = 50;

/// What is wrong with an input; `code()` is the stable code of the 422 or error frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("name must be 1..={MAX_NAME_CHARS} characters")]
    Name,
    #[error("description is at most 500 characters")]
    Description,
    #[error("body must be 1..={MAX_BODY_CHARS} characters")]
    Body,
    #[error("client_id must be 1..={MAX_CLIENT_ID_CHARS} characters of A-Z a-z 0-9 - _ . :")]
    ClientId,
    #[error("seq must be 0 or more")]
    Seq,
    #[error("limit must be 1..={MAX_PAGE}")]
    Limit,
}

impl InvalidInput {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Name => "invalid_name",
            Self::Description => "invalid_description",
            Self::Body => "invalid_body_length",
            Self::ClientId => "invalid_client_id",
            Self::Seq => "invalid_seq",
            Self::Limit => "invalid_limit",
        }
    }
}

/// A room: ACTIVE (listed, open to messages) or CLOSED (history kept, read-only).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoomStatus {
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    #[sea_orm(string_value = "CLOSED")]
    Closed,
}

impl RoomStatus {
    /// A closed room can be opened again (weather-alert rooms reopen with a new alert).
    pub fn can_become(self, next: RoomStatus) -> bool {
        self != next
    }
}

/// Who opened a room: an admin by hand, or the weather alerts of a province (one room
/// per province, opened and closed by the alert poller).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoomKind {
    #[sea_orm(string_value = "GENERAL")]
    General,
    #[sea_orm(string_value = "WEATHER_ALERT")]
    WeatherAlert,
}

/// A stored weather alert: ACTIVE while the source lists it in force, ENDED once it is
/// gone from the source or past its end; seen again, it is ACTIVE again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AlertStatus {
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    #[sea_orm(string_value = "ENDED")]
    Ended,
}

impl AlertStatus {
    pub fn can_become(self, next: AlertStatus) -> bool {
        self != next
    }
}

/// How a poll of the alert source went.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema, EnumIter, DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PollStatus {
    #[sea_orm(string_value = "RUNNING")]
    Running,
    #[sea_orm(string_value = "SUCCEEDED")]
    Succeeded,
    #[sea_orm(string_value = "FAILED")]
    Failed,
}

impl PollStatus {
    /// A poll runs once and ends once.
    pub fn can_become(self, next: PollStatus) -> bool {
        self == PollStatus::Running && next != PollStatus::Running
    }
}

/// A province as a route names it: one of KMA's upper warning zones (`L1100000`).
pub fn province(code: &str) -> Option<Province> {
    Province::by_code(code.trim())
}

/// One alert as an alert room's title and description show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertLine {
    pub kind: AlertKind,
    pub level: AlertLevel,
    pub region_name: String,
}

/// What a province's alert room is called and says, from the alerts in force there:
/// the name lists each kind once at its highest level, warnings (경보) first
/// (`부산 호우경보 · 강풍주의보`), the description the zones under each.
pub fn alert_room_title(province: Province, alerts: &[AlertLine]) -> (String, String) {
    use std::collections::BTreeMap;
    let mut top: BTreeMap<AlertKind, AlertLevel> = BTreeMap::new();
    let mut zones: BTreeMap<(std::cmp::Reverse<AlertLevel>, AlertKind), Vec<&str>> =
        BTreeMap::new();
    for a in alerts {
        let level = top.entry(a.kind).or_insert(a.level);
        *level = (*level).max(a.level);
        let names = zones
            .entry((std::cmp::Reverse(a.level), a.kind))
            .or_default();
        if !names.contains(&a.region_name.as_str()) {
            names.push(&a.region_name);
        }
    }
    let mut kinds: Vec<(AlertKind, AlertLevel)> = top.into_iter().collect();
    kinds.sort_by_key(|(k, l)| (std::cmp::Reverse(*l), *k));
    let mut name = province.short.to_owned();
    for (i, (k, l)) in kinds.iter().enumerate() {
        let part = format!("{}{}", k.korean(), l.korean());
        let sep = if i == 0 { " " } else { " · " };
        let more = format!(" 외 {}건", kinds.len() - i);
        let after = if i + 1 < kinds.len() {
            format!(" 외 {}건", kinds.len() - i - 1).chars().count()
        } else {
            0
        };
        if name.chars().count() + sep.chars().count() + part.chars().count() + after
            > MAX_NAME_CHARS
        {
            name.push_str(&more);
            break;
        }
        name.push_str(sep);
        name.push_str(&part);
    }
    let description: Vec<String> = zones
        .into_iter()
        .map(|((l, k), names)| format!("{}{}: {}", k.korean(), l.0.korean(), names.join(", ")))
        .collect();
    let description = description.join(" / ");
    let description = match description.char_indices().nth(MAX_DESCRIPTION_CHARS - 1) {
        Some((cut, _)) => format!("{}…", &description[..cut]),
        None => description,
    };
    (name, description)
}

fn chars_within(s: &str, min: usize, max: usize) -> bool {
    let n = s.chars().count();
    (min..=max).contains(&n)
}

/// A room's name: trimmed, 1..=100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomName(String);

impl RoomName {
    pub fn new(s: &str) -> Result<Self, InvalidInput> {
        let s = s.trim();
        chars_within(s, 1, MAX_NAME_CHARS)
            .then(|| RoomName(s.to_owned()))
            .ok_or(InvalidInput::Name)
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A new general room.
#[derive(Debug, Clone)]
pub struct NewRoom {
    pub name: RoomName,
    pub description: String,
}

impl NewRoom {
    pub fn new(name: &str, description: Option<&str>) -> Result<Self, InvalidInput> {
        let description = description.unwrap_or("").trim().to_owned();
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(InvalidInput::Description);
        }
        Ok(NewRoom {
            name: RoomName::new(name)?,
            description,
        })
    }
}

/// A message body: 1..=1,000 characters, kept as typed (not trimmed: spacing is the
/// sender's), but not only whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    pub fn new(s: &str) -> Result<Self, InvalidInput> {
        (chars_within(s, 1, MAX_BODY_CHARS) && !s.trim().is_empty())
            .then(|| MessageBody(s.to_owned()))
            .ok_or(InvalidInput::Body)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The sender's own id for a message, so a resend after a lost ack is stored once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    pub fn new(s: &str) -> Result<Self, InvalidInput> {
        let ok = chars_within(s, 1, MAX_CLIENT_ID_CHARS)
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
        ok.then(|| ClientId(s.to_owned()))
            .ok_or(InvalidInput::ClientId)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A room's message sequence number as a client names it (0 = before the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seq(i64);

impl Seq {
    pub fn new(n: i64) -> Result<Self, InvalidInput> {
        (n >= 0).then_some(Seq(n)).ok_or(InvalidInput::Seq)
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Which page of a room's history: the newest `limit`, or the `limit` before a seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPage {
    pub before: Option<Seq>,
    pub limit: u64,
}

impl HistoryPage {
    pub fn new(before_seq: Option<i64>, limit: Option<u64>) -> Result<Self, InvalidInput> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(InvalidInput::Limit);
        }
        Ok(HistoryPage {
            before: before_seq.map(Seq::new).transpose()?,
            limit,
        })
    }
}

/// How many messages of a room a member has not read: never below zero, even when a
/// marker is ahead of what this reader saw of the room.
pub fn unread(last_seq: i64, last_read_seq: i64) -> i64 {
    (last_seq - last_read_seq).max(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn bodies_are_counted_in_characters_not_bytes() {
        let korean = "가".repeat(MAX_BODY_CHARS);
        assert!(korean.len() > MAX_BODY_CHARS);
        assert!(MessageBody::new(&korean).is_ok());
        let over = "가".repeat(MAX_BODY_CHARS + 1);
        assert_eq!(MessageBody::new(&over), Err(InvalidInput::Body));
        assert_eq!(MessageBody::new(""), Err(InvalidInput::Body));
        assert_eq!(MessageBody::new("  \n"), Err(InvalidInput::Body));
        assert_eq!(MessageBody::new(" hi ").map(|b| b.0), Ok(" hi ".to_owned()));
    }

    #[test]
    fn client_ids_are_short_and_plain() {
        assert!(ClientId::new("c-1_a.b:2").is_ok());
        assert_eq!(ClientId::new(""), Err(InvalidInput::ClientId));
        assert_eq!(ClientId::new("a b"), Err(InvalidInput::ClientId));
        assert_eq!(ClientId::new(&"x".repeat(65)), Err(InvalidInput::ClientId));
    }

    #[test]
    fn room_names_are_trimmed_and_bounded() {
        assert_eq!(
            RoomName::new("  서울 ").map(|n| n.into_inner()),
            Ok("서울".to_owned())
        );
        assert_eq!(RoomName::new("   "), Err(InvalidInput::Name));
        assert_eq!(RoomName::new(&"a".repeat(101)), Err(InvalidInput::Name));
        assert!(NewRoom::new("a", Some(&"d".repeat(501))).is_err());
    }

    #[test]
    fn pages_and_seqs_are_bounded() {
        assert_eq!(
            HistoryPage::new(None, None).map(|p| p.limit),
            Ok(DEFAULT_PAGE)
        );
        assert_eq!(HistoryPage::new(None, Some(0)), Err(InvalidInput::Limit));
        assert_eq!(HistoryPage::new(None, Some(101)), Err(InvalidInput::Limit));
        assert_eq!(HistoryPage::new(Some(-1), None), Err(InvalidInput::Seq));
        assert_eq!(Seq::new(0).map(Seq::get), Ok(0));
    }

    #[test]
    fn unread_never_goes_negative() {
        assert_eq!(unread(10, 4), 6);
        assert_eq!(unread(3, 5), 0);
    }

    #[test]
    fn alert_rooms_are_named_for_their_province_and_worst_alerts() {
        let busan = province("L1150000").unwrap();
        let line = |kind, level, zone: &str| AlertLine {
            kind,
            level,
            region_name: zone.into(),
        };
        let (name, description) = alert_room_title(
            busan,
            &[
                line(AlertKind::StrongWind, AlertLevel::Advisory, "부산동부"),
                line(AlertKind::HeavyRain, AlertLevel::Advisory, "부산서부"),
                line(AlertKind::HeavyRain, AlertLevel::Warning, "부산동부"),
            ],
        );
        assert_eq!(name, "부산 호우경보 · 강풍주의보");
        assert_eq!(
            description,
            "호우경보: 부산동부 / 강풍주의보: 부산동부 / 호우주의보: 부산서부"
        );
        let seoul = province("L1100000").unwrap();
        let (name, _) = alert_room_title(
            seoul,
            &[line(AlertKind::HeatWave, AlertLevel::Advisory, "서울")],
        );
        assert_eq!(name, "서울 폭염주의보");
        // Every kind at once still fits a room name.
        let all: Vec<AlertLine> = AlertKind::ALL
            .iter()
            .map(|k| line(*k, AlertLevel::Warning, "서울"))
            .collect();
        let (name, _) = alert_room_title(seoul, &all);
        assert!(RoomName::new(&name).is_ok(), "{name}");
        assert_eq!(province(" L9990000 "), None);
    }

    #[test]
    fn alerts_and_polls_move_as_they_may() {
        assert!(AlertStatus::Active.can_become(AlertStatus::Ended));
        assert!(AlertStatus::Ended.can_become(AlertStatus::Active));
        assert!(!AlertStatus::Active.can_become(AlertStatus::Active));
        assert!(PollStatus::Running.can_become(PollStatus::Succeeded));
        assert!(!PollStatus::Failed.can_become(PollStatus::Succeeded));
        assert!(!PollStatus::Running.can_become(PollStatus::Running));
    }

    #[test]
    fn a_room_moves_between_active_and_closed_only() {
        for a in RoomStatus::iter() {
            for b in RoomStatus::iter() {
                assert_eq!(a.can_become(b), a != b);
            }
        }
    }
}
