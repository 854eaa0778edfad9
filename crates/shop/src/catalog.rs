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

use crate::domain::{NewProduct, ProductChanges, Restock};
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

#[derive(Debug, Default, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductSort {
    #[default]
    Newest,
    PriceAsc,
    PriceDesc,
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

    #[tracing::instrument(skip_all)]
    pub async fn create(&self, d: NewProduct) -> Result<ProductView, ApiError> {
        let now = self.clock.now_ms();
        let p = product::ActiveModel {
            id: Set(new_id()),
            name: Set(d.name),
            description: Set(d.description),
            price: Set(d.price),
            stock: Set(d.stock),
            category: Set(d.category),
            image_url: Set(d.image_url),
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

    #[tracing::instrument(skip(self, p))]
    pub async fn update(&self, id: Uuid, p: ProductChanges) -> Result<ProductView, ApiError> {
        let mut am: product::ActiveModel = self.load_active(id).await?.into();
        if let Some(n) = p.name {
            am.name = Set(n);
        }
        if let Some(d) = p.description {
            am.description = Set(d);
        }
        if let Some(pr) = p.price {
            am.price = Set(pr);
        }
        if let Some(c) = p.category {
            am.category = Set(c);
        }
        if let Some(u) = p.image_url {
            am.image_url = Set(u);
        }
        am.updated_at = Set(self.clock.now_ms());
        let saved = am.update(&self.db).await?;
        self.forget(id).await;
        Ok(saved.into())
    }

    /// Soft delete: the product disappears from the catalog and cannot be ordered;
    /// existing orders keep their lines.
    #[tracing::instrument(skip(self))]
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
    #[tracing::instrument(skip(self))]
    pub async fn restock(&self, id: Uuid, quantity: Restock) -> Result<ProductView, ApiError> {
        let quantity = quantity.get();
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

    #[tracing::instrument(level = "debug", skip(self))]
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

    #[tracing::instrument(level = "debug", skip(self, q))]
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
