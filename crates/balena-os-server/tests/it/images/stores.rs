//! Importing images (`admin import-image`'s library side) into a local store
//! and into an S3-compatible bucket (moto on loopback), then serving them.

use std::path::Path;

use balena_image::demo::DemoSpec;
use balena_image::import::Artifact;
use balena_os_server::images::ImagesConfig;
use balena_os_server::images::import::{ImportRequest, import};
use balena_os_server::images::store::ImageStore;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use serde_json::json;

use super::util::{get, gunzip, raw_client, send};
use crate::common::{Backend, TestServer, moto};

/// A demo image for `slug` in `dir`, in the form `kind` (`img`, `gz`, `zip`).
fn image_file(dir: &Path, slug: &str, version: &str, kind: &str) -> (std::path::PathBuf, Vec<u8>) {
    let raw_path = dir.join(format!("{slug}.img"));
    let entry = balena_os_server::images::device_types::embedded_entry(slug).expect("known slug");
    DemoSpec::from_catalog_entry(entry)
        .expect("spec")
        .os_version(version)
        .build()
        .expect("demo")
        .write_to_path(&raw_path)
        .expect("write");
    let raw = std::fs::read(&raw_path).expect("read");
    let path = match kind {
        "gz" => {
            let out = std::process::Command::new("gzip")
                .args(["-k", "-f"])
                .arg(&raw_path)
                .status()
                .expect("gzip");
            assert!(out.success());
            dir.join(format!("{slug}.img.gz"))
        }
        "zip" => {
            let zip = dir.join(format!("{slug}.zip"));
            let out = std::process::Command::new("zip")
                .current_dir(dir)
                .args(["-q", "-j"])
                .arg(&zip)
                .arg(&raw_path)
                .status()
                .expect("zip");
            assert!(out.success());
            zip
        }
        _ => raw_path,
    };
    (path, raw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_image_into_the_local_store() {
    let server = TestServer::start(Backend::Sqlite, false).await;
    let store = ImageStore::local(server.data.path().join("images"));
    let work = tempfile::tempdir().expect("tempdir");
    let (zip, raw) = image_file(work.path(), "raspberrypi3", "7.1.2", "zip");
    let request = ImportRequest {
        input: zip.clone(),
        device_type: "raspberrypi3".into(),
        version: "7.1.2".into(),
        image_type: None,
        device_type_json: None,
        force: false,
    };
    // The catalog has no raspberrypi3 yet: the image's device-type.json
    // creates it, with the host app and the release.
    let report = import(&server.catalog, &store, &request)
        .await
        .expect("import");
    assert_eq!(report.build, "7.1.2");
    assert_eq!(report.image_bytes, raw.len() as u64);
    assert_eq!(report.catalog.device_types_created, 1);
    assert_eq!(report.catalog.releases_created, 1);
    let (status, body) = server
        .get(
            "/v7/release?$select=raw_version&$filter=belongs_to__application/any(a:a/slug%20eq%20%27balena_os%2Fraspberrypi3%27)",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["d"], json!([{"raw_version": "7.1.2"}]));
    let size = get(
        &server,
        "/device-types/v1/raspberrypi3/images/7.1.2/download-size",
        None,
    )
    .await;
    assert_eq!(size.json()["size"], json!(report.compressed_bytes));
    let gz = get(
        &server,
        "/download?deviceType=raspberrypi3&version=7.1.2&fileType=.gz",
        None,
    )
    .await;
    assert_eq!(gz.status, 200);
    assert!(
        gunzip(&gz.body) == raw,
        "the served image is the imported one"
    );
    // Again: refused without --force, accepted with it; the catalog is unchanged.
    let again = import(&server.catalog, &store, &request).await;
    assert!(again.is_err_and(|e| e.to_string().contains("--force")));
    let (gz_path, _) = image_file(work.path(), "raspberrypi3", "7.1.2", "gz");
    let forced = import(
        &server.catalog,
        &store,
        &ImportRequest {
            input: gz_path,
            force: true,
            ..request.clone()
        },
    )
    .await
    .expect("forced import");
    assert_eq!(forced.catalog.releases_created, 0);
    assert_eq!(forced.catalog.releases_unchanged, 1);
    // A version that is not one.
    let bad = import(
        &server.catalog,
        &store,
        &ImportRequest {
            version: "latest".into(),
            ..request.clone()
        },
    )
    .await;
    assert!(bad.is_err());
    // An ESR version goes to the ESR host app; a raw variant beside it.
    let (img, _) = image_file(work.path(), "raspberrypi3", "2025.1.0", "img");
    let esr = import(
        &server.catalog,
        &store,
        &ImportRequest {
            input: img,
            version: "2025.1.0".into(),
            image_type: Some(balena_os_server::images::ImageType::Raw),
            ..request.clone()
        },
    )
    .await
    .expect("esr import");
    assert_eq!(esr.manifest, Artifact::Raw.manifest_name());
    let (_, body) = server
        .get(
            "/v7/application?$select=slug&$expand=application_tag($select=tag_key,value)&$filter=slug%20eq%20%27balena_os%2Fraspberrypi3-esr%27",
            None,
        )
        .await;
    assert_eq!(
        body["d"][0]["application_tag"],
        json!([{"tag_key": "release-policy", "value": "esr"}])
    );
    let got = get(
        &server,
        "/download?deviceType=raspberrypi3&version=2025.1.0&imageType=raw&fileType=.gz",
        None,
    )
    .await;
    assert_eq!(got.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_in_an_s3_bucket() {
    let moto = moto().await;
    let s3 = moto.create_bucket("balena-img").await;
    let source = moto.source("balena-img", "images");
    let server = TestServer::start_configured(Backend::Sqlite, false, |b| {
        b.images(ImagesConfig {
            store: Some(source.clone()),
            ..ImagesConfig::default()
        })
    })
    .await;
    // Import through the operator path (its own database pool, as the
    // `admin import-image` process has) into the bucket.
    let catalog = server.other_process_catalog().await;
    let store = ImageStore::from_source(&source).expect("store");
    let work = tempfile::tempdir().expect("tempdir");
    let (gz, raw) = image_file(work.path(), "generic-amd64", "6.8.1", "gz");
    let request = ImportRequest {
        input: gz,
        device_type: "generic-amd64".into(),
        version: "6.8.1".into(),
        image_type: None,
        device_type_json: None,
        force: false,
    };
    let report = import(&catalog, &store, &request)
        .await
        .expect("import into S3");
    catalog.db().close().await;
    // The bucket holds the release folder, complete (no IGNORE).
    let manifest = s3
        .get(&ObjectPath::from("images/generic-amd64/6.8.1/image.json"))
        .await
        .expect("manifest in the bucket");
    assert!(manifest.meta.size > 0);
    assert!(
        s3.head(&ObjectPath::from("images/generic-amd64/6.8.1/IGNORE"))
            .await
            .is_err()
    );

    // Serve from the bucket.
    let size = get(
        &server,
        "/device-types/v1/generic-amd64/images/latest/download-size",
        None,
    )
    .await;
    assert_eq!(size.json()["size"], json!(report.compressed_bytes));
    let gz = get(
        &server,
        "/download?deviceType=generic-amd64&version=6.8.1&fileType=.gz",
        None,
    )
    .await;
    assert_eq!(gz.status, 200);
    assert!(gunzip(&gz.body) == raw);
    let dev = "/download?deviceType=generic-amd64&version=6.8.1&developmentMode=true";
    let img = get(&server, dev, None).await;
    assert_eq!(img.status, 200);
    let etag = img.header("etag").expect("etag").to_owned();
    assert_eq!(img.body.len(), raw.len());
    let part = send(
        &server,
        reqwest::Method::GET,
        dev,
        None,
        &[("range", "bytes=1000000-1999999"), ("if-range", &etag)],
        None,
    )
    .await;
    assert_eq!(part.status, 206);
    assert!(part.body == img.body[1_000_000..2_000_000]);
    server.stop().await;

    // The same image imported into a local store gives the same bytes.
    let local = TestServer::start(Backend::Sqlite, false).await;
    let local_store = ImageStore::local(local.data.path().join("images"));
    import(&local.catalog, &local_store, &request)
        .await
        .expect("import into the local store");
    let from_disk = get(&local, dev, None).await;
    assert_eq!(from_disk.status, 200);
    assert_eq!(from_disk.header("etag"), Some(etag.as_str()));
    assert!(
        from_disk.body == img.body,
        "the configured .img from S3 and from a local store differ"
    );
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_server_and_abandoned_downloads() {
    let server = TestServer::start_configured(Backend::Sqlite, true, |b| {
        b.images(ImagesConfig {
            max_downloads: Some(1),
            ..ImagesConfig::default()
        })
    })
    .await;
    let url = &server.url;
    let client = raw_client();
    let download = format!("{url}/download?deviceType=raspberrypi3&version=latest");
    // One download in progress, read slowly…
    let mut first = client.get(&download).send().await.expect("first");
    assert_eq!(first.status(), 200);
    let chunk = first.chunk().await.expect("chunk").expect("some bytes");
    assert!(!chunk.is_empty());
    // …so the next one is refused with a message.
    let busy = client.get(&download).send().await.expect("second");
    assert_eq!(busy.status(), 503);
    let message: serde_json::Value = busy.json().await.expect("json");
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.contains("Too many downloads"))
    );
    // The client goes away: its download stops and frees its place.
    drop(first);
    let mut freed = false;
    for _ in 0..100 {
        let again = client
            .get(format!("{download}&fileType=.gz"))
            .send()
            .await
            .expect("again");
        if again.status() == 200 {
            let body = again.bytes().await.expect("body");
            assert!(gunzip(&body).len() > 1_000_000);
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(freed, "an abandoned download kept its place");
    server.stop().await;
}
