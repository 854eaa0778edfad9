//! Paying for a hold: the payment starts at the provider, its approval confirms the
//! reservation with one ticket per seat, in one transaction with its event. Money taken
//! for a hold that can no longer be confirmed goes back through the refund event.

use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, TransactionTrait};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::events::{enqueue, EventEnvelope};
use surge_kernel::payment::{PaymentError, PaymentRequest, PaymentStatus};
use surge_kernel::ports::NewNotification;
use surge_kernel::{ApiError, Millis};
use uuid::Uuid;

use super::moves::{end_hold, move_seats, seat_ids_of, with_retries};
use super::views::ReservationView;
use super::{hold_expired, invalid_state, Reservations, TOPIC_CONFIRMED};
use crate::domain::{FlightStatus, ReservationStatus, SeatStatus};
use crate::entities::{reservation, reservation_seat};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentStarted {
    pub reservation_id: Uuid,
    pub tid: String,
    /// Send the traveller here to approve; the provider calls back with `pg_token`.
    pub redirect_url: String,
    pub amount: i64,
}

/// A ticket code: 10 characters without look-alikes (no 0/O, 1/I/L).
fn ticket_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..10)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Reservations {
    #[tracing::instrument(skip_all, fields(user = %who.id, reservation = %id))]
    pub async fn start_payment(
        &self,
        who: &AuthUser,
        id: Uuid,
    ) -> Result<PaymentStarted, ApiError> {
        let r = self.mine(who, id).await?;
        if r.status != ReservationStatus::Held {
            return Err(invalid_state(r.status, "paid"));
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
        if f.status != FlightStatus::Scheduled {
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
            .filter(reservation::Column::Status.eq(ReservationStatus::Held))
            .filter(reservation::Column::PaymentTid.is_null())
            .exec(&self.db)
            .await?;
        if stored.rows_affected == 0 {
            // A concurrent start won; answer with the payment it recorded.
            let r = self.mine(who, id).await?;
            return match (r.payment_tid, r.payment_redirect) {
                (Some(tid), Some(url)) if r.status == ReservationStatus::Held => {
                    Ok(started(tid, url))
                }
                _ => Err(invalid_state(r.status, "paid")),
            };
        }
        Ok(started(ready.tid, ready.redirect_url))
    }

    #[tracing::instrument(skip_all, fields(user = %who.id, reservation = %id))]
    pub async fn approve(
        &self,
        who: &AuthUser,
        id: Uuid,
        pg_token: &str,
    ) -> Result<ReservationView, ApiError> {
        let r = self.mine(who, id).await?;
        if r.status == ReservationStatus::Confirmed {
            return self.view(r).await; // a retried approval: same answer
        }
        if r.status != ReservationStatus::Held {
            return Err(invalid_state(r.status, "paid"));
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
            end_hold(&txn, id, ReservationStatus::Expired, now).await?;
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
                end_hold(&txn, id, ReservationStatus::Released, self.clock.now_ms()).await?;
                txn.commit().await?;
                let now = self.mine(who, id).await?;
                return Err(ApiError::from(e).with("reservation_status", now.status.as_str()));
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
        let (from, to) = (ReservationStatus::Held, ReservationStatus::Confirmed);
        debug_assert!(from.can_become(to));
        let txn = self.db.begin().await?;
        let seat_ids = seat_ids_of(&txn, r.id).await?;
        let sold = move_seats(
            &txn,
            r.id,
            seat_ids.clone(),
            SeatStatus::Held,
            SeatStatus::Sold,
            now,
        )
        .await?;
        // Not `transition`: the hold must also still be live.
        let confirmed = sold == r.seat_count as u64
            && reservation::Entity::update_many()
                .col_expr(reservation::Column::Status, Expr::value(to))
                .col_expr(reservation::Column::UpdatedAt, Expr::value(now))
                .filter(reservation::Column::Id.eq(r.id))
                .filter(reservation::Column::Status.eq(from))
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
        if current == Some(ReservationStatus::Confirmed) {
            txn.rollback().await?;
            return self.get(who, r.id).await;
        }
        end_hold(&txn, r.id, ReservationStatus::Expired, now).await?;
        self.request_refund(&txn, r.id, tid, amount, false, now)
            .await?;
        txn.commit().await?;
        self.outbox.wake();
        Err(ApiError::conflict(
            "hold_expired",
            "the seats could not be confirmed (the hold ran out, or the flight was cancelled); the payment is being refunded",
        ))
    }
}
