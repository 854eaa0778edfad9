//! Posts near me: live posts within a radius of a point, newest first, each with its
//! great-circle distance. The geohash cells covering the circle (`geo::cover`) narrow
//! the candidates through an indexed `cellN IN (...)`, newest first, in batches; the
//! exact distance (MySQL's sphere, `geo::EARTH_RADIUS_M`) decides, in Rust, so the
//! answer is the same on SQLite, PostgreSQL and MySQL.

use std::sync::Arc;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ApiError;
use uuid::Uuid;

use crate::domain::{Place, Radius};
use crate::entities::post;
use crate::geo::{self, Cover};
use crate::posts::{cursor_of, older_than, parse_cursor, PostView, Posts};

/// Candidates read per query: enough for a page when most candidates are in the
/// circle (a cover is at most a few times the circle's area).
const BATCH: u64 = 200;

pub struct Nearby {
    db: sea_orm::DatabaseConnection,
    posts: Arc<Posts>,
}

impl Nearby {
    pub(crate) fn new(db: sea_orm::DatabaseConnection, posts: Arc<Posts>) -> Self {
        Nearby { db, posts }
    }

    #[tracing::instrument(skip_all, fields(lat = at.lat(), lon = at.lon(), radius = radius.metres()))]
    pub async fn search(
        &self,
        at: Place,
        radius: Radius,
        page: &PageQuery,
        viewer: Option<Uuid>,
    ) -> Result<Page<PostView>, ApiError> {
        let limit = page.limit()?;
        let mut after = parse_cursor(page)?;
        let narrow = match geo::cover(at.lat(), at.lon(), radius.metres()) {
            Cover::Cells { level, cells } => {
                let col = match level {
                    4 => post::Column::Cell4,
                    5 => post::Column::Cell5,
                    _ => post::Column::Cell6,
                };
                col.is_in(cells)
            }
            Cover::Band { min_lat, max_lat } => post::Column::Latitude.between(min_lat, max_lat),
        };
        let mut found: Vec<(post::Model, Option<f64>)> = Vec::new();
        'scan: loop {
            let mut q = post::Entity::find()
                .filter(narrow.clone())
                .filter(post::Column::DeletedAt.is_null());
            if let Some(a) = after {
                q = q.filter(older_than(a));
            }
            let rows = q
                .order_by_desc(post::Column::CreatedAt)
                .order_by_desc(post::Column::Id)
                .limit(BATCH)
                .all(&self.db)
                .await?;
            let exhausted = (rows.len() as u64) < BATCH;
            for r in rows {
                after = Some((r.created_at, r.id));
                let d = geo::distance_m(at.lat(), at.lon(), r.latitude, r.longitude);
                if d <= radius.metres() {
                    found.push((r, Some(d)));
                    // One more than a page says whether there is a next one.
                    if found.len() as u64 > limit {
                        break 'scan;
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        let page = Page::from_rows(found, limit, |(r, _)| cursor_of(r));
        let items = self.posts.views(page.items, viewer, false).await?;
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }
}
