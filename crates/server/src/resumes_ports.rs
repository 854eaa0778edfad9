//! The resumes module as the configuration names it: where public work is read
//! (`[resumes.github]`, else the offline code host) and who writes (`[resumes.llm]`,
//! else the template writer).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use surge_infra::code_host::{FakeCodeHost, GitHub};
use surge_infra::llm::OpenAiChat;
use surge_kernel::code_host::CodeHost;
use surge_kernel::llm::Llm;
use surge_kernel::module::{Foundation, Module};
use surge_kernel::plans::UsageQuota;
use surge_kernel::ports::{Notifier, UserDirectory};

use crate::Config;

pub(crate) fn module(
    cfg: &Config,
    f: &Foundation,
    users: Arc<dyn UserDirectory>,
    notifier: Arc<dyn Notifier>,
    quota: Arc<dyn UsageQuota>,
) -> anyhow::Result<(Module, Arc<surge_resumes::Resumes>)> {
    let code_host: Arc<dyn CodeHost> = match &cfg.resumes.github {
        Some(g) => Arc::new(
            GitHub::new(g, f.cache.clone(), f.clock.clone())
                .context("configuring [resumes.github]")?,
        ),
        None => Arc::new(FakeCodeHost::new(f.clock.clone())),
    };
    let llm = match &cfg.resumes.llm {
        Some(l) => Some(Arc::new(
            OpenAiChat::new(l, f.clock.clone()).context("configuring [resumes.llm]")?,
        ) as Arc<dyn Llm>),
        None => None,
    };
    surge_resumes::module(
        f,
        surge_resumes::ResumesConfig {
            work: surge_resumes::WorkConfig {
                every: Duration::from_millis(cfg.resumes_work_every_ms.max(10)),
                concurrency: cfg.resumes_work_concurrency.max(1),
                ..Default::default()
            },
            flush_views_every: Some(Duration::from_millis(
                cfg.resumes_flush_views_every_ms.max(10),
            )),
            trusted_proxy_hops: if cfg.trust_forwarded_for {
                cfg.trusted_proxies.max(1)
            } else {
                0
            },
        },
        surge_resumes::Ports {
            users,
            notifier,
            quota,
            code_host,
            llm,
        },
    )
}
