//! Ticketing: flights and seat maps, a virtual waiting room with signed admission
//! passes, seat holds that never sell a seat twice, reservations paid through the
//! `PaymentGateway` port, refunds and ticket e-mails from the outbox.

pub mod domain;
mod entities;
pub mod flights;
mod http;
mod migration;
pub mod reservations;
pub mod sales;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use surge_kernel::module::{Foundation, Module, Subscription};
use surge_kernel::payment::PaymentGateway;
use surge_kernel::ports::{Mailer, Notifier, UserDirectory};
use surge_kernel::waiting_room::WaitingRoom;
use utoipa::OpenApi;

pub use migration::migrations;

#[derive(Debug, Clone)]
pub struct TicketingConfig {
    /// How long seats stay held for payment (default 10 min).
    pub hold_ttl: Duration,
    /// Most seats in one hold (default 4).
    pub max_seats_per_hold: usize,
    /// Most seats one traveller may keep held (unpaid) on one flight at any time, sale
    /// or not (default 4): holding is free, so without it one person can hoard a flight.
    pub max_held_seats_per_flight: usize,
    /// How often expired holds are swept.
    pub sweep_every: Duration,
    /// How often each instance runs an admission step for the open sales.
    pub admit_every: Duration,
    /// How often a queue stream re-reads the traveller's position.
    pub stream_every: Duration,
    /// Public base URL the payment provider redirects back to.
    pub public_url: String,
}

impl Default for TicketingConfig {
    fn default() -> Self {
        Self {
            hold_ttl: Duration::from_secs(10 * 60),
            max_seats_per_hold: 4,
            max_held_seats_per_flight: 4,
            sweep_every: Duration::from_secs(5),
            admit_every: Duration::from_millis(200),
            stream_every: Duration::from_secs(1),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// What ticketing needs from outside the foundation.
pub struct Ports {
    pub gateway: Arc<dyn PaymentGateway>,
    pub notifier: Arc<dyn Notifier>,
    pub mailer: Arc<dyn Mailer>,
    pub users: Arc<dyn UserDirectory>,
    pub waiting_room: Arc<dyn WaitingRoom>,
    /// The server secret admission passes are signed with (a key is derived from it).
    pub pass_secret: Vec<u8>,
}

pub struct Ticketing {
    pub flights: Arc<flights::Flights>,
    pub sales: Arc<sales::Sales>,
    pub reservations: Arc<reservations::Reservations>,
    pub(crate) stream_every: Duration,
}

pub fn module(
    f: &Foundation,
    cfg: TicketingConfig,
    ports: Ports,
) -> anyhow::Result<(Module, Arc<Ticketing>)> {
    let flights = Arc::new(flights::Flights::new(f));
    let sales = Arc::new(sales::Sales::new(
        f,
        ports.waiting_room,
        sales::PassKey::derive(&ports.pass_secret),
        flights.clone(),
    ));
    let reservations = Arc::new(reservations::Reservations::new(
        f,
        reservations::Deps {
            flights: flights.clone(),
            sales: sales.clone(),
            gateway: ports.gateway,
            notifier: ports.notifier,
            mailer: ports.mailer,
            users: ports.users,
        },
        cfg.hold_ttl,
        cfg.max_seats_per_hold,
        cfg.max_held_seats_per_flight,
        cfg.public_url.trim_end_matches('/').to_owned(),
    ));
    let subscriptions = vec![
        Subscription::new(
            reservations::REFUND_CONSUMER,
            &[reservations::TOPIC_REFUND_REQUESTED],
            reservations::refunds::RefundHandler(reservations.clone()),
        ),
        Subscription::new(
            reservations::MAIL_CONSUMER,
            &[reservations::TOPIC_CONFIRMED],
            reservations::tickets::TicketMailer(reservations.clone()),
        ),
    ];
    let t = Arc::new(Ticketing {
        flights,
        sales: sales.clone(),
        reservations: reservations.clone(),
        stream_every: cfg.stream_every,
    });
    let module = Module {
        name: "ticketing",
        router: http::router(t.clone()),
        openapi: http::TicketingApi::openapi(),
        workers: vec![
            reservations::holds::run_sweeper(reservations, cfg.sweep_every).boxed(),
            sales::run_admission(sales, cfg.admit_every).boxed(),
        ],
        subscriptions,
    };
    Ok((module, t))
}
