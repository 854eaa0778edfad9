//! Careers rules: the states of postings, programs and applications with their legal
//! moves, validated inputs, and when a deadline reminder is due (the day before, in
//! Korean time). Pure Rust: the only SeaORM here is `DeriveActiveEnum`.

use sea_orm::sea_query::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};
use surge_kernel::clock::kst;
use surge_kernel::Millis;

/// What is wrong with an input. `http.rs` answers it as 422 `validation_failed` naming
/// the [`field`](InvalidInput::field); `code()` is stable for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("{field} must be 1..={max} characters")]
    Length { field: &'static str, max: usize },
    #[error("{field} is at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("skills: at most 20, each 1..=40 characters")]
    Skills,
    #[error("experience: 0 <= experience_min <= experience_max <= 50")]
    Experience,
    #[error("url must be an http(s) URL of at most 500 characters")]
    Url,
    #[error("capacity must be 1..=100")]
    Capacity,
    #[error("{field} must be 0..=1,000,000")]
    Points { field: &'static str },
    #[error("ends_at must be after starts_at")]
    Period,
    #[error("reason must be 1..=100 characters")]
    Reason,
}

impl InvalidInput {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Length { .. } => "invalid_length",
            Self::TooLong { .. } => "too_long",
            Self::Skills => "invalid_skills",
            Self::Experience => "invalid_experience",
            Self::Url => "invalid_url",
            Self::Capacity => "invalid_capacity",
            Self::Points { .. } => "invalid_points",
            Self::Period => "invalid_period",
            Self::Reason => "invalid_reason",
        }
    }

    /// The request field it is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Length { field, .. } | Self::TooLong { field, .. } | Self::Points { field } => {
                field
            }
            Self::Skills => "skills",
            Self::Experience => "experience_min",
            Self::Url => "url",
            Self::Capacity => "capacity",
            Self::Period => "ends_at",
            Self::Reason => "reason",
        }
    }
}

macro_rules! state_enum {
    ($(#[$doc:meta])* $name:ident, { $($variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize,
            utoipa::ToSchema, EnumIter, DeriveActiveEnum,
        )]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $( #[sea_orm(string_value = $value)] $variant, )+
        }
    };
}

state_enum!(
    /// A posting takes applications until it closes (by an admin, later by its source).
    PostingStatus, { Open = "OPEN", Closed = "CLOSED" }
);

impl PostingStatus {
    /// An admin may close a posting and open it again.
    pub fn can_become(self, next: PostingStatus) -> bool {
        self != next
    }
}

state_enum!(
    /// How the job is offered.
    EmploymentType, {
        FullTime = "FULL_TIME", Contract = "CONTRACT", Intern = "INTERN",
        PartTime = "PART_TIME", Other = "OTHER",
    }
);

state_enum!(
    /// A mentoring program takes applications while open. Closing is only possible while
    /// nobody is accepted; cancelling refunds whoever was.
    ProgramStatus, { Open = "OPEN", Closed = "CLOSED", Cancelled = "CANCELLED" }
);

impl ProgramStatus {
    pub fn can_become(self, next: ProgramStatus) -> bool {
        matches!(
            (self, next),
            (Self::Open, Self::Closed | Self::Cancelled) | (Self::Closed, Self::Cancelled)
        )
    }
}

state_enum!(
    /// A mentee's application: the mentor accepts (the points are paid) or rejects it,
    /// the mentee may cancel it while pending; a cancelled program refunds the accepted.
    ApplicationStatus, {
        Pending = "PENDING", Accepted = "ACCEPTED", Rejected = "REJECTED",
        Cancelled = "CANCELLED", Refunded = "REFUNDED",
    }
);

impl ApplicationStatus {
    pub fn can_become(self, next: ApplicationStatus) -> bool {
        matches!(
            (self, next),
            (
                Self::Pending,
                Self::Accepted | Self::Rejected | Self::Cancelled
            ) | (Self::Accepted, Self::Refunded)
        )
    }

    /// Pending and accepted applications hold the one place per program and mentee.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Pending | Self::Accepted)
    }
}

state_enum!(
    /// A sync run of a job source: running until it ends, succeeded (every page read;
    /// items that could not be read are counted as failed) or failed (a page could not
    /// be read, or the instance stopped: nothing was closed).
    SyncStatus, { Running = "RUNNING", Succeeded = "SUCCEEDED", Failed = "FAILED" }
);

impl SyncStatus {
    pub fn can_become(self, next: SyncStatus) -> bool {
        self == Self::Running && next != Self::Running
    }
}

state_enum!(
    /// Who started a sync run: the schedule, an admin (HTTP) or `surge careers sync`.
    SyncTrigger, { Schedule = "SCHEDULE", Admin = "ADMIN", Cli = "CLI" }
);

/// A configured source's name: 1..=20 of `a-z`, `0-9`, `-`, `_` (it is stored as each
/// posting's `source`), and not `manual` (postings made by hand).
pub fn source_name(s: &str) -> Option<&str> {
    let ok = (1..=20).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && s != "manual";
    ok.then_some(s)
}

/// The order of a posting list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PostingSort {
    /// Newest `posted_at` first.
    #[default]
    Recent,
    /// Soonest deadline first; postings without a deadline last.
    Deadline,
    /// Best match of `q` first (the default with `q`; without `q` it is `recent`).
    Relevance,
}

/// Trimmed text of 1..=`max` characters.
pub fn required(s: &str, field: &'static str, max: usize) -> Result<String, InvalidInput> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(InvalidInput::Length { field, max });
    }
    Ok(t.to_owned())
}

/// Trimmed text of at most `max` characters (may be empty).
pub fn optional(s: &str, field: &'static str, max: usize) -> Result<String, InvalidInput> {
    let t = s.trim();
    if t.chars().count() > max {
        return Err(InvalidInput::TooLong { field, max });
    }
    Ok(t.to_owned())
}

/// Up to 20 skills, trimmed, without duplicates (case-insensitive), in the given order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skills(Vec<String>);

impl Skills {
    pub fn new(raw: &[String]) -> Result<Self, InvalidInput> {
        if raw.len() > 20 {
            return Err(InvalidInput::Skills);
        }
        let mut out: Vec<String> = Vec::new();
        for s in raw {
            let t = s.trim();
            if t.is_empty() || t.chars().count() > 40 {
                return Err(InvalidInput::Skills);
            }
            if !out.iter().any(|o| o.to_lowercase() == t.to_lowercase()) {
                out.push(t.to_owned());
            }
        }
        Ok(Skills(out))
    }
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
    /// The lowercase keys a filter matches on.
    pub fn keys(&self) -> Vec<String> {
        self.0.iter().map(|s| skill_key(s)).collect()
    }
    /// `|rust|axum|`: what a `LIKE '%|rust|%'` filter matches.
    pub fn tags(&self) -> String {
        format!("|{}|", self.keys().join("|"))
    }
}

/// How a skill is matched: trimmed and lowercase.
pub fn skill_key(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Years of experience a posting asks for: `min..=max` (no upper bound without `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Experience {
    pub min: i32,
    pub max: Option<i32>,
}

impl Experience {
    pub fn new(min: i32, max: Option<i32>) -> Result<Self, InvalidInput> {
        if !(0..=50).contains(&min) || max.is_some_and(|m| m < min || m > 50) {
            return Err(InvalidInput::Experience);
        }
        Ok(Experience { min, max })
    }
}

/// An http(s) URL of at most 500 characters.
pub fn web_url(s: &str) -> Result<String, InvalidInput> {
    let t = s.trim();
    let ok = (t.starts_with("https://") || t.starts_with("http://"))
        && t.len() > "https://".len()
        && t.len() <= 500
        && !t.chars().any(char::is_whitespace);
    if ok {
        Ok(t.to_owned())
    } else {
        Err(InvalidInput::Url)
    }
}

/// Places in a mentoring program: 1..=100.
pub fn capacity(n: i32) -> Result<i32, InvalidInput> {
    if (1..=100).contains(&n) {
        Ok(n)
    } else {
        Err(InvalidInput::Capacity)
    }
}

/// A number of points: 0..=1,000,000.
pub fn points(n: i64, field: &'static str) -> Result<i64, InvalidInput> {
    if (0..=1_000_000).contains(&n) {
        Ok(n)
    } else {
        Err(InvalidInput::Points { field })
    }
}

/// Points granted for the first-ever scrap of a posting.
pub const SCRAP_REWARD: i64 = 50;

/// When the reminder of a deadline is due: the start (00:00 KST) of the Korean
/// calendar day before the deadline's day. It stays due until the deadline passes.
pub fn reminder_due_at(deadline: Millis) -> Millis {
    kst::day_start(deadline) - kst::DAY_MS
}

/// The sort key of a deadline: postings without one sort after every date.
pub fn deadline_key(deadline: Option<Millis>) -> Millis {
    deadline.unwrap_or(NO_DEADLINE)
}

/// `deadline_key` of a posting without a deadline (year 9999, portable as a BIGINT).
pub const NO_DEADLINE: Millis = 253_402_300_799_000;

/// The ledger key that makes a change happen once.
pub fn scrap_reward_key(user: uuid::Uuid, posting: uuid::Uuid) -> String {
    format!("scrap:{posting}:{user}")
}
pub fn fee_key(application: uuid::Uuid) -> String {
    format!("mentoring:{application}")
}
pub fn refund_key(application: uuid::Uuid) -> String {
    format!("refund:{application}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn states_move_only_forward() {
        use ApplicationStatus::*;
        for from in ApplicationStatus::iter() {
            for to in ApplicationStatus::iter() {
                let legal = matches!(
                    (from, to),
                    (Pending, Accepted | Rejected | Cancelled) | (Accepted, Refunded)
                );
                assert_eq!(from.can_become(to), legal, "{from:?} -> {to:?}");
            }
        }
        assert!(Pending.is_live() && Accepted.is_live() && !Rejected.is_live());
        assert!(ProgramStatus::Open.can_become(ProgramStatus::Closed));
        assert!(ProgramStatus::Closed.can_become(ProgramStatus::Cancelled));
        assert!(!ProgramStatus::Cancelled.can_become(ProgramStatus::Open));
        assert!(!ProgramStatus::Closed.can_become(ProgramStatus::Open));
        assert!(PostingStatus::Open.can_become(PostingStatus::Closed));
        assert!(!PostingStatus::Open.can_become(PostingStatus::Open));
        assert!(SyncStatus::Running.can_become(SyncStatus::Failed));
        assert!(!SyncStatus::Succeeded.can_become(SyncStatus::Running));
        assert!(!SyncStatus::Running.can_become(SyncStatus::Running));
        assert_eq!(source_name("saramin-it"), Some("saramin-it"));
        assert!(source_name("manual").is_none() && source_name("Bad Name").is_none());
        assert!(source_name(&"x".repeat(21)).is_none());
    }

    #[test]
    fn reminders_are_due_from_midnight_kst_the_day_before() {
        // Deadline 2026-12-10 18:00 KST = 09:00 UTC.
        let deadline = chrono::DateTime::parse_from_rfc3339("2026-12-10T18:00:00+09:00")
            .unwrap()
            .timestamp_millis();
        let due = chrono::DateTime::parse_from_rfc3339("2026-12-09T00:00:00+09:00")
            .unwrap()
            .timestamp_millis();
        assert_eq!(reminder_due_at(deadline), due);
        // 00:30 KST on the 10th is still the 10th in Korea (15:30 UTC on the 9th).
        let early = chrono::DateTime::parse_from_rfc3339("2026-12-10T00:30:00+09:00")
            .unwrap()
            .timestamp_millis();
        assert_eq!(reminder_due_at(early), due);
    }

    #[test]
    fn inputs_are_validated() {
        assert_eq!(
            required("  ", "title", 10),
            Err(InvalidInput::Length {
                field: "title",
                max: 10
            })
        );
        assert_eq!(required(" 백엔드 ", "title", 10).unwrap(), "백엔드");
        let s = Skills::new(&["Rust".into(), "rust ".into(), "Axum".into()]).unwrap();
        assert_eq!(s.as_slice(), ["Rust", "Axum"]);
        assert_eq!(s.tags(), "|rust|axum|");
        assert!(Skills::new(&[String::new()]).is_err());
        assert!(Skills::new(&vec!["a".to_owned(); 21]).is_err());
        assert!(Experience::new(3, Some(1)).is_err());
        assert!(Experience::new(0, None).is_ok());
        assert_eq!(web_url("ftp://x").unwrap_err().code(), "invalid_url");
        assert!(web_url("https://example.com/jobs/1").is_ok());
        assert!(capacity(0).is_err() && capacity(5).is_ok());
        assert!(points(-1, "amount").is_err());
        assert_eq!(InvalidInput::Period.field(), "ends_at");
    }
}
