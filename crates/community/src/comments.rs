//! Comments on posts, with one level of replies. Writing one adds to the post's
//! `comment_count` in the same transaction; deleting one (soft: its author or an
//! admin) takes its live replies with it and subtracts exactly the rows it deleted.
//! The post's author, and a reply's parent author, are notified.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::page::{invalid_cursor, Page, PageQuery};
use surge_kernel::ports::NewNotification;
use surge_kernel::{new_id, rfc3339, ApiError};
use uuid::Uuid;

use surge_kernel::ports::Nicknames;

use crate::deps::Deps;
use crate::entities::{comment, post};
use crate::posts::{live, may_change};

/// Replies shown under each top-level comment of a page, oldest first.
const REPLIES_SHOWN: u64 = 50;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommentView {
    pub id: Uuid,
    pub post_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub author_id: Uuid,
    pub author: String,
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
    /// Replies, oldest first (top-level comments only; the first 50).
    #[schema(no_recursion)]
    pub replies: Vec<CommentView>,
}

pub struct Comments {
    deps: Arc<Deps>,
}

impl Comments {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Comments { deps }
    }

    /// A comment on a live post, or a reply to one of its live top-level comments.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, post_id = %post_id))]
    pub async fn add(
        &self,
        who: &AuthUser,
        post_id: Uuid,
        parent_id: Option<Uuid>,
        body: String,
    ) -> Result<CommentView, ApiError> {
        let txn = self.deps.db.begin().await?;
        // The post's row is locked first (as a delete of the post would), then the
        // parent's, so a reply never lands under a parent deleted meanwhile.
        let p = post::Entity::find_by_id(post_id)
            .filter(post::Column::DeletedAt.is_null())
            .lock_exclusive()
            .one(&txn)
            .await?
            .ok_or_else(|| ApiError::not_found("no such post"))?;
        let parent = match parent_id {
            Some(pid) => Some(
                comment::Entity::find_by_id(pid)
                    .filter(comment::Column::PostId.eq(post_id))
                    .filter(comment::Column::ParentId.is_null())
                    .filter(comment::Column::DeletedAt.is_null())
                    .lock_exclusive()
                    .one(&txn)
                    .await?
                    .ok_or_else(|| {
                        ApiError::validation(
                            "parent_id must be a live top-level comment of this post",
                        )
                        .with("field", "parent_id")
                        .with("reason", "invalid_parent")
                    })?,
            ),
            None => None,
        };
        let now = self.deps.clock.now_ms();
        let c = comment::ActiveModel {
            id: Set(new_id()),
            post_id: Set(post_id),
            parent_id: Set(parent_id),
            author_id: Set(who.id),
            body: Set(body),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
        }
        .insert(&txn)
        .await?;
        add_to_count(&txn, post_id, 1).await?;
        txn.commit().await?;

        let data = serde_json::json!({"post_id": post_id, "comment_id": c.id});
        if p.author_id != who.id {
            self.deps
                .tell(
                    p.author_id,
                    NewNotification {
                        kind: "community_comment".into(),
                        title: "새 댓글".into(),
                        body: format!("'{}'에 댓글이 달렸어요.", p.title),
                        data: data.clone(),
                    },
                )
                .await;
        }
        if let Some(parent) =
            parent.filter(|pc| pc.author_id != who.id && pc.author_id != p.author_id)
        {
            self.deps
                .tell(
                    parent.author_id,
                    NewNotification {
                        kind: "community_reply".into(),
                        title: "새 답글".into(),
                        body: "내 댓글에 답글이 달렸어요.".into(),
                        data,
                    },
                )
                .await;
        }
        let names = self.deps.nicknames(&[who.id], true).await?;
        Ok(view(c, &names, vec![]))
    }

    /// The top-level comments of a live post, oldest first, each with its replies.
    #[tracing::instrument(skip_all, fields(post_id = %post_id))]
    pub async fn list(
        &self,
        post_id: Uuid,
        page: &PageQuery,
    ) -> Result<Page<CommentView>, ApiError> {
        let limit = page.limit()?;
        live(&self.deps.read_db, post_id).await?;
        let mut q = comment::Entity::find()
            .filter(comment::Column::PostId.eq(post_id))
            .filter(comment::Column::ParentId.is_null())
            .filter(comment::Column::DeletedAt.is_null());
        if let Some(c) = page.cursor()? {
            let (at, id) = c.split_once('|').ok_or_else(invalid_cursor)?;
            let at: i64 = at.parse().map_err(|_| invalid_cursor())?;
            let id: Uuid = id.parse().map_err(|_| invalid_cursor())?;
            q = q.filter(
                Condition::any().add(comment::Column::CreatedAt.gt(at)).add(
                    Condition::all()
                        .add(comment::Column::CreatedAt.eq(at))
                        .add(comment::Column::Id.gt(id)),
                ),
            );
        }
        let rows = q
            .order_by_asc(comment::Column::CreatedAt)
            .order_by_asc(comment::Column::Id)
            .limit(limit + 1)
            .all(&self.deps.read_db)
            .await?;
        let page = Page::from_rows(rows, limit, |c: &comment::Model| {
            format!("{}|{}", c.created_at, c.id)
        });
        let mut replies: HashMap<Uuid, Vec<comment::Model>> = HashMap::new();
        for parent in &page.items {
            let rs = comment::Entity::find()
                .filter(comment::Column::ParentId.eq(parent.id))
                .filter(comment::Column::DeletedAt.is_null())
                .order_by_asc(comment::Column::CreatedAt)
                .order_by_asc(comment::Column::Id)
                .limit(REPLIES_SHOWN)
                .all(&self.deps.read_db)
                .await?;
            replies.insert(parent.id, rs);
        }
        let authors: Vec<Uuid> = page
            .items
            .iter()
            .chain(replies.values().flatten())
            .map(|c| c.author_id)
            .collect();
        let names = self.deps.nicknames(&authors, false).await?;
        let items = page
            .items
            .into_iter()
            .map(|c| {
                let rs = replies
                    .remove(&c.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| view(r, &names, vec![]))
                    .collect();
                view(c, &names, rs)
            })
            .collect();
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }

    /// Edits a live comment (its author or an admin).
    #[tracing::instrument(skip_all, fields(user_id = %who.id, comment_id = %id))]
    pub async fn edit(
        &self,
        who: &AuthUser,
        id: Uuid,
        body: String,
    ) -> Result<CommentView, ApiError> {
        let c = live_comment(&self.deps.db, id).await?;
        may_change(who, c.author_id)?;
        let mut m: comment::ActiveModel = c.into();
        m.body = Set(body);
        m.updated_at = Set(self.deps.clock.now_ms());
        // A comment deleted meanwhile stays deleted (404).
        let c = comment::Entity::update(m)
            .filter(comment::Column::DeletedAt.is_null())
            .exec(&self.deps.db)
            .await
            .map_err(|e| match e {
                sea_orm::DbErr::RecordNotUpdated => ApiError::not_found("no such comment"),
                e => e.into(),
            })?;
        let names = self.deps.nicknames(&[c.author_id], true).await?;
        Ok(view(c, &names, vec![]))
    }

    /// Deletes a live comment and its live replies (its author or an admin).
    #[tracing::instrument(skip_all, fields(user_id = %who.id, comment_id = %id))]
    pub async fn delete(&self, who: &AuthUser, id: Uuid) -> Result<(), ApiError> {
        let c = live_comment(&self.deps.db, id).await?;
        may_change(who, c.author_id)?;
        let now = self.deps.clock.now_ms();
        let txn = self.deps.db.begin().await?;
        // The post first (as `add` locks it), so a reply being added waits or is refused.
        post::Entity::find_by_id(c.post_id)
            .lock_exclusive()
            .one(&txn)
            .await?;
        let gone = comment::Entity::update_many()
            .col_expr(comment::Column::DeletedAt, Expr::value(now))
            .filter(
                Condition::any()
                    .add(comment::Column::Id.eq(id))
                    .add(comment::Column::ParentId.eq(id)),
            )
            .filter(comment::Column::DeletedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if gone == 0 {
            return Err(ApiError::not_found("no such comment"));
        }
        add_to_count(&txn, c.post_id, -(gone as i64)).await?;
        txn.commit().await?;
        Ok(())
    }
}

async fn live_comment(db: &impl ConnectionTrait, id: Uuid) -> Result<comment::Model, ApiError> {
    comment::Entity::find_by_id(id)
        .filter(comment::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such comment"))
}

async fn add_to_count(db: &impl ConnectionTrait, post_id: Uuid, n: i64) -> Result<(), ApiError> {
    post::Entity::update_many()
        .col_expr(
            post::Column::CommentCount,
            Expr::col(post::Column::CommentCount).add(n),
        )
        .filter(post::Column::Id.eq(post_id))
        .exec(db)
        .await?;
    Ok(())
}

fn view(c: comment::Model, names: &Nicknames, replies: Vec<CommentView>) -> CommentView {
    CommentView {
        id: c.id,
        post_id: c.post_id,
        parent_id: c.parent_id,
        author: names.of(c.author_id),
        author_id: c.author_id,
        body: c.body,
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
        replies,
    }
}
