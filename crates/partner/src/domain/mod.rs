//! Partner rules: conditions (and when two sets of conditions can meet) and validated
//! inputs; categories and the states of rooms and applications with their legal moves
//! are in `states.rs`. Pure Rust.

use serde::{Deserialize, Serialize};
use surge_kernel::Millis;

mod states;
pub use states::*;

/// What is wrong with an input. `http.rs` answers it as 422 `validation_failed` naming
/// the [`field`](InvalidInput::field); `code()` is stable for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("title must be 1..=100 characters")]
    Title,
    #[error("{field} is at most 5,000 characters")]
    TooLong { field: &'static str },
    #[error("capacity must be 2..=20")]
    Capacity,
    #[error("meets_at must be in the future")]
    MeetsAtPast,
    #[error("a comment needs a body")]
    EmptyComment,
    #[error("stars must be 1..=5")]
    Stars,
    #[error("you cannot review yourself")]
    SelfReview,
    #[error("study_types apply to STUDY only")]
    StudyTypesOnMeal,
    #[error("ways apply to MEAL only")]
    WaysOnStudy,
}

impl InvalidInput {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Title => "invalid_title",
            Self::TooLong { .. } => "too_long",
            Self::Capacity => "invalid_capacity",
            Self::MeetsAtPast => "meets_at_past",
            Self::EmptyComment => "empty_comment",
            Self::Stars => "invalid_stars",
            Self::SelfReview => "self_review",
            Self::StudyTypesOnMeal => "study_types_on_meal",
            Self::WaysOnStudy => "ways_on_study",
        }
    }

    /// The request field it is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Title => "title",
            Self::TooLong { field } => field,
            Self::Capacity => "capacity",
            Self::MeetsAtPast => "meets_at",
            Self::EmptyComment => "body",
            Self::Stars => "stars",
            Self::SelfReview => "reviewee_id",
            Self::StudyTypesOnMeal => "study_types",
            Self::WaysOnStudy => "ways",
        }
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Place {
    Seocho,
    Gaepo,
    OutOfCluster,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Way {
    Delivery,
    Eatout,
    Takeout,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StudyType {
    InnerCircle,
    NotInnerCircle,
}

/// What a room offers or an applicant accepts. An empty list means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conditions {
    #[serde(default)]
    pub places: Vec<Place>,
    /// Meals only.
    #[serde(default)]
    pub ways: Vec<Way>,
    /// Study only.
    #[serde(default)]
    pub study_types: Vec<StudyType>,
}

fn dedup<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}

/// The common part of two acceptable lists, `None` if they cannot meet. Empty = any.
fn meet<T: Ord + Copy>(a: &[T], b: &[T]) -> Option<Vec<T>> {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => Some(b.to_vec()),
        (_, true) => Some(a.to_vec()),
        _ => {
            let both: Vec<T> = a.iter().filter(|x| b.contains(x)).copied().collect();
            (!both.is_empty()).then_some(both)
        }
    }
}

impl Conditions {
    /// Sorted, without duplicates, and only the dimensions the category has.
    fn normalized(self, category: Category) -> Result<Self, InvalidInput> {
        let c = Conditions {
            places: dedup(self.places),
            ways: dedup(self.ways),
            study_types: dedup(self.study_types),
        };
        match category {
            Category::Meal if !c.study_types.is_empty() => Err(InvalidInput::StudyTypesOnMeal),
            Category::Study if !c.ways.is_empty() => Err(InvalidInput::WaysOnStudy),
            _ => Ok(c),
        }
    }

    /// What both accept, or `None` if some dimension has nothing in common.
    pub fn meet(&self, other: &Conditions) -> Option<Conditions> {
        Some(Conditions {
            places: meet(&self.places, &other.places)?,
            ways: meet(&self.ways, &other.ways)?,
            study_types: meet(&self.study_types, &other.study_types)?,
        })
    }

    /// `|SEOCHO|GAEPO|ANY_WAY|ANY_STUDY_TYPE|`: what a list filter matches with LIKE.
    pub fn tags(&self) -> String {
        fn part<T: Serialize>(out: &mut String, v: &[T], any: &str) {
            if v.is_empty() {
                out.push_str(any);
                out.push('|');
            }
            for x in v {
                if let Ok(serde_json::Value::String(s)) = serde_json::to_value(x) {
                    out.push_str(&s);
                    out.push('|');
                }
            }
        }
        let mut out = String::from("|");
        part(&mut out, &self.places, "ANY_PLACE");
        part(&mut out, &self.ways, "ANY_WAY");
        part(&mut out, &self.study_types, "ANY_STUDY_TYPE");
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Stored conditions; a row that does not parse is an error, never "any".
    pub fn from_json(s: &str) -> Result<Conditions, serde_json::Error> {
        serde_json::from_str(s)
    }
}

/// A category with conditions that apply to it (normalized): what a room offers or an
/// applicant accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criteria {
    category: Category,
    conditions: Conditions,
}

impl Criteria {
    pub fn new(category: Category, conditions: Conditions) -> Result<Self, InvalidInput> {
        Ok(Criteria {
            category,
            conditions: conditions.normalized(category)?,
        })
    }
    pub fn category(&self) -> Category {
        self.category
    }
    pub fn conditions(&self) -> &Conditions {
        &self.conditions
    }
}

/// A room's title: trimmed, 1..=100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn new(raw: &str) -> Result<Self, InvalidInput> {
        let t = raw.trim();
        if t.is_empty() || t.chars().count() > 100 {
            return Err(InvalidInput::Title);
        }
        Ok(Title(t.to_owned()))
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A free text (a room's body, a comment): at most 5,000 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(String);

impl Text {
    pub const MAX_CHARS: usize = 5_000;

    /// `field` names the request field in the error.
    pub fn new(raw: &str, field: &'static str) -> Result<Self, InvalidInput> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(InvalidInput::TooLong { field });
        }
        Ok(Text(raw.trim().to_owned()))
    }
    /// A comment's body: like [`Text::new`], and not empty.
    pub fn comment(raw: &str) -> Result<Self, InvalidInput> {
        let t = Self::new(raw, "body")?;
        if t.0.is_empty() {
            return Err(InvalidInput::EmptyComment);
        }
        Ok(t)
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// People a room holds, the author included: 2..=20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity(i32);

impl Capacity {
    pub fn new(n: i32) -> Result<Self, InvalidInput> {
        if !(2..=20).contains(&n) {
            return Err(InvalidInput::Capacity);
        }
        Ok(Capacity(n))
    }
    pub fn get(self) -> i32 {
        self.0
    }
}

/// A review's 1..=5 stars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stars(i32);

impl Stars {
    pub fn new(n: i32) -> Result<Self, InvalidInput> {
        if !(1..=5).contains(&n) {
            return Err(InvalidInput::Stars);
        }
        Ok(Stars(n))
    }
    pub fn get(self) -> i32 {
        self.0
    }
    /// Points the reviewee gets: −10 / 0 / +10 / +20 / +42.
    pub fn points(self) -> i32 {
        match self.0 {
            1 => -10,
            2 => 0,
            3 => 10,
            4 => 20,
            _ => 42,
        }
    }
}

/// When a new room meets: it must be in the future.
pub fn meeting_time(at: Millis, now: Millis) -> Result<Millis, InvalidInput> {
    if at <= now {
        return Err(InvalidInput::MeetsAtPast);
    }
    Ok(at)
}

/// A room to open.
#[derive(Debug, Clone)]
pub struct NewRoom {
    pub criteria: Criteria,
    pub title: Title,
    pub body: Text,
    pub capacity: Capacity,
    /// Checked against the clock by the use case ([`meeting_time`]).
    pub meets_at: Millis,
    pub anonymous: bool,
}

/// Changes to a room; `None` leaves a field as it is. Conditions are checked against
/// the room's category by the use case.
#[derive(Debug, Clone, Default)]
pub struct RoomChanges {
    pub title: Option<Title>,
    pub body: Option<Text>,
    pub capacity: Option<Capacity>,
    pub meets_at: Option<Millis>,
    pub anonymous: Option<bool>,
    pub conditions: Option<Conditions>,
}

/// A review of one match partner.
#[derive(Debug, Clone, Copy)]
pub struct NewReview {
    pub reviewee: uuid::Uuid,
    pub stars: Stars,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn empty_means_any_and_lists_must_overlap() {
        let a = Conditions {
            places: vec![Place::Seocho, Place::Gaepo],
            ways: vec![],
            study_types: vec![],
        };
        let b = Conditions {
            places: vec![Place::Gaepo],
            ways: vec![Way::Delivery],
            study_types: vec![],
        };
        let both = a.meet(&b).unwrap();
        assert_eq!(both.places, vec![Place::Gaepo]);
        assert_eq!(both.ways, vec![Way::Delivery]);
        let c = Conditions {
            places: vec![Place::OutOfCluster],
            ..Conditions::default()
        };
        assert_eq!(a.meet(&c), None);
        assert_eq!(Conditions::default().meet(&c), Some(c.clone()));
    }

    #[test]
    fn conditions_apply_to_their_category_only() {
        let study = Conditions {
            study_types: vec![StudyType::InnerCircle, StudyType::InnerCircle],
            ..Conditions::default()
        };
        assert_eq!(
            Criteria::new(Category::Meal, study.clone()),
            Err(InvalidInput::StudyTypesOnMeal)
        );
        let c = Criteria::new(Category::Study, study).unwrap();
        assert_eq!(c.conditions().study_types, vec![StudyType::InnerCircle]);
        let meal = Conditions {
            ways: vec![Way::Takeout],
            ..Conditions::default()
        };
        let e = Criteria::new(Category::Study, meal).unwrap_err();
        assert_eq!((e, e.field()), (InvalidInput::WaysOnStudy, "ways"));
    }

    #[test]
    fn only_legal_moves() {
        use ApplicationStatus::*;
        assert!(RoomStatus::Open.can_become(RoomStatus::Completed));
        assert!(!RoomStatus::Completed.can_become(RoomStatus::Open));
        for s in RoomStatus::iter() {
            assert!(!s.can_become(s), "{s:?} to itself");
        }
        for end in [Matched, Cancelled, Expired] {
            assert!(Waiting.can_become(end));
            for next in ApplicationStatus::iter() {
                assert!(!end.can_become(next), "{end:?} is final");
            }
        }
        assert_eq!(Waiting.seen_at(100, 100), Expired);
        assert_eq!(Waiting.seen_at(101, 100), Waiting);
        assert_eq!(Matched.seen_at(0, 100), Matched);
    }

    #[test]
    fn states_are_stored_as_the_strings_they_always_were() {
        use sea_orm::ActiveEnum;
        assert_eq!(RoomStatus::Completed.to_value(), "COMPLETED");
        assert_eq!(ApplicationStatus::Cancelled.to_value(), "CANCELLED");
        assert_eq!(MatchKind::Random.to_value(), "RANDOM");
        assert_eq!(Category::Study.to_value(), Category::Study.as_str());
        assert!(RoomStatus::try_from_value(&"CLOSED".to_owned()).is_err());
        assert_eq!(
            serde_json::to_value(ApplicationStatus::Waiting).unwrap(),
            "WAITING"
        );
    }

    #[test]
    fn inputs_are_checked() {
        assert_eq!(Title::new("  점심  ").unwrap().into_inner(), "점심");
        assert_eq!(Title::new("   "), Err(InvalidInput::Title));
        assert_eq!(Title::new(&"가".repeat(101)), Err(InvalidInput::Title));
        assert!(Title::new(&"가".repeat(100)).is_ok());
        assert_eq!(
            Text::new(&"a".repeat(5_001), "body"),
            Err(InvalidInput::TooLong { field: "body" })
        );
        assert_eq!(Text::comment("  "), Err(InvalidInput::EmptyComment));
        assert_eq!(Capacity::new(1), Err(InvalidInput::Capacity));
        assert_eq!(Capacity::new(21), Err(InvalidInput::Capacity));
        assert_eq!(Capacity::new(20).unwrap().get(), 20);
        assert_eq!(Stars::new(0), Err(InvalidInput::Stars));
        assert_eq!(Stars::new(6), Err(InvalidInput::Stars));
        let points: Vec<i32> = (1..=5).map(|n| Stars::new(n).unwrap().points()).collect();
        assert_eq!(points, vec![-10, 0, 10, 20, 42]);
        assert_eq!(meeting_time(10, 10), Err(InvalidInput::MeetsAtPast));
        assert_eq!(meeting_time(11, 10), Ok(11));
    }

    #[test]
    fn stored_conditions_that_do_not_parse_are_an_error() {
        assert!(Conditions::from_json("not json").is_err());
        let c = Conditions {
            places: vec![Place::Gaepo],
            ..Conditions::default()
        };
        assert_eq!(Conditions::from_json(&c.to_json()).unwrap(), c);
    }
}
