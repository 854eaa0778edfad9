//! Holding seats for payment, giving them back, and ending holds that ran out.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use surge_kernel::auth::AuthUser;
use surge_kernel::{new_id, ApiError};
use uuid::Uuid;

use super::moves::{end_hold, lock_shopper, retryable, with_retries};
use super::views::{hold_view, ReservationView};
use super::{concurrent_update, invalid_state, seat_unavailable, Reservations};
use crate::domain::{FlightStatus, NewHold, ReservationStatus, SeatStatus};
use crate::entities::{flight, reservation, reservation_seat, seat};

enum HoldOutcome {
    Held(reservation::Model, Vec<seat::Model>),
    Refused(ApiError),
}

impl Reservations {
    /// Holds every requested seat, or none (409 `seat_unavailable` naming the seat).
    /// The Idempotency-Key is stored on the reservation: a retry answers the first hold.
    #[tracing::instrument(skip_all, fields(user = %who.id, flight = %req.flight_id, sale = ?sale))]
    pub async fn hold(
        &self,
        who: &AuthUser,
        sale: Option<Uuid>,
        req: NewHold,
        key: &str,
        request_hash: &str,
    ) -> Result<ReservationView, ApiError> {
        if let Some(r) = self.by_key(who.id, key).await? {
            return self.replay(r, request_hash).await;
        }
        let f = self.flights.load_read(req.flight_id).await?;
        let now = self.clock.now_ms();
        if f.status != FlightStatus::Scheduled {
            return Err(crate::flights::flight_cancelled());
        }
        if f.departs_at <= now {
            return Err(ApiError::conflict(
                "flight_departed",
                "this flight has already departed",
            ));
        }
        let ids = req.seats.ids();
        let refused =
            match with_retries(|| self.try_hold(who.id, sale, &f, ids, key, request_hash)).await {
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
            let mine: Vec<(i32, ReservationStatus, i64)> = reservation::Entity::find()
                .select_only()
                .column(reservation::Column::SeatCount)
                .column(reservation::Column::Status)
                .column(reservation::Column::ExpiresAt)
                .filter(reservation::Column::UserId.eq(user))
                .filter(reservation::Column::FlightId.eq(f.id))
                .filter(
                    reservation::Column::Status
                        .is_in([ReservationStatus::Held, ReservationStatus::Confirmed]),
                )
                .into_tuple()
                .all(&txn)
                .await?;
            let live: usize = mine
                .iter()
                .filter(|(_, st, exp)| *st == ReservationStatus::Confirmed || *exp > now)
                .map(|(n, _, _)| *n as usize)
                .sum();
            let held: usize = mine
                .iter()
                .filter(|(_, st, exp)| *st == ReservationStatus::Held && *exp > now)
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
        if let Some(s) = seats.iter().find(|s| s.status.is_taken(s.held_until, now)) {
            txn.rollback().await?;
            return Ok(HoldOutcome::Refused(seat_unavailable(s)));
        }
        // Expiry is checked on write too: holds that ran out on these seats end now,
        // without waiting for the sweeper.
        let stale: BTreeSet<Uuid> = seats
            .iter()
            .filter(|s| s.status == SeatStatus::Held)
            .filter_map(|s| s.hold_id)
            .collect();
        for h in stale {
            end_hold(&txn, h, ReservationStatus::Expired, now).await?;
        }
        for s in &seats {
            let took = seat::Entity::update_many()
                .col_expr(seat::Column::Status, Expr::value(SeatStatus::Held))
                .col_expr(seat::Column::HoldId, Expr::value(Some(id)))
                .col_expr(seat::Column::HeldUntil, Expr::value(Some(until)))
                .col_expr(seat::Column::UpdatedAt, Expr::value(now))
                .filter(seat::Column::Id.eq(s.id))
                .filter(seat::Column::Status.eq(SeatStatus::Available))
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
            status: Set(ReservationStatus::Held),
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

    /// Gives held seats back before paying.
    #[tracing::instrument(skip_all, fields(user = %who.id, reservation = %id))]
    pub async fn release(&self, who: &AuthUser, id: Uuid) -> Result<ReservationView, ApiError> {
        let r = self.mine(who, id).await?;
        if r.status != ReservationStatus::Held {
            return Err(invalid_state(r.status, "released"));
        }
        let txn = self.db.begin().await?;
        let ended = end_hold(&txn, id, ReservationStatus::Released, self.clock.now_ms()).await?;
        txn.commit().await?;
        if !ended {
            return Err(concurrent_update());
        }
        self.get(who, id).await
    }

    /// Ends holds whose time ran out. Several instances may sweep at once: each hold
    /// ends through a conditional transition, so its seats are freed once.
    #[tracing::instrument(skip_all)]
    pub async fn sweep_expired(&self) -> Result<usize, ApiError> {
        let now = self.clock.now_ms();
        let mut n = 0;
        loop {
            let ids: Vec<Uuid> = reservation::Entity::find()
                .select_only()
                .column(reservation::Column::Id)
                .filter(reservation::Column::Status.eq(ReservationStatus::Held))
                .filter(reservation::Column::ExpiresAt.lte(now))
                .order_by_asc(reservation::Column::ExpiresAt)
                .limit(200)
                .into_tuple()
                .all(&self.db)
                .await?;
            let full = ids.len() == 200;
            for id in ids {
                let txn = self.db.begin().await?;
                if end_hold(&txn, id, ReservationStatus::Expired, now).await? {
                    n += 1;
                }
                txn.commit().await?;
            }
            if !full {
                return Ok(n);
            }
        }
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
