//! Weather-alert rooms: the special weather reports in force (the `WeatherAlertSource`
//! port, KMA when configured) open one room per province; users follow provinces and
//! are told when their province's room opens.
//!
//! Every instance runs [`Alerts::run`], but only the holder of the lease row
//! `chat.weather-alerts` works: it polls when a poll is due (the newest poll, on any
//! instance, started `every` ago; 5 minutes after a failed one) and sweeps
//! (`cleanup`). A poll's row records what it read and changed. Files: `apply.rs` (the
//! diff and the rooms), `follows.rs` (follows and follower notices), `cleanup.rs`.

mod apply;
mod cleanup;
mod follows;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ActiveModelTrait, DbErr, EntityTrait, QueryOrder, Set};
use serde::Serialize;
use surge_kernel::weather::{WeatherAlert, WeatherAlertSource};
use surge_kernel::{new_id, rfc3339, ApiError, Millis};
use uuid::Uuid;

pub use apply::{AlertChanges, AlertRoomOpened, ALERT_ROOM_OPENED};
pub use cleanup::{CleanupCounts, KEEP_MS};
pub use follows::{FollowerNotices, ProvinceRoom, ProvinceView, FOLLOWERS_CONSUMER};

use crate::deps::Deps;
use crate::domain::PollStatus;
use crate::entities::poll;

/// The table of chat's leases, and the poller's lease in it.
const LEASES: &str = "chat_leases";
const LEASE: &str = "chat.weather-alerts";
/// How soon a failed poll is tried again (at most `every`).
const RETRY_FAILED_MS: Millis = 5 * 60_000;

/// A configured alert source and how often to poll it.
#[derive(Clone)]
pub struct AlertSource {
    pub source: Arc<dyn WeatherAlertSource>,
    pub every: Duration,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PollView {
    pub id: Uuid,
    /// `kma` or `fake`.
    pub source: String,
    pub status: PollStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Alerts in force that the source listed, and items it could not read.
    pub alerts: i32,
    pub unreadable: i32,
    pub opened: i32,
    pub reopened: i32,
    pub renamed: i32,
    pub closed: i32,
    pub error: Option<String>,
}

impl From<poll::Model> for PollView {
    fn from(p: poll::Model) -> Self {
        Self {
            id: p.id,
            source: p.source,
            status: p.status,
            started_at: rfc3339(p.started_at),
            finished_at: p.finished_at.map(rfc3339),
            alerts: p.alerts,
            unreadable: p.unreadable,
            opened: p.opened,
            reopened: p.reopened,
            renamed: p.renamed,
            closed: p.closed,
            error: p.error,
        }
    }
}

/// What one tick did on this instance.
#[derive(Debug, Default)]
pub struct Tick {
    /// Whether this instance held the lease.
    pub held: bool,
    pub polled: Option<PollView>,
    pub cleaned: Option<CleanupCounts>,
}

pub struct Alerts {
    deps: Arc<Deps>,
    source: Option<AlertSource>,
    /// This instance's name in the lease table.
    holder: String,
    tick_every: Duration,
    cleanup_every_ms: Millis,
    /// When this instance last swept (clock ms).
    last_cleanup: AtomicI64,
}

impl Alerts {
    pub(crate) fn new(
        deps: Arc<Deps>,
        source: Option<AlertSource>,
        tick_every: Duration,
        cleanup_every: Duration,
    ) -> Self {
        Self {
            deps,
            source,
            holder: new_id().to_string(),
            tick_every: tick_every.max(Duration::from_millis(10)),
            cleanup_every_ms: cleanup_every.as_millis() as Millis,
            last_cleanup: AtomicI64::new(Millis::MIN),
        }
    }

    /// Whether a source is configured (KMA with a key, or the fake).
    pub fn enabled(&self) -> bool {
        self.source.is_some()
    }

    fn lease_ms(&self) -> Millis {
        (self.tick_every.as_millis() as Millis * 3).max(120_000)
    }

    /// Ticks every `tick_every` (the first after one period) until the server stops.
    pub async fn run(self: Arc<Self>) {
        let start = tokio::time::Instant::now() + self.tick_every;
        let mut tick = tokio::time::interval_at(start, self.tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "weather alert tick failed");
            }
        }
    }

    /// One step: takes (or renews) the lease; holding it, polls if due and sweeps if due.
    pub async fn tick(&self) -> anyhow::Result<Tick> {
        let now = self.deps.clock.now_ms();
        let held = surge_kernel::lease::take(
            &self.deps.db,
            LEASES,
            LEASE,
            &self.holder,
            now,
            self.lease_ms(),
        )
        .await?;
        if !held {
            return Ok(Tick::default());
        }
        let mut t = Tick {
            held,
            ..Tick::default()
        };
        if let Some(s) = &self.source {
            if self.due(s.every, now).await? {
                t.polled = Some(self.poll_holding(s, now).await?);
            }
        }
        let last = self.last_cleanup.load(Ordering::SeqCst);
        if last == Millis::MIN || now.saturating_sub(last) >= self.cleanup_every_ms {
            self.last_cleanup.store(now, Ordering::SeqCst);
            t.cleaned = Some(self.cleanup().await?);
        }
        Ok(t)
    }

    async fn due(&self, every: Duration, now: Millis) -> Result<bool, DbErr> {
        let every = every.as_millis() as Millis;
        Ok(match self.last_poll().await? {
            None => true,
            Some(p) if p.status == PollStatus::Failed => {
                p.started_at + every.min(RETRY_FAILED_MS) <= now
            }
            Some(p) => p.started_at + every <= now,
        })
    }

    async fn last_poll(&self) -> Result<Option<poll::Model>, DbErr> {
        poll::Entity::find()
            .order_by_desc(poll::Column::StartedAt)
            .order_by_desc(poll::Column::Id)
            .one(&self.deps.db)
            .await
    }

    /// The newest poll, on any instance.
    pub async fn latest_poll(&self) -> Result<Option<PollView>, ApiError> {
        Ok(self.last_poll().await?.map(Into::into))
    }

    /// Reads the source and applies what it says, holding the lease.
    async fn poll_holding(&self, s: &AlertSource, now: Millis) -> Result<PollView, DbErr> {
        let row = poll::ActiveModel {
            id: Set(new_id()),
            source: Set(s.source.kind().to_owned()),
            started_at: Set(now),
            finished_at: Set(None),
            status: Set(PollStatus::Running),
            alerts: Set(0),
            unreadable: Set(0),
            opened: Set(0),
            reopened: Set(0),
            renamed: Set(0),
            closed: Set(0),
            error: Set(None),
        }
        .insert(&self.deps.db)
        .await?;
        let mut done = poll::ActiveModel {
            id: Set(row.id),
            ..Default::default()
        };
        let outcome: anyhow::Result<AlertChanges> = async {
            let snapshot = s.source.current(now).await?;
            done.alerts = Set(snapshot.alerts.len() as i32);
            done.unreadable = Set(snapshot.unreadable.len() as i32);
            for u in &snapshot.unreadable {
                tracing::debug!(zone = ?u.region_code, reason = %u.reason, "weather alert item skipped");
            }
            // The read may have outlasted the lease: write only while still holding it.
            let still = surge_kernel::lease::take(
                &self.deps.db,
                LEASES,
                LEASE,
                &self.holder,
                self.deps.clock.now_ms(),
                self.lease_ms(),
            )
            .await?;
            anyhow::ensure!(still, "the lease was lost (another instance took over)");
            Ok(apply::apply(&self.deps, &snapshot.alerts, self.deps.clock.now_ms()).await?)
        }
        .await;
        let next = match &outcome {
            Ok(_) => PollStatus::Succeeded,
            Err(_) => PollStatus::Failed,
        };
        if row.status.can_become(next) {
            done.status = Set(next);
        }
        done.finished_at = Set(Some(self.deps.clock.now_ms()));
        match outcome {
            Ok(c) => {
                done.opened = Set(c.opened as i32);
                done.reopened = Set(c.reopened as i32);
                done.renamed = Set(c.renamed as i32);
                done.closed = Set(c.closed as i32);
                tracing::info!(
                    opened = c.opened,
                    reopened = c.reopened,
                    renamed = c.renamed,
                    closed = c.closed,
                    "weather alerts polled"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "weather alert poll failed");
                done.error = Set(Some(format!("{e:#}").chars().take(480).collect()));
            }
        }
        Ok(done.update(&self.deps.db).await?.into())
    }

    /// Applies `in_force` as if the source had said it now (the demo's alerts).
    pub async fn apply(&self, in_force: &[WeatherAlert]) -> Result<AlertChanges, ApiError> {
        Ok(apply::apply(&self.deps, in_force, self.deps.clock.now_ms()).await?)
    }

    /// One clean-up sweep now.
    pub async fn cleanup(&self) -> anyhow::Result<CleanupCounts> {
        cleanup::sweep(&self.deps, self.deps.clock.now_ms()).await
    }

    pub async fn provinces(&self, user: Uuid) -> Result<Vec<ProvinceView>, ApiError> {
        follows::list(&self.deps, user).await
    }

    pub async fn follow(&self, user: Uuid, code: &str) -> Result<ProvinceView, ApiError> {
        follows::follow(&self.deps, user, code).await
    }

    pub async fn unfollow(&self, user: Uuid, code: &str) -> Result<(), ApiError> {
        follows::unfollow(&self.deps, user, code).await
    }
}
