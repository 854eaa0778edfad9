//! First-come coupons: a campaign issues exactly `quantity` coupons, at most one per
//! user. The count moves only by `issued = issued + 1 WHERE issued < quantity` in the
//! transaction that inserts the coupon, and a unique (campaign, user) index backs
//! "one each". A campaign may require a completed community mission today (asked
//! through the kernel's `MissionCompletions` port) and cap the coupons of each KST day:
//! `shop_campaign_days.issued = issued + 1 WHERE issued < daily_quantity` on the day's
//! row, in the same transaction, so a new day starts at zero by construction.

use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde::Serialize;
use surge_kernel::clock::{kst, Clock};
use surge_kernel::error::unique_violation;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::ports::MissionCompletions;
use surge_kernel::sql::insert_if_absent;
use surge_kernel::{new_id, rfc3339, ApiError};
use uuid::Uuid;

use crate::domain::{CouponStatus, Discount, NewCampaign};
use crate::entities::{campaign, campaign_day, coupon};

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
    /// Claimable only after a completed (approved) community mission today (KST).
    pub requires_mission_today: bool,
    /// Most coupons issued per KST day, if limited.
    pub daily_quantity: Option<i64>,
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
            requires_mission_today: c.requires_mission_today,
            daily_quantity: c.daily_quantity,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CouponView {
    pub coupon_id: Uuid,
    pub campaign_id: Uuid,
    pub campaign_name: String,
    /// AVAILABLE, RESERVED (on an unpaid order) or USED.
    pub status: CouponStatus,
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
    /// Who completed a mission today; without it, no campaign may require one.
    missions: Option<Arc<dyn MissionCompletions>>,
}

impl Coupons {
    pub fn new(
        f: &surge_kernel::module::Foundation,
        missions: Option<Arc<dyn MissionCompletions>>,
    ) -> Self {
        Self {
            db: f.db.clone(),
            clock: f.clock.clone(),
            missions,
        }
    }

    #[tracing::instrument(skip_all)]
    pub async fn create_campaign(&self, d: NewCampaign) -> Result<CampaignView, ApiError> {
        if d.requires_mission_today && self.missions.is_none() {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "missions_unavailable",
                "this server has no community missions: a campaign cannot require one",
            ));
        }
        let (discount_amount, discount_percent, max_discount) = match d.discount {
            Discount::Amount(a) => (Some(a), None, None),
            Discount::Percent { percent, max } => (None, Some(percent), Some(max)),
        };
        let c = campaign::ActiveModel {
            id: Set(new_id()),
            name: Set(d.name),
            quantity: Set(d.quantity),
            issued: Set(0),
            discount_amount: Set(discount_amount),
            discount_percent: Set(discount_percent),
            max_discount: Set(max_discount),
            starts_at: Set(d.starts_at),
            ends_at: Set(d.ends_at),
            created_at: Set(self.clock.now_ms()),
            requires_mission_today: Set(d.requires_mission_today),
            daily_quantity: Set(d.daily_quantity),
        }
        .insert(&self.db)
        .await?;
        Ok(c.into())
    }

    #[tracing::instrument(skip(self))]
    pub async fn campaign(&self, id: Uuid) -> Result<CampaignView, ApiError> {
        Ok(campaign::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::not_found("no such campaign"))?
            .into())
    }

    /// Claims one coupon: 409 `sold_out` / `sold_out_today` / `already_claimed`, 403
    /// `not_open` / `not_eligible` (no completed mission today).
    #[tracing::instrument(skip(self))]
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
        let today = kst::day(now);
        if camp.requires_mission_today {
            let done = match &self.missions {
                Some(m) => m.completed_on(user, today).await?,
                None => false,
            };
            if !done {
                return Err(ApiError::forbidden(
                    "not_eligible",
                    "complete a mission today to claim this coupon",
                ));
            }
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
        if let Some(daily) = camp.daily_quantity {
            if !take_today(&txn, campaign_id, &today.to_string(), daily).await? {
                txn.rollback().await?;
                return Err(ApiError::conflict(
                    "sold_out_today",
                    "today's coupons of this campaign are gone; more come at midnight (KST)",
                )
                .with("next_at", rfc3339(kst::next_day_start(now))));
            }
        }
        let c = coupon::ActiveModel {
            id: Set(new_id()),
            campaign_id: Set(campaign_id),
            user_id: Set(user),
            status: Set(CouponStatus::Available),
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

    #[tracing::instrument(skip(self, q))]
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

/// One of the day's coupons, if fewer than `daily` were issued today.
async fn take_today(
    txn: &DatabaseTransaction,
    campaign_id: Uuid,
    day: &str,
    daily: i64,
) -> Result<bool, DbErr> {
    let row = Query::insert()
        .into_table(campaign_day::Entity)
        .columns([
            campaign_day::Column::CampaignId,
            campaign_day::Column::Day,
            campaign_day::Column::Issued,
        ])
        .values_panic([campaign_id.into(), day.into(), 0i64.into()])
        .to_owned();
    insert_if_absent(txn, row, &["campaign_id", "day"]).await?;
    let taken = campaign_day::Entity::update_many()
        .col_expr(
            campaign_day::Column::Issued,
            Expr::col(campaign_day::Column::Issued).add(1),
        )
        .filter(campaign_day::Column::CampaignId.eq(campaign_id))
        .filter(campaign_day::Column::Day.eq(day))
        .filter(campaign_day::Column::Issued.lt(daily))
        .exec(txn)
        .await?;
    Ok(taken.rows_affected == 1)
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

/// Reserves the buyer's coupon for this order (AVAILABLE → RESERVED) and returns its
/// discount on `subtotal`.
pub(crate) async fn reserve(
    txn: &DatabaseTransaction,
    coupon_id: Uuid,
    user: Uuid,
    order_id: Uuid,
    subtotal: i64,
) -> Result<i64, ApiError> {
    let unusable = || {
        ApiError::conflict(
            "coupon_unavailable",
            "that coupon is not yours or was already used",
        )
    };
    debug_assert!(CouponStatus::Available.can_become(CouponStatus::Reserved));
    let reserved = coupon::Entity::update_many()
        .col_expr(coupon::Column::Status, Expr::value(CouponStatus::Reserved))
        .col_expr(coupon::Column::OrderId, Expr::value(Some(order_id)))
        .filter(coupon::Column::Id.eq(coupon_id))
        .filter(coupon::Column::UserId.eq(user))
        .filter(coupon::Column::Status.eq(CouponStatus::Available))
        .exec(txn)
        .await?;
    if reserved.rows_affected != 1 {
        return Err(unusable());
    }
    let c = coupon::Entity::find_by_id(coupon_id)
        .one(txn)
        .await?
        .ok_or_else(unusable)?;
    let camp = campaign::Entity::find_by_id(c.campaign_id)
        .one(txn)
        .await?
        .ok_or_else(unusable)?;
    Ok(discount_of(&camp).map_or(0, |d: Discount| d.on(subtotal)))
}

/// Spends the coupon an order reserved, once the order is paid (RESERVED → USED).
pub(crate) async fn spend(
    conn: &impl ConnectionTrait,
    coupon_id: Uuid,
    order_id: Uuid,
) -> Result<(), DbErr> {
    debug_assert!(CouponStatus::Reserved.can_become(CouponStatus::Used));
    coupon::Entity::update_many()
        .col_expr(coupon::Column::Status, Expr::value(CouponStatus::Used))
        .filter(coupon::Column::Id.eq(coupon_id))
        .filter(coupon::Column::OrderId.eq(order_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Gives back the coupon an unpaid order reserved (RESERVED → AVAILABLE).
pub(crate) async fn release(
    conn: &impl ConnectionTrait,
    coupon_id: Uuid,
    order_id: Uuid,
) -> Result<(), DbErr> {
    debug_assert!(CouponStatus::Reserved.can_become(CouponStatus::Available));
    coupon::Entity::update_many()
        .col_expr(coupon::Column::Status, Expr::value(CouponStatus::Available))
        .col_expr(coupon::Column::OrderId, Expr::value(Option::<Uuid>::None))
        .filter(coupon::Column::Id.eq(coupon_id))
        .filter(coupon::Column::OrderId.eq(order_id))
        .filter(coupon::Column::Status.eq(CouponStatus::Reserved))
        .exec(conn)
        .await?;
    Ok(())
}
