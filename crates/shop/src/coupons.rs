//! First-come coupons: a campaign issues exactly `quantity` coupons, at most one per
//! user. The count moves only by `issued = issued + 1 WHERE issued < quantity` in the
//! transaction that inserts the coupon, and a unique (campaign, user) index backs
//! "one each".

use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use surge_kernel::clock::Clock;
use surge_kernel::error::unique_violation;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::{new_id, rfc3339, ApiError};
use uuid::Uuid;

use crate::domain::Discount;
use crate::entities::{campaign, coupon};

pub const AVAILABLE: &str = "AVAILABLE";
pub const RESERVED: &str = "RESERVED";
pub const USED: &str = "USED";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CampaignDraft {
    pub name: String,
    pub quantity: i64,
    /// Either a fixed amount off (KRW)...
    pub discount_amount: Option<i64>,
    /// ...or a percentage, capped at `max_discount`.
    pub discount_percent: Option<i32>,
    pub max_discount: Option<i64>,
    /// RFC 3339.
    pub starts_at: String,
    pub ends_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CampaignView {
    pub id: Uuid,
    pub name: String,
    pub quantity: i64,
    pub issued: i64,
    pub remaining: i64,
    pub discount_amount: Option<i64>,
    pub discount_percent: Option<i32>,
    pub max_discount: Option<i64>,
    pub starts_at: String,
    pub ends_at: String,
}

impl From<campaign::Model> for CampaignView {
    fn from(c: campaign::Model) -> Self {
        CampaignView {
            id: c.id,
            name: c.name,
            quantity: c.quantity,
            issued: c.issued,
            remaining: (c.quantity - c.issued).max(0),
            discount_amount: c.discount_amount,
            discount_percent: c.discount_percent,
            max_discount: c.max_discount,
            starts_at: rfc3339(c.starts_at),
            ends_at: rfc3339(c.ends_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CouponView {
    pub coupon_id: Uuid,
    pub campaign_id: Uuid,
    pub campaign_name: String,
    /// AVAILABLE, RESERVED (on an unpaid order) or USED.
    pub status: String,
    pub order_id: Option<Uuid>,
    pub discount_amount: Option<i64>,
    pub discount_percent: Option<i32>,
    pub max_discount: Option<i64>,
    pub claimed_at: String,
}

pub fn discount_of(c: &campaign::Model) -> Option<Discount> {
    match (c.discount_amount, c.discount_percent) {
        (Some(a), None) => Some(Discount::Amount(a)),
        (None, Some(p)) => Some(Discount::Percent {
            percent: p,
            max: c.max_discount.unwrap_or(i64::MAX),
        }),
        _ => None,
    }
}

pub struct Coupons {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
}

impl Coupons {
    pub fn new(f: &surge_kernel::module::Foundation) -> Self {
        Self {
            db: f.db.clone(),
            clock: f.clock.clone(),
        }
    }

    pub async fn create_campaign(&self, d: CampaignDraft) -> Result<CampaignView, ApiError> {
        let name = d.name.trim().to_owned();
        if !(1..=200).contains(&name.chars().count()) {
            return Err(ApiError::validation("name must be 1 to 200 characters"));
        }
        if !(1..=10_000_000).contains(&d.quantity) {
            return Err(ApiError::validation("quantity must be 1 to 10,000,000"));
        }
        match (d.discount_amount, d.discount_percent, d.max_discount) {
            (Some(a), None, None) if a > 0 => {}
            (None, Some(p), Some(m)) if (1..=100).contains(&p) && m > 0 => {}
            _ => return Err(ApiError::validation(
                "give discount_amount (> 0), or discount_percent (1..=100) with max_discount (> 0)",
            )),
        }
        let starts_at = surge_kernel::parse_rfc3339(&d.starts_at, "starts_at")?;
        let ends_at = surge_kernel::parse_rfc3339(&d.ends_at, "ends_at")?;
        if ends_at <= starts_at {
            return Err(ApiError::validation("ends_at must be after starts_at"));
        }
        let c = campaign::ActiveModel {
            id: Set(new_id()),
            name: Set(name),
            quantity: Set(d.quantity),
            issued: Set(0),
            discount_amount: Set(d.discount_amount),
            discount_percent: Set(d.discount_percent),
            max_discount: Set(d.max_discount),
            starts_at: Set(starts_at),
            ends_at: Set(ends_at),
            created_at: Set(self.clock.now_ms()),
        }
        .insert(&self.db)
        .await?;
        Ok(c.into())
    }

    pub async fn campaign(&self, id: Uuid) -> Result<CampaignView, ApiError> {
        Ok(campaign::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::not_found("no such campaign"))?
            .into())
    }

    /// Claims one coupon: 409 `sold_out` / `already_claimed`, 403 `not_open`.
    pub async fn claim(&self, user: Uuid, campaign_id: Uuid) -> Result<CouponView, ApiError> {
        let camp = campaign::Entity::find_by_id(campaign_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::not_found("no such campaign"))?;
        let now = self.clock.now_ms();
        if now < camp.starts_at || now >= camp.ends_at {
            return Err(
                ApiError::forbidden("not_open", "this campaign is not open now")
                    .with("starts_at", rfc3339(camp.starts_at))
                    .with("ends_at", rfc3339(camp.ends_at)),
            );
        }
        let already = || {
            ApiError::conflict(
                "already_claimed",
                "you already have a coupon from this campaign",
            )
        };
        let mine = coupon::Entity::find()
            .filter(coupon::Column::CampaignId.eq(campaign_id))
            .filter(coupon::Column::UserId.eq(user))
            .one(&self.db)
            .await?;
        if mine.is_some() {
            return Err(already());
        }
        let txn = self.db.begin().await?;
        let taken = campaign::Entity::update_many()
            .col_expr(
                campaign::Column::Issued,
                Expr::col(campaign::Column::Issued).add(1),
            )
            .filter(campaign::Column::Id.eq(campaign_id))
            .filter(Expr::col(campaign::Column::Issued).lt(Expr::col(campaign::Column::Quantity)))
            .exec(&txn)
            .await?;
        if taken.rows_affected != 1 {
            txn.rollback().await?;
            return Err(ApiError::conflict(
                "sold_out",
                "all coupons of this campaign are gone",
            ));
        }
        let c = coupon::ActiveModel {
            id: Set(new_id()),
            campaign_id: Set(campaign_id),
            user_id: Set(user),
            status: Set(AVAILABLE.into()),
            order_id: Set(None),
            created_at: Set(now),
        }
        .insert(&txn)
        .await;
        let c = match c {
            Ok(c) => c,
            Err(e) if unique_violation(&e).is_some() => {
                // A concurrent claim by the same user won; ours gives its count back.
                txn.rollback().await?;
                return Err(already());
            }
            Err(e) => return Err(e.into()),
        };
        txn.commit().await?;
        Ok(view(c, &camp))
    }

    pub async fn mine(&self, user: Uuid, q: &PageQuery) -> Result<Page<CouponView>, ApiError> {
        let limit = q.limit()?;
        let mut query = coupon::Entity::find()
            .filter(coupon::Column::UserId.eq(user))
            .order_by_desc(coupon::Column::Id);
        if let Some(id) = q.uuid_cursor()? {
            query = query.filter(coupon::Column::Id.lt(id));
        }
        let rows = sea_orm::QuerySelect::limit(query, limit + 1)
            .all(&self.db)
            .await?;
        let ids: Vec<Uuid> = rows.iter().map(|c| c.campaign_id).collect();
        let camps: std::collections::HashMap<Uuid, campaign::Model> = campaign::Entity::find()
            .filter(campaign::Column::Id.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let views: Vec<CouponView> = rows
            .into_iter()
            .filter_map(|c| camps.get(&c.campaign_id).map(|camp| view(c, camp)))
            .collect();
        Ok(Page::from_rows(views, limit, |c| c.coupon_id.to_string()))
    }
}

fn view(c: coupon::Model, camp: &campaign::Model) -> CouponView {
    CouponView {
        coupon_id: c.id,
        campaign_id: c.campaign_id,
        campaign_name: camp.name.clone(),
        status: c.status,
        order_id: c.order_id,
        discount_amount: camp.discount_amount,
        discount_percent: camp.discount_percent,
        max_discount: camp.max_discount,
        claimed_at: rfc3339(c.created_at),
    }
}
