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
use surge_kernel::page::Page;
use surge_kernel::ports::Cache;
use surge_kernel::{new_id, rfc3339, ApiError, Millis};
use uuid::Uuid;

use crate::domain::{FlightChange, FlightStatus, Iata, Layout, NewFlight, SeatStatus};
use crate::entities::{flight, seat};

const SEARCH_GEN_KEY: &str = "ticketing:search-gen";
/// How long one instance keeps a search result it computed (a flight change ends it
/// sooner, through the generation).
const SEARCH_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FlightView {
    pub id: Uuid,
    pub flight_number: String,
    pub origin: String,
    pub destination: String,
    pub departs_at: String,
    pub arrives_at: String,
    /// SCHEDULED or CANCELLED.
    pub status: FlightStatus,
    /// The cheapest fare on board, KRW.
    pub min_price: i64,
    pub seat_count: i32,
    pub layout: Layout,
}

impl TryFrom<flight::Model> for FlightView {
    type Error = ApiError;

    /// A stored layout that does not parse is a 500, never an empty seat map.
    fn try_from(f: flight::Model) -> Result<Self, ApiError> {
        let layout = serde_json::from_str(&f.layout).map_err(|e| {
            ApiError::internal(anyhow::anyhow!(
                "flight {} has an unreadable layout: {e}",
                f.id
            ))
        })?;
        Ok(FlightView {
            id: f.id,
            layout,
            flight_number: f.flight_number,
            origin: f.origin,
            destination: f.destination,
            departs_at: rfc3339(f.departs_at),
            arrives_at: rfc3339(f.arrives_at),
            status: f.status,
            min_price: f.min_price,
            seat_count: f.seat_count,
        })
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

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlightSort {
    #[default]
    Departure,
    Price,
}

/// A flight search, parsed (`http.rs` builds it from the query string): with `from`
/// filled in, it is also the cache key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FlightQuery {
    pub origin: Option<Iata>,
    pub destination: Option<Iata>,
    /// Departing at or after; `None`: now (rounded down to the minute, so "from now"
    /// searches share a cache entry).
    pub from: Option<Millis>,
    /// Departing before.
    pub to: Option<Millis>,
    pub sort: FlightSort,
    /// Parsed (sort value, flight id): the key holds values, never the client's text, so
    /// a padded or otherwise re-spelled cursor is the same entry and cannot bloat it.
    pub cursor: Option<(i64, Uuid)>,
    pub limit: u64,
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

    #[tracing::instrument(skip_all, fields(number = ?d.number))]
    pub async fn create(&self, d: NewFlight) -> Result<FlightView, ApiError> {
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
                    status: Set(SeatStatus::Available),
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
            flight_number: Set(d.number.into_string()),
            origin: Set(d.origin.into_string()),
            destination: Set(d.destination.into_string()),
            departs_at: Set(d.departs_at),
            arrives_at: Set(d.arrives_at),
            status: Set(FlightStatus::Scheduled),
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
        f.try_into()
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

    #[tracing::instrument(skip(self))]
    pub async fn get(&self, id: Uuid) -> Result<FlightView, ApiError> {
        self.load_read(id).await?.try_into()
    }

    #[tracing::instrument(skip(self, c))]
    pub async fn update(&self, id: Uuid, c: FlightChange) -> Result<FlightView, ApiError> {
        let f = self.load(id).await?;
        if f.status != FlightStatus::Scheduled {
            return Err(flight_cancelled());
        }
        let departs = c.departs_at.unwrap_or(f.departs_at);
        let arrives = c.arrives_at.unwrap_or(f.arrives_at);
        crate::domain::check_times(departs, arrives)?;
        let mut am: flight::ActiveModel = f.into();
        if let Some(n) = c.number {
            am.flight_number = Set(n.into_string());
        }
        am.departs_at = Set(departs);
        am.arrives_at = Set(arrives);
        am.updated_at = Set(self.clock.now_ms());
        let saved = am.update(&self.db).await?;
        self.searches_changed().await;
        saved.try_into()
    }

    /// The live seat map, in row and letter order.
    #[tracing::instrument(skip(self))]
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
                status: s.status.shown(s.held_until, now),
            })
            .collect())
    }

    #[tracing::instrument(skip_all)]
    pub async fn search(&self, mut key: FlightQuery) -> Result<Page<FlightView>, ApiError> {
        if key.from.is_none() {
            let now = self.clock.now_ms();
            key.from = Some(now - now.rem_euclid(60_000));
        }
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

    async fn load_search(&self, k: &FlightQuery) -> Result<Cached, ApiError> {
        self.loads.fetch_add(1, Ordering::Relaxed);
        let mut q = flight::Entity::find()
            .filter(flight::Column::Status.eq(FlightStatus::Scheduled))
            .filter(flight::Column::DepartsAt.gte(k.from.unwrap_or_default()));
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
        let rows = rows
            .into_iter()
            .map(|f| Ok((value_of(&f), FlightView::try_from(f)?)))
            .collect::<Result<Vec<(i64, FlightView)>, ApiError>>()?;
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

pub(crate) fn flight_cancelled() -> ApiError {
    ApiError::conflict("flight_cancelled", "this flight is cancelled")
}
