//! Errors from real failures (a refused connection, a silent server, a
//! refused update, bad pine options, a short download) show each cause
//! once: no error repeats the message of its `source()`, so printing the
//! chain (`anyhow`'s `{:#}`) names every cause exactly once.

use std::error::Error as _;
use std::time::Duration;

use balena_sdk::{Balena, DownloadOptions, Error, PineOptions};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::replay::server::{read_request, write_head};

/// Every level's message, outermost first.
fn levels(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out
}

/// No level contains the text of the level below it, and the one-line
/// chain holds each level's text once.
fn assert_each_cause_once(e: Error) -> String {
    let levels = levels(&e);
    for pair in levels.windows(2) {
        assert!(
            pair[1].is_empty() || !pair[0].contains(&pair[1]),
            "{:?} repeats its source {:?}",
            pair[0],
            pair[1]
        );
    }
    let line = format!("{:#}", anyhow::Error::from(e));
    assert_eq!(line, levels.join(": "));
    for level in levels.iter().filter(|l| !l.is_empty()) {
        assert_eq!(
            line.matches(level.as_str()).count(),
            1,
            "{level:?} in {line:?}"
        );
    }
    line
}

fn client(url: &str) -> Balena {
    Balena::builder()
        .api_url(url)
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A server that answers every request with `status` and `body` (JSON),
/// or, for `/download`, with `download_body` announced as
/// `download_length` bytes (the connection is then closed).
async fn serve(
    status: u16,
    body: &'static str,
    download: Option<(&'static [u8], usize)>,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(Some(req)) = read_request(&mut sock, "127.0.0.1").await else {
                    return;
                };
                let (status, ctype, bytes, length) = match download {
                    Some((data, length)) if req.target.starts_with("/download") => {
                        (200, "application/octet-stream", data, length)
                    }
                    _ => (status, "application/json", body.as_bytes(), body.len()),
                };
                let headers = vec![
                    ("Content-Type".to_owned(), ctype.to_owned()),
                    ("Content-Length".to_owned(), length.to_string()),
                ];
                let _ = write_head(&mut sock, status, &headers).await;
                let _ = sock.write_all(bytes).await;
                let _ = sock.flush().await;
            });
        }
    });
    url
}

#[tokio::test]
async fn a_refused_connection() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = client(&url)
        .os()
        .get_download_size("raspberrypi3", "6.0.10+rev1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "GET /v7/device_type: the connection or transfer failed"
    );
    let line = assert_each_cause_once(err);
    assert!(line.contains("Connection refused"), "{line}");
}

#[tokio::test]
async fn a_refused_update() {
    let url = serve(200, r#"{"d":[{"slug":"raspberrypi3"}]}"#, None).await;
    let err = client(&url)
        .os()
        .get_os_update_type("raspberrypi3", "2.88.4+rev1.prod", "2.80.3+rev1.prod")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OsUpdate { .. }), "{err:?}");
    assert_eq!(
        err.source().map(|s| s.to_string()).as_deref(),
        Some("OS downgrades are not allowed")
    );
    let line = assert_each_cause_once(err);
    assert_eq!(
        line,
        "host OS update of raspberrypi3 from 2.88.4+rev1.prod to 2.80.3+rev1.prod is not \
         possible: OS downgrades are not allowed"
    );
}

#[tokio::test]
async fn answers_and_arguments_without_a_source() {
    // An HTTP error status, a missing image, an unknown device type.
    let url = serve(500, r#"{"message":"database is down"}"#, None).await;
    let err = client(&url)
        .os()
        .get_all_os_versions("raspberrypi3", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::RequestFailed { status: 500, .. }),
        "{err:?}"
    );
    assert!(assert_each_cause_once(err).contains("database is down"));

    let url = serve(200, r#"{"d":[]}"#, None).await;
    let err = client(&url)
        .os()
        .get_download_size("toaster", "6.0.10+rev1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidDeviceType { .. }), "{err:?}");
    assert_each_cause_once(err);

    let err = PineOptions::from_json(serde_json::json!({"$nope": 1})).unwrap_err();
    assert!(matches!(err, Error::PineOptions { .. }), "{err:?}");
    let line = assert_each_cause_once(err);
    assert!(line.starts_with("invalid pine options: "), "{line}");
}

#[tokio::test]
async fn a_short_download_and_a_file_that_cannot_be_written() {
    let url = serve(
        200,
        r#"{"d":[{"slug":"raspberrypi3"}]}"#,
        Some((&[7u8; 1000], 5000)),
    )
    .await;
    let balena = client(&url);
    let opts = DownloadOptions::new("raspberrypi3").version("6.0.10+rev1");
    let mut image = balena.os().download(&opts).await.unwrap();
    let mut got = 0;
    let err = loop {
        match image.chunk().await {
            Ok(Some(piece)) => got += piece.len(),
            Ok(None) => panic!("a short body must not end cleanly"),
            Err(e) => break e,
        }
    };
    assert_eq!(got, 1000);
    assert!(
        matches!(err, Error::Integrity { .. } | Error::Transport { .. }),
        "{err:?}"
    );
    assert_each_cause_once(err);
    // After the error the stream stays ended.
    assert!(image.chunk().await.unwrap().is_none());

    // A destination inside a regular file: the directory check fails.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let err = balena
        .os()
        .download_to_file(&opts, &file.join("x.img"), |_| {})
        .await
        .unwrap_err();
    assert_each_cause_once(err);
}
