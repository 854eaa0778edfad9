//! What community takes from outside the foundation, as the configuration names it: the
//! object store for images (`[s3]`, else `<data_dir>/objects`) and the automatic proof verifier (`[community.verifier]`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use surge_infra::objects::Objects;
use surge_infra::verifier::{VisionVerifier, VisionVerifierConfig};
use surge_kernel::verifier::MissionVerifier;

use crate::Config;

pub(crate) fn ports(
    cfg: &Config,
    users: Arc<dyn surge_kernel::ports::UserDirectory>,
    notifier: Arc<dyn surge_kernel::ports::Notifier>,
) -> anyhow::Result<surge_community::Ports> {
    let verifier = match &cfg.community.verifier {
        None => None,
        Some(v) => {
            let built = VisionVerifier::new(VisionVerifierConfig {
                base_url: v.base_url.trim_end_matches('/').to_owned(),
                model: v.model.clone(),
                api_key: v.api_key.clone(),
                timeout: Duration::from_millis(v.timeout_ms.max(1)),
                attempts: v.attempts.max(1),
                base_delay: Duration::from_millis(v.retry_first_delay_ms),
            })
            .context("configuring [community.verifier]")?;
            Some(Arc::new(built) as Arc<dyn MissionVerifier>)
        }
    };
    Ok(surge_community::Ports {
        users,
        notifier,
        objects: Arc::new(match &cfg.s3 {
            Some(s3) => Objects::s3(s3).context("configuring [s3]")?,
            None => Objects::local(&cfg.data_dir.join("objects"))?,
        }),
        verifier,
    })
}
