//! Billing: FREE and PRO plans with a daily quota other modules meter through
//! [`surge_kernel::plans::UsageQuota`], recurring PRO subscriptions through the
//! [`surge_kernel::payment::SubscriptionGateway`] port, and the crash-safe nightly batch
//! that renews them.

pub mod batch;
mod deps;
pub mod domain;
mod entities;
pub mod generate;
mod http;
mod migration;
pub mod quota;
pub mod subscriptions;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use surge_kernel::module::{Foundation, Module, Subscription};
use surge_kernel::payment::SubscriptionGateway;
use surge_kernel::plans::UsageQuota;
use surge_kernel::ports::Notifier;
use utoipa::OpenApi;

pub use batch::BatchConfig;
pub use domain::PlanLimits;
pub use migration::migrations;

#[derive(Debug, Clone)]
pub struct BillingConfig {
    pub limits: PlanLimits,
    pub batch: BatchConfig,
    /// How often the server checks whether today's nightly batch has run (it runs right
    /// after 00:00 KST); `None`: no schedule (tests and CLI-only deployments).
    pub schedule_every: Option<Duration>,
    /// Public base URL the payment provider redirects back to.
    pub public_url: String,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            limits: PlanLimits::default(),
            batch: BatchConfig::default(),
            schedule_every: Some(Duration::from_secs(30)),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

pub struct Billing {
    /// The daily quota, for the modules that meter uses (resumes).
    pub quota: Arc<dyn UsageQuota>,
    pub subscriptions: Arc<subscriptions::Subscriptions>,
    pub batch: Arc<batch::Batch>,
    pub generator: Arc<generate::Generator>,
}

/// What billing needs from outside the foundation.
pub struct Ports {
    /// Recurring payments; `None` when the provider has no subscription merchant code
    /// (subscriptions then answer 503 `subscriptions_unavailable`).
    pub gateway: Option<Arc<dyn SubscriptionGateway>>,
    pub notifier: Arc<dyn Notifier>,
}

pub fn module(
    f: &Foundation,
    cfg: BillingConfig,
    ports: Ports,
) -> anyhow::Result<(Module, Arc<Billing>)> {
    let Ports { gateway, notifier } = ports;
    let deps = deps::Deps::new(f, cfg.limits);
    let quota: Arc<dyn UsageQuota> = Arc::new(quota::Quota::new(deps.clone()));
    let batch = Arc::new(batch::Batch::new(deps.clone(), gateway.clone(), cfg.batch));
    // Without a recurring provider there is nothing to renew (and nothing to run).
    let workers = match (cfg.schedule_every, &gateway) {
        (Some(every), Some(_)) => vec![batch.clone().run_schedule(every).boxed()],
        _ => Vec::new(),
    };
    let billing = Arc::new(Billing {
        quota,
        subscriptions: Arc::new(subscriptions::Subscriptions::new(
            deps.clone(),
            gateway,
            cfg.public_url.trim_end_matches('/').to_owned(),
        )),
        batch: batch.clone(),
        generator: Arc::new(generate::Generator::new(deps.clone())),
    });
    let idem = surge_kernel::idempotency::Idempotency {
        db: f.db.clone(),
        clock: f.clock.clone(),
    };
    let notices = Subscription::new(
        batch::notices::CONSUMER,
        batch::notices::TOPICS,
        batch::notices::Notices {
            db: f.db.clone(),
            clock: f.clock.clone(),
            notifier,
        },
    );

    let module = Module {
        name: "billing",
        router: http::router(billing.clone(), deps, idem),
        openapi: http::BillingApi::openapi(),
        workers,
        subscriptions: vec![notices],
    };
    Ok((module, billing))
}
