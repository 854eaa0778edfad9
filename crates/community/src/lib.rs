//! Community: posts about the weather and places around you, found by distance (a
//! geohash cell narrows, the exact great-circle distance decides), votes whose counts
//! always equal their rows, views counted once per viewer per hour and written in
//! batches, comments with one level of replies, and images stored without their EXIF.

pub mod comments;
mod deps;
pub mod domain;
mod entities;
pub mod generate;
pub mod geo;
mod http;
pub mod images;
mod migration;
pub mod missions;
pub mod nearby;
pub mod points;
pub mod posts;
pub mod proofs;
pub mod verification;
pub mod views;
pub mod votes;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use surge_kernel::idempotency::Idempotency;
use surge_kernel::module::Subscription;
use surge_kernel::module::{Foundation, Module};
use surge_kernel::ports::{Notifier, ObjectStore, UserDirectory};
use surge_kernel::verifier::MissionVerifier;
use utoipa::OpenApi;

/// The request bodies, for callers outside HTTP (demo data): each converts with
/// `try_into_domain()` into what the use cases take.
pub use http::{CommentDraft, PostDraft, PostPatch};
pub use migration::migrations;

/// Community's answer to "did this user complete a mission on this KST day?", for the
/// shop's mission-gated coupons; reads community's own tables through `db`.
pub fn mission_completions(f: &Foundation) -> Arc<dyn surge_kernel::ports::MissionCompletions> {
    Arc::new(points::Completions::new(f.db.clone()))
}

#[derive(Debug, Clone)]
pub struct CommunityConfig {
    /// How often counted views are written to the posts.
    pub flush_views_every: Duration,
    /// Proxies in front of the server that append to `X-Forwarded-For` (0: use the
    /// peer address), for telling anonymous viewers apart.
    pub trusted_proxy_hops: usize,
    /// Largest image upload taken (bytes), and the longest edge stored (pixels).
    pub image_max_bytes: usize,
    pub image_max_edge: u32,
}

impl Default for CommunityConfig {
    fn default() -> Self {
        Self {
            flush_views_every: Duration::from_secs(1),
            trusted_proxy_hops: 0,
            image_max_bytes: 10 * 1024 * 1024,
            image_max_edge: 2_048,
        }
    }
}

pub struct Community {
    pub posts: Arc<posts::Posts>,
    pub nearby: Arc<nearby::Nearby>,
    pub votes: Arc<votes::Votes>,
    pub views: Arc<views::Views>,
    pub comments: Arc<comments::Comments>,
    pub images: Arc<images::Images>,
    pub missions: Arc<missions::Missions>,
    pub proofs: Arc<proofs::Proofs>,
    pub points: Arc<points::Points>,
    /// Synthetic posts for the radius benchmark (`surge community generate`).
    pub generator: Arc<generate::Generator>,
    trusted_proxy_hops: usize,
}

/// What community needs from outside the foundation.
pub struct Ports {
    pub users: Arc<dyn UserDirectory>,
    pub notifier: Arc<dyn Notifier>,
    /// Where uploaded images are kept.
    pub objects: Arc<dyn ObjectStore>,
    /// Checks mission proofs before the admins do (`[community.verifier]`); without
    /// one, every proof waits for an admin.
    pub verifier: Option<Arc<dyn MissionVerifier>>,
}

pub fn module(
    f: &Foundation,
    cfg: CommunityConfig,
    ports: Ports,
) -> anyhow::Result<(Module, Arc<Community>)> {
    let deps = deps::Deps::new(f, ports.users, ports.notifier);
    let posts = Arc::new(posts::Posts::new(deps.clone()));
    let images = Arc::new(images::Images::new(
        deps.clone(),
        ports.objects,
        images::ImageRules {
            max_bytes: cfg.image_max_bytes.max(1),
            max_edge: cfg.image_max_edge.max(1),
        },
    ));
    let c = Arc::new(Community {
        nearby: Arc::new(nearby::Nearby::new(f.read_db.clone(), posts.clone())),
        posts,
        votes: Arc::new(votes::Votes::new(deps.clone())),
        views: Arc::new(views::Views::new(
            f.db.clone(),
            f.cache.clone(),
            f.clock.clone(),
            views::POSTS,
        )),
        comments: Arc::new(comments::Comments::new(deps.clone())),
        missions: Arc::new(missions::Missions::new(deps.clone())),
        proofs: Arc::new(proofs::Proofs::new(
            deps.clone(),
            images.clone(),
            ports.verifier.is_some(),
        )),
        points: Arc::new(points::Points::new(deps.clone())),
        generator: Arc::new(generate::Generator::new(deps.clone())),
        images,
        trusted_proxy_hops: cfg.trusted_proxy_hops,
    });
    let module = Module {
        name: "community",
        router: http::router(
            c.clone(),
            Idempotency {
                db: f.db.clone(),
                clock: f.clock.clone(),
            },
        ),
        openapi: http::CommunityApi::openapi(),
        workers: vec![c.views.clone().run(cfg.flush_views_every).boxed()],
        subscriptions: ports
            .verifier
            .map(|verifier| {
                Subscription::new(
                    verification::VERIFIER_CONSUMER,
                    &[proofs::PROOF_SUBMITTED],
                    verification::Verification {
                        deps,
                        proofs: c.proofs.clone(),
                        images: c.images.clone(),
                        verifier,
                    },
                )
            })
            .into_iter()
            .collect(),
    };
    Ok((module, c))
}
