//! The states of reservations, seats, flights and sales, with their legal moves. Stored
//! by SeaORM as their names: the same strings as on the wire.

use sea_orm::sea_query::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};

use surge_kernel::Millis;

/// A reservation's life: a hold (HELD) ends EXPIRED, RELEASED or CONFIRMED by payment;
/// cancelling a confirmed one goes CANCELLING (refund on its way) → CANCELLED.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    #[sea_orm(string_value = "HELD")]
    Held,
    #[sea_orm(string_value = "CONFIRMED")]
    Confirmed,
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
    #[sea_orm(string_value = "RELEASED")]
    Released,
    #[sea_orm(string_value = "CANCELLING")]
    Cancelling,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "HELD",
            Self::Confirmed => "CONFIRMED",
            Self::Expired => "EXPIRED",
            Self::Released => "RELEASED",
            Self::Cancelling => "CANCELLING",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// The only moves a reservation can make.
    pub fn can_become(self, next: ReservationStatus) -> bool {
        use ReservationStatus::*;
        matches!(
            (self, next),
            (Held, Confirmed | Expired | Released)
                | (Confirmed, Cancelling)
                | (Cancelling, Cancelled)
        )
    }

    /// What a reader sees: a hold past its expiry is EXPIRED even before the sweeper
    /// writes that down.
    pub fn shown(self, expires_at: Millis, now: Millis) -> Self {
        if self == Self::Held && expires_at <= now {
            Self::Expired
        } else {
            self
        }
    }
}

/// A seat: AVAILABLE → HELD (by one hold) → SOLD, back to AVAILABLE when a hold ends
/// or a ticket is refunded; CLOSED for good when its flight is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(10))")]
pub enum SeatStatus {
    #[sea_orm(string_value = "AVAILABLE")]
    Available,
    #[sea_orm(string_value = "HELD")]
    Held,
    #[sea_orm(string_value = "SOLD")]
    Sold,
    /// The flight was cancelled: nothing more is held or sold.
    #[sea_orm(string_value = "CLOSED")]
    Closed,
}

impl SeatStatus {
    pub fn can_become(self, next: SeatStatus) -> bool {
        use SeatStatus::*;
        matches!(
            (self, next),
            (Available, Held | Closed)
                | (Held, Available | Sold | Closed)
                | (Sold, Available | Closed)
        )
    }

    /// Whether a hold still keeps the seat (`held_until` in the future).
    pub fn is_taken(self, held_until: Option<Millis>, now: Millis) -> bool {
        self == Self::Sold || (self == Self::Held && held_until.is_some_and(|t| t > now))
    }

    /// The seat map's word for it: a hold past its expiry already counts as available.
    pub fn shown(self, held_until: Option<Millis>, now: Millis) -> &'static str {
        match self {
            Self::Sold => "sold",
            Self::Closed => "closed",
            Self::Held if held_until.is_some_and(|t| t > now) => "held",
            _ => "available",
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
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlightStatus {
    #[sea_orm(string_value = "SCHEDULED")]
    Scheduled,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

impl FlightStatus {
    pub fn can_become(self, next: FlightStatus) -> bool {
        matches!((self, next), (Self::Scheduled, Self::Cancelled))
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(10))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SaleStatus {
    #[sea_orm(string_value = "OPEN")]
    Open,
    #[sea_orm(string_value = "CLOSED")]
    Closed,
}

impl SaleStatus {
    pub fn can_become(self, next: SaleStatus) -> bool {
        matches!((self, next), (Self::Open, Self::Closed))
    }
}
