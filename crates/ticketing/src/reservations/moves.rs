//! The conditional writes that move seats and reservations, shared by holds, payments,
//! refunds and flight cancellation. Each moves a row only from the state it expects
//! (and only along a legal move of `domain.rs`), so concurrent writers never both win.

use sea_orm::sea_query::{Alias, Expr, LockType, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use surge_kernel::Millis;
use uuid::Uuid;

use crate::domain::{ReservationStatus, SeatStatus};
use crate::entities::{reservation, reservation_seat, seat};

pub(super) use surge_kernel::sql::{retryable, with_retries};

fn illegal<T: std::fmt::Debug>(from: T, to: T) -> DbErr {
    DbErr::Custom(format!("illegal state move {from:?} → {to:?}"))
}

/// Creates (once) and locks the (flight, traveller) row that serialises one
/// traveller's holds during a sale.
pub(super) async fn lock_shopper(
    txn: &DatabaseTransaction,
    flight: Uuid,
    user: Uuid,
    now: Millis,
) -> Result<(), DbErr> {
    let t = Alias::new("ticketing_shoppers");
    let insert = Query::insert()
        .into_table(t.clone())
        .columns([
            Alias::new("flight_id"),
            Alias::new("user_id"),
            Alias::new("created_at"),
        ])
        .values([flight.into(), user.into(), now.into()])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    surge_kernel::sql::insert_if_absent(txn, insert, &["flight_id", "user_id"]).await?;
    let mut select = Query::select()
        .expr(Expr::val(1))
        .from(t)
        .and_where(Expr::col(Alias::new("flight_id")).eq(flight))
        .and_where(Expr::col(Alias::new("user_id")).eq(user))
        .to_owned();
    select.lock(LockType::Update);
    txn.query_one(txn.get_database_backend().build(&select))
        .await?;
    Ok(())
}

/// The seats of a reservation, by primary key (updating through the `hold_id` index
/// would take gap locks on MariaDB that concurrent holds then deadlock on).
pub(super) async fn seat_ids_of(conn: &impl ConnectionTrait, id: Uuid) -> Result<Vec<Uuid>, DbErr> {
    reservation_seat::Entity::find()
        .select_only()
        .column(reservation_seat::Column::SeatId)
        .filter(reservation_seat::Column::ReservationId.eq(id))
        .order_by_asc(reservation_seat::Column::SeatId)
        .into_tuple()
        .all(conn)
        .await
}

/// Moves a reservation from `from` to `to` if it is still in `from`.
pub(super) async fn transition(
    conn: &impl ConnectionTrait,
    id: Uuid,
    from: ReservationStatus,
    to: ReservationStatus,
    now: Millis,
) -> Result<bool, DbErr> {
    if !from.can_become(to) {
        return Err(illegal(from, to));
    }
    let res = reservation::Entity::update_many()
        .col_expr(reservation::Column::Status, Expr::value(to))
        .col_expr(reservation::Column::UpdatedAt, Expr::value(now))
        .filter(reservation::Column::Id.eq(id))
        .filter(reservation::Column::Status.eq(from))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Moves the given seats of reservation `id` from `from` to `to` (only those still in
/// `from` under it); the number moved.
pub(super) async fn move_seats(
    conn: &impl ConnectionTrait,
    id: Uuid,
    seats: Vec<Uuid>,
    from: SeatStatus,
    to: SeatStatus,
    now: Millis,
) -> Result<u64, DbErr> {
    if !from.can_become(to) {
        return Err(illegal(from, to));
    }
    let mut q = seat::Entity::update_many()
        .col_expr(seat::Column::Status, Expr::value(to))
        .col_expr(seat::Column::HeldUntil, Expr::value(Option::<i64>::None))
        .col_expr(seat::Column::UpdatedAt, Expr::value(now));
    if to == SeatStatus::Available {
        q = q.col_expr(seat::Column::HoldId, Expr::value(Option::<Uuid>::None));
    }
    Ok(q.filter(seat::Column::Id.is_in(seats))
        .filter(seat::Column::HoldId.eq(id))
        .filter(seat::Column::Status.eq(from))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Puts a reservation's seats back on sale (those still in `seat_status` under it).
/// Seats are always locked before their reservation (holds, payments, flight
/// cancellations and refunds all take them in that order), so these never deadlock.
pub(super) async fn free_seats(
    conn: &impl ConnectionTrait,
    id: Uuid,
    seat_status: SeatStatus,
    now: Millis,
) -> Result<(), DbErr> {
    let seats = seat_ids_of(conn, id).await?;
    move_seats(conn, id, seats, seat_status, SeatStatus::Available, now).await?;
    Ok(())
}

/// The reservation no longer holds its seats: their `live_seat` rows end.
pub(super) async fn end_live_seats(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
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
pub(super) async fn end_hold(
    conn: &impl ConnectionTrait,
    id: Uuid,
    to: ReservationStatus,
    now: Millis,
) -> Result<bool, DbErr> {
    // Seats first (see `free_seats`): only seats still HELD under this hold move, so
    // if the reservation turns out to be no longer HELD, nothing was freed.
    free_seats(conn, id, SeatStatus::Held, now).await?;
    if !transition(conn, id, ReservationStatus::Held, to, now).await? {
        return Ok(false);
    }
    end_live_seats(conn, id).await?;
    Ok(true)
}
