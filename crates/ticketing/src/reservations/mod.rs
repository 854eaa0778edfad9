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
//!
//! - `holds.rs`: holding seats, releasing them, the expiry sweeper
//! - `payment.rs`: paying for a hold and confirming it
//! - `refunds.rs`: cancelling reservations and flights, and the refund handler
//! - `tickets.rs`: the ticket e-mail handler
//! - `views.rs`: what a reservation looks like to its traveller
//! - `moves.rs`: the conditional writes that move seats and reservations, shared by all

pub mod holds;
mod moves;
pub mod payment;
pub mod refunds;
pub mod tickets;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, EntityTrait};
use surge_kernel::auth::AuthUser;
use surge_kernel::clock::Clock;
use surge_kernel::events::OutboxSignal;
use surge_kernel::payment::PaymentGateway;
use surge_kernel::ports::{Cache, Mailer, Notifier, UserDirectory};
use surge_kernel::ApiError;
use uuid::Uuid;

use crate::domain::ReservationStatus;
use crate::entities::{reservation, seat};
use crate::flights::Flights;
use crate::sales::Sales;

pub const TOPIC_CONFIRMED: &str = "ticketing.reservation_confirmed";
pub const TOPIC_REFUND_REQUESTED: &str = "ticketing.refund_requested";
pub const TOPIC_CANCELLED: &str = "ticketing.reservation_cancelled";
pub const REFUND_CONSUMER: &str = "ticketing.refunds";
pub const MAIL_CONSUMER: &str = "ticketing.ticket_mail";

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

fn invalid_state(status: ReservationStatus, action: &str) -> ApiError {
    ApiError::conflict(
        "invalid_transition",
        format!("a reservation in {} cannot be {action}", status.as_str()),
    )
    .with("reservation_status", status.as_str())
}

fn concurrent_update() -> ApiError {
    ApiError::conflict(
        "concurrent_update",
        "the reservation changed meanwhile; reload it",
    )
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

    /// Most seats in one hold: what a hold request is checked against.
    pub fn max_seats(&self) -> usize {
        self.max_seats
    }

    /// One of the caller's reservations (any, for admins); 404 for someone else's.
    async fn mine(&self, who: &AuthUser, id: Uuid) -> Result<reservation::Model, ApiError> {
        reservation::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .filter(|r| r.user_id == who.id || who.is_admin())
            .ok_or_else(|| ApiError::not_found("no such reservation"))
    }
}
