//! Shutting down: requests in flight get the drain timeout to finish, then
//! their connections are dropped and the server stops.

use std::time::{Duration, Instant};

use crate::common::{Backend, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_server_stops_at_once() {
    let server = TestServer::start(Backend::Sqlite, false).await;
    let ping = server
        .client
        .get(format!("{}/ping", server.url))
        .send()
        .await
        .expect("ping");
    assert_eq!(ping.status().as_u16(), 200);
    let started = Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "an idle server took {:?} to stop",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_download_is_cut_at_the_drain_deadline() {
    let drain = Duration::from_secs(2);
    let server =
        TestServer::start_configured(Backend::Sqlite, true, |b| b.drain_timeout(drain)).await;
    let client = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    // A client that reads one chunk and then nothing: the server's writes
    // block on a full socket buffer.
    let mut slow = client
        .get(format!(
            "{}/download?deviceType=raspberrypi3&version=latest",
            server.url
        ))
        .send()
        .await
        .expect("download");
    assert_eq!(slow.status(), 200);
    let total = slow.content_length().expect("content-length");
    let first = slow.chunk().await.expect("chunk").expect("some bytes");
    assert!((first.len() as u64) < total);

    let started = Instant::now();
    let stopping = tokio::spawn(server.stop());
    // The download is given its chance…
    tokio::time::sleep(drain / 2).await;
    assert!(
        !stopping.is_finished(),
        "the server stopped without waiting for the download"
    );
    // …and cut when the drain timeout passes.
    tokio::time::timeout(drain + Duration::from_secs(5), stopping)
        .await
        .expect("the server stopped after the drain timeout")
        .expect("server task");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= drain && elapsed < drain + Duration::from_secs(3),
        "stopped after {elapsed:?} with a drain timeout of {drain:?}"
    );
    // The client sees a short body, never a complete-looking one.
    let mut received = first.len() as u64;
    let ended_with_error = loop {
        match slow.chunk().await {
            Ok(Some(c)) => received += c.len() as u64,
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(
        received < total,
        "received {received} of {total} bytes after the cut"
    );
    assert!(ended_with_error, "a truncated body is reported as an error");
}
