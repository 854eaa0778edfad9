//! The shared Redis connection when Redis stops answering without closing the socket
//! (a hung server, a dropped network path): commands are refused within the timeout as
//! `DependencyUnavailable`, and once Redis answers again the next commands reconnect.
//! (`redis::aio::ConnectionManager` waited forever here, and never reconnected after a
//! reconnect attempt that timed out.) Runs when `SURGE_TEST_REDIS_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use surge_infra::cache::RedisCache;
use surge_infra::redis_conn::RedisConnection;
use surge_kernel::error::DependencyUnavailable;
use surge_kernel::ports::Cache;
use surge_testkit::redis_url;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Copies `from` to `to`, swallowing the bytes while `frozen` (the peer hears nothing).
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    frozen: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if !frozen.load(Ordering::SeqCst) {
            to.write_all(&buf[..n]).await?;
        }
    }
}

/// A TCP proxy to `upstream` that can be made to stop answering, sockets left open.
async fn freezable_proxy(upstream: String, frozen: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pump(cr, sw, frozen.clone()));
            tokio::spawn(pump(sr, cw, frozen.clone()));
        }
    });
    format!("redis://{addr}")
}

fn is_unavailable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<DependencyUnavailable>())
}

#[tokio::test]
async fn a_redis_that_stops_answering_is_refused_fast_and_reconnected_when_it_answers() {
    let Some(url) = redis_url() else { return };
    let upstream = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let frozen = Arc::new(AtomicBool::new(false));
    let proxied = freezable_proxy(upstream, frozen.clone()).await;
    let timeout = Duration::from_millis(300);
    let conn = RedisConnection::connect(&proxied, timeout).await.unwrap();
    let prefix = format!("surge-conn:{}:", uuid::Uuid::new_v4().simple());
    let cache = RedisCache::new(conn, &prefix);
    cache.set("k", b"v", Duration::from_secs(60)).await.unwrap();

    frozen.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        let started = Instant::now();
        let err = cache.get("k").await.unwrap_err();
        assert!(is_unavailable(&err), "{err:#}");
        // One reply timeout, one reconnect attempt: well under the 2 s /readyz bound.
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        let err = cache.incr("n", Duration::from_secs(60)).await.unwrap_err();
        assert!(is_unavailable(&err), "{err:#}");
    }

    frozen.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match cache.get("k").await {
            Ok(v) => {
                assert_eq!(v.as_deref(), Some(&b"v"[..]));
                break;
            }
            Err(e) => {
                assert!(is_unavailable(&e), "{e:#}");
                assert!(Instant::now() < deadline, "no reconnect within 5 s: {e:#}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    assert_eq!(cache.incr("n", Duration::from_secs(60)).await.unwrap(), 1);
    cache.delete("k").await.unwrap();
    cache.delete("n").await.unwrap();
}
