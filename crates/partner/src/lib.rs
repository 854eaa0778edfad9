//! Partner matching: meal and study rooms with a capacity that is never exceeded,
//! comments, random matching by conditions (one matcher per category across
//! instances, by a lease), reviews and activity scores, live notifications.

pub mod comments;
mod deps;
pub mod domain;
mod entities;
mod http;
pub mod matches;
pub mod matching;
mod migration;
pub mod rooms;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use surge_kernel::module::{Foundation, Module};
use surge_kernel::ports::{ChatNotifier, Notifier, UserDirectory};
use utoipa::OpenApi;

/// The request bodies, for callers outside HTTP (the demo data): each converts with
/// `try_into_domain()` into what the use cases take.
pub use http::{
    ApplicationDraft, CommentDraft, CommentPatch, ReviewDraft, RoomDraft, RoomFilter, RoomPatch,
};
pub use migration::migrations;

#[derive(Debug, Clone)]
pub struct PartnerConfig {
    /// People per random match (default 2).
    pub group_size: usize,
    /// How often the matcher runs without being woken.
    pub match_every: Duration,
}

impl Default for PartnerConfig {
    fn default() -> Self {
        Self {
            group_size: 2,
            match_every: Duration::from_secs(1),
        }
    }
}

pub struct Partner {
    pub rooms: Arc<rooms::Rooms>,
    pub comments: Arc<comments::Comments>,
    pub matcher: Arc<matching::Matcher>,
    pub matches: Arc<matches::Matches>,
}

/// What partner matching needs from outside the foundation.
pub struct Ports {
    pub users: Arc<dyn UserDirectory>,
    pub notifier: Arc<dyn Notifier>,
    /// A team chat to announce matches in; `None` when none is configured.
    pub chat: Option<Arc<dyn ChatNotifier>>,
}

pub fn module(
    f: &Foundation,
    cfg: PartnerConfig,
    ports: Ports,
) -> anyhow::Result<(Module, Arc<Partner>)> {
    let Ports {
        users,
        notifier,
        chat,
    } = ports;
    let matcher = matching::Matcher::new(f, notifier.clone(), chat, cfg.group_size);
    let deps = deps::Deps::new(f, users, notifier);
    let p = Arc::new(Partner {
        rooms: Arc::new(rooms::Rooms::new(deps.clone())),
        comments: Arc::new(comments::Comments::new(deps.clone())),
        matcher: Arc::new(matcher),
        matches: Arc::new(matches::Matches::new(deps)),
    });
    let module = Module {
        name: "partner",
        router: http::router(p.clone()),
        openapi: http::PartnerApi::openapi(),
        workers: vec![p.matcher.clone().run(cfg.match_every).boxed()],
        subscriptions: Vec::new(),
    };
    Ok((module, p))
}
