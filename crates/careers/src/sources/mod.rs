//! Job postings from public sources (`[careers.sources.<name>]`): each configured source
//! is synced on its schedule, by an admin (`POST /sources/{name}/sync`) or from the shell
//! (`surge careers sync`); one run per source at a time across instances (`run`), pages
//! upserted by `(source, source_id)` (`upsert`), and every run recorded with its counts.

mod news;
mod run;
mod upsert;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use surge_kernel::jobs::JobSource;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::{rfc3339, ApiError};
use uuid::Uuid;

pub use news::{ConfiguredFeed, News, NewsFilter, NewsView};
pub use run::{Quiet, StartedRun, SyncProgress};
pub use upsert::SyncCounts;

use crate::deps::Deps;
use crate::domain::{source_name, SyncStatus, SyncTrigger};
use crate::entities::sync_run;

/// A source the server built from configuration.
#[derive(Clone)]
pub struct ConfiguredSource {
    /// The section's name: what its postings carry as `source` (see `domain::source_name`).
    pub name: String,
    pub source: Arc<dyn JobSource>,
    /// Time between scheduled runs; `None`: only on demand.
    pub every: Option<Duration>,
}

impl std::fmt::Debug for ConfiguredSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfiguredSource")
            .field("name", &self.name)
            .field("kind", &self.source.kind())
            .field("every", &self.every)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SyncRunView {
    pub id: Uuid,
    pub source: String,
    pub trigger: SyncTrigger,
    pub status: SyncStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub new: i64,
    pub updated: i64,
    pub closed: i64,
    pub failed: i64,
    /// Why a FAILED run stopped.
    pub error: Option<String>,
}

impl From<sync_run::Model> for SyncRunView {
    fn from(r: sync_run::Model) -> Self {
        Self {
            id: r.id,
            source: r.source,
            trigger: r.trigger,
            status: r.status,
            started_at: rfc3339(r.started_at),
            finished_at: r.finished_at.map(rfc3339),
            new: r.new_postings,
            updated: r.updated_postings,
            closed: r.closed_postings,
            failed: r.failed_items,
            error: r.error,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SourceView {
    pub name: String,
    /// `saramin`, `work24`, `greenhouse` or `fake`.
    pub kind: String,
    /// Seconds between scheduled runs; 0: only on demand.
    pub interval_secs: u64,
    pub last_run: Option<SyncRunView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SyncStarted {
    pub run_id: Uuid,
}

pub struct Sources {
    deps: Arc<Deps>,
    by_name: BTreeMap<String, ConfiguredSource>,
}

impl Sources {
    /// Fails on a name that cannot be a posting's `source`, or on a name given twice.
    pub(crate) fn new(deps: Arc<Deps>, list: Vec<ConfiguredSource>) -> anyhow::Result<Self> {
        let mut by_name = BTreeMap::new();
        for s in list {
            anyhow::ensure!(
                source_name(&s.name).is_some(),
                "job source name {:?}: 1..=20 of a-z, 0-9, - and _, and not \"manual\"",
                s.name
            );
            let name = s.name.clone();
            anyhow::ensure!(
                by_name.insert(name.clone(), s).is_none(),
                "job source {name:?} is configured twice"
            );
        }
        Ok(Self { deps, by_name })
    }

    /// The configured sources' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    fn find(&self, name: &str) -> Result<&ConfiguredSource, ApiError> {
        self.by_name.get(name).ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "unknown_source",
                format!("no job source named {name:?} is configured"),
            )
        })
    }

    /// Starts a run in the background; its id at once. 404 `unknown_source`, 409
    /// `sync_in_progress`.
    #[tracing::instrument(skip(self))]
    pub async fn trigger(&self, name: &str, trigger: SyncTrigger) -> Result<Uuid, ApiError> {
        let source = self.find(name)?.source.clone();
        let started = run::start(&self.deps, name, trigger).await?;
        let run_id = started.run_id;
        let deps = self.deps.clone();
        tokio::spawn(async move {
            if let Err(e) = run::execute(&deps, source.as_ref(), started, &Quiet).await {
                tracing::warn!(error = %e, %run_id, "recording a sync run failed");
            }
        });
        Ok(run_id)
    }

    /// Runs a sync to its end here and now (the CLI, the schedule, tests).
    #[tracing::instrument(skip(self, progress))]
    pub async fn sync(
        &self,
        name: &str,
        trigger: SyncTrigger,
        progress: &dyn SyncProgress,
    ) -> Result<SyncRunView, ApiError> {
        let source = self.find(name)?.source.clone();
        let started = run::start(&self.deps, name, trigger).await?;
        Ok(run::execute(&self.deps, source.as_ref(), started, progress)
            .await?
            .into())
    }

    async fn last_run(&self, name: &str) -> Result<Option<sync_run::Model>, ApiError> {
        Ok(sync_run::Entity::find()
            .filter(sync_run::Column::Source.eq(name))
            .order_by_desc(sync_run::Column::StartedAt)
            .order_by_desc(sync_run::Column::Id)
            .one(&self.deps.db)
            .await?)
    }

    /// The configured sources with their latest run.
    pub async fn list(&self) -> Result<Vec<SourceView>, ApiError> {
        let mut out = Vec::with_capacity(self.by_name.len());
        for (name, s) in &self.by_name {
            out.push(SourceView {
                name: name.clone(),
                kind: s.source.kind().to_owned(),
                interval_secs: s.every.map_or(0, |d| d.as_secs()),
                last_run: self.last_run(name).await?.map(Into::into),
            });
        }
        Ok(out)
    }

    /// Runs, newest first; of one source when `source` is given.
    pub async fn runs(
        &self,
        source: Option<&str>,
        page: &PageQuery,
    ) -> Result<Page<SyncRunView>, ApiError> {
        let limit = page.limit()?;
        let mut q = sync_run::Entity::find();
        if let Some(s) = source {
            q = q.filter(sync_run::Column::Source.eq(s));
        }
        if let Some(c) = page.uuid_cursor()? {
            q = q.filter(sync_run::Column::Id.lt(c));
        }
        let rows = q
            .order_by_desc(sync_run::Column::Id)
            .limit(limit + 1)
            .all(&self.deps.read_db)
            .await?;
        let page = Page::from_rows(rows, limit, |r| r.id.to_string());
        Ok(Page {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// One run.
    pub async fn run(&self, id: Uuid) -> Result<SyncRunView, ApiError> {
        sync_run::Entity::find_by_id(id)
            .one(&self.deps.db)
            .await?
            .map(Into::into)
            .ok_or_else(|| ApiError::not_found("no such sync run"))
    }

    /// The schedule of one source: a run whenever its latest run (on any instance, by
    /// any trigger) started `every` ago or more. Instances racing for it meet at the
    /// lease: one runs, the others skip.
    pub async fn keep_synced(self: Arc<Self>, name: String) {
        let Some(every) = self.by_name.get(&name).and_then(|s| s.every) else {
            return;
        };
        let poll = every
            .min(Duration::from_secs(30))
            .max(Duration::from_millis(200));
        loop {
            match self.due(&name, every).await {
                Ok(true) => match self.sync(&name, SyncTrigger::Schedule, &Quiet).await {
                    Ok(r) => {
                        tracing::info!(source = %name, new = r.new, updated = r.updated, closed = r.closed, failed = r.failed, status = ?r.status, "scheduled sync ended")
                    }
                    Err(e) if e.code == "sync_in_progress" => {}
                    Err(e) => {
                        tracing::warn!(source = %name, error = %e, "scheduled sync failed to start")
                    }
                },
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(source = %name, error = %e, "reading the last sync run failed")
                }
            }
            tokio::time::sleep(poll).await;
        }
    }

    async fn due(&self, name: &str, every: Duration) -> Result<bool, ApiError> {
        let now = self.deps.clock.now_ms();
        Ok(match self.last_run(name).await? {
            None => true,
            Some(r) => r.started_at + every.as_millis() as i64 <= now,
        })
    }
}
