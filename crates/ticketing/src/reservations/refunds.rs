//! Cancelling: a traveller cancels a reservation, or an admin a whole flight. Money
//! goes back from the outbox (`refund_requested`), handled once by [`RefundHandler`]:
//! the gateway refunds, then the reservation ends CANCELLED with its seats on sale.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use surge_kernel::auth::AuthUser;
use surge_kernel::events::{enqueue, EventEnvelope};
use surge_kernel::payment::{RefundConsumer, RefundOf, Refunded};
use surge_kernel::ports::{EventHandler, NewNotification};
use surge_kernel::{ApiError, Millis};
use uuid::Uuid;

use super::moves::{end_live_seats, free_seats, transition, with_retries};
use super::views::ReservationView;
use super::{
    concurrent_update, invalid_state, Reservations, REFUND_CONSUMER, TOPIC_CANCELLED,
    TOPIC_REFUND_REQUESTED,
};
use crate::domain::{FlightStatus, ReservationStatus, SeatStatus};
use crate::entities::{flight, reservation, seat};
use crate::flights::FlightView;

#[derive(Debug, Serialize, Deserialize)]
struct RefundRequested {
    reservation_id: Uuid,
    tid: String,
    amount: i64,
    /// The reservation ends CANCELLED (a confirmed one), or stays as it is (money
    /// taken for a hold that had already expired).
    cancel_reservation: bool,
}

impl Reservations {
    pub(super) async fn request_refund(
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
    #[tracing::instrument(skip_all, fields(user = %who.id, reservation = %id))]
    pub async fn cancel(&self, who: &AuthUser, id: Uuid) -> Result<ReservationView, ApiError> {
        let r = self.mine(who, id).await?;
        match r.status {
            ReservationStatus::Held => return self.release(who, id).await,
            ReservationStatus::Confirmed => {}
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
        if !transition(
            &txn,
            id,
            ReservationStatus::Confirmed,
            ReservationStatus::Cancelling,
            now,
        )
        .await?
        {
            txn.rollback().await?;
            return Err(concurrent_update());
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
    #[tracing::instrument(skip(self))]
    pub async fn cancel_flight(&self, flight_id: Uuid) -> Result<FlightView, ApiError> {
        let f = self.flights.load(flight_id).await?;
        if f.status != FlightStatus::Scheduled {
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
        let (from, to) = (FlightStatus::Scheduled, FlightStatus::Cancelled);
        debug_assert!(from.can_become(to));
        let txn = self.db.begin().await?;
        let changed = flight::Entity::update_many()
            .col_expr(flight::Column::Status, Expr::value(to))
            .col_expr(flight::Column::UpdatedAt, Expr::value(now))
            .filter(flight::Column::Id.eq(flight_id))
            .filter(flight::Column::Status.eq(from))
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
                .col_expr(seat::Column::Status, Expr::value(SeatStatus::Closed))
                .col_expr(seat::Column::UpdatedAt, Expr::value(now))
                .filter(seat::Column::Id.is_in(chunk.to_vec()))
                .exec(&txn)
                .await?;
        }
        let live = reservation::Entity::find()
            .filter(reservation::Column::FlightId.eq(flight_id))
            .filter(
                reservation::Column::Status
                    .is_in([ReservationStatus::Held, ReservationStatus::Confirmed]),
            )
            .order_by_asc(reservation::Column::Id)
            .lock_exclusive()
            .all(&txn)
            .await?;
        let mut affected = Vec::new();
        for r in &live {
            if r.status == ReservationStatus::Held {
                if transition(
                    &txn,
                    r.id,
                    ReservationStatus::Held,
                    ReservationStatus::Released,
                    now,
                )
                .await?
                {
                    end_live_seats(&txn, r.id).await?;
                }
            } else if transition(
                &txn,
                r.id,
                ReservationStatus::Confirmed,
                ReservationStatus::Cancelling,
                now,
            )
            .await?
            {
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
}

/// Refunds through the gateway, then (once) marks the reservation CANCELLED and puts
/// its seats back on sale. Redelivery is harmless: the gateway cancel is idempotent per
/// tid, and the database step claims the event id in its own transaction.
pub struct RefundHandler(pub Arc<Reservations>);

#[async_trait]
impl EventHandler for RefundHandler {
    #[tracing::instrument(skip_all, fields(event = %event.id))]
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let r: RefundRequested = event.payload_as()?;
        let p = &self.0;
        let consumer = RefundConsumer {
            consumer: REFUND_CONSUMER,
            gateway: p.gateway.as_ref(),
            db: &p.db,
            outbox: &p.outbox,
            notifier: p.notifier.as_ref(),
        };
        let now = p.clock.now_ms();
        let of = RefundOf {
            event,
            tid: &r.tid,
            amount: r.amount,
            what: format!("reservation {}", r.reservation_id),
        };
        consumer
            .run(of, now, async |txn| {
                let mut done = Refunded {
                    then: (),
                    notify: None,
                };
                if !r.cancel_reservation {
                    return Ok(done);
                }
                free_seats(txn, r.reservation_id, SeatStatus::Sold, now).await?;
                if !transition(
                    txn,
                    r.reservation_id,
                    ReservationStatus::Cancelling,
                    ReservationStatus::Cancelled,
                    now,
                )
                .await?
                {
                    return Ok(done);
                }
                end_live_seats(txn, r.reservation_id).await?;
                if let Some(res) = reservation::Entity::find_by_id(r.reservation_id)
                    .one(txn)
                    .await?
                {
                    let cancelled = EventEnvelope::new(
                        TOPIC_CANCELLED,
                        r.reservation_id,
                        serde_json::json!({"reservation_id": r.reservation_id, "user_id": res.user_id, "refunded": r.amount}),
                        now,
                    );
                    enqueue(txn, &cancelled).await?;
                    let n = NewNotification::refund_complete(
                        "reservation_refunded",
                        r.amount,
                        serde_json::json!({"reservation_id": r.reservation_id}),
                    );
                    done.notify = Some((res.user_id, n));
                }
                Ok(done)
            })
            .await?;
        Ok(())
    }
}
