//! Chat: rooms admins open, live messages over a WebSocket with a gap-free seq per
//! room (a resend is stored once, a reconnect replays exactly what was missed), the
//! last 100 messages of a room in the cache, older ones paged from the database,
//! unread counts, and fan-out across instances over pub/sub, in seq order. Weather-alert
//! rooms: one per province, opened, renamed and closed as KMA's special weather reports
//! come and go; users follow provinces and are told when theirs opens.
//!
//! Files: `domain.rs` (rules and values), `rooms.rs` (rooms, members, read markers),
//! `alerts/` (the alert poller, the diff, follows and notices, the clean-up),
//! `samples.rs` (the demo's alerts),
//! `messages.rs` (storing with a seq, history, the cached window), `feed.rs` (each
//! instance's ordered feed of a room), `protocol.rs` (the WebSocket frames),
//! `socket.rs` (one connection), `entities.rs`, `migration.rs`, `http.rs`.

pub mod alerts;
mod deps;
pub mod domain;
mod entities;
mod feed;
mod http;
pub mod messages;
mod migration;
pub mod protocol;
pub mod rooms;
pub mod samples;
mod socket;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use surge_kernel::idempotency::Idempotency;
use surge_kernel::module::{Foundation, Module, Subscription};
use surge_kernel::ports::Notifier;
use utoipa::OpenApi;

pub use http::{ReadUpTo, RoomDraft};
pub use migration::migrations;
pub use socket::SocketLimits;

#[derive(Debug, Clone, Copy)]
pub struct ChatConfig {
    pub socket: SocketLimits,
    /// How often each instance tries the alert lease (and, holding it, polls when due).
    pub alert_tick: Duration,
    /// How often the lease holder sweeps (expired alerts, old alert rooms).
    pub cleanup_every: Duration,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            socket: SocketLimits {
                max_rooms: 20,
                queue: 1024,
                sends_per_second: 5,
                send_burst: 10,
            },
            alert_tick: Duration::from_secs(30),
            cleanup_every: Duration::from_secs(3600),
        }
    }
}

pub struct Chat {
    pub rooms: Arc<rooms::Rooms>,
    pub messages: Arc<messages::Messages>,
    pub alerts: Arc<alerts::Alerts>,
    sockets: Arc<socket::Sockets>,
}

/// What chat needs from outside the foundation.
pub struct Ports {
    /// Tells followers when their province's alert room opens.
    pub notifier: Arc<dyn Notifier>,
    /// The weather alert source; `None`: no alert rooms are polled (off).
    pub alerts: Option<alerts::AlertSource>,
}

pub fn module(
    f: &Foundation,
    cfg: ChatConfig,
    ports: Ports,
) -> anyhow::Result<(Module, Arc<Chat>)> {
    let deps = deps::Deps::new(f, ports.notifier);
    let messages = Arc::new(messages::Messages::new(deps.clone()));
    // A socket may fall this far behind its rooms before it catches up from the store.
    let feeds = feed::Feeds::new(deps.clone(), messages.clone(), 1024);
    let sockets = Arc::new(socket::Sockets::new(messages.clone(), feeds, cfg.socket));
    let alerts = Arc::new(alerts::Alerts::new(
        deps.clone(),
        ports.alerts,
        cfg.alert_tick,
        cfg.cleanup_every,
    ));
    let chat = Arc::new(Chat {
        rooms: Arc::new(rooms::Rooms::new(deps.clone())),
        messages,
        alerts: alerts.clone(),
        sockets: sockets.clone(),
    });
    let module = Module {
        name: "chat",
        router: http::router(
            chat.clone(),
            Idempotency {
                db: f.db.clone(),
                clock: f.clock.clone(),
            },
        ),
        openapi: http::ChatApi::openapi(),
        workers: vec![sockets.sweep().boxed(), alerts.run().boxed()],
        subscriptions: vec![Subscription::new(
            alerts::FOLLOWERS_CONSUMER,
            &[alerts::ALERT_ROOM_OPENED],
            alerts::FollowerNotices(deps),
        )],
    };
    Ok((module, chat))
}
