//! Community rules: validated inputs (a place on Earth, a search radius, the texts of a
//! post or comment), the two kinds of vote, and which hour a view counts in. Pure Rust:
//! the only SeaORM here is `DeriveActiveEnum`.

use sea_orm::sea_query::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What is wrong with an input. `http.rs` answers coordinates and radius as 400 with
/// their own code, the rest as 422 `validation_failed` naming the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("latitude must be -90..=90 and longitude -180..=180")]
    Coordinates,
    #[error("radius_m must be 1..=50000 (metres)")]
    Radius,
    #[error("latitude and longitude go together")]
    HalfACoordinate,
    #[error("{field} must be 1..={max} characters")]
    Length { field: &'static str, max: usize },
    #[error("{field} is at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("image_ids: at most {MAX_IMAGES}, no repeats")]
    Images,
    #[error("points must be 1..={MAX_MISSION_POINTS}")]
    Points,
    #[error("date must be YYYY-MM-DD")]
    Date,
}

impl InvalidInput {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Coordinates | Self::HalfACoordinate => "invalid_coordinates",
            Self::Radius => "invalid_radius",
            Self::Length { .. } => "invalid_length",
            Self::TooLong { .. } => "too_long",
            Self::Images => "invalid_images",
            Self::Points => "invalid_points",
            Self::Date => "invalid_date",
        }
    }

    pub fn field(&self) -> &'static str {
        match self {
            Self::Coordinates | Self::HalfACoordinate => "latitude",
            Self::Radius => "radius_m",
            Self::Length { field, .. } | Self::TooLong { field, .. } => field,
            Self::Images => "image_ids",
            Self::Points => "points",
            Self::Date => "date",
        }
    }

    /// Where on Earth and how far are query parameters: a bad one is a bad request.
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            Self::Coordinates | Self::HalfACoordinate | Self::Radius | Self::Date
        )
    }
}

/// A point on Earth in degrees (WGS 84, as phones report it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    lat: f64,
    lon: f64,
}

impl Place {
    pub fn new(lat: f64, lon: f64) -> Result<Self, InvalidInput> {
        if lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0 {
            Ok(Place { lat, lon })
        } else {
            Err(InvalidInput::Coordinates)
        }
    }

    /// Both or neither.
    pub fn maybe(lat: Option<f64>, lon: Option<f64>) -> Result<Option<Self>, InvalidInput> {
        match (lat, lon) {
            (Some(lat), Some(lon)) => Place::new(lat, lon).map(Some),
            (None, None) => Ok(None),
            _ => Err(InvalidInput::HalfACoordinate),
        }
    }

    pub fn lat(&self) -> f64 {
        self.lat
    }
    pub fn lon(&self) -> f64 {
        self.lon
    }
}

/// How far "near me" reaches, in metres: 5 km unless asked, at most 50 km.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Radius(f64);

pub const DEFAULT_RADIUS_M: f64 = 5_000.0;
pub const MAX_RADIUS_M: f64 = 50_000.0;

impl Radius {
    pub fn new(m: Option<f64>) -> Result<Self, InvalidInput> {
        match m {
            None => Ok(Radius(DEFAULT_RADIUS_M)),
            Some(m) if m.is_finite() && (1.0..=MAX_RADIUS_M).contains(&m) => Ok(Radius(m)),
            Some(_) => Err(InvalidInput::Radius),
        }
    }
    pub fn metres(&self) -> f64 {
        self.0
    }
}

/// Trimmed text of 1..=max characters.
pub fn required(field: &'static str, s: &str, max: usize) -> Result<String, InvalidInput> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(InvalidInput::Length { field, max });
    }
    Ok(t.to_owned())
}

/// Trimmed text of at most max characters; blank is none.
pub fn optional(
    field: &'static str,
    s: Option<&str>,
    max: usize,
) -> Result<Option<String>, InvalidInput> {
    let Some(t) = s.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.chars().count() > max {
        return Err(InvalidInput::TooLong { field, max });
    }
    Ok(Some(t.to_owned()))
}

pub const TITLE_MAX: usize = 100;
pub const BODY_MAX: usize = 5_000;
pub const PLACE_NAME_MAX: usize = 100;
pub const COMMENT_MAX: usize = 1_000;
pub const MAX_IMAGES: usize = 10;

/// The images of a post, in order: at most ten, each once.
pub fn image_ids(ids: &[Uuid]) -> Result<Vec<Uuid>, InvalidInput> {
    let mut seen = std::collections::HashSet::new();
    if ids.len() > MAX_IMAGES || !ids.iter().all(|i| seen.insert(*i)) {
        return Err(InvalidInput::Images);
    }
    Ok(ids.to_vec())
}

/// A vote on a post. The same vote again changes nothing; the other one switches.
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
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
pub enum VoteKind {
    #[sea_orm(string_value = "UP")]
    #[serde(rename = "UP")]
    Up,
    #[sea_orm(string_value = "DOWN")]
    #[serde(rename = "DOWN")]
    Down,
}

impl VoteKind {
    /// A vote may switch to the other kind; voting the same again is no move.
    pub fn can_become(self, next: VoteKind) -> bool {
        self != next
    }
}

/// When in the day a mission is done: each user gets one mission per slot per KST day.
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
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(10))")]
pub enum Slot {
    #[sea_orm(string_value = "MORNING")]
    #[serde(rename = "MORNING")]
    Morning,
    #[sea_orm(string_value = "AFTERNOON")]
    #[serde(rename = "AFTERNOON")]
    Afternoon,
    #[sea_orm(string_value = "EVENING")]
    #[serde(rename = "EVENING")]
    Evening,
}

/// Where a user's mission of the day stands. A proof moves ASSIGNED to PENDING_REVIEW;
/// a reviewer (admin, or the configured verifier) approves or rejects it; a rejected
/// mission may be proven again the same day. APPROVED is final: it awarded the points.
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
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum MissionState {
    #[sea_orm(string_value = "ASSIGNED")]
    #[serde(rename = "ASSIGNED")]
    Assigned,
    #[sea_orm(string_value = "PENDING_REVIEW")]
    #[serde(rename = "PENDING_REVIEW")]
    PendingReview,
    #[sea_orm(string_value = "APPROVED")]
    #[serde(rename = "APPROVED")]
    Approved,
    #[sea_orm(string_value = "REJECTED")]
    #[serde(rename = "REJECTED")]
    Rejected,
}

impl MissionState {
    pub fn can_become(self, next: MissionState) -> bool {
        use MissionState::*;
        matches!(
            (self, next),
            (Assigned | Rejected, PendingReview) | (PendingReview, Approved | Rejected)
        )
    }
}

/// A mission as an admin defines it, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct MissionDraft {
    pub title: String,
    pub description: String,
    pub points: i64,
    pub slot: Slot,
    pub active: bool,
}

pub const MISSION_DESCRIPTION_MAX: usize = 1_000;
pub const MAX_MISSION_POINTS: i64 = 10_000;

impl MissionDraft {
    pub fn new(
        title: &str,
        description: &str,
        points: i64,
        slot: Slot,
        active: bool,
    ) -> Result<Self, InvalidInput> {
        Ok(MissionDraft {
            title: required("title", title, TITLE_MAX)?,
            description: required("description", description, MISSION_DESCRIPTION_MAX)?,
            points: mission_points(points)?,
            slot,
            active,
        })
    }
}

/// 1..=10,000 points.
pub fn mission_points(points: i64) -> Result<i64, InvalidInput> {
    if (1..=MAX_MISSION_POINTS).contains(&points) {
        Ok(points)
    } else {
        Err(InvalidInput::Points)
    }
}

/// Levels by all-time points: (level, name, points needed).
pub const LEVELS: [(u32, &str, i64); 6] = [
    (1, "새싹", 0),
    (2, "이슬", 100),
    (3, "구름", 300),
    (4, "바람", 700),
    (5, "무지개", 1_500),
    (6, "태양", 3_000),
];

/// The level a total reaches, its name, and the points the next level needs (none at the top).
pub fn level_of(total: i64) -> (u32, &'static str, Option<i64>) {
    let mut at = 0;
    for (i, (_, _, need)) in LEVELS.iter().enumerate() {
        if total >= *need {
            at = i;
        }
    }
    let (level, name, _) = LEVELS[at];
    (level, name, LEVELS.get(at + 1).map(|(_, _, n)| *n))
}

/// Which counter a ranking reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    All,
}

/// The counter keys a point award adds to: the KST day, the ISO week (by its Monday,
/// KST) and all time. Rankings read one key; no sum over history.
pub fn period_key(period: Period, day: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    match period {
        Period::Day => format!("d{day}"),
        Period::Week => {
            let monday = day - chrono::Duration::days(day.weekday().num_days_from_monday() as i64);
            format!("w{monday}")
        }
        Period::All => "all".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn places_and_radii_are_checked() {
        assert!(Place::new(37.5, 127.0).is_ok());
        assert!(Place::new(90.0, -180.0).is_ok());
        for (lat, lon) in [
            (90.1, 0.0),
            (0.0, 180.5),
            (f64::NAN, 0.0),
            (0.0, f64::INFINITY),
        ] {
            assert_eq!(Place::new(lat, lon), Err(InvalidInput::Coordinates));
        }
        assert_eq!(
            Place::maybe(Some(1.0), None),
            Err(InvalidInput::HalfACoordinate)
        );
        assert_eq!(Place::maybe(None, None), Ok(None));
        assert_eq!(Radius::new(None).map(|r| r.metres()), Ok(5_000.0));
        assert_eq!(
            Radius::new(Some(50_000.0)).map(|r| r.metres()),
            Ok(50_000.0)
        );
        for bad in [0.0, -1.0, 50_000.1, f64::NAN] {
            assert_eq!(Radius::new(Some(bad)), Err(InvalidInput::Radius));
        }
        assert!(InvalidInput::Radius.is_bad_request());
        assert!(!InvalidInput::Images.is_bad_request());
    }

    #[test]
    fn texts_and_images() {
        assert_eq!(required("title", "  맑음 ", 100), Ok("맑음".into()));
        assert!(required("title", "   ", 100).is_err());
        assert!(required("title", &"가".repeat(101), 100).is_err());
        assert_eq!(optional("place_name", Some(" "), 10), Ok(None));
        let a = Uuid::new_v4();
        assert!(image_ids(&[a, a]).is_err());
        assert!(image_ids(&[Uuid::nil(); 11]).is_err());
        assert_eq!(image_ids(&[a]), Ok(vec![a]));
    }

    #[test]
    fn missions_move_forward_and_levels_follow_points() {
        use MissionState::*;
        assert!(Assigned.can_become(PendingReview));
        assert!(Rejected.can_become(PendingReview));
        assert!(PendingReview.can_become(Approved));
        assert!(!Approved.can_become(Rejected));
        assert!(!Approved.can_become(PendingReview));
        assert!(!Assigned.can_become(Approved));
        assert_eq!(level_of(0), (1, "새싹", Some(100)));
        assert_eq!(level_of(99).0, 1);
        assert_eq!(level_of(100).0, 2);
        assert_eq!(level_of(1_000_000), (6, "태양", None));
        assert!(MissionDraft::new("t", "d", 0, Slot::Morning, true).is_err());
        let d = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        assert_eq!(period_key(Period::Week, d), "w2026-11-30");
        assert_eq!(period_key(Period::Day, d), "d2026-12-03");
    }

    #[test]
    fn a_vote_switches_to_the_other_kind_only() {
        assert!(VoteKind::Up.can_become(VoteKind::Down));
        assert!(!VoteKind::Down.can_become(VoteKind::Down));
    }
}
