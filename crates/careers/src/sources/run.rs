//! A sync run of one source: one runner per source across instances (a lease row taken
//! with insert-if-absent, renewed while the run lasts, stolen only once expired), the
//! pages read and upserted one transaction each, then, when every page was read, the
//! source's open postings that did not show up closed (and, in any case, those past
//! their deadline). The run's row in `careers_sync_runs` says how it went.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, Set, TransactionTrait,
};
use surge_kernel::clock::Clock;
use surge_kernel::jobs::JobSource;
use surge_kernel::{new_id, ApiError, Millis};
use uuid::Uuid;

use super::upsert::{close, normalize, open_postings, upsert_page, SyncCounts};
use crate::deps::Deps;
use crate::domain::{SyncStatus, SyncTrigger};
use crate::entities::sync_run;

/// How long a lease lasts without renewal: a runner that stopped is replaced after it.
pub(crate) const LEASE_MS: Millis = 60_000;
/// A run reads at most this many pages (a source that never ends is cut short, and the
/// run then closes nothing).
const MAX_PAGES: usize = 2_000;
/// Postings closed per transaction.
const CLOSE_CHUNK: usize = 200;

/// Told how a run advances (the CLI draws a progress bar from it).
pub trait SyncProgress: Send + Sync {
    /// After each page: the counts so far, items seen, and the source's total if known.
    fn page(&self, counts: &SyncCounts, seen: u64, total: Option<u64>);
}

/// Tells nobody.
pub struct Quiet;

impl SyncProgress for Quiet {
    fn page(&self, _: &SyncCounts, _: u64, _: Option<u64>) {}
}

/// A run that holds its source's lease and has its row: what [`execute`] carries out.
pub struct StartedRun {
    pub run_id: Uuid,
    pub(crate) source: String,
    pub(crate) holder: String,
}

fn lease_name(source: &str) -> String {
    format!("careers.sync.{source}")
}

/// The table careers keeps its leases in.
const LEASES: &str = "careers_leases";

/// Takes or renews the lease of `source` for `holder`; `true` if `holder` has it now.
pub(crate) async fn lease(
    db: &DatabaseConnection,
    source: &str,
    holder: &str,
    now: Millis,
) -> Result<bool, DbErr> {
    surge_kernel::lease::take(db, LEASES, &lease_name(source), holder, now, LEASE_MS).await
}

/// Gives the lease back (only if `holder` still has it), so the next run may start now.
async fn release(db: &impl ConnectionTrait, source: &str, holder: &str) -> Result<(), DbErr> {
    surge_kernel::lease::release(db, LEASES, &lease_name(source), holder).await
}

/// Takes the lease of `source` and records a RUNNING run; 409 `sync_in_progress` while
/// another run of it holds the lease (on any instance).
pub(crate) async fn start(
    deps: &Deps,
    source: &str,
    trigger: SyncTrigger,
) -> Result<StartedRun, ApiError> {
    let holder = new_id().to_string();
    let now = deps.clock.now_ms();
    if !lease(&deps.db, source, &holder, now).await? {
        return Err(ApiError::conflict(
            "sync_in_progress",
            format!("a sync of {source} is running; wait for it to finish"),
        ));
    }
    // Holding the lease, any other RUNNING run of this source belongs to a runner that
    // stopped (its lease expired): it ended there.
    sync_run::Entity::update_many()
        .col_expr(sync_run::Column::Status, Expr::value(SyncStatus::Failed))
        .col_expr(sync_run::Column::FinishedAt, Expr::value(now))
        .col_expr(
            sync_run::Column::Error,
            Expr::value("abandoned: its runner stopped before the end"),
        )
        .filter(sync_run::Column::Source.eq(source))
        .filter(sync_run::Column::Status.eq(SyncStatus::Running))
        .exec(&deps.db)
        .await?;
    let run_id = new_id();
    sync_run::ActiveModel {
        id: Set(run_id),
        source: Set(source.to_owned()),
        trigger: Set(trigger),
        started_at: Set(now),
        finished_at: Set(None),
        status: Set(SyncStatus::Running),
        new_postings: Set(0),
        updated_postings: Set(0),
        closed_postings: Set(0),
        failed_items: Set(0),
        error: Set(None),
    }
    .insert(&deps.db)
    .await?;
    Ok(StartedRun {
        run_id,
        source: source.to_owned(),
        holder,
    })
}

/// Renews the lease every third of its life until dropped; `lost` says it was taken.
pub(crate) struct Renewal {
    lost: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Renewal {
    pub(crate) fn spawn(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        source: String,
        holder: String,
    ) -> Self {
        let lost = Arc::new(AtomicBool::new(false));
        let flag = lost.clone();
        let task = tokio::spawn(async move {
            // The lease was taken (or last renewed) at this time.
            let mut held_since = clock.now_ms();
            loop {
                tokio::time::sleep(Duration::from_millis((LEASE_MS / 3) as u64)).await;
                let now = clock.now_ms();
                match lease(&db, &source, &holder, now).await {
                    Ok(true) => held_since = now,
                    Ok(false) => {
                        flag.store(true, Ordering::SeqCst);
                        return;
                    }
                    // Unrenewed, the lease may expire before the next attempt and another
                    // runner take it: from then on this run counts it as lost.
                    Err(e) if now - held_since >= LEASE_MS * 2 / 3 => {
                        tracing::warn!(error = %e, %source, "a sync lease could not be renewed in time; the run stops");
                        flag.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, %source, "renewing a sync lease failed"),
                }
            }
        });
        Self { lost, task }
    }
}

impl Renewal {
    /// Whether another runner took the lease over.
    pub(crate) fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Carries out a started run to its end and records how it went.
pub(crate) async fn execute(
    deps: &Arc<Deps>,
    job_source: &dyn JobSource,
    run: StartedRun,
    progress: &dyn SyncProgress,
) -> Result<sync_run::Model, ApiError> {
    let renewal = Renewal::spawn(
        deps.db.clone(),
        deps.clock.clone(),
        run.source.clone(),
        run.holder.clone(),
    );
    let mut counts = SyncCounts::default();
    let outcome = read_and_write(deps, job_source, &run, &renewal, progress, &mut counts).await;
    drop(renewal);
    finish(deps, &run, &counts, outcome).await
}

/// Records how a run ended and gives its lease back.
pub(crate) async fn finish(
    deps: &Deps,
    run: &StartedRun,
    counts: &SyncCounts,
    outcome: anyhow::Result<()>,
) -> Result<sync_run::Model, ApiError> {
    let (status, error) = match &outcome {
        Ok(()) => (SyncStatus::Succeeded, None),
        Err(e) => (SyncStatus::Failed, Some(cut_error(e))),
    };
    if let Err(e) = &outcome {
        tracing::warn!(source = %run.source, run_id = %run.run_id, error = %e, "sync run failed");
    }
    // The row says the run ended exactly when the lease is free for the next one.
    let txn = deps.db.begin().await?;
    let finished = sync_run::ActiveModel {
        id: Set(run.run_id),
        finished_at: Set(Some(deps.clock.now_ms())),
        status: Set(status),
        new_postings: Set(counts.new as i64),
        updated_postings: Set(counts.updated as i64),
        closed_postings: Set(counts.closed as i64),
        failed_items: Set(counts.failed as i64),
        error: Set(error),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    release(&txn, &run.source, &run.holder).await?;
    txn.commit().await?;
    Ok(finished)
}

fn cut_error(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    match text.char_indices().nth(480) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

async fn read_and_write(
    deps: &Arc<Deps>,
    job_source: &dyn JobSource,
    run: &StartedRun,
    renewal: &Renewal,
    progress: &dyn SyncProgress,
    counts: &mut SyncCounts,
) -> anyhow::Result<()> {
    let mut seen: HashSet<String> = HashSet::new();
    // Listed upstream but not stored (unreadable, or refused by our rules): still there,
    // so never closed as vanished.
    let mut listed: HashSet<String> = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut complete = false;
    for _ in 0..MAX_PAGES {
        let page = job_source.page(cursor.as_deref()).await?;
        anyhow::ensure!(
            !renewal.lost(),
            "the lease was lost (another runner took over)"
        );
        counts.failed += page.failed.len() as u64;
        for bad in &page.failed {
            listed.extend(bad.source_id.iter().map(|id| id.trim().to_owned()));
            tracing::debug!(source = %run.source, id = ?bad.source_id, reason = %bad.reason, "source item skipped");
        }
        let mut rows = Vec::with_capacity(page.postings.len());
        for p in &page.postings {
            match normalize(p) {
                // The same id twice in one run (a page boundary shifted): written once.
                Ok(n) if seen.insert(n.source_id.clone()) => rows.push(n),
                Ok(_) => {}
                Err(reason) => {
                    counts.failed += 1;
                    listed.insert(p.source_id.trim().to_owned());
                    tracing::debug!(source = %run.source, id = %p.source_id, %reason, "source item not stored");
                }
            }
        }
        let now = deps.clock.now_ms();
        let txn = deps.db.begin().await?;
        upsert_page(&txn, &run.source, &rows, now, counts).await?;
        txn.commit().await?;
        deps.outbox.wake();
        progress.page(counts, seen.len() as u64 + counts.failed, page.total);
        match page.next {
            Some(next) => cursor = Some(next),
            None => {
                complete = true;
                break;
            }
        }
    }
    if !complete {
        tracing::warn!(source = %run.source, "sync stopped after {MAX_PAGES} pages; nothing closed as vanished");
    }
    let now = deps.clock.now_ms();
    let open = open_postings(&deps.db, &run.source).await?;
    // A complete read that lists nothing while postings are open is an upstream hiccup
    // (an empty answer), not every posting gone at once: close only what expired.
    let trust_absence = complete && !(seen.is_empty() && listed.is_empty() && !open.is_empty());
    if complete && !trust_absence {
        tracing::warn!(source = %run.source, open = open.len(), "the source listed nothing; no posting closed as vanished");
    }
    let to_close: Vec<Uuid> = open
        .into_iter()
        .filter(|(_, source_id, deadline_key)| {
            *deadline_key <= now
                || (trust_absence && !seen.contains(source_id) && !listed.contains(source_id))
        })
        .map(|(id, _, _)| id)
        .collect();
    for chunk in to_close.chunks(CLOSE_CHUNK) {
        anyhow::ensure!(
            !renewal.lost(),
            "the lease was lost (another runner took over)"
        );
        let txn = deps.db.begin().await?;
        counts.closed += close(&txn, chunk, now).await?;
        txn.commit().await?;
        deps.outbox.wake();
    }
    progress.page(counts, seen.len() as u64 + counts.failed, None);
    if complete {
        Ok(())
    } else {
        anyhow::bail!("the source had more than {MAX_PAGES} pages")
    }
}
