//! A lease row: one holder of a named job across instances (a sync run, a poller),
//! without any in-process lock. Taking it is an insert-if-absent; renewing (or taking
//! over an expired one) is one conditional update whose rows affected say who won.
//!
//! Each module keeps its leases in a table of its own with the columns `name` (unique),
//! `holder` and `expires_at` (ms), created by its migrations.

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DbErr};

use crate::Millis;

/// Takes or renews the lease `name` in `table` for `holder` until `now + ttl_ms`;
/// `true` if `holder` has it now. Another holder's lease is taken over only once it
/// has expired.
pub async fn take(
    db: &impl ConnectionTrait,
    table: &str,
    name: &str,
    holder: &str,
    now: Millis,
    ttl_ms: Millis,
) -> Result<bool, DbErr> {
    let insert = Query::insert()
        .into_table(Alias::new(table))
        .columns([
            Alias::new("name"),
            Alias::new("holder"),
            Alias::new("expires_at"),
        ])
        .values([name.into(), holder.into(), (now + ttl_ms).into()])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    if crate::sql::insert_if_absent(db, insert, &["name"]).await? {
        return Ok(true);
    }
    let renew = Query::update()
        .table(Alias::new(table))
        .value(Alias::new("holder"), holder)
        .value(Alias::new("expires_at"), now + ttl_ms)
        .and_where(Expr::col(Alias::new("name")).eq(name))
        .and_where(
            Expr::col(Alias::new("holder"))
                .eq(holder)
                .or(Expr::col(Alias::new("expires_at")).lt(now)),
        )
        .to_owned();
    let res = db.execute(db.get_database_backend().build(&renew)).await?;
    Ok(res.rows_affected() == 1)
}

/// Gives the lease back, only if `holder` still has it, so the next holder need not
/// wait for it to expire.
pub async fn release(
    db: &impl ConnectionTrait,
    table: &str,
    name: &str,
    holder: &str,
) -> Result<(), DbErr> {
    let stmt = Query::delete()
        .from_table(Alias::new(table))
        .and_where(Expr::col(Alias::new("name")).eq(name))
        .and_where(Expr::col(Alias::new("holder")).eq(holder))
        .to_owned();
    db.execute(db.get_database_backend().build(&stmt)).await?;
    Ok(())
}

/// Who holds the lease `name` in `table` and until when (ms), if anyone does.
pub async fn holder(
    db: &impl ConnectionTrait,
    table: &str,
    name: &str,
) -> Result<Option<(String, Millis)>, DbErr> {
    let q = Query::select()
        .columns([Alias::new("holder"), Alias::new("expires_at")])
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new("name")).eq(name))
        .to_owned();
    match db.query_one(db.get_database_backend().build(&q)).await? {
        Some(r) => Ok(Some((r.try_get_by_index(0)?, r.try_get_by_index(1)?))),
        None => Ok(None),
    }
}
