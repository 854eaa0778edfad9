//! The catalog: admins keep products; everyone browses them with live stock.
//!
//! Product pages are cached for at most `CACHE_TTL` (1 s) and dropped on every admin
//! change and whenever a product sells out, so stock already sold can look available
//! for at most one second and "sold out" shows at once.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use surge_kernel::clock::Clock;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ports::Cache;
use surge_kernel::{new_id, rfc3339, ApiError};
use uuid::Uuid;

use crate::entities::product;

pub const CACHE_TTL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// KRW.
    pub price: i64,
    pub stock: i64,
    pub sold_out: bool,
    pub category: String,
    pub image_url: Option<String>,
    pub created_at: String,
}

impl From<product::Model> for ProductView {
    fn from(p: product::Model) -> Self {
        ProductView {
            id: p.id,
            sold_out: p.stock <= 0,
            name: p.name,
            description: p.description,
            price: p.price,
            stock: p.stock,
            category: p.category,
            image_url: p.image_url,
            created_at: rfc3339(p.created_at),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ProductDraft {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub price: i64,
    pub stock: i64,
    pub category: String,
    pub image_url: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price: Option<i64>,
    pub category: Option<String>,
    pub image_url: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductSort {
    #[default]
    Newest,
    PriceAsc,
    PriceDesc,
}

fn check_name(n: &str) -> Result<String, ApiError> {
    let n = n.trim();
    if (1..=200).contains(&n.chars().count()) {
        Ok(n.to_owned())
    } else {
        Err(ApiError::validation("name must be 1 to 200 characters"))
    }
}

fn check_category(c: &str) -> Result<String, ApiError> {
    let c = c.trim();
    if (1..=50).contains(&c.chars().count()) {
        Ok(c.to_owned())
    } else {
        Err(ApiError::validation("category must be 1 to 50 characters"))
    }
}

fn check_price(p: i64) -> Result<i64, ApiError> {
    if (0..=1_000_000_000).contains(&p) {
        Ok(p)
    } else {
        Err(ApiError::validation("price must be 0 to 1,000,000,000 KRW"))
    }
}

fn check_image(u: Option<String>) -> Result<Option<String>, ApiError> {
    match u.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) {
        Some(u) if u.len() <= 500 && (u.starts_with("https://") || u.starts_with("http://")) => {
            Ok(Some(u))
        }
        Some(_) => Err(ApiError::validation(
            "image_url must be an http(s) URL of at most 500 characters",
        )),
        None => Ok(None),
    }
}

pub fn cache_key(id: Uuid) -> String {
    format!("shop:product:{id}")
}

pub struct Catalog {
    pub(crate) db: DatabaseConnection,
    read_db: DatabaseConnection,
    pub(crate) cache: Arc<dyn Cache>,
    clock: Arc<dyn Clock>,
}

impl Catalog {
    pub fn new(f: &surge_kernel::module::Foundation) -> Self {
        Self {
            db: f.db.clone(),
            read_db: f.read_db.clone(),
            cache: f.cache.clone(),
            clock: f.clock.clone(),
        }
    }

    pub async fn create(&self, d: ProductDraft) -> Result<ProductView, ApiError> {
        if !(0..=1_000_000_000).contains(&d.stock) {
            return Err(ApiError::validation("stock must be 0 to 1,000,000,000"));
        }
        let now = self.clock.now_ms();
        let p = product::ActiveModel {
            id: Set(new_id()),
            name: Set(check_name(&d.name)?),
            description: Set(d.description.trim().chars().take(10_000).collect()),
            price: Set(check_price(d.price)?),
            stock: Set(d.stock),
            category: Set(check_category(&d.category)?),
            image_url: Set(check_image(d.image_url)?),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.db)
        .await?;
        Ok(p.into())
    }

    async fn load_active(&self, id: Uuid) -> Result<product::Model, ApiError> {
        product::Entity::find_by_id(id)
            .filter(product::Column::Active.eq(true))
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::not_found("no such product"))
    }

    pub async fn update(&self, id: Uuid, p: ProductPatch) -> Result<ProductView, ApiError> {
        let mut am: product::ActiveModel = self.load_active(id).await?.into();
        if let Some(n) = p.name {
            am.name = Set(check_name(&n)?);
        }
        if let Some(d) = p.description {
            am.description = Set(d.trim().chars().take(10_000).collect());
        }
        if let Some(pr) = p.price {
            am.price = Set(check_price(pr)?);
        }
        if let Some(c) = p.category {
            am.category = Set(check_category(&c)?);
        }
        if p.image_url.is_some() {
            am.image_url = Set(check_image(p.image_url)?);
        }
        am.updated_at = Set(self.clock.now_ms());
        let saved = am.update(&self.db).await?;
        self.forget(id).await;
        Ok(saved.into())
    }

    /// Soft delete: the product disappears from the catalog and cannot be ordered;
    /// existing orders keep their lines.
    pub async fn delete(&self, id: Uuid) -> Result<(), ApiError> {
        let res = product::Entity::update_many()
            .col_expr(product::Column::Active, Expr::value(false))
            .col_expr(product::Column::UpdatedAt, Expr::value(self.clock.now_ms()))
            .filter(product::Column::Id.eq(id))
            .filter(product::Column::Active.eq(true))
            .exec(&self.db)
            .await?;
        if res.rows_affected == 0 {
            return Err(ApiError::not_found("no such product"));
        }
        self.forget(id).await;
        Ok(())
    }

    /// Adds stock atomically (never a read-modify-write).
    pub async fn restock(&self, id: Uuid, quantity: i64) -> Result<ProductView, ApiError> {
        if !(1..=1_000_000_000).contains(&quantity) {
            return Err(ApiError::validation("quantity must be 1 to 1,000,000,000"));
        }
        let stmt = Query::update()
            .table(product::Entity)
            .value(
                product::Column::Stock,
                Expr::col(product::Column::Stock).add(quantity),
            )
            .value(product::Column::UpdatedAt, self.clock.now_ms())
            .and_where(Expr::col(product::Column::Id).eq(id))
            .and_where(Expr::col(product::Column::Active).eq(true))
            .to_owned();
        let res = self
            .db
            .execute(self.db.get_database_backend().build(&stmt))
            .await?;
        if res.rows_affected() == 0 {
            return Err(ApiError::not_found("no such product"));
        }
        self.forget(id).await;
        Ok(self.load_active(id).await?.into())
    }

    pub async fn forget(&self, id: Uuid) {
        if let Err(e) = self.cache.delete(&cache_key(id)).await {
            tracing::warn!(error = ?e, "dropping a cached product failed");
        }
    }

    pub async fn get(&self, id: Uuid) -> Result<ProductView, ApiError> {
        let key = cache_key(id);
        // The cache is only a shortcut: when it is down, read the database.
        match self.cache.get(&key).await {
            Ok(Some(bytes)) => {
                if let Ok(v) = serde_json::from_slice::<ProductView>(&bytes) {
                    return Ok(v);
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "product cache unreadable; reading the database"),
        }
        let p = product::Entity::find_by_id(id)
            .filter(product::Column::Active.eq(true))
            .one(&self.read_db)
            .await?
            .ok_or_else(|| ApiError::not_found("no such product"))?;
        let view = ProductView::from(p);
        if let Ok(bytes) = serde_json::to_vec(&view) {
            if let Err(e) = self.cache.set(&key, &bytes, CACHE_TTL).await {
                tracing::warn!(error = %e, "caching a product failed");
            }
        }
        Ok(view)
    }

    pub async fn list(
        &self,
        q: &PageQuery,
        category: Option<&str>,
        sort: ProductSort,
    ) -> Result<Page<ProductView>, ApiError> {
        let limit = q.limit()?;
        let bad_cursor = surge_kernel::page::invalid_cursor;
        let mut query = product::Entity::find().filter(product::Column::Active.eq(true));
        if let Some(c) = category.map(str::trim).filter(|c| !c.is_empty()) {
            query = query.filter(product::Column::Category.eq(c));
        }
        let cursor = q.cursor()?;
        query = match sort {
            ProductSort::Newest => {
                if let Some(c) = cursor {
                    let id: Uuid = c.parse().map_err(|_| bad_cursor())?;
                    query = query.filter(product::Column::Id.lt(id));
                }
                query.order_by_desc(product::Column::Id)
            }
            ProductSort::PriceAsc | ProductSort::PriceDesc => {
                let asc = matches!(sort, ProductSort::PriceAsc);
                if let Some(c) = cursor {
                    let (price, id) = c
                        .split_once('|')
                        .and_then(|(p, i)| Some((p.parse::<i64>().ok()?, i.parse::<Uuid>().ok()?)))
                        .ok_or_else(bad_cursor)?;
                    let after = if asc {
                        sea_orm::Condition::any()
                            .add(product::Column::Price.gt(price))
                            .add(
                                product::Column::Price
                                    .eq(price)
                                    .and(product::Column::Id.gt(id)),
                            )
                    } else {
                        sea_orm::Condition::any()
                            .add(product::Column::Price.lt(price))
                            .add(
                                product::Column::Price
                                    .eq(price)
                                    .and(product::Column::Id.lt(id)),
                            )
                    };
                    query = query.filter(after);
                }
                if asc {
                    query
                        .order_by_asc(product::Column::Price)
                        .order_by_asc(product::Column::Id)
                } else {
                    query
                        .order_by_desc(product::Column::Price)
                        .order_by_desc(product::Column::Id)
                }
            }
        };
        let rows = query.limit(limit + 1).all(&self.read_db).await?;
        let views: Vec<ProductView> = rows.into_iter().map(Into::into).collect();
        Ok(Page::from_rows(views, limit, |p| match sort {
            ProductSort::Newest => p.id.to_string(),
            _ => format!("{}|{}", p.price, p.id),
        }))
    }
}
