//! The background writer. A resume that is GENERATING or EDITING is a job on its own
//! row: `due_at` says when a writer should next work on it. A writer claims a due job
//! by moving `due_at` past a lease and counting the attempt, in one conditional update,
//! so one instance works on it at a time; a writer that dies leaves the job to be
//! claimed again when the lease ends. The result lands only through a conditional update
//! on the attempt claimed: a late writer whose lease ran out changes nothing.
//!
//! A transient failure (the code host or the model unreachable, rate limited, an answer
//! of the wrong shape) is tried again with backoff, up to `max_attempts`; then, or on a
//! permanent failure, a generation ends FAILED and an edit leaves the resume READY as it
//! was, both with the reason, and the job's use of the daily quota is given back.
//!
//! `resumes.write_requested` (from the outbox) wakes the writer at once; it also looks
//! for due jobs every `every`, which is how retries and abandoned leases are picked up.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use surge_kernel::code_host::CodeHost;
use surge_kernel::events::{enqueue, EventEnvelope};
use surge_kernel::ports::EventHandler;
use surge_kernel::Millis;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::{Origin, ResumeStatus};
use crate::entities::resume;
use crate::resumes::{add_version, sections_of};
use crate::writer::{gather, Brief, WriteError, Writer, Written};

/// A resume's version was written (the owner is told).
pub const WRITTEN: &str = "resumes.written";
/// A generation or an AI edit gave up (the owner is told why).
pub const WRITE_FAILED: &str = "resumes.write_failed";
/// The consumer that wakes the writer.
pub const WRITER_CONSUMER: &str = "resumes.writer";

#[derive(Debug, Clone)]
pub struct WorkConfig {
    /// How often the writer looks for due jobs besides being woken.
    pub every: Duration,
    /// How long a claimed job is the claimer's before another writer may take it.
    pub lease: Duration,
    /// Jobs written at once per instance.
    pub concurrency: usize,
    /// Attempts per job before it gives up.
    pub max_attempts: i32,
    /// The first retry's delay; doubled each attempt, at most 5 minutes.
    pub retry_first: Duration,
}

impl Default for WorkConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(2),
            lease: Duration::from_secs(300),
            concurrency: 4,
            max_attempts: 4,
            retry_first: Duration::from_secs(5),
        }
    }
}

pub struct Work {
    deps: Arc<Deps>,
    host: Arc<dyn CodeHost>,
    writer: Arc<dyn Writer>,
    cfg: WorkConfig,
    wake: Notify,
}

/// The outcome of one attempt.
enum Outcome {
    Written(Written),
    Failed(WriteError),
}

impl Work {
    pub(crate) fn new(
        deps: Arc<Deps>,
        host: Arc<dyn CodeHost>,
        writer: Arc<dyn Writer>,
        cfg: WorkConfig,
    ) -> Self {
        Work {
            deps,
            host,
            writer,
            cfg,
            wake: Notify::new(),
        }
    }

    fn ms(d: Duration) -> Millis {
        Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX / 4)
    }

    /// The worker: every `every`, or when woken, writes every due job.
    pub async fn run(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.cfg.every) => {}
            }
            if let Err(e) = self.run_due().await {
                tracing::warn!(error = ?e, "resume writer: looking for due jobs failed");
            }
        }
    }

    /// Writes the jobs due now, a few at a time, until none is due. Returns how many
    /// attempts it made.
    pub async fn run_due(&self) -> anyhow::Result<usize> {
        let mut made = 0;
        loop {
            let now = self.deps.clock.now_ms();
            let due: Vec<Uuid> = resume::Entity::find()
                .select_only()
                .column(resume::Column::Id)
                .filter(resume::Column::DueAt.lte(now))
                .filter(resume::Column::DeletedAt.is_null())
                .order_by_asc(resume::Column::DueAt)
                .limit(self.cfg.concurrency.max(1) as u64 * 4)
                .into_tuple()
                .all(&self.deps.db)
                .await?;
            if due.is_empty() {
                return Ok(made);
            }
            let claimed: Vec<resume::Model> = futures::stream::iter(due)
                .filter_map(|id| async move { self.claim(id).await.ok().flatten() })
                .collect()
                .await;
            if claimed.is_empty() {
                return Ok(made); // all taken by other instances
            }
            made += claimed.len();
            futures::stream::iter(claimed)
                .for_each_concurrent(self.cfg.concurrency.max(1), |m| async move {
                    let id = m.id;
                    if let Err(e) = self.attempt(m).await {
                        tracing::warn!(error = ?e, resume_id = %id, "resume writer: recording an attempt failed; the lease runs out and it is tried again");
                    }
                })
                .await;
        }
    }

    /// Takes a due job for this writer: `Some` with the row as claimed.
    async fn claim(&self, id: Uuid) -> anyhow::Result<Option<resume::Model>> {
        let now = self.deps.clock.now_ms();
        let taken = resume::Entity::update_many()
            .col_expr(
                resume::Column::DueAt,
                Expr::value(now + Self::ms(self.cfg.lease)),
            )
            .col_expr(
                resume::Column::Attempts,
                Expr::col(resume::Column::Attempts).add(1),
            )
            .filter(resume::Column::Id.eq(id))
            .filter(resume::Column::DueAt.lte(now))
            .filter(resume::Column::DeletedAt.is_null())
            .filter(
                Condition::any()
                    .add(resume::Column::Status.eq(ResumeStatus::Generating))
                    .add(resume::Column::Status.eq(ResumeStatus::Editing)),
            )
            .exec(&self.deps.db)
            .await?;
        if taken.rows_affected == 0 {
            return Ok(None);
        }
        Ok(resume::Entity::find_by_id(id).one(&self.deps.db).await?)
    }

    async fn attempt(&self, m: resume::Model) -> anyhow::Result<()> {
        let outcome = match self.write(&m).await {
            Ok(w) => Outcome::Written(w),
            Err(e) => Outcome::Failed(e),
        };
        let now = self.deps.clock.now_ms();
        match outcome {
            Outcome::Written(w) => self.finish(&m, w, now).await,
            Outcome::Failed(WriteError::Transient { detail, retry_at })
                if m.attempts < self.cfg.max_attempts =>
            {
                let backoff = Self::ms(self.cfg.retry_first)
                    .saturating_mul(1 << (m.attempts - 1).clamp(0, 16))
                    .min(300_000);
                let at = (now + backoff).max(retry_at.unwrap_or(0));
                tracing::info!(resume_id = %m.id, attempt = m.attempts, %detail, "resume writer: trying again later");
                self.still_mine(&m)
                    .col_expr(resume::Column::DueAt, Expr::value(at))
                    .col_expr(
                        resume::Column::Failure,
                        Expr::value(Some(format!("retrying: {detail}"))),
                    )
                    .exec(&self.deps.db)
                    .await?;
                Ok(())
            }
            Outcome::Failed(e) => self.give_up(&m, e.to_string(), now).await,
        }
    }

    async fn write(&self, m: &resume::Model) -> Result<Written, WriteError> {
        match m.status {
            ResumeStatus::Editing => {
                let current = sections_of(m).ok_or_else(|| {
                    WriteError::Permanent("the resume has no version to edit".into())
                })?;
                let instruction = m.pending_instruction.clone().unwrap_or_default();
                self.writer.edit(&current, &instruction).await
            }
            _ => {
                let profile = gather(
                    self.host.as_ref(),
                    &m.github_login,
                    self.deps.clock.now_ms(),
                )
                .await?;
                let brief = Brief {
                    position: m.position,
                    school_type: m.school_type,
                    highlights: serde_json::from_str(&m.highlights).unwrap_or_default(),
                };
                self.writer.write(&brief, &profile).await
            }
        }
    }

    /// An update of the job as this writer claimed it: nothing if the lease ran out and
    /// another writer claimed it, or the resume was deleted meanwhile.
    fn still_mine(&self, m: &resume::Model) -> sea_orm::UpdateMany<resume::Entity> {
        resume::Entity::update_many()
            .filter(resume::Column::Id.eq(m.id))
            .filter(resume::Column::Status.eq(m.status))
            .filter(resume::Column::Attempts.eq(m.attempts))
            .filter(resume::Column::DeletedAt.is_null())
    }

    /// [`still_mine`](Self::still_mine), ending the job: no instruction, lease or use
    /// left on the row.
    fn job_over(&self, m: &resume::Model, now: Millis) -> sea_orm::UpdateMany<resume::Entity> {
        self.still_mine(m)
            .col_expr(
                resume::Column::PendingInstruction,
                Expr::value(Option::<String>::None),
            )
            .col_expr(resume::Column::DueAt, Expr::value(Option::<i64>::None))
            .col_expr(resume::Column::UseTakenAt, Expr::value(Option::<i64>::None))
            .col_expr(resume::Column::UpdatedAt, Expr::value(now))
    }

    async fn finish(&self, m: &resume::Model, w: Written, now: Millis) -> anyhow::Result<()> {
        let json = serde_json::to_string(&w.sections)?;
        let next = m.version + 1;
        let txn = self.deps.db.begin().await?;
        let done = self
            .job_over(m, now)
            .col_expr(resume::Column::Status, Expr::value(ResumeStatus::Ready))
            .col_expr(resume::Column::Version, Expr::value(next))
            .col_expr(resume::Column::Sections, Expr::value(json.clone()))
            .col_expr(resume::Column::Writer, Expr::value(w.writer.clone()))
            .col_expr(resume::Column::Failure, Expr::value(Option::<String>::None))
            .exec(&txn)
            .await?;
        if done.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(());
        }
        let (origin, instruction) = match m.status {
            ResumeStatus::Editing => (Origin::AiEdit, m.pending_instruction.clone()),
            _ => (Origin::Generated, None),
        };
        add_version(&txn, m.id, next, origin, &json, instruction, &w.writer, now).await?;
        let payload = serde_json::json!({
            "resume_id": m.id, "owner_id": m.owner_id, "version": next, "origin": origin,
        });
        enqueue(&txn, &EventEnvelope::new(WRITTEN, m.id, payload, now)).await?;
        txn.commit().await?;
        self.deps.outbox.wake();
        Ok(())
    }

    async fn give_up(&self, m: &resume::Model, reason: String, now: Millis) -> anyhow::Result<()> {
        tracing::warn!(resume_id = %m.id, attempt = m.attempts, %reason, "resume writer: gave up");
        let edit = m.status == ResumeStatus::Editing;
        let txn = self.deps.db.begin().await?;
        let done = self
            .job_over(m, now)
            .col_expr(
                resume::Column::Status,
                Expr::value(if edit {
                    ResumeStatus::Ready
                } else {
                    ResumeStatus::Failed
                }),
            )
            .col_expr(resume::Column::Failure, Expr::value(Some(reason.clone())))
            .exec(&txn)
            .await?;
        if done.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(());
        }
        if let Some(taken) = m.use_taken_at {
            self.deps.quota.give_back(&txn, m.owner_id, taken).await?;
        }
        let payload = serde_json::json!({
            "resume_id": m.id, "owner_id": m.owner_id, "edit": edit, "reason": reason,
        });
        enqueue(&txn, &EventEnvelope::new(WRITE_FAILED, m.id, payload, now)).await?;
        txn.commit().await?;
        self.deps.outbox.wake();
        Ok(())
    }
}

/// `resumes.write_requested` wakes this instance's writer (which claims the job).
pub(crate) struct Wake(pub Arc<Work>);

#[async_trait]
impl EventHandler for Wake {
    async fn handle(&self, _: &EventEnvelope) -> anyhow::Result<()> {
        self.0.wake.notify_one();
        Ok(())
    }
}
