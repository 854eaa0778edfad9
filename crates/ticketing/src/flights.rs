//! Flights and their seat maps. Admins create a flight from a cabin layout (the seats
//! are generated from it), change its times, or cancel it. Searches are cached per
//! instance with single-flight loading (one recomputation per key at a time) under a
//! shared generation number that every flight change bumps, so a change is visible
//! at once on every instance.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use surge_kernel::clock::Clock;
use surge_kernel::page::{invalid_cursor, Page, PageQuery};
use surge_kernel::ports::Cache;
use surge_kernel::{new_id, parse_rfc3339, rfc3339, ApiError, Millis};
use uuid::Uuid;

use crate::entities::{flight, seat};

pub const SCHEDULED: &str = "SCHEDULED";
pub const CANCELLED: &str = "CANCELLED";
pub const SEAT_AVAILABLE: &str = "AVAILABLE";
pub const SEAT_HELD: &str = "HELD";
pub const SEAT_SOLD: &str = "SOLD";
/// The flight was cancelled: nothing more is held or sold.
pub const SEAT_CLOSED: &str = "CLOSED";

const SEARCH_GEN_KEY: &str = "ticketing:search-gen";
/// How long one instance keeps a search result it computed (a flight change ends it
/// sooner, through the generation).
const SEARCH_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grade {
    /// e.g. "Business", "Economy".
    pub name: String,
    pub from_row: u32,
    pub to_row: u32,
    /// KRW per seat.
    pub price: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Layout {
    /// Rows are numbered 1..=rows.
    pub rows: u32,
    /// Seat letters across a row, e.g. "ABCDEF".
    pub letters: String,
    /// Every row belongs to exactly one grade.
    pub grades: Vec<Grade>,
}

impl Layout {
    fn check(&self) -> Result<(), ApiError> {
        let bad = |m: String| Err(ApiError::validation(m).with("field", "layout"));
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
        Ok(())
    }

    fn grade_of(&self, row: u32) -> Option<&Grade> {
        self.grades
            .iter()
            .find(|g| (g.from_row..=g.to_row).contains(&row))
    }
}

/// A three-letter IATA airport code, upper-cased; 422 `invalid_iata` otherwise.
pub fn iata(code: &str, field: &str) -> Result<String, ApiError> {
    let c = code.trim().to_ascii_uppercase();
    if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()) {
        Ok(c)
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_iata",
            format!("{field} must be a three-letter IATA airport code like GMP"),
        )
        .with("field", field))
    }
}

fn flight_number(n: &str) -> Result<String, ApiError> {
    let n = n.trim().to_ascii_uppercase();
    let ok = (3..=8).contains(&n.len())
        && n.chars().take(2).all(|c| c.is_ascii_alphanumeric())
        && n.chars().skip(2).all(|c| c.is_ascii_digit());
    if ok {
        Ok(n)
    } else {
        Err(
            ApiError::validation("flight_number must look like KE1234 or 7C101")
                .with("field", "flight_number"),
        )
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FlightDraft {
    pub flight_number: String,
    pub origin: String,
    pub destination: String,
    /// RFC 3339.
    pub departs_at: String,
    pub arrives_at: String,
    pub layout: Layout,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct FlightPatch {
    pub flight_number: Option<String>,
    pub departs_at: Option<String>,
    pub arrives_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FlightView {
    pub id: Uuid,
    pub flight_number: String,
    pub origin: String,
    pub destination: String,
    pub departs_at: String,
    pub arrives_at: String,
    /// SCHEDULED or CANCELLED.
    pub status: String,
    /// The cheapest fare on board, KRW.
    pub min_price: i64,
    pub seat_count: i32,
    pub layout: Layout,
}

impl From<flight::Model> for FlightView {
    fn from(f: flight::Model) -> Self {
        FlightView {
            id: f.id,
            layout: serde_json::from_str(&f.layout).unwrap_or(Layout {
                rows: 0,
                letters: String::new(),
                grades: vec![],
            }),
            flight_number: f.flight_number,
            origin: f.origin,
            destination: f.destination,
            departs_at: rfc3339(f.departs_at),
            arrives_at: rfc3339(f.arrives_at),
            status: f.status,
            min_price: f.min_price,
            seat_count: f.seat_count,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SeatView {
    pub id: Uuid,
    /// Row and letter, e.g. "12C".
    pub number: String,
    pub grade: String,
    pub price: i64,
    /// `available`, `held`, `sold`, or `closed` (the flight is cancelled).
    pub status: &'static str,
}

/// A seat's live status: a hold past its expiry already counts as available.
pub fn seat_status(s: &seat::Model, now: Millis) -> &'static str {
    match s.status.as_str() {
        SEAT_SOLD => "sold",
        SEAT_CLOSED => "closed",
        SEAT_HELD if s.held_until.is_some_and(|t| t > now) => "held",
        _ => "available",
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlightSort {
    #[default]
    Departure,
    Price,
}

#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
pub struct FlightSearch {
    /// IATA code, e.g. GMP.
    pub origin: Option<String>,
    pub destination: Option<String>,
    /// Departing at or after (RFC 3339 or a date `2026-11-22`); default now.
    pub from: Option<String>,
    /// Departing before (RFC 3339 or a date, which means the end of that day, UTC).
    pub to: Option<String>,
    /// `departure` (default) or `price`.
    pub sort: Option<FlightSort>,
}

fn instant(s: &str, field: &str, end_of_day: bool) -> Result<Millis, ApiError> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        let d = if end_of_day {
            d.succ_opt().unwrap_or(d)
        } else {
            d
        };
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or_default());
    }
    parse_rfc3339(s, field)
}

/// The normalised search: what the cache key and the query are built from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SearchKey {
    origin: Option<String>,
    destination: Option<String>,
    from: Millis,
    to: Option<Millis>,
    sort: FlightSort,
    /// Parsed (sort value, flight id): the key holds values, never the client's text, so
    /// a padded or otherwise re-spelled cursor is the same entry and cannot bloat it.
    cursor: Option<(i64, Uuid)>,
    limit: u64,
}

type Cached = Arc<(Vec<FlightView>, Option<String>)>;

pub struct Flights {
    pub(crate) db: DatabaseConnection,
    read_db: DatabaseConnection,
    pub(crate) clock: Arc<dyn Clock>,
    cache: Arc<dyn Cache>,
    searches: moka::future::Cache<String, Cached>,
    loads: AtomicU64,
}

impl Flights {
    pub fn new(f: &surge_kernel::module::Foundation) -> Self {
        Flights {
            db: f.db.clone(),
            read_db: f.read_db.clone(),
            clock: f.clock.clone(),
            cache: f.cache.clone(),
            searches: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(SEARCH_TTL)
                .build(),
            loads: AtomicU64::new(0),
        }
    }

    /// How many searches this instance computed from the database (the rest were
    /// served from the cache).
    pub fn search_loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// Ends every cached search on every instance.
    pub(crate) async fn searches_changed(&self) {
        if let Err(e) = self
            .cache
            .incr(SEARCH_GEN_KEY, Duration::from_secs(30 * 24 * 3600))
            .await
        {
            tracing::warn!(error = %e, "bumping the flight search generation failed");
            self.searches.invalidate_all();
        }
    }

    pub async fn create(&self, d: FlightDraft) -> Result<FlightView, ApiError> {
        let origin = iata(&d.origin, "origin")?;
        let destination = iata(&d.destination, "destination")?;
        if origin == destination {
            return Err(ApiError::validation("origin and destination must differ")
                .with("field", "destination"));
        }
        let departs = parse_rfc3339(&d.departs_at, "departs_at")?;
        let arrives = parse_rfc3339(&d.arrives_at, "arrives_at")?;
        check_times(departs, arrives)?;
        d.layout.check()?;
        let number = flight_number(&d.flight_number)?;
        let now = self.clock.now_ms();
        let id = new_id();
        let mut seats = Vec::new();
        for row in 1..=d.layout.rows {
            let Some(g) = d.layout.grade_of(row) else {
                continue;
            };
            for letter in d.layout.letters.chars() {
                seats.push(seat::ActiveModel {
                    id: Set(new_id()),
                    flight_id: Set(id),
                    number: Set(format!("{row}{letter}")),
                    row_no: Set(row as i32),
                    letter: Set(letter.to_string()),
                    grade: Set(g.name.trim().to_owned()),
                    price: Set(g.price),
                    status: Set(SEAT_AVAILABLE.into()),
                    hold_id: Set(None),
                    held_until: Set(None),
                    updated_at: Set(now),
                });
            }
        }
        let min_price = d.layout.grades.iter().map(|g| g.price).min().unwrap_or(0);
        let txn = self.db.begin().await?;
        let f = flight::ActiveModel {
            id: Set(id),
            flight_number: Set(number),
            origin: Set(origin),
            destination: Set(destination),
            departs_at: Set(departs),
            arrives_at: Set(arrives),
            status: Set(SCHEDULED.into()),
            layout: Set(serde_json::to_string(&d.layout).map_err(ApiError::internal)?),
            min_price: Set(min_price),
            seat_count: Set(seats.len() as i32),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        // Chunked so no statement exceeds a database's parameter limit.
        for chunk in seats.chunks(500) {
            seat::Entity::insert_many(chunk.to_vec()).exec(&txn).await?;
        }
        txn.commit().await?;
        self.searches_changed().await;
        Ok(f.into())
    }

    pub(crate) async fn load(&self, id: Uuid) -> Result<flight::Model, ApiError> {
        flight::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::not_found("no such flight"))
    }

    /// From the read pool (or replica): for checks that a later write re-checks.
    pub(crate) async fn load_read(&self, id: Uuid) -> Result<flight::Model, ApiError> {
        flight::Entity::find_by_id(id)
            .one(&self.read_db)
            .await?
            .ok_or_else(|| ApiError::not_found("no such flight"))
    }

    pub async fn get(&self, id: Uuid) -> Result<FlightView, ApiError> {
        Ok(self.load_read(id).await?.into())
    }

    pub async fn update(&self, id: Uuid, p: FlightPatch) -> Result<FlightView, ApiError> {
        let f = self.load(id).await?;
        if f.status != SCHEDULED {
            return Err(flight_cancelled());
        }
        let departs = match &p.departs_at {
            Some(t) => parse_rfc3339(t, "departs_at")?,
            None => f.departs_at,
        };
        let arrives = match &p.arrives_at {
            Some(t) => parse_rfc3339(t, "arrives_at")?,
            None => f.arrives_at,
        };
        check_times(departs, arrives)?;
        let mut am: flight::ActiveModel = f.into();
        if let Some(n) = &p.flight_number {
            am.flight_number = Set(flight_number(n)?);
        }
        am.departs_at = Set(departs);
        am.arrives_at = Set(arrives);
        am.updated_at = Set(self.clock.now_ms());
        let saved = am.update(&self.db).await?;
        self.searches_changed().await;
        Ok(saved.into())
    }

    /// The live seat map, in row and letter order.
    pub async fn seats(&self, flight_id: Uuid) -> Result<Vec<SeatView>, ApiError> {
        let now = self.clock.now_ms();
        let rows = seat::Entity::find()
            .filter(seat::Column::FlightId.eq(flight_id))
            .order_by_asc(seat::Column::RowNo)
            .order_by_asc(seat::Column::Letter)
            .all(&self.read_db)
            .await?;
        if rows.is_empty() {
            self.get(flight_id).await?; // 404 for an unknown flight
        }
        Ok(rows
            .iter()
            .map(|s| SeatView {
                id: s.id,
                number: s.number.clone(),
                grade: s.grade.clone(),
                price: s.price,
                status: seat_status(s, now),
            })
            .collect())
    }

    pub async fn search(
        &self,
        q: &FlightSearch,
        page: &PageQuery,
    ) -> Result<Page<FlightView>, ApiError> {
        let now = self.clock.now_ms();
        let key = SearchKey {
            origin: q.origin.as_deref().map(|o| iata(o, "origin")).transpose()?,
            destination: q
                .destination
                .as_deref()
                .map(|d| iata(d, "destination"))
                .transpose()?,
            // Whole minutes, so "from now" searches share a cache entry.
            from: match &q.from {
                Some(f) => instant(f, "from", false)?,
                None => now - now.rem_euclid(60_000),
            },
            to: q
                .to
                .as_deref()
                .map(|t| instant(t, "to", true))
                .transpose()?,
            sort: q.sort.unwrap_or_default(),
            cursor: page
                .cursor()?
                .map(|c| {
                    c.split_once('|')
                        .and_then(|(v, i)| Some((v.parse::<i64>().ok()?, i.parse::<Uuid>().ok()?)))
                        .ok_or_else(invalid_cursor)
                })
                .transpose()?,
            limit: page.limit()?,
        };
        // Without the shared generation (cache down), keep single-flight loading under a
        // local one; `searches_changed` then drops this instance's entries itself.
        let generation = match self.cache.get(SEARCH_GEN_KEY).await {
            Ok(v) => v
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0),
            Err(e) => {
                tracing::warn!(error = %e, "reading the flight search generation failed");
                -1
            }
        };
        let cache_key = format!("{generation}|{key:?}");
        let cached = self
            .searches
            .try_get_with(cache_key, self.load_search(&key))
            .await
            .map_err(|e: Arc<ApiError>| {
                // Every waiter of a failed load gets the same answer.
                let mut copy = ApiError::new(e.status, e.code, e.detail.clone());
                copy.extra = e.extra.clone();
                copy
            })?;
        Ok(to_page(&cached))
    }

    async fn load_search(&self, k: &SearchKey) -> Result<Cached, ApiError> {
        self.loads.fetch_add(1, Ordering::Relaxed);
        let mut q = flight::Entity::find()
            .filter(flight::Column::Status.eq(SCHEDULED))
            .filter(flight::Column::DepartsAt.gte(k.from));
        if let Some(o) = &k.origin {
            q = q.filter(flight::Column::Origin.eq(o.as_str()));
        }
        if let Some(d) = &k.destination {
            q = q.filter(flight::Column::Destination.eq(d.as_str()));
        }
        if let Some(t) = k.to {
            q = q.filter(flight::Column::DepartsAt.lt(t));
        }
        let (col, value_of): (flight::Column, fn(&flight::Model) -> i64) = match k.sort {
            FlightSort::Departure => (flight::Column::DepartsAt, |f| f.departs_at),
            FlightSort::Price => (flight::Column::MinPrice, |f| f.min_price),
        };
        if let Some((v, id)) = k.cursor {
            q = q.filter(
                Condition::any()
                    .add(Expr::col(col).gt(v))
                    .add(Expr::col(col).eq(v).and(flight::Column::Id.gt(id))),
            );
        }
        let rows = q
            .order_by_asc(col)
            .order_by_asc(flight::Column::Id)
            .limit(k.limit + 1)
            .all(&self.read_db)
            .await?;
        let rows: Vec<(i64, FlightView)> =
            rows.into_iter().map(|f| (value_of(&f), f.into())).collect();
        let page = Page::from_rows(rows, k.limit, |(v, f)| format!("{v}|{}", f.id));
        let items = page.items.into_iter().map(|(_, f)| f).collect();
        Ok(Arc::new((items, page.next_cursor)))
    }
}

fn to_page(c: &Cached) -> Page<FlightView> {
    Page {
        items: c.0.clone(),
        next_cursor: c.1.clone(),
    }
}

fn check_times(departs: Millis, arrives: Millis) -> Result<(), ApiError> {
    if arrives <= departs || arrives - departs > 24 * 3600 * 1000 {
        return Err(
            ApiError::validation("arrives_at must be after departs_at, within 24 hours")
                .with("field", "arrives_at"),
        );
    }
    Ok(())
}

pub(crate) fn flight_cancelled() -> ApiError {
    ApiError::conflict("flight_cancelled", "this flight is cancelled")
}
