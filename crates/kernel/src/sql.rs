//! Small SQL helpers that must behave the same on SQLite, PostgreSQL and MySQL.

use sea_orm::sea_query::{Alias, InsertStatement, OnConflict};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};

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
