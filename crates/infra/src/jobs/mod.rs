//! Adapters of the `JobSource` port: [`saramin::Saramin`] (JSON, access key),
//! [`work24::Work24`] (고용24, XML, auth key), [`greenhouse::Greenhouse`] (a company's
//! job board, JSON, no key) and [`fake::FakeJobBoard`] (offline, for the embedded mode
//! and tests). [`build`] picks one from a `[careers.sources.<name>]` section.
//!
//! The HTTP adapters share `fetch`: a timeout per request, retries with exponential
//! back-off on network failures, 5xx and 429 (`Retry-After` honoured up to a bound),
//! and errors that never show the key (it travels in the query string).

mod config;
pub mod fake;
mod fetch;
pub mod greenhouse;
pub mod saramin;
pub(crate) mod text;
pub mod work24;

use std::sync::Arc;

use surge_kernel::jobs::JobSource;

pub use config::JobSourceConfig;
pub use fake::FakeJobBoard;

/// What a source section builds: the adapter, and the fake board itself when it is one
/// (tests and the demo change it between runs).
pub struct BuiltSource {
    pub source: Arc<dyn JobSource>,
    pub fake: Option<Arc<FakeJobBoard>>,
}

/// The adapter a section names. Fails on an unknown kind or a missing key or board.
pub fn build(cfg: &JobSourceConfig) -> anyhow::Result<BuiltSource> {
    let source: Arc<dyn JobSource> = match cfg.kind.as_str() {
        "saramin" => Arc::new(saramin::Saramin::new(cfg)?),
        "work24" => Arc::new(work24::Work24::new(cfg)?),
        "greenhouse" => Arc::new(greenhouse::Greenhouse::new(cfg)?),
        "fake" => {
            let board = Arc::new(FakeJobBoard::seeded(
                cfg.seed.unwrap_or(1),
                cfg.postings.unwrap_or(50),
                cfg.page_size.unwrap_or(20) as usize,
            ));
            return Ok(BuiltSource {
                source: board.clone(),
                fake: Some(board),
            });
        }
        other => {
            anyhow::bail!("unknown job source kind {other:?} (saramin, work24, greenhouse or fake)")
        }
    };
    Ok(BuiltSource { source, fake: None })
}
