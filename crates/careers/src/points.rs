//! Points: one balance row per user that only moves by conditional updates (never below
//! zero, under any concurrency), and one ledger row per change in the same
//! transaction, unique per change key so a reward or a fee is applied once.

use std::sync::Arc;

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::page::{Page, PageQuery};
use surge_kernel::sql::insert_if_absent;
use surge_kernel::sql::with_retries;
use surge_kernel::{new_id, rfc3339, ApiError, Millis};
use uuid::Uuid;

use crate::deps::Deps;
use crate::entities::{balance, ledger};

/// One change of points, applied with [`apply`].
pub(crate) struct Change {
    pub user: Uuid,
    pub delta: i64,
    /// `scrap`, `grant`, `mentoring`, `refund`.
    pub reason: &'static str,
    pub key: String,
    pub subject: Option<Uuid>,
    pub note: String,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The new balance.
    Done(i64),
    /// A change with this key was applied before: roll the transaction back.
    Duplicate,
    /// A debit larger than the balance: roll the transaction back.
    Insufficient,
}

/// Makes sure `user` has a balance row, outside any transaction (on MySQL an
/// insert-if-absent followed by an update of the same row in one transaction can
/// deadlock with another doing the same).
pub(crate) async fn ensure_account(
    db: &DatabaseConnection,
    user: Uuid,
    now: Millis,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(balance::Entity)
        .columns([
            balance::Column::UserId,
            balance::Column::Balance,
            balance::Column::UpdatedAt,
        ])
        .values_panic([user.into(), 0i64.into(), now.into()])
        .to_owned();
    insert_if_absent(db, insert, &["user_id"]).await?;
    Ok(())
}

/// Applies `c` inside `txn` (the account must exist, see [`ensure_account`]): the
/// balance moves by a conditional update (`balance >= n` for a debit), then the ledger
/// row is inserted unless its key exists. On anything but `Done` the caller rolls back.
pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    c: &Change,
    now: Millis,
) -> Result<Applied, DbErr> {
    let mut upd = balance::Entity::update_many()
        .col_expr(
            balance::Column::Balance,
            Expr::col(balance::Column::Balance).add(c.delta),
        )
        .col_expr(balance::Column::UpdatedAt, Expr::value(now))
        .filter(balance::Column::UserId.eq(c.user));
    if c.delta < 0 {
        upd = upd.filter(balance::Column::Balance.gte(-c.delta));
    }
    if upd.exec(txn).await?.rows_affected != 1 {
        return Ok(Applied::Insufficient);
    }
    let after: i64 = balance::Entity::find_by_id(c.user)
        .select_only()
        .column(balance::Column::Balance)
        .into_tuple()
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("careers balance".into()))?;
    let insert = Query::insert()
        .into_table(ledger::Entity)
        .columns([
            ledger::Column::Id,
            ledger::Column::UserId,
            ledger::Column::Delta,
            ledger::Column::BalanceAfter,
            ledger::Column::Reason,
            ledger::Column::ChangeKey,
            ledger::Column::SubjectId,
            ledger::Column::Note,
            ledger::Column::CreatedAt,
        ])
        .values_panic([
            new_id().into(),
            c.user.into(),
            c.delta.into(),
            after.into(),
            c.reason.into(),
            c.key.clone().into(),
            c.subject.into(),
            c.note.clone().into(),
            now.into(),
        ])
        .to_owned();
    if insert_if_absent(txn, insert, &["change_key"]).await? {
        Ok(Applied::Done(after))
    } else {
        Ok(Applied::Duplicate)
    }
}

/// Applies one change in its own transaction; `Ok(false)` if it was applied before.
pub(crate) async fn apply_once(
    db: &DatabaseConnection,
    c: &Change,
    now: Millis,
) -> Result<bool, ApiError> {
    ensure_account(db, c.user, now).await?;
    // MySQL/MariaDB deadlock two transactions inserting one change key at once (shared
    // then exclusive lock on the unique index): the loser runs again and finds it.
    let applied = with_retries(|| async {
        let txn = db.begin().await?;
        let applied = apply(&txn, c, now).await?;
        if matches!(applied, Applied::Done(_)) {
            txn.commit().await?;
        } else {
            txn.rollback().await?;
        }
        Ok(applied)
    })
    .await?;
    match applied {
        Applied::Done(_) => Ok(true),
        Applied::Duplicate => Ok(false),
        Applied::Insufficient => Err(insufficient_points(c.delta)),
    }
}

pub(crate) fn insufficient_points(delta: i64) -> ApiError {
    ApiError::conflict("insufficient_points", "not enough points").with("needed", -delta)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LedgerView {
    pub id: Uuid,
    pub delta: i64,
    pub balance_after: i64,
    /// `scrap`, `grant`, `mentoring`, `refund`.
    pub reason: String,
    pub subject_id: Option<Uuid>,
    pub note: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointsView {
    pub balance: i64,
    /// Newest first.
    pub history: Vec<LedgerView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// An admin's grant of points.
#[derive(Debug, Clone)]
pub struct Grant {
    pub user: Uuid,
    pub amount: i64,
    pub reason: String,
}

pub struct Points {
    deps: Arc<Deps>,
}

impl Points {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Self { deps }
    }

    /// My balance and a page of my ledger, newest first.
    #[tracing::instrument(skip_all, fields(user_id = %who.id))]
    pub async fn mine(&self, who: &AuthUser, page: &PageQuery) -> Result<PointsView, ApiError> {
        // The primary, not the replica: users look here right after their own scrap or
        // application (read-your-writes).
        let limit = page.limit()?;
        let balance = self.balance_of(who.id).await?;
        let mut q = ledger::Entity::find().filter(ledger::Column::UserId.eq(who.id));
        if let Some(c) = page.uuid_cursor()? {
            q = q.filter(ledger::Column::Id.lt(c));
        }
        let rows = q
            .order_by_desc(ledger::Column::Id)
            .limit(limit + 1)
            .all(&self.deps.db)
            .await?;
        let page = Page::from_rows(rows.into_iter().map(view).collect(), limit, |l| {
            l.id.to_string()
        });
        Ok(PointsView {
            balance,
            history: page.items,
            next_cursor: page.next_cursor,
        })
    }

    /// The balance of `user` (0 without any change yet).
    #[tracing::instrument(skip(self))]
    pub async fn balance_of(&self, user: Uuid) -> Result<i64, ApiError> {
        Ok(balance::Entity::find_by_id(user)
            .one(&self.deps.db)
            .await?
            .map_or(0, |b| b.balance))
    }

    /// Grants points to a user (admins), e.g. so mentees can join programs.
    #[tracing::instrument(skip_all, fields(admin_id = %admin.id, user_id = %g.user, amount = g.amount))]
    pub async fn grant(&self, admin: &AuthUser, g: Grant) -> Result<LedgerView, ApiError> {
        if self.deps.users.find(g.user).await?.is_none() {
            return Err(ApiError::not_found("no such user"));
        }
        let id = new_id();
        let change = Change {
            user: g.user,
            delta: g.amount,
            reason: "grant",
            key: format!("grant:{id}"),
            subject: Some(admin.id),
            note: g.reason,
        };
        apply_once(&self.deps.db, &change, self.deps.clock.now_ms()).await?;
        let row = ledger::Entity::find()
            .filter(ledger::Column::ChangeKey.eq(change.key))
            .one(&self.deps.db)
            .await?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("granted points vanished")))?;
        Ok(view(row))
    }
}

fn view(l: ledger::Model) -> LedgerView {
    LedgerView {
        id: l.id,
        delta: l.delta,
        balance_after: l.balance_after,
        reason: l.reason,
        subject_id: l.subject_id,
        note: l.note,
        created_at: rfc3339(l.created_at),
    }
}

/// Whether the ledger of `user` sums to their balance (for tests and checks).
pub async fn ledger_matches_balance(db: &impl ConnectionTrait, user: Uuid) -> Result<bool, DbErr> {
    let deltas: Vec<i64> = ledger::Entity::find()
        .select_only()
        .column(ledger::Column::Delta)
        .filter(ledger::Column::UserId.eq(user))
        .into_tuple()
        .all(db)
        .await?;
    let balance: Option<i64> = balance::Entity::find_by_id(user)
        .select_only()
        .column(balance::Column::Balance)
        .into_tuple()
        .one(db)
        .await?;
    Ok(deltas.iter().sum::<i64>() == balance.unwrap_or(0))
}
