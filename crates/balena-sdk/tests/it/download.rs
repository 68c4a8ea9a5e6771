//! `download` / `download_to_file` against a real HTTP server on 127.0.0.1
//! that misbehaves on purpose: cut connections, short bodies, bad gzip,
//! broken zip, changed images.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use balena_sdk::{Balena, DownloadOptions, Error, FileType, ImageType, Verification};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::replay::server::{Served, read_request, write_head};

/// What the `/download` route does for the n-th request (0-based).
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Close the connection after this many body bytes.
    cut_after: Option<usize>,
}

type Script = Arc<dyn Fn(usize, &Served) -> Reply + Send + Sync>;

struct Server {
    url: String,
    log: Arc<Mutex<Vec<Served>>>,
}

impl Server {
    fn downloads(&self) -> Vec<Served> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.target.starts_with("/download"))
            .cloned()
            .collect()
    }
    fn requests(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

async fn serve(script: Script) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log: Arc<Mutex<Vec<Served>>> = Arc::default();
    let log2 = Arc::clone(&log);
    tokio::spawn(async move {
        let mut n = 0usize;
        while let Ok((mut sock, _)) = listener.accept().await {
            let Ok(Some(req)) = read_request(&mut sock, "127.0.0.1").await else {
                continue;
            };
            log2.lock().unwrap().push(req.clone());
            let reply = if req.target.starts_with("/v7/device_type") {
                let body = br#"{"d":[{"slug":"raspberrypi3"}]}"#.to_vec();
                Reply {
                    status: 200,
                    headers: vec![
                        ("Content-Type".into(), "application/json".into()),
                        ("Content-Length".into(), body.len().to_string()),
                    ],
                    body,
                    cut_after: None,
                }
            } else {
                let r = script(n, &req);
                n += 1;
                r
            };
            tokio::spawn(async move {
                let _ = write_head(&mut sock, reply.status, &reply.headers).await;
                let end = reply
                    .cut_after
                    .unwrap_or(reply.body.len())
                    .min(reply.body.len());
                let _ = sock.write_all(&reply.body[..end]).await;
                let _ = sock.flush().await;
                // dropping the socket closes the connection (mid-body when cut)
            });
        }
    });
    Server { url, log }
}

fn client(url: &str) -> Balena {
    Balena::builder()
        .api_url(url)
        .api_key("test-key")
        .no_proxy()
        .build()
        .unwrap()
}

fn image(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + 7) ^ (i >> 9)) as u8).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zip_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap().into_inner()
}

fn h(k: &str, v: impl ToString) -> (String, String) {
    (k.to_owned(), v.to_string())
}

/// A server for `body` that supports ranges, cutting the first response
/// after `cut` bytes.
fn resumable(body: Vec<u8>, cut: usize, extra: Vec<(String, String)>) -> Script {
    Arc::new(move |n, req| {
        let range_start = req
            .header("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
        let if_range_ok = req.header("if-range").is_none_or(|v| v == "\"v1\"");
        let mut headers = vec![
            h("Accept-Ranges", "bytes"),
            h("ETag", "\"v1\""),
            h("Content-Type", "application/octet-stream"),
        ];
        headers.extend(extra.clone());
        match range_start {
            Some(start) if if_range_ok && start < body.len() => {
                headers.push(h(
                    "Content-Range",
                    format!("bytes {start}-{}/{}", body.len() - 1, body.len()),
                ));
                headers.push(h("Content-Length", body.len() - start));
                Reply {
                    status: 206,
                    headers,
                    body: body[start..].to_vec(),
                    cut_after: None,
                }
            }
            _ => {
                headers.push(h("Content-Length", body.len()));
                Reply {
                    status: 200,
                    headers,
                    body: body.clone(),
                    cut_after: (n == 0).then_some(cut),
                }
            }
        }
    })
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn resumes_a_cut_transfer_with_range_and_if_range() {
    let data = image(300_000);
    let srv = serve(resumable(data.clone(), 100_000, vec![])).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raspberrypi3.img");
    let mut events = Vec::new();
    let report = client(&srv.url)
        .os()
        .download_to_file(
            &DownloadOptions::new("raspberrypi3").version("6.0.10+rev1"),
            &path,
            |p| events.push(p),
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    assert_eq!(report.resumes, 1);
    assert_eq!(report.bytes_written, data.len() as u64);
    assert_eq!(report.verification, Verification::Length);
    let dls = srv.downloads();
    assert_eq!(dls.len(), 2);
    assert_eq!(dls[0].header("range"), None);
    let range = dls[1].header("range").unwrap();
    let offset: usize = range
        .strip_prefix("bytes=")
        .unwrap()
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(offset > 0 && offset <= 100_000, "resumed at {offset}");
    assert_eq!(dls[1].header("if-range"), Some("\"v1\""));
    assert_eq!(dls[1].header("authorization"), Some("Bearer test-key"));
    let last = events.last().unwrap();
    assert_eq!(
        (last.total, last.received, last.percentage),
        (Some(300_000), 300_000, Some(100.0))
    );
    assert_eq!(leftovers(dir.path()), vec!["raspberrypi3.img".to_owned()]);
    // The finished image is world-readable like any downloaded file, not
    // owner-only like the temporary file it was written to.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}

#[tokio::test]
async fn resumes_a_gzip_file_and_checks_its_trailer() {
    let gz = gzip(&image(400_000));
    let cut = gz.len() / 3;
    let srv = serve(resumable(
        gz.clone(),
        cut,
        vec![h(
            "Content-Disposition",
            "attachment; filename=\"rpi.img.gz\"",
        )],
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.img.gz");
    let report = client(&srv.url)
        .os()
        .download_to_file(
            &DownloadOptions::new("raspberrypi3")
                .version("6.0.10+rev1")
                .file_type(FileType::Gz),
            &path,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), gz);
    assert_eq!(report.verification, Verification::Gzip);
    assert_eq!(report.metadata.file_name.as_deref(), Some("rpi.img.gz"));
    assert!(srv.downloads()[0].target.contains("fileType=.gz"));
}

#[tokio::test]
async fn resumes_a_gzip_content_encoding_mid_stream() {
    let data = image(500_000);
    let gz = gzip(&data);
    let srv = serve(resumable(
        gz.clone(),
        gz.len() / 2,
        vec![h("Content-Encoding", "gzip")],
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decoded.img");
    let report = client(&srv.url)
        .os()
        .download_to_file(
            &DownloadOptions::new("raspberrypi3").version("6.0.10+rev1"),
            &path,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        data,
        "the decoder state survives the resume"
    );
    assert_eq!((report.resumes, report.wire_bytes), (1, gz.len() as u64));
}

#[tokio::test]
async fn starts_over_when_the_image_changed() {
    let old = image(200_000);
    let new: Vec<u8> = image(250_000).into_iter().map(|b| b ^ 0x55).collect();
    let new2 = new.clone();
    let script: Script = Arc::new(move |n, _req| {
        if n == 0 {
            Reply {
                status: 200,
                headers: vec![
                    h("Accept-Ranges", "bytes"),
                    h("ETag", "\"v1\""),
                    h("Content-Length", old.len()),
                ],
                body: old.clone(),
                cut_after: Some(50_000),
            }
        } else {
            // If-Range no longer matches: the whole new representation.
            Reply {
                status: 200,
                headers: vec![
                    h("Accept-Ranges", "bytes"),
                    h("ETag", "\"v2\""),
                    h("Content-Length", new2.len()),
                ],
                body: new2.clone(),
                cut_after: None,
            }
        }
    });
    let srv = serve(script).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.img");
    let report = client(&srv.url)
        .os()
        .download_to_file(
            &DownloadOptions::new("raspberrypi3").version("6.0.10+rev1"),
            &path,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), new);
    assert_eq!(report.bytes_written, new.len() as u64);
}

#[tokio::test]
async fn short_body_without_ranges_fails_and_leaves_nothing() {
    let data = image(100_000);
    let script: Script = Arc::new(move |_, _| Reply {
        status: 200,
        headers: vec![h("Content-Length", data.len())],
        body: data.clone(),
        cut_after: Some(60_000),
    });
    let srv = serve(script).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.img");
    let err = client(&srv.url)
        .os()
        .download_to_file(
            &DownloadOptions::new("raspberrypi3").version("6.0.10+rev1"),
            &path,
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Transport { .. } | Error::Integrity { .. }),
        "{err}"
    );
    assert!(
        leftovers(dir.path()).is_empty(),
        "left behind: {:?}",
        leftovers(dir.path())
    );
    assert_eq!(srv.downloads().len(), 1, "no resume without Accept-Ranges");
}

#[tokio::test]
async fn corrupt_gzip_is_rejected_and_leaves_nothing() {
    let mut gz = gzip(&image(100_000));
    let n = gz.len();
    gz[n - 6] ^= 0x01; // break the CRC32 in the trailer
    let script: Script = Arc::new(move |_, _| Reply {
        status: 200,
        headers: vec![
            h("Content-Length", gz.len()),
            h("Content-Type", "application/octet-stream"),
        ],
        body: gz.clone(),
        cut_after: None,
    });
    let srv = serve(script).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.img.gz");
    let err = client(&srv.url)
        .os()
        .download_to_file(
            &DownloadOptions::new("raspberrypi3")
                .version("6.0.10+rev1")
                .file_type(FileType::Gz),
            &path,
            |_| {},
        )
        .await
        .unwrap_err();
    match &err {
        Error::Integrity { reason, .. } => assert!(reason.contains("CRC32"), "{reason}"),
        other => panic!("expected an integrity error, got {other}"),
    }
    assert!(leftovers(dir.path()).is_empty());
}

#[tokio::test]
async fn zip_central_directory_is_checked() {
    let good = zip_of("balena.img", &image(70_000));
    let mut broken = good.clone();
    broken.truncate(good.len() - 30); // loses the end-of-central-directory record
    for (body, ok) in [(good, true), (broken, false)] {
        let b = body.clone();
        let script: Script = Arc::new(move |_, _| Reply {
            status: 200,
            headers: vec![
                h("Content-Length", b.len()),
                h("Content-Type", "application/zip"),
            ],
            body: b.clone(),
            cut_after: None,
        });
        let srv = serve(script).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img.zip");
        let r = client(&srv.url)
            .os()
            .download_to_file(
                &DownloadOptions::new("raspberrypi3")
                    .version("6.0.10+rev1")
                    .file_type(FileType::Zip),
                &path,
                |_| {},
            )
            .await;
        if ok {
            assert_eq!(r.unwrap().verification, Verification::Zip);
            assert_eq!(std::fs::read(&path).unwrap(), body);
        } else {
            assert!(matches!(r, Err(Error::Integrity { .. })), "{r:?}");
            assert!(leftovers(dir.path()).is_empty());
        }
    }
}

#[tokio::test]
async fn streamed_download_reports_metadata_and_short_bodies() {
    let data = image(80_000);
    let d = data.clone();
    let script: Script = Arc::new(move |n, _| Reply {
        status: 200,
        headers: vec![
            h("Content-Length", d.len()),
            h("Content-Type", "application/octet-stream"),
            h(
                "Content-Disposition",
                "attachment; filename*=UTF-8''balena%20os.img",
            ),
            h("ETag", "\"e1\""),
        ],
        body: d.clone(),
        cut_after: (n == 1).then_some(1000),
    });
    let srv = serve(script).await;
    let c = client(&srv.url);
    let opts = DownloadOptions::new("raspberrypi3").version("6.0.10+rev1");
    let mut dl = c.os().download(&opts).await.unwrap();
    assert_eq!(dl.metadata().file_name.as_deref(), Some("balena os.img"));
    assert_eq!(dl.metadata().etag.as_deref(), Some("\"e1\""));
    let mut got = Vec::new();
    while let Some(chunk) = dl.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got, data);
    assert_eq!(dl.progress().percentage, Some(100.0));
    assert_eq!(
        srv.downloads()[0].header("accept-encoding"),
        Some("gzip, deflate")
    );

    let mut dl = c.os().download(&opts).await.unwrap();
    let mut saw_error = false;
    while let Some(chunk) = dl.next().await {
        if chunk.is_err() {
            saw_error = true;
        }
    }
    assert!(saw_error, "a cut body must end the stream with an error");
}

#[tokio::test]
async fn not_found_maps_to_os_image_not_found() {
    let script: Script = Arc::new(|_, _| Reply {
        status: 404,
        headers: vec![h("Content-Type", "text/plain"), h("Content-Length", 9)],
        body: b"Not Found".to_vec(),
        cut_after: None,
    });
    let srv = serve(script).await;
    let err = client(&srv.url)
        .os()
        .download(
            &DownloadOptions::new("rpi3")
                .version("2.88.4+rev1.prod")
                .image_type(ImageType::Flasher),
        )
        .await
        .unwrap_err();
    match err {
        Error::OsImageNotFound {
            device_type,
            version,
            image_type,
        } => {
            assert_eq!(
                (
                    device_type.as_str(),
                    version.as_str(),
                    image_type.as_deref()
                ),
                ("rpi3", "2.88.4+rev1.prod", Some("flasher"))
            );
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn bad_arguments_fail_before_any_request() {
    let script: Script = Arc::new(|_, _| Reply {
        status: 500,
        headers: vec![],
        body: vec![],
        cut_after: None,
    });
    let srv = serve(script).await;
    let c = client(&srv.url);
    let os = c.os();
    assert!(matches!(
        os.download(&DownloadOptions::new("")).await,
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        os.download(&DownloadOptions::new("raspberrypi3").version("^2.88.0"))
            .await,
        Err(Error::InvalidVersion { .. })
    ));
    assert!(
        os.get_download_size("raspberrypi3", "../../x")
            .await
            .is_err()
    );
    assert!(os.get_download_size(" ", "latest").await.is_err());
    assert!(os.get_all_os_versions_for::<&str>(&[], None).await.is_err());
    assert!(
        os.get_max_satisfying_version("raspberrypi3", "", None)
            .await
            .is_err()
    );
    assert!(matches!(
        os.get_supported_os_update_versions("raspberrypi3", "not-a-version", &Default::default())
            .await,
        Err(Error::InvalidParameter {
            name: "current_version",
            ..
        })
    ));
    assert!(matches!(
        os.get_config("myorg/app".into(), &balena_sdk::ConfigOptions::new(""))
            .await,
        Err(Error::MissingParameter { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    assert!(
        os.download_to_file(&DownloadOptions::new("raspberrypi3"), dir.path(), |_| {})
            .await
            .is_err()
    );
    assert_eq!(
        srv.requests(),
        0,
        "no request may be sent for bad arguments"
    );
}
