//! Seat holds, reservations, payment and refunds.
//!
//! A hold takes each seat with a conditional write (`AVAILABLE → HELD`, in seat-id
//! order, all in one transaction), and records a `live_seat` row that a unique
//! constraint allows once per seat. A hold is a reservation in state HELD; paying turns
//! it CONFIRMED with one ticket per seat. Holds end by expiry (a sweeper, and any hold
//! attempt that finds an expired hold on its seats), by release, or by a declined
//! payment. Cancelling a confirmed reservation goes CANCELLING → (refund through the
//! gateway, from the outbox) → CANCELLED with the seats back on sale. Tickets are
//! e-mailed from the outbox too, once.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use surge_kernel::auth::AuthUser;
use surge_kernel::clock::Clock;
use surge_kernel::events::{enqueue, is_handled, mark_handled, EventEnvelope, OutboxSignal};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::payment::{PaymentError, PaymentGateway, PaymentRequest, PaymentStatus};
use surge_kernel::ports::{
    Cache, EventHandler, Mail, Mailer, NewNotification, Notifier, UserDirectory,
};
use surge_kernel::{new_id, rfc3339, ApiError, Millis};
use uuid::Uuid;

use crate::entities::{flight, reservation, reservation_seat, seat};
use crate::flights::{Flights, SCHEDULED, SEAT_AVAILABLE, SEAT_CLOSED, SEAT_HELD, SEAT_SOLD};
use crate::sales::Sales;

pub const HELD: &str = "HELD";
pub const CONFIRMED: &str = "CONFIRMED";
pub const EXPIRED: &str = "EXPIRED";
pub const RELEASED: &str = "RELEASED";
pub const CANCELLING: &str = "CANCELLING";
pub const CANCELLED: &str = "CANCELLED";

pub const TOPIC_CONFIRMED: &str = "ticketing.reservation_confirmed";
pub const TOPIC_REFUND_REQUESTED: &str = "ticketing.refund_requested";
pub const TOPIC_CANCELLED: &str = "ticketing.reservation_cancelled";
pub const REFUND_CONSUMER: &str = "ticketing.refunds";
pub const MAIL_CONSUMER: &str = "ticketing.ticket_mail";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct HoldRequest {
    pub flight_id: Uuid,
    pub seat_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReservedSeat {
    pub seat_id: Uuid,
    pub number: String,
    pub grade: String,
    pub price: i64,
    /// Set once the reservation is paid.
    pub ticket_code: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReservationView {
    pub id: Uuid,
    pub flight_id: Uuid,
    pub flight_number: String,
    pub origin: String,
    pub destination: String,
    pub departs_at: String,
    /// HELD, CONFIRMED, EXPIRED, RELEASED, CANCELLING or CANCELLED.
    pub status: String,
    pub seats: Vec<ReservedSeat>,
    /// KRW.
    pub total: i64,
    /// Until when the seats are held for payment (HELD only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_redirect_url: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentStarted {
    pub reservation_id: Uuid,
    pub tid: String,
    /// Send the traveller here to approve; the provider calls back with `pg_token`.
    pub redirect_url: String,
    pub amount: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct RefundRequested {
    reservation_id: Uuid,
    tid: String,
    amount: i64,
    /// The reservation ends CANCELLED (a confirmed one), or stays as it is (money
    /// taken for a hold that had already expired).
    cancel_reservation: bool,
}

pub struct Reservations {
    pub(crate) db: DatabaseConnection,
    read_db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    outbox: OutboxSignal,
    cache: Arc<dyn Cache>,
    flights: Arc<Flights>,
    sales: Arc<Sales>,
    gateway: Arc<dyn PaymentGateway>,
    notifier: Arc<dyn Notifier>,
    mailer: Arc<dyn Mailer>,
    users: Arc<dyn UserDirectory>,
    hold_ttl: Duration,
    max_seats: usize,
    /// Most unpaid seats one traveller keeps on one flight.
    max_held: usize,
    public_url: String,
}

pub struct Deps {
    pub flights: Arc<Flights>,
    pub sales: Arc<Sales>,
    pub gateway: Arc<dyn PaymentGateway>,
    pub notifier: Arc<dyn Notifier>,
    pub mailer: Arc<dyn Mailer>,
    pub users: Arc<dyn UserDirectory>,
}

fn seat_unavailable(s: &seat::Model) -> ApiError {
    ApiError::conflict(
        "seat_unavailable",
        format!("seat {} is already taken", s.number),
    )
    .with("seat", s.number.clone())
    .with("seat_id", s.id.to_string())
}

fn hold_expired() -> ApiError {
    ApiError::conflict(
        "hold_expired",
        "the seats were held for a limited time and have been released; hold them again",
    )
}

fn invalid_state(status: &str, action: &str) -> ApiError {
    ApiError::conflict(
        "invalid_transition",
        format!("a reservation in {status} cannot be {action}"),
    )
    .with("reservation_status", status.to_owned())
}

/// Deadlocks and lock timeouts between concurrent holds are retried, not reported.
fn retryable(e: &DbErr) -> bool {
    let m = e.to_string().to_ascii_lowercase();
    m.contains("deadlock") || m.contains("lock wait timeout") || m.contains("database is locked")
}

/// Runs a transaction again (up to 5 times, with jittered back-off) when the database
/// reports a deadlock or lock timeout between concurrent writers.
async fn with_retries<T, F, Fut>(mut attempt_once: F) -> Result<T, DbErr>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DbErr>>,
{
    let mut attempt = 0;
    loop {
        match attempt_once().await {
            Err(e) if retryable(&e) && attempt < 5 => {
                attempt += 1;
                let jitter = rand::thread_rng().gen_range(5..30) * attempt;
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
            other => return other,
        }
    }
}

/// Creates (once) and locks the (flight, traveller) row that serialises one
/// traveller's holds during a sale.
async fn lock_shopper(
    txn: &DatabaseTransaction,
    flight: Uuid,
    user: Uuid,
    now: Millis,
) -> Result<(), DbErr> {
    let t = sea_orm::sea_query::Alias::new("ticketing_shoppers");
    let insert = sea_orm::sea_query::Query::insert()
        .into_table(t.clone())
        .columns([
            sea_orm::sea_query::Alias::new("flight_id"),
            sea_orm::sea_query::Alias::new("user_id"),
            sea_orm::sea_query::Alias::new("created_at"),
        ])
        .values([flight.into(), user.into(), now.into()])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    surge_kernel::sql::insert_if_absent(txn, insert, &["flight_id", "user_id"]).await?;
    let mut select = sea_orm::sea_query::Query::select()
        .expr(Expr::val(1))
        .from(t)
        .and_where(Expr::col(sea_orm::sea_query::Alias::new("flight_id")).eq(flight))
        .and_where(Expr::col(sea_orm::sea_query::Alias::new("user_id")).eq(user))
        .to_owned();
    select.lock(sea_orm::sea_query::LockType::Update);
    txn.query_one(txn.get_database_backend().build(&select))
        .await?;
    Ok(())
}

/// The seats of a reservation, by primary key (updating through the `hold_id` index
/// would take gap locks on MariaDB that concurrent holds then deadlock on).
async fn seat_ids_of(conn: &impl ConnectionTrait, id: Uuid) -> Result<Vec<Uuid>, DbErr> {
    reservation_seat::Entity::find()
        .select_only()
        .column(reservation_seat::Column::SeatId)
        .filter(reservation_seat::Column::ReservationId.eq(id))
        .order_by_asc(reservation_seat::Column::SeatId)
        .into_tuple()
        .all(conn)
        .await
}

/// A ticket code: 10 characters without look-alikes (no 0/O, 1/I/L).
fn ticket_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..10)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The answer to a new hold, from what the hold transaction already has in hand.
fn hold_view(r: reservation::Model, seats: &[seat::Model], f: &flight::Model) -> ReservationView {
    let mut seats: Vec<ReservedSeat> = seats
        .iter()
        .map(|s| ReservedSeat {
            seat_id: s.id,
            number: s.number.clone(),
            grade: s.grade.clone(),
            price: s.price,
            ticket_code: None,
        })
        .collect();
    seats.sort_by(|a, b| a.number.cmp(&b.number));
    ReservationView {
        id: r.id,
        flight_id: f.id,
        flight_number: f.flight_number.clone(),
        origin: f.origin.clone(),
        destination: f.destination.clone(),
        departs_at: rfc3339(f.departs_at),
        status: r.status,
        seats,
        total: r.total,
        expires_at: Some(rfc3339(r.expires_at)),
        payment_redirect_url: None,
        created_at: rfc3339(r.created_at),
    }
}

/// Moves a reservation from `from` to `to` if it is still there.
async fn transition(
    conn: &impl ConnectionTrait,
    id: Uuid,
    from: &str,
    to: &str,
    now: Millis,
) -> Result<bool, DbErr> {
    let res = reservation::Entity::update_many()
        .col_expr(reservation::Column::Status, Expr::value(to))
        .col_expr(reservation::Column::UpdatedAt, Expr::value(now))
        .filter(reservation::Column::Id.eq(id))
        .filter(reservation::Column::Status.eq(from))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Puts a reservation's seats back on sale (those still in `seat_status` under it).
/// Seats are always locked before their reservation (holds, payments, flight
/// cancellations and refunds all take them in that order), so these never deadlock.
async fn free_seats(
    conn: &impl ConnectionTrait,
    id: Uuid,
    seat_status: &str,
    now: Millis,
) -> Result<(), DbErr> {
    let seats = seat_ids_of(conn, id).await?;
    seat::Entity::update_many()
        .col_expr(seat::Column::Status, Expr::value(SEAT_AVAILABLE))
        .col_expr(seat::Column::HoldId, Expr::value(Option::<Uuid>::None))
        .col_expr(seat::Column::HeldUntil, Expr::value(Option::<i64>::None))
        .col_expr(seat::Column::UpdatedAt, Expr::value(now))
        .filter(seat::Column::Id.is_in(seats))
        .filter(seat::Column::HoldId.eq(id))
        .filter(seat::Column::Status.eq(seat_status))
        .exec(conn)
        .await?;
    Ok(())
}

/// The reservation no longer holds its seats: their `live_seat` rows end.
async fn end_live_seats(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    reservation_seat::Entity::update_many()
        .col_expr(
            reservation_seat::Column::LiveSeat,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(reservation_seat::Column::ReservationId.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Ends a hold (HELD → `to`) and frees its seats; `false` if it was no longer held.
async fn end_hold(
    conn: &impl ConnectionTrait,
    id: Uuid,
    to: &str,
    now: Millis,
) -> Result<bool, DbErr> {
    // Seats first (see `free_seats`): only seats still HELD under this hold move, so
    // if the reservation turns out to be no longer HELD, nothing was freed.
    free_seats(conn, id, SEAT_HELD, now).await?;
    if !transition(conn, id, HELD, to, now).await? {
        return Ok(false);
    }
    end_live_seats(conn, id).await?;
    Ok(true)
}

enum HoldOutcome {
    Held(reservation::Model, Vec<seat::Model>),
    Refused(ApiError),
}

impl Reservations {
    pub fn new(
        f: &surge_kernel::module::Foundation,
        deps: Deps,
        hold_ttl: Duration,
        max_seats: usize,
        max_held: usize,
        public_url: String,
    ) -> Self {
        Reservations {
            db: f.db.clone(),
            read_db: f.read_db.clone(),
            clock: f.clock.clone(),
            outbox: f.outbox.clone(),
            cache: f.cache.clone(),
            flights: deps.flights,
            sales: deps.sales,
            gateway: deps.gateway,
            notifier: deps.notifier,
            mailer: deps.mailer,
            users: deps.users,
            hold_ttl,
            max_seats,
            max_held,
            public_url,
        }
    }

    /// Holds every requested seat, or none (409 `seat_unavailable` naming the seat).
    /// The Idempotency-Key is stored on the reservation: a retry answers the first hold.
    pub async fn hold(
        &self,
        who: &AuthUser,
        sale: Option<Uuid>,
        req: HoldRequest,
        key: &str,
        request_hash: &str,
    ) -> Result<ReservationView, ApiError> {
        if let Some(r) = self.by_key(who.id, key).await? {
            return self.replay(r, request_hash).await;
        }
        let ids: BTreeSet<Uuid> = req.seat_ids.iter().copied().collect();
        if ids.is_empty() || req.seat_ids.len() > self.max_seats {
            return Err(ApiError::validation(format!(
                "hold 1 to {} seats at a time",
                self.max_seats
            ))
            .with("field", "seat_ids"));
        }
        if ids.len() != req.seat_ids.len() {
            return Err(ApiError::validation("a seat is listed twice").with("field", "seat_ids"));
        }
        let f = self.flights.load_read(req.flight_id).await?;
        let now = self.clock.now_ms();
        if f.status != SCHEDULED {
            return Err(crate::flights::flight_cancelled());
        }
        if f.departs_at <= now {
            return Err(ApiError::conflict(
                "flight_departed",
                "this flight has already departed",
            ));
        }
        let refused =
            match with_retries(|| self.try_hold(who.id, sale, &f, &ids, key, request_hash)).await {
                Ok(HoldOutcome::Held(r, seats)) => return Ok(hold_view(r, &seats, &f)),
                Ok(HoldOutcome::Refused(e)) => e,
                Err(e) if retryable(&e) => ApiError::unavailable(
                    "too many travellers are holding these seats at once; try again",
                ),
                Err(e) => e.into(),
            };
        // A concurrent request with the same key may have won the seats.
        match self.by_key(who.id, key).await? {
            Some(r) => self.replay(r, request_hash).await,
            None => Err(refused),
        }
    }

    async fn try_hold(
        &self,
        user: Uuid,
        sale: Option<Uuid>,
        f: &flight::Model,
        ids: &BTreeSet<Uuid>,
        key: &str,
        request_hash: &str,
    ) -> Result<HoldOutcome, DbErr> {
        let now = self.clock.now_ms();
        let until = now + self.hold_ttl.as_millis() as i64;
        let id = new_id();
        let txn = self.db.begin().await?;
        // One traveller keeps at most `max_held` unpaid seats on a flight, and during a
        // sale holds or buys at most `max_seats`. The traveller's shopper row is locked
        // first, so two holds of the same person are counted one after the other
        // (SQLite has one writer anyway).
        lock_shopper(&txn, f.id, user, now).await?;
        {
            let mine: Vec<(i32, String, i64)> = reservation::Entity::find()
                .select_only()
                .column(reservation::Column::SeatCount)
                .column(reservation::Column::Status)
                .column(reservation::Column::ExpiresAt)
                .filter(reservation::Column::UserId.eq(user))
                .filter(reservation::Column::FlightId.eq(f.id))
                .filter(reservation::Column::Status.is_in([HELD, CONFIRMED]))
                .into_tuple()
                .all(&txn)
                .await?;
            let live: usize = mine
                .iter()
                .filter(|(_, st, exp)| st == CONFIRMED || *exp > now)
                .map(|(n, _, _)| *n as usize)
                .sum();
            let held: usize = mine
                .iter()
                .filter(|(_, st, exp)| st == HELD && *exp > now)
                .map(|(n, _, _)| *n as usize)
                .sum();
            if held + ids.len() > self.max_held {
                txn.rollback().await?;
                return Ok(HoldOutcome::Refused(
                    ApiError::conflict(
                        "hold_limit",
                        format!(
                            "each traveller keeps at most {} unpaid seats on a flight; you hold {held}: pay or release them first",
                            self.max_held
                        ),
                    )
                    .with("seats_held", held as u64),
                ));
            }
            if sale.is_some() && live + ids.len() > self.max_seats {
                txn.rollback().await?;
                return Ok(HoldOutcome::Refused(
                    ApiError::conflict(
                        "hold_limit",
                        format!(
                            "during a sale each traveller holds or buys at most {} seats on a flight; you have {live}",
                            self.max_seats
                        ),
                    )
                    .with("seats_live", live as u64),
                ));
            }
        }
        let seats = seat::Entity::find()
            .filter(seat::Column::FlightId.eq(f.id))
            .filter(seat::Column::Id.is_in(ids.iter().copied()))
            .order_by_asc(seat::Column::Id)
            .all(&txn)
            .await?;
        if seats.len() != ids.len() {
            txn.rollback().await?;
            let unknown: Vec<String> = ids
                .iter()
                .filter(|i| !seats.iter().any(|s| s.id == **i))
                .map(Uuid::to_string)
                .collect();
            return Ok(HoldOutcome::Refused(
                ApiError::validation(format!(
                    "no such seat on this flight: {}",
                    unknown.join(", ")
                ))
                .with("field", "seat_ids"),
            ));
        }
        if let Some(s) = seats.iter().find(|s| {
            s.status == SEAT_SOLD
                || (s.status == SEAT_HELD && s.held_until.is_some_and(|t| t > now))
        }) {
            txn.rollback().await?;
            return Ok(HoldOutcome::Refused(seat_unavailable(s)));
        }
        // Expiry is checked on write too: holds that ran out on these seats end now,
        // without waiting for the sweeper.
        let stale: BTreeSet<Uuid> = seats
            .iter()
            .filter(|s| s.status == SEAT_HELD)
            .filter_map(|s| s.hold_id)
            .collect();
        for h in stale {
            end_hold(&txn, h, EXPIRED, now).await?;
        }
        for s in &seats {
            let took = seat::Entity::update_many()
                .col_expr(seat::Column::Status, Expr::value(SEAT_HELD))
                .col_expr(seat::Column::HoldId, Expr::value(Some(id)))
                .col_expr(seat::Column::HeldUntil, Expr::value(Some(until)))
                .col_expr(seat::Column::UpdatedAt, Expr::value(now))
                .filter(seat::Column::Id.eq(s.id))
                .filter(seat::Column::Status.eq(SEAT_AVAILABLE))
                .exec(&txn)
                .await?;
            if took.rows_affected != 1 {
                txn.rollback().await?;
                return Ok(HoldOutcome::Refused(seat_unavailable(s)));
            }
        }
        let r = reservation::ActiveModel {
            id: Set(id),
            user_id: Set(user),
            flight_id: Set(f.id),
            sale_id: Set(sale),
            status: Set(HELD.into()),
            total: Set(seats.iter().map(|s| s.price).sum()),
            seat_count: Set(seats.len() as i32),
            idem_key: Set(key.to_owned()),
            request_hash: Set(request_hash.to_owned()),
            payment_tid: Set(None),
            payment_redirect: Set(None),
            expires_at: Set(until),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let r = match r.insert(&txn).await {
            Ok(r) => r,
            Err(e) if surge_kernel::error::unique_violation(&e).is_some() => {
                txn.rollback().await?;
                return Ok(HoldOutcome::Refused(ApiError::conflict(
                    "duplicate_idempotency_key",
                    "a hold with this Idempotency-Key exists",
                )));
            }
            Err(e) => return Err(e),
        };
        let rows: Vec<reservation_seat::ActiveModel> = seats
            .iter()
            .map(|s| reservation_seat::ActiveModel {
                reservation_id: Set(id),
                seat_id: Set(s.id),
                seat_number: Set(s.number.clone()),
                grade: Set(s.grade.clone()),
                price: Set(s.price),
                live_seat: Set(Some(s.id)),
                ticket_code: Set(None),
            })
            .collect();
        if let Err(e) = reservation_seat::Entity::insert_many(rows).exec(&txn).await {
            txn.rollback().await?;
            if surge_kernel::error::unique_violation(&e).is_some() {
                // The constraint caught a second live holder the conditional write missed.
                return Ok(HoldOutcome::Refused(seat_unavailable(&seats[0])));
            }
            return Err(e);
        }
        txn.commit().await?;
        Ok(HoldOutcome::Held(r, seats))
    }

    async fn by_key(&self, user: Uuid, key: &str) -> Result<Option<reservation::Model>, ApiError> {
        Ok(reservation::Entity::find()
            .filter(reservation::Column::UserId.eq(user))
            .filter(reservation::Column::IdemKey.eq(key))
            .one(&self.db)
            .await?)
    }

    async fn replay(
        &self,
        r: reservation::Model,
        request_hash: &str,
    ) -> Result<ReservationView, ApiError> {
        if r.request_hash != request_hash {
            return Err(surge_kernel::idempotency::mismatch());
        }
        self.view(r).await
    }

    /// One of the caller's reservations (any, for admins); 404 for someone else's.
    async fn mine(&self, who: &AuthUser, id: Uuid) -> Result<reservation::Model, ApiError> {
        reservation::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .filter(|r| r.user_id == who.id || who.is_admin())
            .ok_or_else(|| ApiError::not_found("no such reservation"))
    }

    pub async fn get(&self, who: &AuthUser, id: Uuid) -> Result<ReservationView, ApiError> {
        let r = self.mine(who, id).await?;
        self.view(r).await
    }

    pub async fn list(
        &self,
        who: &AuthUser,
        page: &PageQuery,
    ) -> Result<Page<ReservationView>, ApiError> {
        let limit = page.limit()?;
        let mut q = reservation::Entity::find().filter(reservation::Column::UserId.eq(who.id));
        if let Some(c) = page.uuid_cursor()? {
            q = q.filter(reservation::Column::Id.lt(c));
        }
        let rows = q
            .order_by_desc(reservation::Column::Id)
            .limit(limit + 1)
            .all(&self.read_db)
            .await?;
        let views = self.views(rows, &self.read_db).await?;
        Ok(Page::from_rows(views, limit, |r| r.id.to_string()))
    }

    async fn view(&self, r: reservation::Model) -> Result<ReservationView, ApiError> {
        let mut v = self.views(vec![r], &self.db).await?;
        v.pop()
            .ok_or_else(|| ApiError::not_found("no such reservation"))
    }

    async fn views(
        &self,
        rows: Vec<reservation::Model>,
        conn: &DatabaseConnection,
    ) -> Result<Vec<ReservationView>, DbErr> {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let flight_ids: BTreeSet<Uuid> = rows.iter().map(|r| r.flight_id).collect();
        let mut seats: HashMap<Uuid, Vec<ReservedSeat>> = HashMap::new();
        for s in reservation_seat::Entity::find()
            .filter(reservation_seat::Column::ReservationId.is_in(ids))
            .order_by_asc(reservation_seat::Column::SeatNumber)
            .all(conn)
            .await?
        {
            seats
                .entry(s.reservation_id)
                .or_default()
                .push(ReservedSeat {
                    seat_id: s.seat_id,
                    number: s.seat_number,
                    grade: s.grade,
                    price: s.price,
                    ticket_code: s.ticket_code,
                });
        }
        let flights: HashMap<Uuid, flight::Model> = flight::Entity::find()
            .filter(flight::Column::Id.is_in(flight_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|f| (f.id, f))
            .collect();
        let now = self.clock.now_ms();
        Ok(rows
            .into_iter()
            .map(|mut r| {
                if r.status == HELD && r.expires_at <= now {
                    r.status = EXPIRED.into(); // the sweeper writes it down soon
                }
                let f = flights.get(&r.flight_id);
                ReservationView {
                    id: r.id,
                    flight_id: r.flight_id,
                    flight_number: f.map(|f| f.flight_number.clone()).unwrap_or_default(),
                    origin: f.map(|f| f.origin.clone()).unwrap_or_default(),
                    destination: f.map(|f| f.destination.clone()).unwrap_or_default(),
                    departs_at: f.map(|f| rfc3339(f.departs_at)).unwrap_or_default(),
                    seats: seats.remove(&r.id).unwrap_or_default(),
                    total: r.total,
                    expires_at: (r.status == HELD).then(|| rfc3339(r.expires_at)),
                    payment_redirect_url: (r.status == HELD)
                        .then_some(r.payment_redirect)
                        .flatten(),
                    created_at: rfc3339(r.created_at),
                    status: r.status,
                }
            })
            .collect())
    }

    /// Gives held seats back before paying.
    pub async fn release(&self, who: &AuthUser, id: Uuid) -> Result<ReservationView, ApiError> {
        let r = self.mine(who, id).await?;
        if r.status != HELD {
            return Err(invalid_state(&r.status, "released"));
        }
        let txn = self.db.begin().await?;
        let ended = end_hold(&txn, id, RELEASED, self.clock.now_ms()).await?;
        txn.commit().await?;
        if !ended {
            return Err(ApiError::conflict(
                "concurrent_update",
                "the reservation changed meanwhile; reload it",
            ));
        }
        self.get(who, id).await
    }

    pub async fn start_payment(
        &self,
        who: &AuthUser,
        id: Uuid,
    ) -> Result<PaymentStarted, ApiError> {
        let r = self.mine(who, id).await?;
        if r.status != HELD {
            return Err(invalid_state(&r.status, "paid"));
        }
        if r.expires_at <= self.clock.now_ms() {
            return Err(hold_expired());
        }
        let started = |tid: String, url: String| PaymentStarted {
            reservation_id: id,
            tid,
            redirect_url: url,
            amount: r.total,
        };
        if let (Some(tid), Some(url)) = (r.payment_tid.clone(), r.payment_redirect.clone()) {
            return Ok(started(tid, url));
        }
        let f = self.flights.load_read(r.flight_id).await?;
        if f.status != SCHEDULED {
            return Err(crate::flights::flight_cancelled());
        }
        let base = format!("{}/api/v1/ticketing/holds/{id}/payment", self.public_url);
        let ready = self
            .gateway
            .ready(&PaymentRequest {
                order_id: id.to_string(),
                user_id: r.user_id.to_string(),
                item_name: format!("{} {}→{}", f.flight_number, f.origin, f.destination),
                quantity: r.seat_count.max(1) as u32,
                amount: r.total,
                approval_url: format!("{base}/approve"),
                cancel_url: format!("{base}/cancelled"),
                fail_url: format!("{base}/failed"),
            })
            .await?;
        let stored = reservation::Entity::update_many()
            .col_expr(
                reservation::Column::PaymentTid,
                Expr::value(Some(ready.tid.clone())),
            )
            .col_expr(
                reservation::Column::PaymentRedirect,
                Expr::value(Some(ready.redirect_url.clone())),
            )
            .filter(reservation::Column::Id.eq(id))
            .filter(reservation::Column::Status.eq(HELD))
            .filter(reservation::Column::PaymentTid.is_null())
            .exec(&self.db)
            .await?;
        if stored.rows_affected == 0 {
            // A concurrent start won; answer with the payment it recorded.
            let r = self.mine(who, id).await?;
            return match (r.payment_tid, r.payment_redirect) {
                (Some(tid), Some(url)) if r.status == HELD => Ok(started(tid, url)),
                _ => Err(invalid_state(&r.status, "paid")),
            };
        }
        Ok(started(ready.tid, ready.redirect_url))
    }

    pub async fn approve(
        &self,
        who: &AuthUser,
        id: Uuid,
        pg_token: &str,
    ) -> Result<ReservationView, ApiError> {
        let r = self.mine(who, id).await?;
        if r.status == CONFIRMED {
            return self.view(r).await; // a retried approval: same answer
        }
        if r.status != HELD {
            return Err(invalid_state(&r.status, "paid"));
        }
        let tid = r
            .payment_tid
            .clone()
            .ok_or_else(|| ApiError::conflict("payment_not_started", "start the payment first"))?;
        if r.expires_at <= self.clock.now_ms() {
            // Too late: end the hold. A payment never approved takes no money and simply
            // expires at the provider; one approved by an earlier attempt whose answer was
            // lost is refunded what was taken (from the outbox, with the hold's end).
            let taken = match self.gateway.status(&tid).await {
                Ok(PaymentStatus::Approved {
                    amount,
                    refunded: 0,
                }) => amount,
                Ok(_) => 0,
                Err(e) => return Err(e.into()),
            };
            let now = self.clock.now_ms();
            let txn = self.db.begin().await?;
            end_hold(&txn, id, EXPIRED, now).await?;
            if taken > 0 {
                // Harmless if another path asked too: the refund is once per tid.
                self.request_refund(&txn, id, &tid, taken, false, now)
                    .await?;
            }
            txn.commit().await?;
            self.outbox.wake();
            return Err(hold_expired());
        }
        let approved = match self
            .gateway
            .approve(&tid, &id.to_string(), &r.user_id.to_string(), pg_token)
            .await
        {
            Ok(a) => a,
            Err(e @ PaymentError::Declined(_)) => {
                let txn = self.db.begin().await?;
                end_hold(&txn, id, RELEASED, self.clock.now_ms()).await?;
                txn.commit().await?;
                let now = self.mine(who, id).await?;
                return Err(ApiError::from(e).with("reservation_status", now.status));
            }
            Err(e) => return Err(e.into()),
        };
        let now = self.clock.now_ms();
        let confirmed = with_retries(|| self.confirm(&r, &tid, approved.amount, now)).await?;
        if !confirmed {
            return self
                .not_confirmed(who, &r, &tid, approved.amount, now)
                .await;
        }
        self.outbox.wake();
        if let Some(sale) = r.sale_id {
            self.sales.finished(sale, r.user_id).await;
        }
        let _ = self
            .notifier
            .notify(
                r.user_id,
                NewNotification {
                    kind: "reservation_confirmed".into(),
                    title: "Your flight is booked".into(),
                    body: format!("{} seat(s), {} KRW paid.", r.seat_count, r.total),
                    data: serde_json::json!({"reservation_id": id}),
                },
            )
            .await;
        self.get(who, id).await
    }

    /// One transaction: every seat still HELD by this hold becomes SOLD (seats first,
    /// like every other writer), the reservation CONFIRMED while its hold is live, one
    /// ticket per seat, and the `reservation_confirmed` event. `false` (nothing
    /// written) if the hold ran out, was released, or its flight closed the seats.
    async fn confirm(
        &self,
        r: &reservation::Model,
        tid: &str,
        amount: i64,
        now: Millis,
    ) -> Result<bool, DbErr> {
        if amount != r.total {
            return Ok(false);
        }
        let txn = self.db.begin().await?;
        let seat_ids = seat_ids_of(&txn, r.id).await?;
        let sold = seat::Entity::update_many()
            .col_expr(seat::Column::Status, Expr::value(SEAT_SOLD))
            .col_expr(seat::Column::HeldUntil, Expr::value(Option::<i64>::None))
            .col_expr(seat::Column::UpdatedAt, Expr::value(now))
            .filter(seat::Column::Id.is_in(seat_ids.clone()))
            .filter(seat::Column::HoldId.eq(r.id))
            .filter(seat::Column::Status.eq(SEAT_HELD))
            .exec(&txn)
            .await?
            .rows_affected;
        let confirmed = sold == r.seat_count as u64
            && reservation::Entity::update_many()
                .col_expr(reservation::Column::Status, Expr::value(CONFIRMED))
                .col_expr(reservation::Column::UpdatedAt, Expr::value(now))
                .filter(reservation::Column::Id.eq(r.id))
                .filter(reservation::Column::Status.eq(HELD))
                .filter(reservation::Column::ExpiresAt.gt(now))
                .exec(&txn)
                .await?
                .rows_affected
                == 1;
        if !confirmed {
            txn.rollback().await?;
            return Ok(false);
        }
        for seat_id in seat_ids {
            reservation_seat::Entity::update_many()
                .col_expr(
                    reservation_seat::Column::TicketCode,
                    Expr::value(ticket_code()),
                )
                .filter(reservation_seat::Column::ReservationId.eq(r.id))
                .filter(reservation_seat::Column::SeatId.eq(seat_id))
                .exec(&txn)
                .await?;
        }
        let event = EventEnvelope::new(
            TOPIC_CONFIRMED,
            r.id,
            serde_json::json!({"reservation_id": r.id, "user_id": r.user_id, "total": r.total, "tid": tid}),
            now,
        );
        enqueue(&txn, &event).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// The provider took the money but the hold could not be confirmed: a concurrent
    /// approval of the same payment won (answer like it), or the hold ran out, was
    /// released, its flight was cancelled or the amount is wrong (the money goes back
    /// from the outbox and the hold ends).
    async fn not_confirmed(
        &self,
        who: &AuthUser,
        r: &reservation::Model,
        tid: &str,
        amount: i64,
        now: Millis,
    ) -> Result<ReservationView, ApiError> {
        let txn = self.db.begin().await?;
        let current = reservation::Entity::find_by_id(r.id)
            .one(&txn)
            .await?
            .map(|c| c.status);
        if current.as_deref() == Some(CONFIRMED) {
            txn.rollback().await?;
            return self.get(who, r.id).await;
        }
        end_hold(&txn, r.id, EXPIRED, now).await?;
        self.request_refund(&txn, r.id, tid, amount, false, now)
            .await?;
        txn.commit().await?;
        self.outbox.wake();
        Err(ApiError::conflict(
            "hold_expired",
            "the seats could not be confirmed (the hold ran out, or the flight was cancelled); the payment is being refunded",
        ))
    }

    async fn request_refund(
        &self,
        conn: &impl ConnectionTrait,
        id: Uuid,
        tid: &str,
        amount: i64,
        cancel_reservation: bool,
        now: Millis,
    ) -> Result<(), ApiError> {
        let payload = serde_json::to_value(RefundRequested {
            reservation_id: id,
            tid: tid.to_owned(),
            amount,
            cancel_reservation,
        })
        .map_err(ApiError::internal)?;
        enqueue(
            conn,
            &EventEnvelope::new(TOPIC_REFUND_REQUESTED, id, payload, now),
        )
        .await?;
        Ok(())
    }

    /// Cancels: a hold is released at once; a confirmed reservation is refunded (from
    /// the outbox), then its seats go back on sale.
    pub async fn cancel(&self, who: &AuthUser, id: Uuid) -> Result<ReservationView, ApiError> {
        let r = self.mine(who, id).await?;
        match r.status.as_str() {
            HELD => return self.release(who, id).await,
            CONFIRMED => {}
            other => return Err(invalid_state(other, "cancelled")),
        }
        let f = self.flights.load(r.flight_id).await?;
        let now = self.clock.now_ms();
        if f.departs_at <= now {
            return Err(ApiError::conflict(
                "flight_departed",
                "a reservation cannot be cancelled after departure",
            ));
        }
        let txn = self.db.begin().await?;
        if !transition(&txn, id, CONFIRMED, CANCELLING, now).await? {
            txn.rollback().await?;
            return Err(ApiError::conflict(
                "concurrent_update",
                "the reservation changed meanwhile; reload it",
            ));
        }
        let tid = r.payment_tid.clone().unwrap_or_default();
        self.request_refund(&txn, id, &tid, r.total, true, now)
            .await?;
        txn.commit().await?;
        self.outbox.wake();
        self.get(who, id).await
    }

    /// The flight is cancelled: its seats close, holds are released and every
    /// confirmed reservation is refunded, in one transaction with the flight's status.
    pub async fn cancel_flight(
        &self,
        flight_id: Uuid,
    ) -> Result<crate::flights::FlightView, ApiError> {
        let f = self.flights.load(flight_id).await?;
        if f.status != SCHEDULED {
            return Err(crate::flights::flight_cancelled());
        }
        let now = self.clock.now_ms();
        let (affected, closed_sale) = with_retries(|| self.close_flight(flight_id, now))
            .await?
            .ok_or_else(crate::flights::flight_cancelled)?;
        self.outbox.wake();
        if let Some(sale) = closed_sale {
            self.sales.forget(sale, flight_id).await;
        }
        self.flights.searches_changed().await;
        for user in affected {
            let _ = self
                .notifier
                .notify(
                    user,
                    NewNotification {
                        kind: "flight_cancelled".into(),
                        title: format!("Flight {} is cancelled", f.flight_number),
                        body: "Your reservation is being refunded in full.".into(),
                        data: serde_json::json!({"flight_id": flight_id}),
                    },
                )
                .await;
        }
        self.flights.get(flight_id).await
    }

    /// The flight-cancel transaction; `None` if the flight was no longer scheduled.
    async fn close_flight(
        &self,
        flight_id: Uuid,
        now: Millis,
    ) -> Result<Option<(Vec<Uuid>, Option<Uuid>)>, DbErr> {
        let txn = self.db.begin().await?;
        let changed = flight::Entity::update_many()
            .col_expr(
                flight::Column::Status,
                Expr::value(crate::flights::CANCELLED),
            )
            .col_expr(flight::Column::UpdatedAt, Expr::value(now))
            .filter(flight::Column::Id.eq(flight_id))
            .filter(flight::Column::Status.eq(SCHEDULED))
            .exec(&txn)
            .await?;
        if changed.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(None);
        }
        // Closing every seat first orders this with holds and payments in flight: a
        // hold or payment that commits before has its reservation read (and refunded)
        // below; one that comes after finds its seats closed and fails (and refunds).
        // Seats are locked in id order, like holds take them.
        let seats: Vec<Uuid> = seat::Entity::find()
            .select_only()
            .column(seat::Column::Id)
            .filter(seat::Column::FlightId.eq(flight_id))
            .order_by_asc(seat::Column::Id)
            .lock_exclusive()
            .into_tuple()
            .all(&txn)
            .await?;
        for chunk in seats.chunks(500) {
            seat::Entity::update_many()
                .col_expr(seat::Column::Status, Expr::value(SEAT_CLOSED))
                .col_expr(seat::Column::UpdatedAt, Expr::value(now))
                .filter(seat::Column::Id.is_in(chunk.to_vec()))
                .exec(&txn)
                .await?;
        }
        let live = reservation::Entity::find()
            .filter(reservation::Column::FlightId.eq(flight_id))
            .filter(reservation::Column::Status.is_in([HELD, CONFIRMED]))
            .order_by_asc(reservation::Column::Id)
            .lock_exclusive()
            .all(&txn)
            .await?;
        let mut affected = Vec::new();
        for r in &live {
            if r.status == HELD {
                if transition(&txn, r.id, HELD, RELEASED, now).await? {
                    end_live_seats(&txn, r.id).await?;
                }
            } else if transition(&txn, r.id, CONFIRMED, CANCELLING, now).await? {
                let tid = r.payment_tid.clone().unwrap_or_default();
                self.request_refund(&txn, r.id, &tid, r.total, true, now)
                    .await
                    .map_err(|e| DbErr::Custom(e.detail))?;
                affected.push(r.user_id);
            }
        }
        let closed_sale = self.sales.close_open_sale(&txn, flight_id, now).await?;
        txn.commit().await?;
        Ok(Some((affected, closed_sale)))
    }

    /// Ends holds whose time ran out. Several instances may sweep at once: each hold
    /// ends through a conditional transition, so its seats are freed once.
    pub async fn sweep_expired(&self) -> Result<usize, ApiError> {
        let now = self.clock.now_ms();
        let mut n = 0;
        loop {
            let ids: Vec<Uuid> = reservation::Entity::find()
                .select_only()
                .column(reservation::Column::Id)
                .filter(reservation::Column::Status.eq(HELD))
                .filter(reservation::Column::ExpiresAt.lte(now))
                .order_by_asc(reservation::Column::ExpiresAt)
                .limit(200)
                .into_tuple()
                .all(&self.db)
                .await?;
            let full = ids.len() == 200;
            for id in ids {
                let txn = self.db.begin().await?;
                if end_hold(&txn, id, EXPIRED, now).await? {
                    n += 1;
                }
                txn.commit().await?;
            }
            if !full {
                return Ok(n);
            }
        }
    }

    async fn ticket_mail(&self, id: Uuid) -> anyhow::Result<Option<Mail>> {
        let Some(r) = reservation::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .filter(|r| r.status == CONFIRMED)
        else {
            return Ok(None); // gone, or cancelled before the mail went out
        };
        let Some(user) = self.users.find(r.user_id).await? else {
            return Ok(None);
        };
        let v = self.views(vec![r], &self.db).await?.pop();
        let Some(v) = v else { return Ok(None) };
        let mut text = format!(
            "Hello {},\n\nYour flight {} from {} to {} departs at {}.\n\n",
            user.nickname, v.flight_number, v.origin, v.destination, v.departs_at
        );
        for s in &v.seats {
            text.push_str(&format!(
                "Seat {} ({}): ticket {}\n",
                s.number,
                s.grade,
                s.ticket_code.as_deref().unwrap_or("-")
            ));
        }
        text.push_str(&format!(
            "\nTotal paid: {} KRW\nReservation: {}\n",
            v.total, v.id
        ));
        Ok(Some(Mail {
            to: user.email,
            subject: format!(
                "Your tickets: {} {}→{}",
                v.flight_number, v.origin, v.destination
            ),
            text,
        }))
    }
}

/// Refunds through the gateway, then (once) marks the reservation CANCELLED and puts
/// its seats back on sale. Redelivery is harmless: the gateway cancel is idempotent per
/// tid, and the database step records the event id.
pub struct RefundHandler(pub Arc<Reservations>);

#[async_trait]
impl EventHandler for RefundHandler {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let r: RefundRequested = event.payload_as()?;
        let p = &self.0;
        if !r.tid.is_empty() && r.amount > 0 {
            p.gateway
                .cancel(&r.tid, r.amount)
                .await
                .map_err(|e| anyhow::anyhow!("refund of reservation {}: {e}", r.reservation_id))?;
        }
        let now = p.clock.now_ms();
        let txn = p.db.begin().await?;
        if !mark_handled(&txn, REFUND_CONSUMER, event.id, now).await? {
            return Ok(());
        }
        let mut user = None;
        if r.cancel_reservation {
            free_seats(&txn, r.reservation_id, SEAT_SOLD, now).await?;
        }
        if r.cancel_reservation
            && transition(&txn, r.reservation_id, CANCELLING, CANCELLED, now).await?
        {
            end_live_seats(&txn, r.reservation_id).await?;
            if let Some(res) = reservation::Entity::find_by_id(r.reservation_id)
                .one(&txn)
                .await?
            {
                user = Some(res.user_id);
                let done = EventEnvelope::new(
                    TOPIC_CANCELLED,
                    r.reservation_id,
                    serde_json::json!({"reservation_id": r.reservation_id, "user_id": res.user_id, "refunded": r.amount}),
                    now,
                );
                enqueue(&txn, &done).await?;
            }
        }
        txn.commit().await?;
        p.outbox.wake();
        if let Some(u) = user {
            let _ = p
                .notifier
                .notify(
                    u,
                    NewNotification {
                        kind: "reservation_refunded".into(),
                        title: "Refund complete".into(),
                        body: format!("{} KRW was refunded.", r.amount),
                        data: serde_json::json!({"reservation_id": r.reservation_id}),
                    },
                )
                .await;
        }
        Ok(())
    }
}

/// E-mails the tickets of a confirmed reservation, once. The send cannot be inside a
/// transaction, so the handler checks the processed mark first, takes a lease in the
/// cache (concurrent redeliveries wait; released only if nothing was sent), sends,
/// then marks the event handled.
pub struct TicketMailer(pub Arc<Reservations>);

#[async_trait]
impl EventHandler for TicketMailer {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let p = &self.0;
        if is_handled(&p.db, MAIL_CONSUMER, event.id).await? {
            return Ok(());
        }
        let lease = format!("ticketing:mail-lease:{}", event.id);
        if !p
            .cache
            .set_if_absent(&lease, b"1", Duration::from_secs(120))
            .await?
        {
            anyhow::bail!("ticket mail for event {} is being sent elsewhere", event.id);
        }
        let id: Uuid = event
            .payload
            .get("reservation_id")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("reservation_confirmed without reservation_id"))?;
        let mail = match p.ticket_mail(id).await {
            Ok(m) => m,
            Err(e) => {
                let _ = p.cache.delete(&lease).await;
                return Err(e);
            }
        };
        if let Some(mail) = mail {
            if let Err(e) = p.mailer.send(&mail).await {
                let _ = p.cache.delete(&lease).await; // not sent: the retry may send
                return Err(e);
            }
        }
        // Sent: the lease stays, so a retry of just this mark cannot send again.
        let txn = p.db.begin().await?;
        mark_handled(&txn, MAIL_CONSUMER, event.id, p.clock.now_ms()).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// The sweeper task: ends expired holds every `every`.
pub async fn run_sweeper(reservations: Arc<Reservations>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match reservations.sweep_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "expired seat holds released"),
            Err(e) => tracing::warn!(error = %e, "hold sweeper failed"),
        }
    }
}
