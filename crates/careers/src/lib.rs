//! Careers: job postings (by hand, and ingested from public job sources: `sources`) with Korean
//! full-text search (an embedded index per instance, `search`),
//! scraps with a reminder the day before a deadline, points that never go negative,
//! and mentoring programs whose places and fees are taken atomically.

pub mod applications;
mod deps;
pub mod domain;
mod entities;
pub mod generate;
mod http;
mod migration;
pub mod points;
pub mod postings;
pub mod programs;
pub mod reminders;
pub mod samples;
pub mod scraps;
pub mod search;
pub mod sources;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use surge_kernel::idempotency::Idempotency;
use surge_kernel::module::{Foundation, Module, Subscription};
use surge_kernel::ports::{Notifier, UserDirectory};
use utoipa::OpenApi;

/// The request bodies, for callers outside HTTP (demo data later): each converts with
/// `try_into_domain()` into what the use cases take.
pub use http::{GrantDraft, PostingDraft, PostingPatch, ProgramDraft, ProgramPatch};
pub use migration::migrations;

#[derive(Debug, Clone)]
pub struct CareersConfig {
    /// How often the deadline-reminder sweeper runs.
    pub remind_every: Duration,
    /// Where this instance keeps its search index (the server: `<data_dir>/careers-index`);
    /// `None`: a fresh directory under the system temp dir, built from the database.
    pub index_dir: Option<PathBuf>,
    /// The job sources to ingest (the server builds them from `[careers.sources.*]`);
    /// none: none run.
    pub sources: Vec<sources::ConfiguredSource>,
    /// The tech news feeds (`[careers.feeds.*]`); names shared with the sources.
    pub feeds: Vec<sources::ConfiguredFeed>,
}

impl Default for CareersConfig {
    fn default() -> Self {
        Self {
            remind_every: Duration::from_secs(60),
            index_dir: None,
            sources: Vec::new(),
            feeds: Vec::new(),
        }
    }
}

pub struct Careers {
    pub postings: Arc<postings::Postings>,
    pub scraps: Arc<scraps::Scraps>,
    pub points: Arc<points::Points>,
    pub programs: Arc<programs::Programs>,
    pub applications: Arc<applications::Applications>,
    pub reminders: Arc<reminders::Reminders>,
    pub search: Arc<search::Search>,
    pub sources: Arc<sources::Sources>,
    pub news: Arc<sources::News>,
    pub generator: Arc<generate::Generator>,
}

/// What careers needs from outside the foundation.
pub struct Ports {
    pub users: Arc<dyn UserDirectory>,
    pub notifier: Arc<dyn Notifier>,
}

pub fn module(
    f: &Foundation,
    cfg: CareersConfig,
    ports: Ports,
) -> anyhow::Result<(Module, Arc<Careers>)> {
    let deps = deps::Deps::new(f, ports.users, ports.notifier);
    // Runs and leases are per name: a feed and a source must not share one.
    for feed in &cfg.feeds {
        anyhow::ensure!(
            !cfg.sources.iter().any(|s| s.name == feed.name),
            "{:?} names both a job source and a news feed",
            feed.name
        );
    }
    let index_dir = cfg.index_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("surge-careers-index-{}", uuid::Uuid::new_v4()))
    });
    let search = Arc::new(search::Search::open(&index_dir, deps.clone())?);
    let c = Arc::new(Careers {
        postings: Arc::new(postings::Postings::new(deps.clone())),
        scraps: Arc::new(scraps::Scraps::new(deps.clone())),
        points: Arc::new(points::Points::new(deps.clone())),
        programs: Arc::new(programs::Programs::new(deps.clone())),
        applications: Arc::new(applications::Applications::new(deps.clone())),
        reminders: Arc::new(reminders::Reminders::new(deps.clone())),
        generator: Arc::new(generate::Generator::new(deps.clone())),
        search: search.clone(),
        sources: Arc::new(sources::Sources::new(deps.clone(), cfg.sources)?),
        news: Arc::new(sources::News::new(deps, cfg.feeds)?),
    });
    // Every instance indexes every change: a consumer name of its own, kept with its
    // index (the in-process bus has one consumer anyway). Leaked once per module built.
    let consumer: &'static str =
        Box::leak(search::feed::consumer_name(&index_dir)?.into_boxed_str());
    let module = Module {
        name: "careers",
        router: http::router(
            c.clone(),
            Idempotency {
                db: f.db.clone(),
                clock: f.clock.clone(),
            },
        ),
        openapi: {
            let mut api = http::CareersApi::openapi();
            api.merge(http::SourcesApi::openapi());
            api
        },
        workers: [
            c.reminders.clone().run(cfg.remind_every).boxed(),
            search.clone().warm().boxed(),
        ]
        .into_iter()
        .chain(
            c.sources
                .names()
                .into_iter()
                .map(|name| c.sources.clone().keep_synced(name).boxed()),
        )
        .chain(
            c.news
                .names()
                .into_iter()
                .map(|name| c.news.clone().keep_fresh(name).boxed()),
        )
        .collect(),
        subscriptions: vec![Subscription::new(
            consumer,
            &[postings::POSTING_CHANGED],
            search::feed::Feed(search),
        )],
    };
    Ok((module, c))
}
