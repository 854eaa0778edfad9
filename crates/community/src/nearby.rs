//! Posts near me: live posts within a radius of a point, newest first, each with its
//! great-circle distance. The geohash cells covering the circle (`geo::cover`) narrow
//! the candidates: the newest few of each cell through its `(cellN, created_at, id)`
//! index, merged, in rounds (a dense cell is never read whole nor sorted); the exact
//! distance (MySQL's sphere, `geo::EARTH_RADIUS_M`) decides, in Rust, so the answer is
//! the same on SQLite, PostgreSQL and MySQL.

use std::sync::Arc;

use sea_orm::sea_query::{Alias, Asterisk, Expr, Order, Query, SelectStatement, UnionType};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter};
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ApiError;
use uuid::Uuid;

use crate::domain::{Place, Radius};
use crate::entities::post;
use crate::geo::{self, Cover};
use crate::posts::{cursor_of, older_than, parse_cursor, PostView, Posts};

/// The most candidates read from one cell (or a band) per round.
const BATCH: u64 = 200;
/// Candidates read per round over all cells, in pages: a cover is a few times the
/// circle's area.
const PER_PAGE: u64 = 6;

/// Inside the box (checked on each candidate row the cell's index range gives, so a
/// dense cell mostly outside the circle hands back only what may be in it).
fn in_bounds(b: &geo::Bounds) -> Condition {
    let lons = b.lon_ranges.iter().fold(Condition::any(), |c, (w, e)| {
        c.add(post::Column::Longitude.between(*w, *e))
    });
    Condition::all()
        .add(post::Column::Latitude.between(b.min_lat, b.max_lat))
        .add(lons)
}

/// What a round reads of a post: only columns of the cell indexes, so the candidates
/// come from the index alone; the page's rows are read by id afterwards.
#[derive(Debug, FromQueryResult)]
struct Candidate {
    id: Uuid,
    created_at: i64,
    latitude: f64,
    longitude: f64,
    cell: String,
}

impl Candidate {
    fn key(&self) -> (i64, Uuid) {
        (self.created_at, self.id)
    }
}

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
        let bounds = geo::bounds(at.lat(), at.lon(), radius.metres());
        let cover = geo::cover(&bounds);
        let in_box = in_bounds(&bounds);
        let mut found: Vec<(Uuid, f64)> = Vec::new();
        loop {
            let (rows, more) = self.candidates(&cover, &in_box, after, limit).await?;
            for r in rows {
                after = Some(r.key());
                let d = geo::distance_m(at.lat(), at.lon(), r.latitude, r.longitude);
                if d <= radius.metres() {
                    found.push((r.id, d));
                }
            }
            // One more than a page says whether there is a next one.
            if found.len() as u64 > limit || !more {
                break;
            }
        }
        found.truncate(limit as usize + 1);
        let mut rows = post::Entity::find()
            .filter(post::Column::Id.is_in(found.iter().map(|(id, _)| *id)))
            .all(&self.db)
            .await?;
        // Withdrawn in between: left out.
        rows.retain(|r| r.deleted_at.is_none());
        let order = |id: &Uuid| found.iter().position(|(f, _)| f == id);
        rows.sort_by_key(|r| order(&r.id));
        let found: Vec<(post::Model, Option<f64>)> = rows
            .into_iter()
            .map(|r| {
                let d = order(&r.id).map(|i| found[i].1);
                (r, d)
            })
            .collect();
        let page = Page::from_rows(found, limit, |(r, _)| cursor_of(r));
        let items = self.posts.views(page.items, viewer, false).await?;
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }

    /// The next live posts of the cover older than `after`, newest first, and whether
    /// there may be more. Cells: the newest few of each cell, in one statement (one
    /// `cellN = ?` index range each, `UNION ALL`), so a dense cell is never read whole
    /// nor sorted; what is certainly complete (every post no older than the newest cut
    /// of a cell that had more) comes back. A band: one indexed latitude range.
    async fn candidates(
        &self,
        cover: &Cover,
        in_box: &Condition,
        after: Option<(i64, Uuid)>,
        limit: u64,
    ) -> Result<(Vec<Candidate>, bool), ApiError> {
        let live = |q: &mut SelectStatement, cell: post::Column, per: u64| {
            q.columns([
                post::Column::Id,
                post::Column::CreatedAt,
                post::Column::Latitude,
                post::Column::Longitude,
            ])
            .expr_as(Expr::col(cell), Alias::new("cell"))
            .from(post::Entity)
            .and_where(post::Column::DeletedAt.is_null())
            .cond_where(in_box.clone())
            .order_by(post::Column::CreatedAt, Order::Desc)
            .order_by(post::Column::Id, Order::Desc)
            .limit(per);
            if let Some(a) = after {
                q.cond_where(older_than(a));
            }
        };
        let backend = self.db.get_database_backend();
        let (level, cells) = match cover {
            // The band is the box's latitude range, which `live` keeps to already.
            Cover::Band { .. } => {
                let mut q = Query::select();
                live(&mut q, post::Column::Cell4, BATCH);
                let rows = Candidate::find_by_statement(backend.build(&q))
                    .all(&self.db)
                    .await?;
                let more = rows.len() as u64 == BATCH;
                return Ok((rows, more));
            }
            Cover::Cells { level, cells } => (*level, cells),
        };
        let col = match level {
            4 => post::Column::Cell4,
            5 => post::Column::Cell5,
            _ => post::Column::Cell6,
        };
        // About PER_PAGE pages' worth of candidates in all (a cover is a few times the
        // circle's area), split over the cells.
        let per = ((limit + 1) * PER_PAGE / cells.len().max(1) as u64).clamp(8, BATCH);
        let mut all: Option<SelectStatement> = None;
        for (i, cell) in cells.iter().enumerate() {
            let mut one = Query::select();
            live(&mut one, col, per);
            one.and_where(col.eq(cell.as_str()));
            let member = Query::select()
                .column(Asterisk)
                .from_subquery(one, Alias::new(format!("c{i}")))
                .to_owned();
            match &mut all {
                None => all = Some(member),
                Some(q) => {
                    q.union(UnionType::All, member);
                }
            }
        }
        let Some(q) = all else {
            return Ok((Vec::new(), false));
        };
        let mut rows = Candidate::find_by_statement(backend.build(&q))
            .all(&self.db)
            .await?;
        // A cell that gave `per` posts may have older ones: only what is newer than the
        // newest such cut is certainly complete.
        let mut last: std::collections::HashMap<&str, ((i64, Uuid), u64)> = Default::default();
        for r in &rows {
            let e = last.entry(r.cell.as_str()).or_insert((r.key(), 0));
            e.1 += 1;
            e.0 = e.0.min(r.key());
        }
        let horizon = last
            .values()
            .filter(|(_, n)| *n == per)
            .map(|(k, _)| *k)
            .max();
        let read = rows.len();
        let mut rows: Vec<Candidate> = match horizon {
            Some(h) => rows.drain(..).filter(|r| r.key() >= h).collect(),
            None => rows,
        };
        rows.sort_by_key(|r| std::cmp::Reverse(r.key()));
        tracing::debug!(
            level,
            cells = cells.len(),
            per,
            read,
            kept = rows.len(),
            "radius round"
        );
        Ok((rows, horizon.is_some()))
    }
}
