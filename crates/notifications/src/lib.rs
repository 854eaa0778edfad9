//! Notifications: stored per user, pushed live over SSE (`Last-Event-ID` replays what a
//! reconnecting client missed). Any module sends one through the kernel's `Notifier`.
//!
//! Files: `domain.rs` (rules and values), `inbox.rs` (storing, listing, marking,
//! pushing), `welcome.rs` (the greeting on `identity.user_registered`), `entities.rs`,
//! `migration.rs`, `http.rs` (routes and the live SSE stream).

pub mod domain;
pub mod entities;
mod http;
pub mod inbox;
pub mod migration;
pub mod welcome;

use std::sync::Arc;

use surge_kernel::module::{Foundation, Module, Subscription};
use surge_kernel::ports::Notifier;
use utoipa::OpenApi;

pub use migration::migrations;

pub struct Notifications {
    pub notifier: Arc<dyn Notifier>,
    pub service: Arc<inbox::NotificationService>,
}

/// Notifications has no settings and needs nothing outside the foundation.
pub fn module(f: &Foundation, _cfg: (), _ports: ()) -> anyhow::Result<(Module, Notifications)> {
    let service = Arc::new(inbox::NotificationService::new(f));
    let module = Module {
        name: "notifications",
        router: http::router(service.clone()),
        openapi: http::NotificationsApi::openapi(),
        workers: Vec::new(),
        subscriptions: vec![Subscription::new(
            welcome::WELCOME_CONSUMER,
            &[welcome::TOPIC_USER_REGISTERED],
            welcome::Welcome(service.clone()),
        )],
    };
    Ok((
        module,
        Notifications {
            notifier: service.clone(),
            service,
        },
    ))
}
