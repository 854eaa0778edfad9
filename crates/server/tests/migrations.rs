//! Replicas of a first rollout start at the same moment on an empty database: every one
//! must come up (one migrates, the others wait for it and find nothing to do).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use secrecy::SecretString;
use surge_server::Config;
use surge_testkit::{fresh_database, Backend};

async fn three_replicas_start_together(backend: Backend) {
    let Some(server) = backend.server_url() else {
        return;
    };
    let url = fresh_database(&server).await;
    let starts = (0..3).map(|i| {
        let cfg = Config {
            database_url: Some(SecretString::from(url.clone())),
            database_max_connections: 4,
            data_dir: std::env::temp_dir()
                .join(format!("surge-migrate-{i}-{}", uuid::Uuid::new_v4())),
            ..Config::default()
        };
        tokio::spawn(async move { surge_server::connect_and_migrate(&cfg).await.map(|_| ()) })
    });
    for (i, started) in futures::future::join_all(starts)
        .await
        .into_iter()
        .enumerate()
    {
        started
            .unwrap()
            .unwrap_or_else(|e| panic!("replica {i} failed to start: {e:#}"));
    }
    // And a fourth, later, sees the schema complete.
    let cfg = Config {
        database_url: Some(SecretString::from(url)),
        ..Config::default()
    };
    surge_server::connect_and_migrate(&cfg).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_migrate_one_at_a_time() {
    three_replicas_start_together(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_replicas_migrate_one_at_a_time() {
    three_replicas_start_together(Backend::Mysql).await;
}
