//! What a module gets from the foundation, and what it gives back to the server.

use std::sync::Arc;

use futures::future::BoxFuture;
use sea_orm::DatabaseConnection;

use crate::clock::Clock;
use crate::events::OutboxSignal;
use crate::ports::{Cache, EventBus, PubSub};

/// The shared infrastructure, built once by the server from configuration.
#[derive(Clone)]
pub struct Foundation {
    /// The primary: every write, and reads that must see them.
    pub db: DatabaseConnection,
    /// Read-only queries (a replica when configured, else the primary or a reader pool).
    pub read_db: DatabaseConnection,
    pub cache: Arc<dyn Cache>,
    pub pubsub: Arc<dyn PubSub>,
    pub bus: Arc<dyn EventBus>,
    pub outbox: OutboxSignal,
    pub clock: Arc<dyn Clock>,
}

/// A running module: its routes and its background workers.
pub struct Module {
    pub name: &'static str,
    pub router: axum::Router,
    pub openapi: utoipa::openapi::OpenApi,
    /// Long-running tasks (sweepers, matchers). The server aborts them at shutdown, so
    /// each must be safe to stop at any await point.
    pub workers: Vec<BoxFuture<'static, ()>>,
}
