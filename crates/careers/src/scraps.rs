//! Scraps: a user saves a posting (idempotent) and removes it again. The first-ever
//! scrap of a posting by a user earns points once, however often it is toggled or sent
//! at the same time: the reward is a ledger change keyed `scrap:{posting}:{user}`.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::page::{invalid_cursor, Page, PageQuery};
use surge_kernel::sql::{insert_if_absent, with_retries};
use surge_kernel::{rfc3339, ApiError};
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::{scrap_reward_key, PostingStatus, SCRAP_REWARD};
use crate::entities::{posting, scrap};
use crate::points::{apply_once, Change};
use crate::postings::{load, to_view, PostingView};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScrapView {
    pub posting_id: Uuid,
    pub scrapped_at: String,
    /// Points this request earned (the first-ever scrap of the posting earns 50).
    pub points_earned: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScrappedPosting {
    pub scrapped_at: String,
    pub posting: PostingView,
}

pub struct Scraps {
    deps: Arc<Deps>,
}

impl Scraps {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Self { deps }
    }

    /// Scraps an open posting (idempotent); the first-ever scrap earns the reward.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, posting_id = %id))]
    pub async fn scrap(&self, who: &AuthUser, id: Uuid) -> Result<ScrapView, ApiError> {
        let p = load(&self.deps.db, id).await?;
        let now = self.deps.clock.now_ms();
        if !is_open(&p, now) {
            // Saved before it closed: still saved, nothing more to earn. A new scrap of a
            // closed posting is refused (and earns nothing).
            let kept = scrap::Entity::find_by_id((who.id, id))
                .one(&self.deps.db)
                .await?
                .filter(|s| s.active);
            return match kept {
                Some(s) => Ok(ScrapView {
                    posting_id: id,
                    scrapped_at: rfc3339(s.scrapped_at),
                    points_earned: 0,
                }),
                None => Err(ApiError::conflict(
                    "posting_closed",
                    "this posting is closed",
                )),
            };
        }
        let insert = Query::insert()
            .into_table(scrap::Entity)
            .columns([
                scrap::Column::UserId,
                scrap::Column::PostingId,
                scrap::Column::Active,
                scrap::Column::ScrappedAt,
                scrap::Column::UpdatedAt,
            ])
            .values_panic([
                who.id.into(),
                id.into(),
                true.into(),
                now.into(),
                now.into(),
            ])
            .to_owned();
        // MariaDB can deadlock concurrent toggles of one scrap (the insert's shared lock
        // on the duplicate key against another's update): the loser runs again.
        let db = &self.deps.db;
        with_retries(|| async {
            if !insert_if_absent(db, insert.clone(), &["user_id", "posting_id"]).await? {
                // Scrapped before: active again (a scrap already active keeps its time).
                scrap::Entity::update_many()
                    .col_expr(scrap::Column::Active, Expr::value(true))
                    .col_expr(scrap::Column::ScrappedAt, Expr::value(now))
                    .col_expr(scrap::Column::UpdatedAt, Expr::value(now))
                    .filter(scrap::Column::UserId.eq(who.id))
                    .filter(scrap::Column::PostingId.eq(id))
                    .filter(scrap::Column::Active.eq(false))
                    .exec(db)
                    .await?;
            }
            Ok(())
        })
        .await?;
        let reward = Change {
            user: who.id,
            delta: SCRAP_REWARD,
            reason: "scrap",
            key: scrap_reward_key(who.id, id),
            subject: Some(id),
            note: "first scrap of a posting".into(),
        };
        let earned = apply_once(&self.deps.db, &reward, now).await?;
        let s = scrap::Entity::find_by_id((who.id, id))
            .one(&self.deps.db)
            .await?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("scrap vanished")))?;
        Ok(ScrapView {
            posting_id: id,
            scrapped_at: rfc3339(s.scrapped_at),
            points_earned: if earned { SCRAP_REWARD } else { 0 },
        })
    }

    /// Removes a scrap (idempotent); the points earned stay.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, posting_id = %id))]
    pub async fn unscrap(&self, who: &AuthUser, id: Uuid) -> Result<(), ApiError> {
        load(&self.deps.db, id).await?;
        let now = self.deps.clock.now_ms();
        with_retries(|| {
            scrap::Entity::update_many()
                .col_expr(scrap::Column::Active, Expr::value(false))
                .col_expr(scrap::Column::UpdatedAt, Expr::value(now))
                .filter(scrap::Column::UserId.eq(who.id))
                .filter(scrap::Column::PostingId.eq(id))
                .filter(scrap::Column::Active.eq(true))
                .exec(&self.deps.db)
        })
        .await?;
        Ok(())
    }

    /// My scraps, the latest first, each with its posting.
    #[tracing::instrument(skip_all, fields(user_id = %who.id))]
    pub async fn mine(
        &self,
        who: &AuthUser,
        page: &PageQuery,
    ) -> Result<Page<ScrappedPosting>, ApiError> {
        let limit = page.limit()?;
        let mut q = scrap::Entity::find()
            .filter(scrap::Column::UserId.eq(who.id))
            .filter(scrap::Column::Active.eq(true));
        if let Some(c) = page.cursor()? {
            let (at, pid) = c.split_once('|').ok_or_else(invalid_cursor)?;
            let at: i64 = at.parse().map_err(|_| invalid_cursor())?;
            let pid: Uuid = pid.parse().map_err(|_| invalid_cursor())?;
            q = q.filter(
                Condition::any().add(scrap::Column::ScrappedAt.lt(at)).add(
                    Condition::all()
                        .add(scrap::Column::ScrappedAt.eq(at))
                        .add(scrap::Column::PostingId.lt(pid)),
                ),
            );
        }
        let rows = q
            .order_by_desc(scrap::Column::ScrappedAt)
            .order_by_desc(scrap::Column::PostingId)
            .limit(limit + 1)
            .all(&self.deps.read_db)
            .await?;
        let page = Page::from_rows(rows, limit, |s: &scrap::Model| {
            format!("{}|{}", s.scrapped_at, s.posting_id)
        });
        let ids: Vec<Uuid> = page.items.iter().map(|s| s.posting_id).collect();
        let mut postings: HashMap<Uuid, posting::Model> = posting::Entity::find()
            .filter(posting::Column::Id.is_in(ids))
            .all(&self.deps.read_db)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let mut items = Vec::with_capacity(page.items.len());
        for s in page.items {
            if let Some(p) = postings.remove(&s.posting_id) {
                items.push(ScrappedPosting {
                    scrapped_at: rfc3339(s.scrapped_at),
                    posting: to_view(p)?,
                });
            }
        }
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }
}

/// Open: not closed and before its deadline.
fn is_open(p: &posting::Model, now: surge_kernel::Millis) -> bool {
    p.status == PostingStatus::Open && p.deadline_key > now
}
