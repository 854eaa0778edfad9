//! Votes: one per user and post, UP or DOWN. Voting the same again changes nothing,
//! the other kind switches, removing takes it back. The post's `up_count`/`down_count`
//! move only by relative updates in the transaction that inserts, switches or deletes
//! the vote row, after the vote row is locked: the counts equal the rows under any
//! concurrency and on any number of instances, with no lock held in process.

use std::sync::Arc;

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect,
    TransactionTrait,
};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::sql::{insert_if_absent, with_retries};
use surge_kernel::ApiError;
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::VoteKind;
use crate::entities::{post, vote};
use crate::posts::live;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VoteView {
    pub post_id: Uuid,
    pub up: i64,
    pub down: i64,
    pub my_vote: Option<VoteKind>,
}

pub struct Votes {
    deps: Arc<Deps>,
}

/// What one attempt did, or that it lost a race and must run again.
enum Outcome {
    Done(VoteView),
    /// Another request of the same user inserted the vote first: start over.
    Raced,
}

impl Votes {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Votes { deps }
    }

    /// Sets the caller's vote on a live post.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, post_id = %id, kind = ?kind))]
    pub async fn vote(
        &self,
        who: &AuthUser,
        id: Uuid,
        kind: VoteKind,
    ) -> Result<VoteView, ApiError> {
        live(&self.deps.db, id).await?;
        for _ in 0..5 {
            let outcome = with_retries(|| self.try_vote(who.id, id, Some(kind))).await?;
            if let Outcome::Done(v) = outcome {
                return Ok(v);
            }
        }
        Err(ApiError::conflict(
            "vote_contended",
            "the vote changed under this request too often; try again",
        ))
    }

    /// Takes the caller's vote back (nothing to take is fine).
    #[tracing::instrument(skip_all, fields(user_id = %who.id, post_id = %id))]
    pub async fn unvote(&self, who: &AuthUser, id: Uuid) -> Result<VoteView, ApiError> {
        live(&self.deps.db, id).await?;
        match with_retries(|| self.try_vote(who.id, id, None)).await? {
            Outcome::Done(v) => Ok(v),
            Outcome::Raced => Err(ApiError::internal(anyhow::anyhow!(
                "removing a vote never races an insert"
            ))),
        }
    }

    /// One transaction: lock the vote row (if any), then change it and the counters.
    async fn try_vote(
        &self,
        user: Uuid,
        post_id: Uuid,
        want: Option<VoteKind>,
    ) -> Result<Outcome, DbErr> {
        let txn = self.deps.db.begin().await?;
        let now = self.deps.clock.now_ms();
        let current = vote::Entity::find_by_id((post_id, user))
            .lock_exclusive()
            .one(&txn)
            .await?
            .map(|v| v.kind);
        match (current, want) {
            (None, Some(k)) => {
                let insert = Query::insert()
                    .into_table(vote::Entity)
                    .columns([
                        vote::Column::PostId,
                        vote::Column::UserId,
                        vote::Column::Kind,
                        vote::Column::CreatedAt,
                        vote::Column::UpdatedAt,
                    ])
                    .values_panic([
                        post_id.into(),
                        user.into(),
                        k.into(),
                        now.into(),
                        now.into(),
                    ])
                    .to_owned();
                if !insert_if_absent(&txn, insert, &["post_id", "user_id"]).await? {
                    txn.rollback().await?;
                    return Ok(Outcome::Raced);
                }
                count(&txn, post_id, Some(k), None).await?;
            }
            (Some(old), Some(k)) if old.can_become(k) => {
                vote::Entity::update_many()
                    .col_expr(vote::Column::Kind, Expr::value(k))
                    .col_expr(vote::Column::UpdatedAt, Expr::value(now))
                    .filter(vote::Column::PostId.eq(post_id))
                    .filter(vote::Column::UserId.eq(user))
                    .exec(&txn)
                    .await?;
                count(&txn, post_id, Some(k), Some(old)).await?;
            }
            (Some(old), None) => {
                vote::Entity::delete_many()
                    .filter(vote::Column::PostId.eq(post_id))
                    .filter(vote::Column::UserId.eq(user))
                    .exec(&txn)
                    .await?;
                count(&txn, post_id, None, Some(old)).await?;
            }
            // The same vote again, or nothing to remove: no change.
            _ => {}
        }
        let p = post::Entity::find_by_id(post_id)
            .one(&txn)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("community post".into()))?;
        txn.commit().await?;
        Ok(Outcome::Done(VoteView {
            post_id,
            up: p.up_count,
            down: p.down_count,
            my_vote: want,
        }))
    }
}

/// Adds one to `plus`'s counter and takes one from `minus`'s, in one relative update.
async fn count(
    txn: &DatabaseTransaction,
    post_id: Uuid,
    plus: Option<VoteKind>,
    minus: Option<VoteKind>,
) -> Result<(), DbErr> {
    let col = |k: VoteKind| match k {
        VoteKind::Up => post::Column::UpCount,
        VoteKind::Down => post::Column::DownCount,
    };
    let mut u = post::Entity::update_many().filter(post::Column::Id.eq(post_id));
    if let Some(k) = plus {
        u = u.col_expr(col(k), Expr::col(col(k)).add(1));
    }
    if let Some(k) = minus {
        u = u.col_expr(col(k), Expr::col(col(k)).sub(1));
    }
    u.exec(txn).await?;
    Ok(())
}
