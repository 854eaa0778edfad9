//! Saved shipping addresses: a user's own, used by `address_id` when ordering.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use serde::Serialize;
use surge_kernel::{new_id, ApiError, Millis};
use uuid::Uuid;

use crate::domain::{SavedAddress, ShippingAddress};
use crate::entities::address;

pub const MAX_ADDRESSES: u64 = 20;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AddressView {
    pub id: Uuid,
    pub label: String,
    #[serde(flatten)]
    pub address: ShippingAddress,
}

impl From<address::Model> for AddressView {
    fn from(a: address::Model) -> Self {
        AddressView {
            id: a.id,
            label: a.label,
            address: ShippingAddress {
                recipient: a.recipient,
                phone: a.phone,
                address: a.address,
                postal_code: a.postal_code,
            },
        }
    }
}

#[tracing::instrument(skip(db, d))]
pub async fn create(
    db: &DatabaseConnection,
    user: Uuid,
    d: SavedAddress,
    now: Millis,
) -> Result<AddressView, ApiError> {
    let SavedAddress { label, address: a } = d;
    // Counted and inserted under the buyer's lock: parallel requests of one user take
    // turns, so the cap holds (a plain count-then-insert let them all pass).
    crate::buyers::ensure(db, &[user], now).await?;
    let txn = db.begin().await?;
    crate::buyers::lock(&txn, &[user]).await?;
    let count = address::Entity::find()
        .filter(address::Column::UserId.eq(user))
        .count(&txn)
        .await?;
    if count >= MAX_ADDRESSES {
        txn.rollback().await?;
        return Err(ApiError::conflict(
            "too_many_addresses",
            format!("at most {MAX_ADDRESSES} saved addresses"),
        ));
    }
    let saved = address::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user),
        label: Set(label),
        recipient: Set(a.recipient),
        phone: Set(a.phone),
        address: Set(a.address),
        postal_code: Set(a.postal_code),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(saved.into())
}

#[tracing::instrument(skip(db))]
pub async fn list(db: &DatabaseConnection, user: Uuid) -> Result<Vec<AddressView>, ApiError> {
    Ok(address::Entity::find()
        .filter(address::Column::UserId.eq(user))
        .order_by_asc(address::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

async fn mine(db: &DatabaseConnection, user: Uuid, id: Uuid) -> Result<address::Model, ApiError> {
    address::Entity::find_by_id(id)
        .filter(address::Column::UserId.eq(user))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such address"))
}

#[tracing::instrument(skip(db, d))]
pub async fn replace(
    db: &DatabaseConnection,
    user: Uuid,
    id: Uuid,
    d: SavedAddress,
) -> Result<AddressView, ApiError> {
    let SavedAddress { label, address: a } = d;
    let mut am: address::ActiveModel = mine(db, user, id).await?.into();
    am.label = Set(label);
    am.recipient = Set(a.recipient);
    am.phone = Set(a.phone);
    am.address = Set(a.address);
    am.postal_code = Set(a.postal_code);
    Ok(am.update(db).await?.into())
}

#[tracing::instrument(skip(db))]
pub async fn delete(db: &DatabaseConnection, user: Uuid, id: Uuid) -> Result<(), ApiError> {
    let a = mine(db, user, id).await?;
    address::Entity::delete_by_id(a.id).exec(db).await?;
    Ok(())
}
