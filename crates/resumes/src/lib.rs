//! Resumes: written in the background from a developer's public work on a code host
//! (GitHub), by a language model or the built-in template writer; edited by the model or
//! by hand, every version kept; shared in a community of resumes with likes whose
//! counts equal their rows, comments and views counted once per viewer per hour. Each
//! generation or AI edit takes one use of billing's daily quota.

pub mod browse;
pub mod comments;
mod deps;
pub mod domain;
mod entities;
mod http;
pub mod likes;
mod migration;
mod notices;
pub mod resumes;
pub mod work;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use surge_kernel::code_host::CodeHost;
use surge_kernel::idempotency::Idempotency;
use surge_kernel::llm::Llm;
use surge_kernel::module::{Foundation, Module, Subscription};
use surge_kernel::plans::UsageQuota;
use surge_kernel::ports::{Notifier, UserDirectory};
use surge_kernel::views::{CountedIn, ViewCounter};
use utoipa::OpenApi;

pub use http::CreateBody;
pub use migration::migrations;
pub use work::WorkConfig;

#[derive(Debug, Clone, Default)]
pub struct ResumesConfig {
    pub work: WorkConfig,
    /// How often counted views are written (batched); default 1 s.
    pub flush_views_every: Option<Duration>,
    /// Proxies in front of the server that append to `X-Forwarded-For` (0: use the
    /// peer address), for telling anonymous viewers apart.
    pub trusted_proxy_hops: usize,
}

pub struct Resumes {
    pub resumes: Arc<resumes::Folder>,
    pub browse: Arc<browse::Browse>,
    pub likes: Arc<likes::Likes>,
    pub comments: Arc<comments::Comments>,
    pub views: Arc<ViewCounter>,
    /// The background writer (tests run it by hand with `run_due`).
    pub work: Arc<work::Work>,
    trusted_proxy_hops: usize,
}

/// What resumes needs from outside the foundation.
pub struct Ports {
    pub users: Arc<dyn UserDirectory>,
    pub notifier: Arc<dyn Notifier>,
    /// Billing's daily quota: one use per generation or AI edit.
    pub quota: Arc<dyn UsageQuota>,
    /// Where public work is read (GitHub, or the offline host).
    pub code_host: Arc<dyn CodeHost>,
    /// The model that writes and edits; `None`: the template writer, and no AI edits.
    pub llm: Option<Arc<dyn Llm>>,
}

const VIEWS: CountedIn = CountedIn {
    table: "resumes",
    column: "view_count",
    key: "resumes",
};

pub fn module(
    f: &Foundation,
    cfg: ResumesConfig,
    ports: Ports,
) -> anyhow::Result<(Module, Arc<Resumes>)> {
    let deps = deps::Deps::new(f, ports.users, ports.quota);
    let writer: Arc<dyn writer::Writer> = match ports.llm {
        Some(llm) => Arc::new(writer::ModelWriter { llm }),
        None => Arc::new(writer::TemplateWriter),
    };
    let work = Arc::new(work::Work::new(
        deps.clone(),
        ports.code_host,
        writer.clone(),
        cfg.work,
    ));
    let r = Arc::new(Resumes {
        resumes: Arc::new(resumes::Folder::new(deps.clone(), writer)),
        browse: Arc::new(browse::Browse::new(deps.clone())),
        likes: Arc::new(likes::Likes::new(deps.clone())),
        comments: Arc::new(comments::Comments::new(deps.clone())),
        views: Arc::new(ViewCounter::new(
            f.db.clone(),
            f.cache.clone(),
            f.clock.clone(),
            VIEWS,
        )),
        work: work.clone(),
        trusted_proxy_hops: cfg.trusted_proxy_hops,
    });
    let flush_every = cfg.flush_views_every.unwrap_or(Duration::from_secs(1));
    let module = Module {
        name: "resumes",
        router: http::router(
            r.clone(),
            Idempotency {
                db: f.db.clone(),
                clock: f.clock.clone(),
            },
        ),
        openapi: http::ResumesApi::openapi(),
        workers: vec![
            r.views.clone().run(flush_every).boxed(),
            work.clone().run().boxed(),
        ],
        subscriptions: vec![
            Subscription::new(
                work::WRITER_CONSUMER,
                &[resumes::WRITE_REQUESTED],
                work::Wake(work),
            ),
            Subscription::new(
                notices::CONSUMER,
                notices::TOPICS,
                notices::Notices {
                    deps,
                    notifier: ports.notifier,
                },
            ),
        ],
    };
    Ok((module, r))
}
