//! What a module gets from the foundation, and what it gives back to the server.
//!
//! Every module crate has one entry point of the same shape:
//!
//! ```ignore
//! pub fn module(f: &Foundation, cfg: XConfig, ports: XPorts) -> anyhow::Result<(Module, X)>
//! ```
//!
//! `XConfig` is the module's settings (`()` when it has none), `XPorts` what it needs
//! from outside the foundation (other modules' ports, external services; `()` when
//! nothing), and `X` the handle the server and tests call the use cases through. The
//! entry point only builds: it starts nothing and subscribes nothing. The server runs
//! the [`Module::workers`] and subscribes the [`Module::subscriptions`] of the modules
//! it serves (`SURGE_MODULES`), so an instance never handles another module's events.

use std::sync::Arc;

use futures::future::BoxFuture;
use sea_orm::DatabaseConnection;

use crate::clock::Clock;
use crate::events::OutboxSignal;
use crate::ports::{Cache, EventBus, EventHandler, PubSub};

/// The shared infrastructure, built once by the server from configuration.
#[derive(Clone)]
pub struct Foundation {
    /// The primary: every write, and reads that must see them.
    pub db: DatabaseConnection,
    /// Read-only queries (a replica when configured, else the primary or a reader pool).
    pub read_db: DatabaseConnection,
    /// Read caches and other state that may be evicted to make room.
    pub cache: Arc<dyn Cache>,
    /// Security state: revoked-session markers, throttling counters, one-time login
    /// states. Never evicted to make room for other entries (they only expire), so no
    /// amount of other traffic can reset a throttle or revive a signed-out session.
    /// Callers bound what unauthenticated requests can create here (per-client limits,
    /// bounded key lengths). Redis: the same store (keys expire, nothing is evicted
    /// under `noeviction`).
    pub security: Arc<dyn Cache>,
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
    /// The events it consumes; the server subscribes them when it serves the module.
    pub subscriptions: Vec<Subscription>,
}

/// One durable consumer: its name (instances sharing it share the work), the topics it
/// takes and its handler.
pub struct Subscription {
    pub consumer: &'static str,
    pub topics: &'static [&'static str],
    pub handler: Arc<dyn EventHandler>,
}

impl Subscription {
    pub fn new(
        consumer: &'static str,
        topics: &'static [&'static str],
        handler: impl EventHandler,
    ) -> Self {
        Self {
            consumer,
            topics,
            handler: Arc::new(handler),
        }
    }
}
