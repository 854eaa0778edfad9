//! Partner matching: meal and study rooms with a capacity that is never exceeded,
//! comments, random matching by conditions (one matcher per category across
//! instances, by a lease), reviews and activity scores, live notifications.

pub mod domain;
mod entities;
mod http;
pub mod matches;
pub mod matching;
pub mod rooms;
mod store;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use surge_kernel::module::{Foundation, Module};
use surge_kernel::ports::{ChatNotifier, Notifier, UserDirectory};
use utoipa::OpenApi;

pub use store::migrations;

/// A member's nickname for display (a deleted account shows as such).
pub(crate) async fn nickname(users: &dyn UserDirectory, id: uuid::Uuid) -> String {
    match users.find(id).await {
        Ok(Some(u)) => u.nickname,
        _ => "(탈퇴한 사용자)".into(),
    }
}

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
    pub matcher: Arc<matching::Matcher>,
    pub matches: Arc<matches::Matches>,
}

pub fn module(
    f: &Foundation,
    cfg: PartnerConfig,
    users: Arc<dyn UserDirectory>,
    notifier: Arc<dyn Notifier>,
    chat: Option<Arc<dyn ChatNotifier>>,
) -> (Module, Arc<Partner>) {
    let p = Arc::new(Partner {
        rooms: Arc::new(rooms::Rooms::new(f, users.clone(), notifier.clone())),
        matcher: Arc::new(matching::Matcher::new(
            f,
            notifier.clone(),
            chat,
            cfg.group_size,
        )),
        matches: Arc::new(matches::Matches::new(f, users, notifier)),
    });
    let module = Module {
        name: "partner",
        router: http::router(p.clone()),
        openapi: http::PartnerApi::openapi(),
        workers: vec![p.matcher.clone().run(cfg.match_every).boxed()],
    };
    (module, p)
}
