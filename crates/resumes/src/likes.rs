//! Likes: one per user and resume. Liking again changes nothing, unliking what is not
//! liked changes nothing, a toggle does the one that applies. The resume's `like_count`
//! moves only by a relative update in the transaction that inserts or deletes the like
//! row, after the resume's row is locked: the count equals the rows under any concurrency and
//! on any number of instances. A new like tells the owner (through the outbox).

use std::sync::Arc;

use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionTrait};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::events::{enqueue, EventEnvelope};
use surge_kernel::sql::{insert_if_absent, with_retries};
use surge_kernel::ApiError;
use uuid::Uuid;

use crate::deps::Deps;
use crate::entities::{like, resume};
use crate::resumes::{bump, readable};

/// Someone liked a resume (its owner is told).
pub const LIKED: &str = "resumes.liked";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LikeView {
    pub resume_id: Uuid,
    pub likes: i64,
    pub liked: bool,
}

/// What the caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Like,
    Unlike,
    /// Whichever of the two changes something.
    Toggle,
}

pub struct Likes {
    deps: Arc<Deps>,
}

enum Outcome {
    Done(LikeView),
    /// Another request of the same user inserted the like first: start over.
    Raced,
}

impl Likes {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Likes { deps }
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id, resume_id = %id, want = ?want))]
    pub async fn set(&self, who: &AuthUser, id: Uuid, want: Want) -> Result<LikeView, ApiError> {
        let owner = readable(&self.deps.db, id, Some(who)).await?.owner_id;
        for _ in 0..5 {
            if let Outcome::Done(v) = with_retries(|| self.try_set(who.id, id, owner, want)).await?
            {
                return Ok(v);
            }
        }
        Err(ApiError::conflict(
            "like_contended",
            "the like changed under this request too often; try again",
        ))
    }

    async fn try_set(
        &self,
        user: Uuid,
        id: Uuid,
        owner: Uuid,
        want: Want,
    ) -> Result<Outcome, DbErr> {
        let txn = self.deps.db.begin().await?;
        let now = self.deps.clock.now_ms();
        // The resume's row first: its counter is updated in this transaction anyway, and
        // holding it first puts one user's concurrent toggles in a line (a lock on a like
        // row that does not exist yet holds nothing back).
        resume::Entity::find_by_id(id)
            .lock_exclusive()
            .one(&txn)
            .await?;
        let liked = like::Entity::find_by_id((id, user))
            .one(&txn)
            .await?
            .is_some();
        let like = match want {
            Want::Like => true,
            Want::Unlike => false,
            Want::Toggle => !liked,
        };
        if like && !liked {
            let insert = Query::insert()
                .into_table(like::Entity)
                .columns([
                    like::Column::ResumeId,
                    like::Column::UserId,
                    like::Column::CreatedAt,
                ])
                .values_panic([id.into(), user.into(), now.into()])
                .to_owned();
            if !insert_if_absent(&txn, insert, &["resume_id", "user_id"]).await? {
                txn.rollback().await?;
                return Ok(Outcome::Raced);
            }
            bump(&txn, id, resume::Column::LikeCount, 1).await?;
            if user != owner {
                let payload =
                    serde_json::json!({"resume_id": id, "owner_id": owner, "user_id": user});
                enqueue(&txn, &EventEnvelope::new(LIKED, id, payload, now)).await?;
            }
        } else if !like && liked {
            like::Entity::delete_many()
                .filter(like::Column::ResumeId.eq(id))
                .filter(like::Column::UserId.eq(user))
                .exec(&txn)
                .await?;
            bump(&txn, id, resume::Column::LikeCount, -1).await?;
        }
        let likes = resume::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .map_or(0, |r| r.like_count);
        txn.commit().await?;
        if like && !liked {
            self.deps.outbox.wake();
        }
        Ok(Outcome::Done(LikeView {
            resume_id: id,
            likes,
            liked: like,
        }))
    }
}
