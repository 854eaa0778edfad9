//! Categories and the states of rooms, applications and matches, with their legal moves.
//! Stored by SeaORM as their names, the same strings they always were.

use sea_orm::sea_query::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};
use surge_kernel::Millis;

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
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    #[sea_orm(string_value = "MEAL")]
    Meal,
    #[sea_orm(string_value = "STUDY")]
    Study,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Meal => "MEAL",
            Category::Study => "STUDY",
        }
    }
    /// A category named in a path, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "MEAL" => Some(Category::Meal),
            "STUDY" => Some(Category::Study),
            _ => None,
        }
    }
}

/// A room is open for members until its author completes it into a match.
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
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoomStatus {
    #[sea_orm(string_value = "OPEN")]
    Open,
    #[sea_orm(string_value = "COMPLETED")]
    Completed,
}

impl RoomStatus {
    /// The only move a room makes.
    pub fn can_become(self, next: RoomStatus) -> bool {
        matches!((self, next), (Self::Open, Self::Completed))
    }
}

/// A random-match application waits until it is matched, cancelled or expired.
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
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplicationStatus {
    #[sea_orm(string_value = "WAITING")]
    Waiting,
    #[sea_orm(string_value = "MATCHED")]
    Matched,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
}

impl ApplicationStatus {
    /// Only a waiting application moves, and each end is final.
    pub fn can_become(self, next: ApplicationStatus) -> bool {
        matches!(
            (self, next),
            (
                Self::Waiting,
                Self::Matched | Self::Cancelled | Self::Expired
            )
        )
    }

    /// What the user sees at `now`: a waiting application past its time has expired,
    /// even before the matcher has written so.
    pub fn seen_at(self, expires_at: Millis, now: Millis) -> Self {
        if self == Self::Waiting && expires_at <= now {
            Self::Expired
        } else {
            self
        }
    }
}

/// Where a match came from.
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
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MatchKind {
    #[sea_orm(string_value = "ROOM")]
    Room,
    #[sea_orm(string_value = "RANDOM")]
    Random,
}
