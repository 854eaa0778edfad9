//! One database layer for SQLite, PostgreSQL and MySQL/MariaDB, picked from the URL.

use std::time::Duration;

use anyhow::Context;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

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
                return o;
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

/// The URL without its password, for logs and errors.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((cred, host)) => {
                let user = cred.split(':').next().unwrap_or("");
                format!("{scheme}://{user}:***@{host}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
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
