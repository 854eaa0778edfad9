//! Posts: written by a signed-in user at a place, edited or withdrawn (soft) by their
//! author or an admin, listed as "mine". Every post keeps its geohash cells (`geo.rs`)
//! so `nearby.rs` can find it; its counters are kept by votes, views and comments.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::page::{invalid_cursor, Page, PageQuery};
use surge_kernel::{new_id, rfc3339, ApiError};
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::{Place, VoteKind};
use crate::entities::{image, post, vote};
use crate::geo;

/// A new post, validated (`http.rs` builds it with `try_into_domain()`).
#[derive(Debug, Clone)]
pub struct NewPost {
    pub title: String,
    pub body: String,
    pub place: Place,
    pub place_name: Option<String>,
    pub image_ids: Vec<Uuid>,
}

/// What a PATCH changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct PostChanges {
    pub title: Option<String>,
    pub body: Option<String>,
    pub place: Option<Place>,
    /// `Some(None)` clears the place name.
    pub place_name: Option<Option<String>>,
    pub image_ids: Option<Vec<Uuid>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImageRef {
    pub id: Uuid,
    /// Where the image is served (`GET`, no sign-in needed).
    pub url: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PostView {
    pub id: Uuid,
    pub author_id: Uuid,
    pub author: String,
    pub title: String,
    pub body: String,
    pub latitude: f64,
    pub longitude: f64,
    pub place_name: Option<String>,
    pub images: Vec<ImageRef>,
    pub up: i64,
    pub down: i64,
    /// The caller's vote (signed in only).
    pub my_vote: Option<VoteKind>,
    pub view_count: i64,
    pub comment_count: i64,
    pub created_at: String,
    pub updated_at: String,
    /// Great-circle metres from the searched point (radius searches only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
}

pub fn image_url(id: Uuid) -> String {
    format!("/api/v1/community/images/{id}")
}

pub struct Posts {
    deps: Arc<Deps>,
}

impl Posts {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Posts { deps }
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id))]
    pub async fn create(&self, who: &AuthUser, p: NewPost) -> Result<PostView, ApiError> {
        check_images(&self.deps.db, who.id, &p.image_ids).await?;
        let now = self.deps.clock.now_ms();
        let [cell4, cell5, cell6] = geo::cells_of(p.place.lat(), p.place.lon());
        let row = post::ActiveModel {
            id: Set(new_id()),
            author_id: Set(who.id),
            title: Set(p.title),
            body: Set(p.body),
            latitude: Set(p.place.lat()),
            longitude: Set(p.place.lon()),
            place_name: Set(p.place_name),
            cell4: Set(cell4),
            cell5: Set(cell5),
            cell6: Set(cell6),
            image_ids: Set(ids_json(&p.image_ids)?),
            up_count: Set(0),
            down_count: Set(0),
            view_count: Set(0),
            comment_count: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
        }
        .insert(&self.deps.db)
        .await?;
        let mut views = self.views(vec![(row, None)], Some(who.id), true).await?;
        views
            .pop()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("post view vanished")))
    }

    /// One live post, with the caller's vote.
    #[tracing::instrument(skip_all, fields(post_id = %id))]
    pub async fn get(&self, id: Uuid, viewer: Option<Uuid>) -> Result<PostView, ApiError> {
        let row = live(&self.deps.db, id).await?;
        let mut views = self.views(vec![(row, None)], viewer, false).await?;
        views
            .pop()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("post view vanished")))
    }

    /// Edits a live post (its author or an admin).
    #[tracing::instrument(skip_all, fields(user_id = %who.id, post_id = %id))]
    pub async fn update(
        &self,
        who: &AuthUser,
        id: Uuid,
        c: PostChanges,
    ) -> Result<PostView, ApiError> {
        let row = live(&self.deps.db, id).await?;
        may_change(who, row.author_id)?;
        if let Some(ids) = &c.image_ids {
            check_images(&self.deps.db, row.author_id, ids).await?;
        }
        let mut m: post::ActiveModel = row.into();
        if let Some(t) = c.title {
            m.title = Set(t);
        }
        if let Some(b) = c.body {
            m.body = Set(b);
        }
        if let Some(p) = c.place {
            let [cell4, cell5, cell6] = geo::cells_of(p.lat(), p.lon());
            m.latitude = Set(p.lat());
            m.longitude = Set(p.lon());
            m.cell4 = Set(cell4);
            m.cell5 = Set(cell5);
            m.cell6 = Set(cell6);
        }
        if let Some(n) = c.place_name {
            m.place_name = Set(n);
        }
        if let Some(ids) = c.image_ids {
            m.image_ids = Set(ids_json(&ids)?);
        }
        m.updated_at = Set(self.deps.clock.now_ms());
        // Only the edited columns are written, so counters moved meanwhile are kept; a
        // post withdrawn meanwhile stays withdrawn (404).
        let row = post::Entity::update(m)
            .filter(post::Column::DeletedAt.is_null())
            .exec(&self.deps.db)
            .await
            .map_err(|e| match e {
                DbErr::RecordNotUpdated => ApiError::not_found("no such post"),
                e => e.into(),
            })?;
        let mut views = self.views(vec![(row, None)], Some(who.id), true).await?;
        views
            .pop()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("post view vanished")))
    }

    /// Withdraws a post (its author or an admin): gone from every list and lookup; its
    /// votes and comments stay stored.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, post_id = %id))]
    pub async fn delete(&self, who: &AuthUser, id: Uuid) -> Result<(), ApiError> {
        let row = live(&self.deps.db, id).await?;
        may_change(who, row.author_id)?;
        let done = post::Entity::update_many()
            .col_expr(
                post::Column::DeletedAt,
                Expr::value(self.deps.clock.now_ms()),
            )
            .filter(post::Column::Id.eq(id))
            .filter(post::Column::DeletedAt.is_null())
            .exec(&self.deps.db)
            .await?;
        if done.rows_affected == 0 {
            return Err(ApiError::not_found("no such post"));
        }
        Ok(())
    }

    /// The caller's live posts, newest first.
    #[tracing::instrument(skip_all, fields(user_id = %who.id))]
    pub async fn mine(&self, who: &AuthUser, page: &PageQuery) -> Result<Page<PostView>, ApiError> {
        let limit = page.limit()?;
        let mut q = post::Entity::find()
            .filter(post::Column::AuthorId.eq(who.id))
            .filter(post::Column::DeletedAt.is_null());
        if let Some(after) = parse_cursor(page)? {
            q = q.filter(older_than(after));
        }
        let rows = q
            .order_by_desc(post::Column::CreatedAt)
            .order_by_desc(post::Column::Id)
            .limit(limit + 1)
            .all(&self.deps.read_db)
            .await?;
        let page = Page::from_rows(rows, limit, cursor_of);
        let items = self
            .views(
                page.items.into_iter().map(|r| (r, None)).collect(),
                Some(who.id),
                false,
            )
            .await?;
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }

    /// Views of `rows` (with their distances), in order: authors' nicknames in one
    /// lookup, the viewer's votes in one query.
    #[tracing::instrument(skip_all, fields(posts = rows.len()))]
    pub(crate) async fn views(
        &self,
        rows: Vec<(post::Model, Option<f64>)>,
        viewer: Option<Uuid>,
        after_write: bool,
    ) -> Result<Vec<PostView>, ApiError> {
        let authors: Vec<Uuid> = rows.iter().map(|(r, _)| r.author_id).collect();
        let names = self.deps.nicknames(&authors, after_write).await?;
        let mine: HashMap<Uuid, VoteKind> = match viewer {
            Some(v) if !rows.is_empty() => vote::Entity::find()
                .filter(vote::Column::UserId.eq(v))
                .filter(vote::Column::PostId.is_in(rows.iter().map(|(r, _)| r.id)))
                .all(&self.deps.db)
                .await?
                .into_iter()
                .map(|v| (v.post_id, v.kind))
                .collect(),
            _ => HashMap::new(),
        };
        rows.into_iter()
            .map(|(r, distance_m)| {
                let images = stored_ids(&r.image_ids)?
                    .into_iter()
                    .map(|id| ImageRef {
                        id,
                        url: image_url(id),
                    })
                    .collect();
                Ok(PostView {
                    id: r.id,
                    author_id: r.author_id,
                    author: names.of(r.author_id),
                    my_vote: mine.get(&r.id).copied(),
                    title: r.title,
                    body: r.body,
                    latitude: r.latitude,
                    longitude: r.longitude,
                    place_name: r.place_name,
                    images,
                    up: r.up_count,
                    down: r.down_count,
                    view_count: r.view_count,
                    comment_count: r.comment_count,
                    created_at: rfc3339(r.created_at),
                    updated_at: rfc3339(r.updated_at),
                    distance_m: distance_m.map(|d| (d * 10.0).round() / 10.0),
                })
            })
            .collect()
    }
}

/// A post that is not withdrawn; 404 otherwise.
pub(crate) async fn live(db: &impl ConnectionTrait, id: Uuid) -> Result<post::Model, ApiError> {
    post::Entity::find_by_id(id)
        .filter(post::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such post"))
}

/// The author or an admin; 403 `not_author` otherwise.
pub(crate) fn may_change(who: &AuthUser, author: Uuid) -> Result<(), ApiError> {
    if who.id == author || who.is_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "not_author",
            "only its author or an admin may change this",
        ))
    }
}

/// Every image must be the author's own upload.
async fn check_images(
    db: &impl ConnectionTrait,
    owner: Uuid,
    ids: &[Uuid],
) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let owned = image::Entity::find()
        .filter(image::Column::Id.is_in(ids.iter().copied()))
        .filter(image::Column::OwnerId.eq(owner))
        .count(db)
        .await?;
    if owned as usize != ids.len() {
        return Err(
            ApiError::validation("image_ids must name images the author uploaded")
                .with("field", "image_ids")
                .with("reason", "unknown_image"),
        );
    }
    Ok(())
}

fn ids_json(ids: &[Uuid]) -> Result<String, ApiError> {
    serde_json::to_string(ids).map_err(|e| ApiError::internal(anyhow::anyhow!(e)))
}

fn stored_ids(json: &str) -> Result<Vec<Uuid>, ApiError> {
    serde_json::from_str(json)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored image ids: {e}")))
}

/// Lists page newest first by (created_at, id): the cursor is the last item's pair.
pub(crate) fn cursor_of(r: &post::Model) -> String {
    format!("{}|{}", r.created_at, r.id)
}

pub(crate) fn parse_cursor(page: &PageQuery) -> Result<Option<(i64, Uuid)>, ApiError> {
    let Some(c) = page.cursor()? else {
        return Ok(None);
    };
    let (at, id) = c.split_once('|').ok_or_else(invalid_cursor)?;
    Ok(Some((
        at.parse().map_err(|_| invalid_cursor())?,
        id.parse().map_err(|_| invalid_cursor())?,
    )))
}

/// Posts after `(at, id)` in newest-first order.
pub(crate) fn older_than((at, id): (i64, Uuid)) -> Condition {
    Condition::any().add(post::Column::CreatedAt.lt(at)).add(
        Condition::all()
            .add(post::Column::CreatedAt.eq(at))
            .add(post::Column::Id.lt(id)),
    )
}
