//! Ticketing rules: validated inputs (seat selections, sale rules, airports, flight
//! numbers, cabin layouts); the states of flights, seats, sales and reservations with
//! their legal moves are in `states.rs`. Pure Rust.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use surge_kernel::Millis;

mod states;
pub use states::*;

/// What is wrong with an input; each has a stable `code()`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("hold 1 to {max} seats at a time")]
    SeatCount { max: usize },
    #[error("a seat is listed twice")]
    SeatTwice,
    #[error("{field} must be {min}..={max}")]
    OutOfRange {
        field: &'static str,
        min: u32,
        max: u32,
    },
    #[error("{field} must be a three-letter IATA airport code like GMP")]
    Iata { field: &'static str },
    #[error("flight_number must look like KE1234 or 7C101")]
    FlightNumber,
    #[error("origin and destination must differ")]
    SameAirports,
    #[error("arrives_at must be after departs_at, within 24 hours")]
    Times,
    #[error("{0}")]
    Layout(String),
}

impl InvalidInput {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Iata { .. } => "invalid_iata",
            _ => "validation_failed",
        }
    }

    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::SeatCount { .. } | Self::SeatTwice => "seat_ids",
            Self::OutOfRange { field, .. } | Self::Iata { field } => field,
            Self::FlightNumber => "flight_number",
            Self::SameAirports => "destination",
            Self::Times => "arrives_at",
            Self::Layout(_) => "layout",
        }
    }
}

/// The seats of one hold: 1 to `max` distinct seats, in id order (the order seats are
/// locked in, so concurrent holds never deadlock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatSelection(BTreeSet<Uuid>);

impl SeatSelection {
    pub fn new(ids: &[Uuid], max: usize) -> Result<Self, InvalidInput> {
        let set: BTreeSet<Uuid> = ids.iter().copied().collect();
        if set.is_empty() || ids.len() > max {
            return Err(InvalidInput::SeatCount { max });
        }
        if set.len() != ids.len() {
            return Err(InvalidInput::SeatTwice);
        }
        Ok(SeatSelection(set))
    }

    pub fn ids(&self) -> &BTreeSet<Uuid> {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A hold asked for: which flight, which seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHold {
    pub flight_id: Uuid,
    pub seats: SeatSelection,
}

/// A sale's admission settings, each within its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaleRules {
    pub(crate) flight_id: Uuid,
    /// Travellers admitted per second, 1..=10,000.
    pub(crate) admission_rate: u32,
    /// Most travellers admitted at once, 1..=100,000.
    pub(crate) max_active: u32,
    /// How long a pass lasts, 30..=3,600 s.
    pub(crate) pass_ttl_secs: u32,
}

impl SaleRules {
    pub fn new(
        flight_id: Uuid,
        admission_rate: u32,
        max_active: u32,
        pass_ttl_secs: u32,
    ) -> Result<Self, InvalidInput> {
        let within = |field, v: u32, min, max| {
            if (min..=max).contains(&v) {
                Ok(())
            } else {
                Err(InvalidInput::OutOfRange { field, min, max })
            }
        };
        within("admission_rate", admission_rate, 1, 10_000)?;
        within("max_active", max_active, 1, 100_000)?;
        within("pass_ttl_secs", pass_ttl_secs, 30, 3600)?;
        Ok(SaleRules {
            flight_id,
            admission_rate,
            max_active,
            pass_ttl_secs,
        })
    }
}

/// A three-letter IATA airport code, upper-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Iata(String);

impl Iata {
    /// `field` names the input in the error.
    pub fn new(code: &str, field: &'static str) -> Result<Self, InvalidInput> {
        let c = code.trim().to_ascii_uppercase();
        if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()) {
            Ok(Iata(c))
        } else {
            Err(InvalidInput::Iata { field })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A flight number like KE1234 or 7C101: two letters or digits, then digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlightNumber(String);

impl FlightNumber {
    pub fn new(n: &str) -> Result<Self, InvalidInput> {
        let n = n.trim().to_ascii_uppercase();
        let ok = (3..=8).contains(&n.len())
            && n.chars().take(2).all(|c| c.is_ascii_alphanumeric())
            && n.chars().skip(2).all(|c| c.is_ascii_digit());
        if ok {
            Ok(FlightNumber(n))
        } else {
            Err(InvalidInput::FlightNumber)
        }
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A flight lands after it departs, within 24 hours.
pub fn check_times(departs: Millis, arrives: Millis) -> Result<(), InvalidInput> {
    if arrives <= departs || arrives - departs > 24 * 3600 * 1000 {
        return Err(InvalidInput::Times);
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grade {
    /// e.g. "Business", "Economy".
    pub name: String,
    pub from_row: u32,
    pub to_row: u32,
    /// KRW per seat.
    pub price: i64,
}

/// A cabin: rows of seats, each row in one fare grade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Layout {
    /// Rows are numbered 1..=rows.
    pub rows: u32,
    /// Seat letters across a row, e.g. "ABCDEF".
    pub letters: String,
    /// Every row belongs to exactly one grade.
    pub grades: Vec<Grade>,
}

impl Layout {
    /// The layout if every row has exactly one grade and every grade a name, a price
    /// and rows within the cabin.
    pub fn validated(self) -> Result<Self, InvalidInput> {
        let bad = |m: String| Err(InvalidInput::Layout(m));
        if !(1..=100).contains(&self.rows) {
            return bad("rows must be 1..=100".into());
        }
        let letters: Vec<char> = self.letters.chars().collect();
        if letters.is_empty()
            || letters.len() > 10
            || !letters.iter().all(|c| c.is_ascii_uppercase())
            || (1..letters.len()).any(|i| letters[..i].contains(&letters[i]))
        {
            return bad("letters must be 1..=10 distinct capital letters, e.g. \"ABCDEF\"".into());
        }
        if self.grades.is_empty() {
            return bad("at least one grade is needed".into());
        }
        let mut owner = vec![None::<usize>; self.rows as usize + 1];
        for (i, g) in self.grades.iter().enumerate() {
            if g.name.trim().is_empty() || g.name.chars().count() > 30 {
                return bad("a grade needs a name of 1..=30 characters".into());
            }
            if !(1..=10_000_000).contains(&g.price) {
                return bad(format!(
                    "grade {}: price must be 1..=10,000,000 KRW",
                    g.name
                ));
            }
            if g.from_row < 1 || g.to_row < g.from_row || g.to_row > self.rows {
                return bad(format!(
                    "grade {}: rows must lie within 1..={}",
                    g.name, self.rows
                ));
            }
            for r in g.from_row..=g.to_row {
                if owner[r as usize].replace(i).is_some() {
                    return bad(format!("row {r} belongs to two grades"));
                }
            }
        }
        if let Some(r) = (1..=self.rows).find(|r| owner[*r as usize].is_none()) {
            return bad(format!("row {r} belongs to no grade"));
        }
        Ok(self)
    }

    pub fn grade_of(&self, row: u32) -> Option<&Grade> {
        self.grades
            .iter()
            .find(|g| (g.from_row..=g.to_row).contains(&row))
    }
}

/// A flight to create: a route between two airports, its times and its cabin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFlight {
    pub(crate) number: FlightNumber,
    pub(crate) origin: Iata,
    pub(crate) destination: Iata,
    pub(crate) departs_at: Millis,
    pub(crate) arrives_at: Millis,
    pub(crate) layout: Layout,
}

impl NewFlight {
    pub fn new(
        number: &str,
        origin: Iata,
        destination: Iata,
        departs_at: Millis,
        arrives_at: Millis,
        layout: Layout,
    ) -> Result<Self, InvalidInput> {
        if origin == destination {
            return Err(InvalidInput::SameAirports);
        }
        check_times(departs_at, arrives_at)?;
        let layout = layout.validated()?;
        Ok(NewFlight {
            number: FlightNumber::new(number)?,
            origin,
            destination,
            departs_at,
            arrives_at,
            layout,
        })
    }
}

/// Changes to a flight; the times are checked against the stored ones by the use case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlightChange {
    pub number: Option<FlightNumber>,
    pub departs_at: Option<Millis>,
    pub arrives_at: Option<Millis>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ActiveEnum;
    use sea_orm::Iterable;

    #[test]
    fn reservations_move_only_forward() {
        use ReservationStatus::*;
        assert!(Held.can_become(Confirmed));
        assert!(Held.can_become(Expired));
        assert!(Held.can_become(Released));
        assert!(Confirmed.can_become(Cancelling));
        assert!(Cancelling.can_become(Cancelled));
        assert!(!Confirmed.can_become(Held));
        assert!(!Expired.can_become(Confirmed));
        assert!(!Released.can_become(Held));
        assert!(!Confirmed.can_become(Cancelled), "a refund comes first");
        assert!(!Cancelled.can_become(Cancelling));
        for s in ReservationStatus::iter() {
            assert!(!s.can_become(s), "{s:?} to itself");
            assert_eq!(s.to_value(), s.as_str(), "stored as its name");
            assert_eq!(
                ReservationStatus::try_from_value(&s.as_str().to_owned()),
                Ok(s)
            );
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::Value::from(s.as_str())),
                "the wire name is the stored one"
            );
        }
        assert!(ReservationStatus::try_from_value(&"held".to_owned()).is_err());
    }

    #[test]
    fn expiry_shows_on_read() {
        use ReservationStatus::*;
        assert_eq!(Held.shown(100, 100), Expired);
        assert_eq!(Held.shown(101, 100), Held);
        assert_eq!(Confirmed.shown(0, 100), Confirmed);
    }

    #[test]
    fn seats_close_for_good() {
        use SeatStatus::*;
        assert!(Available.can_become(Held));
        assert!(Held.can_become(Sold));
        assert!(Held.can_become(Available));
        assert!(Sold.can_become(Available));
        assert!(
            !Available.can_become(Sold),
            "a seat is held before it is sold"
        );
        for s in SeatStatus::iter() {
            assert!(!Closed.can_become(s));
        }
        assert!(Held.is_taken(Some(11), 10));
        assert!(!Held.is_taken(Some(10), 10));
        assert!(Sold.is_taken(None, 10));
        assert_eq!(Held.shown(Some(10), 10), "available");
        assert_eq!(Held.shown(Some(11), 10), "held");
        assert_eq!(Closed.shown(None, 10), "closed");
        assert!(FlightStatus::Scheduled.can_become(FlightStatus::Cancelled));
        assert!(!FlightStatus::Cancelled.can_become(FlightStatus::Scheduled));
        assert!(SaleStatus::Open.can_become(SaleStatus::Closed));
        assert!(!SaleStatus::Closed.can_become(SaleStatus::Open));
    }

    #[test]
    fn seat_selections_are_checked() {
        let (a, b) = (surge_kernel::new_id(), surge_kernel::new_id());
        let s = SeatSelection::new(&[b, a], 4).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.ids().iter().copied().collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(s.len(), 2);
        assert_eq!(
            SeatSelection::new(&[], 4),
            Err(InvalidInput::SeatCount { max: 4 })
        );
        let five: Vec<Uuid> = (0..5).map(|_| surge_kernel::new_id()).collect();
        assert_eq!(
            SeatSelection::new(&five, 4),
            Err(InvalidInput::SeatCount { max: 4 })
        );
        assert_eq!(SeatSelection::new(&[a, a], 4), Err(InvalidInput::SeatTwice));
        assert_eq!(InvalidInput::SeatTwice.code(), "validation_failed");
        assert_eq!(InvalidInput::SeatTwice.field(), "seat_ids");
        assert_eq!(
            InvalidInput::SeatCount { max: 4 }.to_string(),
            "hold 1 to 4 seats at a time"
        );
    }

    #[test]
    fn sale_rules_are_bounded() {
        let f = surge_kernel::new_id();
        assert!(SaleRules::new(f, 5, 5, 60).is_ok());
        let e = SaleRules::new(f, 0, 5, 60).err();
        assert_eq!(e.as_ref().map(InvalidInput::field), Some("admission_rate"));
        assert_eq!(
            SaleRules::new(f, 5, 0, 60).err().map(|e| e.field()),
            Some("max_active")
        );
        assert_eq!(
            SaleRules::new(f, 5, 5, 29).err().map(|e| e.field()),
            Some("pass_ttl_secs")
        );
    }

    fn cabin() -> Layout {
        Layout {
            rows: 3,
            letters: "ABC".into(),
            grades: vec![
                Grade {
                    name: "Business".into(),
                    from_row: 1,
                    to_row: 1,
                    price: 250_000,
                },
                Grade {
                    name: "Economy".into(),
                    from_row: 2,
                    to_row: 3,
                    price: 89_000,
                },
            ],
        }
    }

    #[test]
    fn flights_are_checked() {
        let gmp = Iata::new(" gmp ", "origin");
        assert_eq!(gmp.as_ref().map(Iata::as_str), Ok("GMP"));
        let e = Iata::new("GMPX", "destination").err();
        assert_eq!(e.as_ref().map(InvalidInput::code), Some("invalid_iata"));
        assert_eq!(e.as_ref().map(InvalidInput::field), Some("destination"));
        assert!(FlightNumber::new("ke1234").is_ok());
        assert!(FlightNumber::new("7C101").is_ok());
        assert_eq!(FlightNumber::new("KEX12"), Err(InvalidInput::FlightNumber));
        let (g, c) = (Iata::new("GMP", "origin"), Iata::new("CJU", "destination"));
        let (Ok(g), Ok(c)) = (g, c) else {
            panic!("valid codes")
        };
        let hour = 3_600_000;
        assert!(NewFlight::new("KE1201", g.clone(), c.clone(), hour, 2 * hour, cabin()).is_ok());
        assert_eq!(
            NewFlight::new("KE1201", g.clone(), g.clone(), hour, 2 * hour, cabin()),
            Err(InvalidInput::SameAirports)
        );
        assert_eq!(
            NewFlight::new("KE1201", g.clone(), c.clone(), hour, hour, cabin()),
            Err(InvalidInput::Times)
        );
        assert_eq!(check_times(0, 25 * hour), Err(InvalidInput::Times));
        let mut gap = cabin();
        gap.grades[1].from_row = 3;
        assert_eq!(
            gap.validated(),
            Err(InvalidInput::Layout("row 2 belongs to no grade".into()))
        );
        let mut twice = cabin();
        twice.letters = "ABA".into();
        assert_eq!(twice.validated().err().map(|e| e.field()), Some("layout"));
        assert_eq!(
            cabin().grade_of(2).map(|g| g.name.as_str()),
            Some("Economy")
        );
    }
}
