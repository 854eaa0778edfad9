//! What a reservation looks like to its traveller: its flight, its seats (with ticket
//! codes once paid) and its state as of now.

use std::collections::{BTreeSet, HashMap};

use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::{rfc3339, ApiError};
use uuid::Uuid;

use super::Reservations;
use crate::domain::ReservationStatus;
use crate::entities::{flight, reservation, reservation_seat, seat};

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
    pub status: ReservationStatus,
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

/// The answer to a new hold, from what the hold transaction already has in hand.
pub(super) fn hold_view(
    r: reservation::Model,
    seats: &[seat::Model],
    f: &flight::Model,
) -> ReservationView {
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

impl Reservations {
    #[tracing::instrument(skip_all, fields(user = %who.id, reservation = %id))]
    pub async fn get(&self, who: &AuthUser, id: Uuid) -> Result<ReservationView, ApiError> {
        let r = self.mine(who, id).await?;
        self.view(r).await
    }

    #[tracing::instrument(skip_all, fields(user = %who.id))]
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

    pub(super) async fn view(&self, r: reservation::Model) -> Result<ReservationView, ApiError> {
        let mut v = self.views(vec![r], &self.db).await?;
        v.pop()
            .ok_or_else(|| ApiError::not_found("no such reservation"))
    }

    pub(super) async fn views(
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
            .map(|r| {
                // An expired hold reads EXPIRED at once; the sweeper writes it down soon.
                let status = r.status.shown(r.expires_at, now);
                let held = status == ReservationStatus::Held;
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
                    expires_at: held.then(|| rfc3339(r.expires_at)),
                    payment_redirect_url: held.then_some(r.payment_redirect).flatten(),
                    created_at: rfc3339(r.created_at),
                    status,
                }
            })
            .collect())
    }
}
