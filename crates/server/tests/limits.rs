//! Connection limits of the real server loop (header-read timeout, connection cap) and
//! what `/readyz` tells whom.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use surge_testkit::reqwest::StatusCode;
use surge_testkit::{matrix, Backend, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `limit` passes); what arrived.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
    .map(|()| got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_dribbling_headers_is_cut_off() {
    let app = TestApp::spawn_on(Backend::Embedded, |c| c.header_read_timeout_ms = 800)
        .await
        .unwrap();
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    let started = Instant::now();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // One header line every 200 ms, forever: each arrives well within any per-read
    // timeout, but the headers never end.
    let dribble = async {
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if s.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    };
    let closed = tokio::time::timeout(Duration::from_secs(5), dribble)
        .await
        .is_ok();
    assert!(
        closed,
        "the server kept a connection whose headers never ended"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "closed after {took:?}");

    // An idle keep-alive connection is closed after the same time; a normal request
    // on it is answered first.
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let got = read_until_closed(&mut s, Duration::from_secs(5))
        .await
        .expect("closed when idle");
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_beyond_the_cap_wait_for_a_free_one() {
    let app = TestApp::spawn_on(Backend::Embedded, |c| c.max_connections = 2)
        .await
        .unwrap();
    let first = TcpStream::connect(addr(&app)).await.unwrap();
    let _second = TcpStream::connect(addr(&app)).await.unwrap();
    let mut third = TcpStream::connect(addr(&app)).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a third connection was served while two were open"
    );
    drop(first);
    let got = read_until_closed(&mut third, Duration::from_secs(5))
        .await
        .expect("answered");
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

matrix! {
    async fn readyz_names_a_failed_backend_but_only_admins_see_why(app) {
        let admin = app.admin("ops-admin@example.com").await;
        let user = app.user("ops-user@example.com", "opsuser").await;
        // The database goes away (its pool is closed under the running server).
        app.app_foundation.db.clone().close().await.unwrap();
        for token in [None, Some(user.access.as_str())] {
            let (s, b) = app.get("/readyz", token).await;
            assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
            assert_eq!(b["checks"]["database"], "down", "no error text for anyone: {b}");
            assert_eq!(b["checks"]["cache"], "ok");
        }
        let (s, b) = app.get("/readyz", Some(&admin.access)).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        let why = b["checks"]["database"].as_str().unwrap();
        assert!(why.starts_with("down: ") && why.len() > "down: ".len(), "admins see why: {b}");
    }
}
