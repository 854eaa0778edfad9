//! The community of resumes: public resumes with a written version, filtered by
//! position and school, newest first or by likes or views, or the ones the caller
//! liked. Keyset pages: the cursor holds the sort key and id of the last card shown.

use std::sync::Arc;

use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use surge_kernel::page::{invalid_cursor, Page, PageQuery};
use surge_kernel::ApiError;
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::{Position, SchoolType, Visibility};
use crate::entities::{like, resume};
use crate::resumes::{card, ResumeCard};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    #[default]
    Recent,
    Likes,
    Views,
}

/// What the community list is asked for, validated.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub position: Option<Position>,
    pub school_type: Option<SchoolType>,
    pub sort: Sort,
    /// Only the resumes this user liked.
    pub liked_by: Option<Uuid>,
}

pub struct Browse {
    deps: Arc<Deps>,
}

impl Browse {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Browse { deps }
    }

    pub async fn list(&self, f: &Filter, page: &PageQuery) -> Result<Page<ResumeCard>, ApiError> {
        let limit = page.limit()?;
        let key = match f.sort {
            Sort::Recent => resume::Column::CreatedAt,
            Sort::Likes => resume::Column::LikeCount,
            Sort::Views => resume::Column::ViewCount,
        };
        let mut q = resume::Entity::find()
            .filter(resume::Column::Visibility.eq(Visibility::Public))
            .filter(resume::Column::DeletedAt.is_null())
            .filter(resume::Column::Version.gt(0));
        if let Some(p) = f.position {
            q = q.filter(resume::Column::Position.eq(p));
        }
        if let Some(s) = f.school_type {
            q = q.filter(resume::Column::SchoolType.eq(s));
        }
        if let Some(user) = f.liked_by {
            q = q.filter(
                resume::Column::Id.in_subquery(
                    Query::select()
                        .column(like::Column::ResumeId)
                        .from(like::Entity)
                        .and_where(like::Column::UserId.eq(user))
                        .to_owned(),
                ),
            );
        }
        if let Some(c) = page.cursor()? {
            let (k, id) = c.split_once('|').ok_or_else(invalid_cursor)?;
            let k: i64 = k.parse().map_err(|_| invalid_cursor())?;
            let id: Uuid = id.parse().map_err(|_| invalid_cursor())?;
            q = q.filter(
                Condition::any().add(key.lt(k)).add(
                    Condition::all()
                        .add(key.eq(k))
                        .add(resume::Column::Id.lt(id)),
                ),
            );
        }
        // Public reads may come from the read database; the caller's own likes do not.
        let db = match f.liked_by {
            Some(_) => &self.deps.db,
            None => &self.deps.read_db,
        };
        let rows = q
            .order_by_desc(key)
            .order_by_desc(resume::Column::Id)
            .limit(limit + 1)
            .all(db)
            .await?;
        let owners: Vec<Uuid> = rows.iter().map(|m| m.owner_id).collect();
        let names = self.deps.nicknames(&owners, false).await?;
        let keyed: Vec<(i64, ResumeCard)> = rows
            .into_iter()
            .map(|m| {
                let k = match f.sort {
                    Sort::Recent => m.created_at,
                    Sort::Likes => m.like_count,
                    Sort::Views => m.view_count,
                };
                (k, card(m, &names))
            })
            .collect();
        let page = Page::from_rows(keyed, limit, |(k, c)| format!("{k}|{}", c.id));
        Ok(Page {
            items: page.items.into_iter().map(|(_, c)| c).collect(),
            next_cursor: page.next_cursor,
        })
    }
}
