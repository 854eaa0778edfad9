//! Comments on rooms, with one level of replies. In an anonymous room authors are
//! hidden; everywhere else their nicknames are found in one lookup per page.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ports::NewNotification;
use surge_kernel::{new_id, rfc3339, ApiError};
use uuid::Uuid;

use surge_kernel::ports::Nicknames;

use crate::deps::Deps;
use crate::domain::Text;
use crate::entities::{comment, room};
use crate::rooms::load as load_room;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommentView {
    pub id: Uuid,
    pub room_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub author_id: Option<Uuid>,
    pub author: String,
    /// Empty once deleted.
    pub body: String,
    pub deleted: bool,
    pub created_at: String,
    pub updated_at: String,
    /// Replies (top-level comments only).
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

    /// [`Self::names`] for the answer to a committed write: never fails.
    async fn names_after_write(&self, r: &room::Model, rows: &[&comment::Model]) -> Nicknames {
        if r.anonymous {
            return self.deps.nicknames_after_write(&[]).await;
        }
        let ids: Vec<Uuid> = rows.iter().map(|c| c.author_id).collect();
        self.deps.nicknames_after_write(&ids).await
    }

    /// The authors' nicknames for `rows` (none needed in an anonymous room).
    async fn names(
        &self,
        r: &room::Model,
        rows: &[&comment::Model],
    ) -> Result<Nicknames, ApiError> {
        let ids: Vec<Uuid> = if r.anonymous {
            vec![]
        } else {
            rows.iter().map(|c| c.author_id).collect()
        };
        self.deps.nicknames(&ids).await
    }

    /// Comments on a room, or replies to one of its top-level comments.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, room_id = %room_id, parent_id = ?parent_id))]
    pub async fn add(
        &self,
        who: &AuthUser,
        room_id: Uuid,
        text: Text,
        parent_id: Option<Uuid>,
    ) -> Result<CommentView, ApiError> {
        let r = load_room(&self.deps.db, room_id).await?;
        if r.deleted {
            return Err(ApiError::not_found("no such room"));
        }
        let parent = match parent_id {
            Some(p) => Some(
                comment::Entity::find_by_id(p)
                    .one(&self.deps.db)
                    .await?
                    .filter(|c| c.room_id == room_id && c.parent_id.is_none())
                    .ok_or_else(|| {
                        ApiError::validation("parent_id must be a top-level comment of this room")
                            .with("field", "parent_id")
                    })?,
            ),
            None => None,
        };
        let now = self.deps.clock.now_ms();
        let c = comment::ActiveModel {
            id: Set(new_id()),
            room_id: Set(room_id),
            author_id: Set(who.id),
            parent_id: Set(parent_id),
            body: Set(text.into_inner()),
            deleted: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.deps.db)
        .await?;
        if let Some(p) = parent.filter(|p| p.author_id != who.id && !p.deleted) {
            let _ = self
                .deps
                .notifier
                .notify(
                    p.author_id,
                    NewNotification {
                        kind: "comment_replied".into(),
                        title: "New reply to your comment".into(),
                        body: c.body.chars().take(100).collect(),
                        data: serde_json::json!({"room_id": room_id, "comment_id": c.id}),
                    },
                )
                .await;
        }
        let names = self.names_after_write(&r, &[&c]).await;
        Ok(view(&r, c, &names))
    }

    /// Top-level comments, oldest first, each with its replies.
    #[tracing::instrument(skip_all, fields(room_id = %room_id))]
    pub async fn list(
        &self,
        room_id: Uuid,
        page: &PageQuery,
    ) -> Result<Page<CommentView>, ApiError> {
        let r = load_room(&self.deps.db, room_id).await?;
        if r.deleted {
            return Err(ApiError::not_found("no such room"));
        }
        let limit = page.limit()?;
        let mut q = comment::Entity::find()
            .filter(comment::Column::RoomId.eq(room_id))
            .filter(comment::Column::ParentId.is_null());
        if let Some(c) = page.uuid_cursor()? {
            q = q.filter(comment::Column::Id.gt(c));
        }
        let top = q
            .order_by_asc(comment::Column::Id)
            .limit(limit + 1)
            .all(&self.deps.read_db)
            .await?;
        let ids: Vec<Uuid> = top.iter().map(|c| c.id).collect();
        let replies = comment::Entity::find()
            .filter(comment::Column::ParentId.is_in(ids))
            .order_by_asc(comment::Column::Id)
            .all(&self.deps.read_db)
            .await?;
        let names = self
            .names(&r, &top.iter().chain(&replies).collect::<Vec<_>>())
            .await?;
        let mut by_parent: HashMap<Uuid, Vec<CommentView>> = HashMap::new();
        for c in replies {
            let parent = c.parent_id.unwrap_or_default();
            by_parent
                .entry(parent)
                .or_default()
                .push(view(&r, c, &names));
        }
        let views = top
            .into_iter()
            .map(|c| {
                let id = c.id;
                let mut v = view(&r, c, &names);
                v.replies = by_parent.remove(&id).unwrap_or_default();
                v
            })
            .collect();
        Ok(Page::from_rows(views, limit, |c: &CommentView| {
            c.id.to_string()
        }))
    }

    async fn own(
        &self,
        who: &AuthUser,
        id: Uuid,
        admin_ok: bool,
    ) -> Result<(comment::Model, room::Model), ApiError> {
        let c = comment::Entity::find_by_id(id)
            .one(&self.deps.db)
            .await?
            .filter(|c| !c.deleted)
            .ok_or_else(|| ApiError::not_found("no such comment"))?;
        if c.author_id != who.id && !(admin_ok && who.is_admin()) {
            return Err(ApiError::forbidden(
                "forbidden",
                "only the comment's author can do this",
            ));
        }
        let r = load_room(&self.deps.db, c.room_id).await?;
        Ok((c, r))
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id, comment_id = %id))]
    pub async fn edit(
        &self,
        who: &AuthUser,
        id: Uuid,
        text: Text,
    ) -> Result<CommentView, ApiError> {
        let (c, r) = self.own(who, id, false).await?;
        let mut am: comment::ActiveModel = c.into();
        am.body = Set(text.into_inner());
        am.updated_at = Set(self.deps.clock.now_ms());
        let saved = am.update(&self.deps.db).await?;
        let names = self.names_after_write(&r, &[&saved]).await;
        Ok(view(&r, saved, &names))
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id, comment_id = %id))]
    pub async fn delete(&self, who: &AuthUser, id: Uuid) -> Result<(), ApiError> {
        self.own(who, id, true).await?;
        comment::Entity::update_many()
            .col_expr(comment::Column::Deleted, Expr::value(true))
            .col_expr(
                comment::Column::UpdatedAt,
                Expr::value(self.deps.clock.now_ms()),
            )
            .filter(comment::Column::Id.eq(id))
            .exec(&self.deps.db)
            .await?;
        Ok(())
    }
}

fn view(r: &room::Model, c: comment::Model, names: &Nicknames) -> CommentView {
    CommentView {
        id: c.id,
        room_id: c.room_id,
        parent_id: c.parent_id,
        author_id: (!r.anonymous).then_some(c.author_id),
        author: if r.anonymous {
            "익명".to_owned()
        } else {
            names.of(c.author_id)
        },
        body: if c.deleted { String::new() } else { c.body },
        deleted: c.deleted,
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
        replies: vec![],
    }
}
