//! Deadline reminders: a sweeper on every instance tells each scrapper of an open
//! posting, from 00:00 KST the day before its deadline until the deadline, once per
//! (user, posting, deadline). The once is a marker row inserted if absent before the
//! notification: of several instances only the one that inserted it sends, and a
//! notification that fails drops its marker so a later sweep tries again. A changed
//! deadline is a new reminder.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use surge_kernel::ports::NewNotification;
use surge_kernel::sql::insert_if_absent;
use surge_kernel::{rfc3339, Millis};
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::PostingStatus;
use crate::entities::{posting, reminder, scrap};

/// Due postings read per page.
const BATCH: u64 = 200;

pub struct Reminders {
    deps: Arc<Deps>,
}

impl Reminders {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Self { deps }
    }

    /// Sweeps every `every` until the server stops.
    pub async fn run(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.sweep().await {
                tracing::warn!(error = ?e, "careers reminder sweep failed");
            }
        }
    }

    /// One sweep; returns how many reminders this instance sent. Every due posting is
    /// visited (in pages by id), and only its scrappers not yet reminded of this
    /// deadline are looked at.
    #[tracing::instrument(skip_all)]
    pub async fn sweep(&self) -> anyhow::Result<usize> {
        let now = self.deps.clock.now_ms();
        let mut sent = 0;
        let mut after: Option<Uuid> = None;
        loop {
            let mut q = posting::Entity::find()
                .filter(posting::Column::Status.eq(PostingStatus::Open))
                .filter(posting::Column::RemindAt.lte(now))
                // A reminder falls due 24 to 48 hours before its deadline, so a posting
                // still before its deadline has remind_at within the last 48 hours: the
                // (status, remind_at) index reads only those, not every past posting.
                .filter(posting::Column::RemindAt.gt(now - 2 * 24 * 3_600_000))
                .filter(posting::Column::Deadline.gt(now));
            if let Some(id) = after {
                q = q.filter(posting::Column::Id.gt(id));
            }
            let due = q
                .order_by_asc(posting::Column::Id)
                .limit(BATCH)
                .all(&self.deps.db)
                .await?;
            let done = (due.len() as u64) < BATCH;
            after = due.last().map(|p| p.id);
            for p in &due {
                let Some(deadline) = p.deadline else { continue };
                for user in self.not_yet_reminded(p.id, deadline).await? {
                    // One user's failed notification (its marker is removed, so the
                    // next sweep tries again) must not hold up everyone after them.
                    match self.remind(p, user, deadline, now).await {
                        Ok(true) => sent += 1,
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(error = ?e, posting = %p.id, user = %user, "deadline reminder not sent; retried next sweep")
                        }
                    }
                }
            }
            if done {
                return Ok(sent);
            }
        }
    }

    /// The active scrappers of `posting` without a reminder of `deadline`.
    async fn not_yet_reminded(&self, posting: Uuid, deadline: Millis) -> Result<Vec<Uuid>, DbErr> {
        let reminded = Query::select()
            .column(reminder::Column::UserId)
            .from(reminder::Entity)
            .and_where(reminder::Column::PostingId.eq(posting))
            .and_where(reminder::Column::Deadline.eq(deadline))
            .to_owned();
        scrap::Entity::find()
            .select_only()
            .column(scrap::Column::UserId)
            .filter(scrap::Column::PostingId.eq(posting))
            .filter(scrap::Column::Active.eq(true))
            .filter(scrap::Column::UserId.not_in_subquery(reminded))
            .into_tuple()
            .all(&self.deps.db)
            .await
    }

    async fn remind(
        &self,
        p: &posting::Model,
        user: Uuid,
        deadline: Millis,
        now: Millis,
    ) -> anyhow::Result<bool> {
        let marker = Query::insert()
            .into_table(reminder::Entity)
            .columns([
                reminder::Column::UserId,
                reminder::Column::PostingId,
                reminder::Column::Deadline,
                reminder::Column::SentAt,
            ])
            .values_panic([user.into(), p.id.into(), deadline.into(), now.into()])
            .to_owned();
        if !insert_if_absent(
            &self.deps.db,
            marker,
            &["user_id", "posting_id", "deadline"],
        )
        .await?
        {
            return Ok(false);
        }
        let n = NewNotification {
            kind: "posting_deadline".into(),
            title: "A scrapped posting closes tomorrow".into(),
            body: format!(
                "{} · {} — deadline {}",
                p.company,
                p.title,
                rfc3339(deadline)
            ),
            data: serde_json::json!({"posting_id": p.id, "deadline": rfc3339(deadline), "url": p.url}),
        };
        if let Err(e) = self.deps.notify(user, n).await {
            reminder::Entity::delete_by_id((user, p.id, deadline))
                .exec(&self.deps.db)
                .await?;
            return Err(e);
        }
        Ok(true)
    }
}
