//! Client behaviour over real sockets: proxies and timeouts.

use std::time::{Duration, Instant};

use balena_sdk::{Balena, Error};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::replay::server::{read_request, write_head};

#[tokio::test]
async fn requests_go_through_the_configured_proxy() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let seen = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let req = read_request(&mut sock, "127.0.0.1").await.unwrap().unwrap();
        let body = br#"{"d":[]}"#;
        let headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("Content-Length".to_owned(), body.len().to_string()),
        ];
        write_head(&mut sock, 200, &headers).await.unwrap();
        sock.write_all(body).await.unwrap();
        req
    });
    let balena = Balena::builder()
        .api_url("http://balena-api.invalid")
        .proxy(proxy)
        .build()
        .unwrap();
    let versions = balena
        .os()
        .get_all_os_versions("intel-nuc", None)
        .await
        .unwrap();
    assert!(versions.is_empty());
    let req = seen.await.unwrap();
    // A proxied request carries the absolute URL, still encoded like the JS SDK's.
    assert!(
        req.target.starts_with(
            "http://balena-api.invalid/v7/application?$select=is_for__device_type&$expand="
        ),
        "{}",
        req.target
    );
    assert!(
        req.target.ends_with("in%20(%27intel-nuc%27))"),
        "{}",
        req.target
    );
    assert!(
        req.header("x-balena-client")
            .is_some_and(|v| v.starts_with("balena-os-rs-sdk/"))
    );
    assert_eq!(req.header("authorization"), None);
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let _hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            open.push(sock); // accept, never answer
        }
    });
    let balena = Balena::builder()
        .api_url(url)
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = balena
        .os()
        .get_download_size("raspberrypi3", "6.0.10+rev1")
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    match err {
        Error::Transport { request, source } => {
            assert!(source.is_timeout(), "{source}");
            assert!(request.starts_with("GET /v7/device_type"), "{request}");
        }
        other => panic!("expected a timeout, got {other}"),
    }
}

/// The client is cheap to clone and shareable; every method's future can be
/// spawned on a multi-threaded runtime. (Type-checked, not run.)
#[allow(dead_code)]
fn client_and_futures_are_send_and_sync(b: Balena) {
    fn shareable<T: Send + Sync + Clone + 'static>(_: &T) {}
    fn send<T: Send>(_: T) {}
    shareable(&b);
    let os = b.os();
    send(os.get_all_os_versions("x", None));
    send(os.get_available_os_versions_for(&["x"], &Default::default()));
    send(os.get_max_satisfying_version("x", "latest", None));
    send(os.get_download_size("x", "latest"));
    send(os.download(&balena_sdk::DownloadOptions::new("x")));
    send(os.download_to_file(&balena_sdk::DownloadOptions::new("x"), "f".as_ref(), |_| {}));
    send(os.get_config(1u64.into(), &balena_sdk::ConfigOptions::new("1.0.0")));
    send(os.get_os_update_type("x", "1.0.0", "2.0.0"));
    send(os.is_supported_os_update("x", "1.0.0", "2.0.0"));
    send(os.get_supported_os_update_versions("x", "1.0.0", &Default::default()));
    send(os.get_supervisor_releases_for_cpu_architecture("aarch64".into(), None));
}
