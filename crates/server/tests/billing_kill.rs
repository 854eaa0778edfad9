//! The real `surge` binary killed with SIGKILL during `surge batch run nightly`, then run
//! again: every due subscription renewed, every period with one ledger row, none left
//! PENDING, the killed run on record as ABORTED. (The embedded fake gateway lives in
//! the killed process, so charges are counted at the gateway in
//! crates/billing/tests/batch.rs; here the ledger is checked.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use surge_testkit::Backend;

const DUE: &str = "2027-03-10";
const COUNT: i64 = 6_000;

fn surge(data_dir: &std::path::Path, db_url: &Option<String>, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_surge"));
    c.args(args)
        .env("SURGE_DATA_DIR", data_dir)
        .env("SURGE_BILLING_SCHEDULE_EVERY_SECS", "0")
        .env("SURGE_BILLING_BATCH_LEASE_SECS", "2")
        .env("SURGE_BILLING_BATCH_CHUNK", "200")
        .env("RUST_LOG", "warn")
        .env_remove("SURGE_KAKAOPAY__CID")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(url) = db_url {
        c.env("SURGE_DATABASE_URL", url).env(
            "SURGE_JWT_SECRET",
            "test-secret-test-secret-test-secret-0123",
        );
    }
    c
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn killed_and_rerun(backend: Backend) {
    let db_url = match backend {
        Backend::Embedded => None,
        other => match other.server_url() {
            Some(server) => Some(surge_testkit::fresh_database(&server).await),
            None => return,
        },
    };
    let dir = std::env::temp_dir().join(format!("surge-kill-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = surge(
        &dir,
        &db_url,
        &[
            "billing",
            "generate",
            "--count",
            &COUNT.to_string(),
            "--due",
            DUE,
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = db_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("surge.db").display()));
    let db = Database::connect(&url).await.unwrap();

    let mut child = surge(&dir, &db_url, &["batch", "run", "nightly", "--date", DUE])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let paid = count(
            &db,
            "SELECT COUNT(*) FROM billing_charges WHERE status = 'PAID'",
        )
        .await;
        if paid >= 400 {
            break;
        }
        assert!(Instant::now() < deadline, "the batch never got going");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the batch ended before it was killed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = count(
        &db,
        "SELECT COUNT(*) FROM billing_charges WHERE status = 'PAID'",
    )
    .await;
    assert!(before < COUNT, "killed before the end ({before} paid)");

    let out = surge(&dir, &db_url, &["batch", "run", "nightly", "--date", DUE])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let rows = count(&db, "SELECT COUNT(*) FROM billing_charges").await;
    assert_eq!(rows, COUNT, "one ledger row per subscription and period");
    let done = count(
        &db,
        "SELECT COUNT(*) FROM billing_charges WHERE status IN ('PAID', 'UNKNOWN')",
    )
    .await;
    assert_eq!(done, COUNT, "none left PENDING");
    let held = count(
        &db,
        "SELECT COUNT(*) FROM billing_charges WHERE status = 'UNKNOWN'",
    )
    .await;
    assert!(held <= 200, "at most one chunk's answers are lost: {held}");
    let not_renewed = count(
        &db,
        "SELECT COUNT(*) FROM billing_subscriptions WHERE status <> 'ACTIVE' OR period_end <= (SELECT MIN(period_start) FROM billing_charges)",
    )
    .await;
    assert_eq!(not_renewed, 0, "no renewal lost");
    let aborted = count(
        &db,
        "SELECT COUNT(*) FROM billing_batch_runs WHERE state = 'ABORTED'",
    )
    .await;
    let finished = count(
        &db,
        "SELECT COUNT(*) FROM billing_batch_runs WHERE state = 'DONE'",
    )
    .await;
    assert_eq!((aborted, finished), (1, 1));

    // The same day again charges nothing.
    let out = surge(&dir, &db_url, &["batch", "run", "nightly", "--date", DUE])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("charged 0,") && text.contains("held 0,"),
        "{text}"
    );
    db.close().await.ok();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn nightly_batch_killed_then_rerun_embedded() {
    killed_and_rerun(Backend::Embedded).await;
}

#[tokio::test]
async fn nightly_batch_killed_then_rerun_postgres() {
    killed_and_rerun(Backend::Postgres).await;
}

#[tokio::test]
async fn nightly_batch_killed_then_rerun_mysql() {
    killed_and_rerun(Backend::Mysql).await;
}
