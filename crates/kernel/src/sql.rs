//! Small SQL helpers that must behave the same on SQLite, PostgreSQL and MySQL.

use sea_orm::sea_query::{Alias, InsertStatement, OnConflict};
use std::collections::HashSet;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect, Statement,
};
use uuid::Uuid;

/// Runs `insert` unless a row with the same unique key exists; `true` if it inserted.
///
/// PostgreSQL and SQLite use `ON CONFLICT DO NOTHING` (a duplicate does not abort the
/// surrounding transaction). MySQL uses `INSERT IGNORE`: its `ON DUPLICATE KEY UPDATE`
/// reports a found duplicate as one affected row under the driver's FOUND_ROWS flag.
pub async fn insert_if_absent(
    conn: &impl ConnectionTrait,
    mut insert: InsertStatement,
    key: &[&str],
) -> Result<bool, DbErr> {
    let backend = conn.get_database_backend();
    let stmt = if backend == DatabaseBackend::MySql {
        let (sql, values) = insert.build(sea_orm::sea_query::MysqlQueryBuilder);
        let sql = sql.replacen("INSERT", "INSERT IGNORE", 1);
        Statement::from_sql_and_values(backend, sql, values)
    } else {
        insert.on_conflict(
            OnConflict::columns(key.iter().map(|c| Alias::new(*c)))
                .do_nothing()
                .to_owned(),
        );
        backend.build(&insert)
    };
    Ok(conn.execute(stmt).await?.rows_affected() == 1)
}

/// Whether a failed statement lost a race between concurrent writers (a deadlock, a
/// lock-wait timeout, SQLite's busy lock) and is worth running again.
pub fn retryable(e: &DbErr) -> bool {
    let m = e.to_string().to_ascii_lowercase();
    m.contains("deadlock") || m.contains("lock wait timeout") || m.contains("database is locked")
}

/// Runs a transaction again (up to 5 times, with jittered back-off) when the database
/// reports a deadlock or lock timeout between concurrent writers: MySQL/MariaDB
/// deadlock on two inserts of one unique key, for instance, where PostgreSQL waits.
/// `attempt_once` must begin and end its own transaction.
pub async fn with_retries<T, F, Fut>(mut attempt_once: F) -> Result<T, DbErr>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DbErr>>,
{
    let mut attempt: u64 = 0;
    loop {
        match attempt_once().await {
            Err(e) if retryable(&e) && attempt < 5 => {
                attempt += 1;
                // 5..30 ms times the attempt, from the randomness a v4 id carries.
                let jitter = 5 + (uuid::Uuid::new_v4().as_u128() % 25) as u64;
                tokio::time::sleep(std::time::Duration::from_millis(jitter * attempt)).await;
            }
            other => return other,
        }
    }
}

/// Bulk-loads generated rows `0..count` of `E` (benchmark data): for each batch of
/// `batch` numbers, leaves out those whose id (`id_of`, a fixed id per number) is in
/// the table already and hands the rest to `add`, which inserts them (in one
/// transaction); `progress` hears the number done after each batch. Running it again
/// adds only what is missing. Returns how many it added.
pub async fn add_missing<E, F, Fut>(
    db: &DatabaseConnection,
    id: E::Column,
    count: u64,
    batch: u64,
    id_of: impl Fn(u64) -> Uuid,
    progress: impl Fn(u64),
    mut add: F,
) -> Result<u64, DbErr>
where
    E: EntityTrait,
    F: FnMut(Vec<u64>) -> Fut,
    Fut: std::future::Future<Output = Result<(), DbErr>>,
{
    let mut added = 0;
    let mut start = 0;
    while start < count {
        let end = (start + batch.max(1)).min(count);
        let existing: HashSet<Uuid> = E::find()
            .select_only()
            .column(id)
            .filter(id.is_in((start..end).map(&id_of)))
            .into_tuple()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let todo: Vec<u64> = (start..end)
            .filter(|n| !existing.contains(&id_of(*n)))
            .collect();
        if !todo.is_empty() {
            added += todo.len() as u64;
            add(todo).await?;
        }
        start = end;
        progress(end);
    }
    Ok(added)
}
