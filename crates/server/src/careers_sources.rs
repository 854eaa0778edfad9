//! The careers job sources and news feeds the configuration names, built into adapters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use surge_infra::jobs::FakeJobBoard;

use crate::Config;

/// The careers job sources of `[careers.sources.*]`, and the fake boards among them.
#[allow(clippy::type_complexity)]
pub(crate) fn job_sources(
    cfg: &Config,
) -> anyhow::Result<(
    Vec<surge_careers::sources::ConfiguredSource>,
    BTreeMap<String, Arc<FakeJobBoard>>,
)> {
    let mut sources = Vec::new();
    let mut boards = BTreeMap::new();
    for (name, sc) in &cfg.careers.sources {
        let built = surge_infra::jobs::build(sc)
            .with_context(|| format!("configuring [careers.sources.{name}]"))?;
        if let Some(board) = built.fake {
            boards.insert(name.clone(), board);
        }
        sources.push(surge_careers::sources::ConfiguredSource {
            name: name.clone(),
            source: built.source,
            every: (sc.interval_secs > 0).then(|| Duration::from_secs(sc.interval_secs)),
        });
    }
    Ok((sources, boards))
}

/// The careers news feeds of `[careers.feeds.*]`.
pub(crate) fn news_feeds(
    cfg: &Config,
) -> anyhow::Result<Vec<surge_careers::sources::ConfiguredFeed>> {
    let gates =
        surge_infra::news::HostGates::new(Duration::from_millis(cfg.careers.feed_host_gap_ms));
    cfg.careers
        .all_feeds()
        .iter()
        .map(|(name, fc)| {
            let feed = surge_infra::news::HttpFeed::new(fc, &gates)
                .with_context(|| format!("configuring [careers.feeds.{name}]"))?;
            Ok(surge_careers::sources::ConfiguredFeed {
                name: name.clone(),
                source: Arc::new(feed),
                every: (fc.interval_secs > 0).then(|| Duration::from_secs(fc.interval_secs)),
            })
        })
        .collect()
}
