//! Comments on resumes others can read. Writing one adds to the resume's
//! `comment_count` in the same transaction and tells the owner (through the outbox);
//! deleting one (soft: its author, the resume's owner or an admin) subtracts it again.

use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::code_host::excerpt;
use surge_kernel::events::{enqueue, EventEnvelope};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ports::Nicknames;
use surge_kernel::{new_id, rfc3339, ApiError};
use uuid::Uuid;

use crate::deps::Deps;
use crate::entities::{comment, resume};
use crate::resumes::{bump, readable};

/// Someone commented on a resume (its owner is told).
pub const COMMENTED: &str = "resumes.commented";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommentView {
    pub id: Uuid,
    pub resume_id: Uuid,
    pub author_id: Uuid,
    pub author: String,
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
}

fn view(c: comment::Model, names: &Nicknames) -> CommentView {
    CommentView {
        author: names.of(c.author_id),
        id: c.id,
        resume_id: c.resume_id,
        author_id: c.author_id,
        body: c.body,
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
    }
}

pub struct Comments {
    deps: Arc<Deps>,
}

impl Comments {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Comments { deps }
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id, resume_id = %id))]
    pub async fn add(
        &self,
        who: &AuthUser,
        id: Uuid,
        body: String,
    ) -> Result<CommentView, ApiError> {
        let now = self.deps.clock.now_ms();
        let txn = self.deps.db.begin().await?;
        let r = readable(&txn, id, Some(who)).await?;
        let c = comment::ActiveModel {
            id: Set(new_id()),
            resume_id: Set(id),
            author_id: Set(who.id),
            body: Set(body),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
        }
        .insert(&txn)
        .await?;
        bump(&txn, id, resume::Column::CommentCount, 1).await?;
        if who.id != r.owner_id {
            let payload = serde_json::json!({
                "resume_id": id, "owner_id": r.owner_id, "author_id": who.id,
                "comment_id": c.id, "excerpt": excerpt(&c.body, 80),
            });
            enqueue(&txn, &EventEnvelope::new(COMMENTED, id, payload, now)).await?;
        }
        txn.commit().await?;
        self.deps.outbox.wake();
        let names = self.deps.nicknames(&[who.id], true).await?;
        Ok(view(c, &names))
    }

    /// The comments of a resume the caller may read, oldest first.
    pub async fn list(
        &self,
        who: Option<&AuthUser>,
        id: Uuid,
        page: &PageQuery,
    ) -> Result<Page<CommentView>, ApiError> {
        readable(&self.deps.db, id, who).await?;
        let limit = page.limit()?;
        let mut q = comment::Entity::find()
            .filter(comment::Column::ResumeId.eq(id))
            .filter(comment::Column::DeletedAt.is_null());
        if let Some(after) = page.uuid_cursor()? {
            q = q.filter(comment::Column::Id.gt(after));
        }
        let rows = q
            .order_by_asc(comment::Column::Id)
            .limit(limit + 1)
            .all(&self.deps.db)
            .await?;
        let authors: Vec<Uuid> = rows.iter().map(|c| c.author_id).collect();
        let names = self.deps.nicknames(&authors, false).await?;
        let items = rows.into_iter().map(|c| view(c, &names)).collect();
        Ok(Page::from_rows(items, limit, |c| c.id.to_string()))
    }

    /// The author changes their comment.
    pub async fn edit(
        &self,
        who: &AuthUser,
        id: Uuid,
        cid: Uuid,
        body: String,
    ) -> Result<CommentView, ApiError> {
        let c = self.live(id, cid).await?;
        if c.author_id != who.id {
            return Err(ApiError::forbidden(
                "not_author",
                "only its author may edit a comment",
            ));
        }
        let mut m: comment::ActiveModel = c.into();
        m.body = Set(body);
        m.updated_at = Set(self.deps.clock.now_ms());
        let c = m.update(&self.deps.db).await?;
        let names = self.deps.nicknames(&[who.id], true).await?;
        Ok(view(c, &names))
    }

    /// Its author, the resume's owner or an admin withdraws a comment.
    pub async fn delete(&self, who: &AuthUser, id: Uuid, cid: Uuid) -> Result<(), ApiError> {
        let c = self.live(id, cid).await?;
        let owner = resume::Entity::find_by_id(id)
            .one(&self.deps.db)
            .await?
            .map(|r| r.owner_id);
        if c.author_id != who.id && owner != Some(who.id) && !who.is_admin() {
            return Err(ApiError::forbidden(
                "not_author",
                "only its author, the resume's owner or an admin may delete a comment",
            ));
        }
        let txn = self.deps.db.begin().await?;
        let done = comment::Entity::update_many()
            .col_expr(
                comment::Column::DeletedAt,
                Expr::value(self.deps.clock.now_ms()),
            )
            .filter(comment::Column::Id.eq(cid))
            .filter(comment::Column::DeletedAt.is_null())
            .exec(&txn)
            .await?;
        if done.rows_affected == 1 {
            bump(&txn, id, resume::Column::CommentCount, -1).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    async fn live(&self, id: Uuid, cid: Uuid) -> Result<comment::Model, ApiError> {
        comment::Entity::find_by_id(cid)
            .filter(comment::Column::ResumeId.eq(id))
            .filter(comment::Column::DeletedAt.is_null())
            .one(&self.deps.db)
            .await?
            .ok_or_else(|| ApiError::not_found("no such comment"))
    }
}
