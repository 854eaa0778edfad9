//! Notifications: stored per user, pushed live over SSE (`Last-Event-ID` replays what a
//! reconnecting client missed). Any module sends one through the kernel's `Notifier`.

mod http;
pub mod service;
mod store;

use std::sync::Arc;

use surge_kernel::module::{Foundation, Module};
use surge_kernel::ports::Notifier;
use utoipa::OpenApi;

pub use store::migration::migrations;

pub struct Notifications {
    pub module: Module,
    pub notifier: Arc<dyn Notifier>,
    pub service: Arc<service::NotificationService>,
}

/// Builds the module and subscribes it to the events it turns into notifications.
pub async fn module(f: &Foundation) -> anyhow::Result<Notifications> {
    let service = Arc::new(service::NotificationService::new(f));
    f.bus
        .subscribe(
            service::WELCOME_CONSUMER,
            &[service::TOPIC_USER_REGISTERED],
            Arc::new(service::Welcome(service.clone())),
        )
        .await?;
    Ok(Notifications {
        module: Module {
            name: "notifications",
            router: http::router(service.clone()),
            openapi: http::NotificationsApi::openapi(),
            workers: Vec::new(),
        },
        notifier: service.clone(),
        service,
    })
}
