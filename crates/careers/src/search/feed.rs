//! Following `careers.posting_changed`: each change replaces its posting's document at
//! once, and one commit shortly after serves every change that arrived meanwhile.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use surge_kernel::events::EventEnvelope;
use surge_kernel::ports::EventHandler;
use surge_kernel::ApiError;
use uuid::Uuid;

use super::Search;
use crate::postings::PostingChanged;

/// How long a followed change waits for its commit, which the changes arriving
/// meanwhile share: a commit (and reader reload) per change made 2,000 demo postings
/// hold the event relay for minutes. A crash before the commit loses nothing: at start
/// the index re-reads what changed since the watermark of its last commit.
const COMMIT_DELAY: Duration = Duration::from_millis(200);

/// This instance's consumer of posting changes, `careers.search.<id>`: every instance
/// indexes every change. The id is kept beside the index directory (`<dir>.consumer`),
/// so a restart resumes the same durable consumer instead of leaving one behind.
pub(crate) fn consumer_name(dir: &Path) -> anyhow::Result<String> {
    let mut file = dir.as_os_str().to_owned();
    file.push(".consumer");
    let file = PathBuf::from(file);
    if let Ok(name) = std::fs::read_to_string(&file) {
        let name = name.trim();
        let id = name.strip_prefix("careers.search.").unwrap_or_default();
        if id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(name.to_owned());
        }
    }
    let name = format!("careers.search.{}", Uuid::new_v4().simple());
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&file, &name)?;
    Ok(name)
}

impl Search {
    /// Follows one change: its document is replaced now and committed within
    /// [`COMMIT_DELAY`], together with the changes that arrive meanwhile.
    async fn follow(self: &Arc<Self>, id: Uuid) -> Result<(), ApiError> {
        {
            let mut w = self.writer.lock().await;
            let seen = self.stage(&mut w, &[id]).await?;
            self.staged.fetch_max(seen, Ordering::SeqCst);
        }
        if !self.flush_due.swap(true, Ordering::SeqCst) {
            tokio::spawn(self.clone().flush());
        }
        Ok(())
    }

    /// Commits the followed changes after [`COMMIT_DELAY`]; a failed commit is tried
    /// again, waiting longer each time (up to a minute).
    async fn flush(self: Arc<Self>) {
        let mut wait = COMMIT_DELAY;
        loop {
            tokio::time::sleep(wait).await;
            self.flush_due.store(false, Ordering::SeqCst);
            let mut w = self.writer.lock().await;
            match self.commit(&mut w, 0).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = ?e, "committing followed posting changes failed; trying again");
                    self.flush_due.store(true, Ordering::SeqCst);
                    wait = (wait * 2).min(Duration::from_secs(60));
                }
            }
        }
    }
}

/// Follows `careers.posting_changed`: re-reads the posting and replaces its document
/// (committed within [`COMMIT_DELAY`]).
pub(crate) struct Feed(pub Arc<Search>);

#[async_trait]
impl EventHandler for Feed {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let e: PostingChanged = event.payload_as()?;
        // Changed here or on another instance: the next page reads it again.
        self.0.deps.rows.invalidate(&e.posting_id).await;
        let failed = |e: ApiError| anyhow::anyhow!("indexing posting {}: {e:?}", event.key);
        self.0.ready().await.map_err(failed)?;
        self.0.follow(e.posting_id).await.map_err(failed)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_consumer_name_survives_a_restart_and_differs_per_data_dir() {
        let base = std::env::temp_dir().join(format!("surge-consumer-{}", Uuid::new_v4()));
        let a = consumer_name(&base.join("a").join("careers-index")).unwrap();
        assert!(a.starts_with("careers.search."), "{a}");
        assert_eq!(
            consumer_name(&base.join("a").join("careers-index")).unwrap(),
            a
        );
        assert_ne!(
            consumer_name(&base.join("b").join("careers-index")).unwrap(),
            a
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
