//! Per-buyer limits that must hold under parallel requests (unpaid units of a product,
//! saved addresses). Each buyer has one row in `shop_buyers`; a transaction that counts
//! a buyer's things and then adds one locks that row first, so two requests of the same
//! buyer count one after the other instead of both passing a check-then-insert.
//! Lock order everywhere: buyer rows (by id), then product rows (by id).

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, Expr, LockType, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr};
use surge_kernel::Millis;
use uuid::Uuid;

use crate::domain::OrderStatus;
use crate::entities::{order, order_line};

const TABLE: &str = "shop_buyers";

/// Most unpaid units of one product one buyer may have ordered, unless configured
/// (see `Orders::with_unpaid_cap`).
pub const DEFAULT_UNPAID_CAP: i64 = 10;

/// Creates the rows of buyers seen for the first time. Runs on its own (autocommit),
/// before the transaction that locks them: creating and locking in one MySQL
/// transaction deadlocks two first-time requests (shared then exclusive locks).
pub(crate) async fn ensure(
    db: &DatabaseConnection,
    users: &[Uuid],
    now: Millis,
) -> Result<(), DbErr> {
    if users.is_empty() {
        return Ok(());
    }
    let mut insert = Query::insert()
        .into_table(Alias::new(TABLE))
        .columns([Alias::new("user_id"), Alias::new("created_at")])
        .to_owned();
    for u in sorted(users) {
        insert
            .values([u.into(), now.into()])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    surge_kernel::sql::insert_if_absent(db, insert, &["user_id"]).await?;
    Ok(())
}

/// Locks these buyers' rows (made by [`ensure`]) until `txn` ends, in id order.
pub(crate) async fn lock(txn: &DatabaseTransaction, users: &[Uuid]) -> Result<(), DbErr> {
    if users.is_empty() {
        return Ok(());
    }
    let mut select = Query::select()
        .column(Alias::new("user_id"))
        .from(Alias::new(TABLE))
        .and_where(Expr::col(Alias::new("user_id")).is_in(sorted(users)))
        .order_by(Alias::new("user_id"), Order::Asc)
        .to_owned();
    select.lock(LockType::Update);
    txn.query_all(txn.get_database_backend().build(&select))
        .await?;
    Ok(())
}

fn sorted(users: &[Uuid]) -> Vec<Uuid> {
    let mut v = users.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

/// Units of `products` that `users` have ordered and not paid for yet (orders still
/// within their payment window), by (user, product).
pub(crate) async fn unpaid_units(
    conn: &impl ConnectionTrait,
    users: &[Uuid],
    products: &[Uuid],
    now: Millis,
) -> Result<HashMap<(Uuid, Uuid), i64>, DbErr> {
    let mut units = HashMap::new();
    if users.is_empty() || products.is_empty() {
        return Ok(units);
    }
    let select = Query::select()
        .column((order::Entity, order::Column::UserId))
        .column((order_line::Entity, order_line::Column::ProductId))
        .column((order_line::Entity, order_line::Column::Quantity))
        .from(order::Entity)
        .inner_join(
            order_line::Entity,
            Expr::col((order_line::Entity, order_line::Column::OrderId))
                .equals((order::Entity, order::Column::Id)),
        )
        .and_where(Expr::col((order::Entity, order::Column::UserId)).is_in(sorted(users)))
        .and_where(
            Expr::col((order::Entity, order::Column::Status)).eq(OrderStatus::PendingPayment),
        )
        .and_where(Expr::col((order::Entity, order::Column::ExpiresAt)).gt(now))
        .and_where(
            Expr::col((order_line::Entity, order_line::Column::ProductId))
                .is_in(products.iter().copied()),
        )
        .to_owned();
    for row in conn
        .query_all(conn.get_database_backend().build(&select))
        .await?
    {
        let user: Uuid = row.try_get("", "user_id")?;
        let product: Uuid = row.try_get("", "product_id")?;
        let quantity: i64 = row.try_get("", "quantity")?;
        *units.entry((user, product)).or_default() += quantity;
    }
    Ok(units)
}

/// Refusal of an order that would leave its buyer with more unpaid units than allowed.
pub(crate) fn unpaid_limit(
    line: usize,
    product: Uuid,
    cap: i64,
    unpaid: i64,
) -> surge_kernel::ApiError {
    surge_kernel::ApiError::conflict(
        "unpaid_limit",
        format!(
            "line {line}: each buyer may have at most {cap} unpaid units of a product; you have {unpaid}: pay or cancel first"
        ),
    )
    .with("line", line)
    .with("product_id", product.to_string())
    .with("unpaid_units", unpaid)
}
