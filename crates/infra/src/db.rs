//! One database layer for SQLite, PostgreSQL and MySQL/MariaDB, picked from the URL.

use std::time::Duration;

use anyhow::Context;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::redact::{redact_url, Secret};

/// The primary (all writes) and the connection for read-only queries.
pub struct Databases {
    pub primary: DatabaseConnection,
    pub read: DatabaseConnection,
}

pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// Connects to `url` (and `read_url` for read-only queries, if given).
///
/// SQLite allows one writer at a time, so its primary is a single connection (writers
/// queue in the pool instead of failing with SQLITE_BUSY) in WAL mode, and reads go to
/// a separate pool of read-only connections that never block on the writer.
pub async fn connect(
    url: &str,
    read_url: Option<&str>,
    max_connections: u32,
) -> anyhow::Result<Databases> {
    if is_sqlite(url) {
        let primary = sqlite(url, 1, false).await?;
        let read = sqlite(read_url.unwrap_or(url), max_connections.clamp(2, 8), true).await?;
        return Ok(Databases { primary, read });
    }
    let primary = server(url, max_connections).await?;
    let read = match read_url {
        Some(r) => server(r, max_connections).await?,
        None => primary.clone(),
    };
    Ok(Databases { primary, read })
}

async fn sqlite(url: &str, conns: u32, read_only: bool) -> anyhow::Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(conns)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .test_before_acquire(false)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            let o = o
                .create_if_missing(!read_only)
                .read_only(read_only)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            if read_only {
                // Reads map the file instead of copying pages through read(2), and keep
                // more pages per connection than SQLite's 2 MB default (searches read
                // their page's rows here).
                return o
                    .pragma("mmap_size", (256u64 << 20).to_string())
                    .pragma("cache_size", "-16000");
            }
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                // NORMAL in WAL mode is durable across a process crash (kill -9); only an
                // OS crash can lose the last transactions.
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
        });
    Database::connect(opts)
        .await
        .with_context(|| format!("opening SQLite database {}", redact(url)))
}

async fn server(url: &str, max: u32) -> anyhow::Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        // No ping before every checkout (a round trip per transaction). A connection
        // the server dropped fails its next statement, which rolls back and answers
        // 5xx; the pool then replaces it.
        .test_before_acquire(false)
        .sqlx_logging(false);
    Database::connect(opts)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))
}

/// Held while migrations run, so instances started together migrate one at a time: the
/// first applies the migrations, the others wait and then find nothing to do. A
/// PostgreSQL advisory lock or a MariaDB/MySQL named lock, taken on a connection of its
/// own (both are bound to the session that took them, and end with it if the process
/// dies). SQLite needs none: its writer lock serialises the migrations already.
pub struct MigrationLock(Option<LockConn>);

enum LockConn {
    Postgres(sea_orm::sqlx::PgConnection),
    MySql(sea_orm::sqlx::MySqlConnection),
}

/// Any 64-bit number unique to Surge: the advisory lock's key on PostgreSQL.
const PG_MIGRATION_LOCK: i64 = 0x5375_7267_654d_6967; // "SurgeMig"
const MYSQL_MIGRATION_LOCK: &str = "surge_migrate";
/// How long an instance waits for another one's migrations before giving up.
const MIGRATION_LOCK_WAIT_SECS: i64 = 600;

impl MigrationLock {
    /// Takes the lock for the database at `url`, waiting while another instance holds it.
    pub async fn acquire(url: &str) -> anyhow::Result<MigrationLock> {
        use sea_orm::sqlx::{Connection, Row};
        let context = || format!("taking the migration lock on {}", redact(url));
        if url.starts_with("postgres") {
            let mut conn = sea_orm::sqlx::PgConnection::connect(url)
                .await
                .with_context(context)?;
            sea_orm::sqlx::query(&format!("SET lock_timeout = '{MIGRATION_LOCK_WAIT_SECS}s'"))
                .execute(&mut conn)
                .await
                .with_context(context)?;
            sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(PG_MIGRATION_LOCK)
                .execute(&mut conn)
                .await
                .with_context(context)?;
            return Ok(MigrationLock(Some(LockConn::Postgres(conn))));
        }
        if url.starts_with("mysql") || url.starts_with("mariadb") {
            let mut conn = sea_orm::sqlx::MySqlConnection::connect(url)
                .await
                .with_context(context)?;
            let row = sea_orm::sqlx::query("SELECT GET_LOCK(?, ?)")
                .bind(MYSQL_MIGRATION_LOCK)
                .bind(MIGRATION_LOCK_WAIT_SECS)
                .fetch_one(&mut conn)
                .await
                .with_context(context)?;
            let got: Option<i64> = row.try_get(0).with_context(context)?;
            anyhow::ensure!(
                got == Some(1),
                "another instance held the migration lock for {MIGRATION_LOCK_WAIT_SECS} s"
            );
            return Ok(MigrationLock(Some(LockConn::MySql(conn))));
        }
        Ok(MigrationLock(None))
    }

    /// Releases the lock and closes its connection (closing alone would release it too).
    pub async fn release(self) -> anyhow::Result<()> {
        use sea_orm::sqlx::Connection;
        match self.0 {
            Some(LockConn::Postgres(mut conn)) => {
                sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(PG_MIGRATION_LOCK)
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
            }
            Some(LockConn::MySql(mut conn)) => {
                sea_orm::sqlx::query("SELECT RELEASE_LOCK(?)")
                    .bind(MYSQL_MIGRATION_LOCK)
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
            }
            None => {}
        }
        Ok(())
    }
}

/// The URL without its password, for logs and errors.
fn redact(url: &str) -> String {
    redact_url(url, Secret::Password)
}

/// Gauges for the connection pool, for `/metrics`.
pub fn record_pool_metrics(db: &DatabaseConnection, name: &'static str) {
    let (size, idle) = match db {
        DatabaseConnection::SqlxPostgresPoolConnection(_) => {
            let p = db.get_postgres_connection_pool();
            (p.size(), p.num_idle())
        }
        DatabaseConnection::SqlxMySqlPoolConnection(_) => {
            let p = db.get_mysql_connection_pool();
            (p.size(), p.num_idle())
        }
        DatabaseConnection::SqlxSqlitePoolConnection(_) => {
            let p = db.get_sqlite_connection_pool();
            (p.size(), p.num_idle())
        }
        _ => return,
    };
    metrics::gauge!("surge_db_pool_connections", "pool" => name).set(f64::from(size));
    metrics::gauge!("surge_db_pool_idle", "pool" => name).set(idle as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/surge"),
            "postgres://app:***@db:5432/surge"
        );
        assert_eq!(
            redact("sqlite://./data/surge.db"),
            "sqlite://./data/surge.db"
        );
    }
}
