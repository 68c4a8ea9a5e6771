//! Importing a balena image bucket: from a local folder and from an
//! S3-compatible server (moto), idempotently and atomically.

use std::path::Path;

use balena_os_server::catalog::import::BucketSource;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use serde_json::{Value, json};

use crate::common::{Backend, TestServer, moto};

fn device_type_json(slug: &str, name: &str, arch: &str, aliases: &[&str]) -> String {
    json!({"slug": slug, "name": name, "arch": arch, "aliases": aliases, "version": 1,
           "state": "RELEASED", "yocto": {"machine": slug}})
    .to_string()
}

/// `(relative path, contents)` of a small bucket.
fn bucket_files() -> Vec<(String, String)> {
    let rpi = device_type_json(
        "raspberrypi4-64",
        "Raspberry Pi 4 (using 64bit OS)",
        "aarch64",
        &["rpi4-64", "raspberrypi4-64"],
    );
    let nuc = device_type_json("intel-nuc", "Intel NUC", "amd64", &["nuc"]);
    let manifest = json!({"resin.img": {"parts": [{"filename": "part-0.deflate", "crc": 0, "len": 1, "zLen": 1}]}}).to_string();
    let mut files = Vec::new();
    let mut build = |slug: &str, build: &str, dtj: &str, version: Option<&str>, ignore: bool| {
        let dir = format!("{slug}/{build}");
        files.push((format!("{dir}/device-type.json"), dtj.to_owned()));
        if let Some(v) = version {
            files.push((format!("{dir}/VERSION_HOSTOS"), format!("{v}\n")));
        }
        files.push((format!("{dir}/image.json"), manifest.clone()));
        files.push((format!("{dir}/compressed/part-0.deflate"), "x".to_owned()));
        if ignore {
            files.push((format!("{dir}/IGNORE"), String::new()));
        }
    };
    build("raspberrypi4-64", "6.0.13", &rpi, Some("6.0.13"), false);
    build("raspberrypi4-64", "2.88.4+rev1.prod", &rpi, None, false);
    build(
        "raspberrypi4-64",
        "2.88.4+rev1.dev",
        &rpi,
        Some("2.88.4+rev1"),
        false,
    );
    build("raspberrypi4-64", "6.1.0", &rpi, Some("6.1.0"), true);
    build("intel-nuc", "5.3.21", &nuc, Some("5.3.21"), false);
    build("intel-nuc", "2024.10.1", &nuc, Some("2024.10.1"), false);
    files.push(("raspberrypi4-64/latest".into(), "6.0.13".into()));
    files
}

fn write_tree(root: &Path, files: &[(String, String)]) {
    for (rel, contents) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }
}

async fn versions(server: &TestServer, app: &str) -> Vec<String> {
    let q = format!(
        "/v7/release?$select=raw_version&$orderby=raw_version%20asc&$filter=belongs_to__application/any(a:a/slug%20eq%20%27{}%27)",
        app.replace('/', "%2F")
    );
    let (status, body) = server.get(&q, None).await;
    assert_eq!(status, 200, "{body}");
    body["d"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["raw_version"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn counts(server: &TestServer, key: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for r in [
        "device_type",
        "device_type_alias",
        "application",
        "release",
        "cpu_architecture",
    ] {
        let (_, body) = server.get(&format!("/v7/{r}/$count"), Some(key)).await;
        out.push(body["d"].as_i64().expect("count"));
    }
    out
}

async fn check_imported(server: &TestServer) {
    assert_eq!(
        versions(server, "balena_os/raspberrypi4-64").await,
        vec!["2.88.4+rev1.dev", "2.88.4+rev1.prod", "6.0.13"]
    );
    assert_eq!(
        versions(server, "balena_os/intel-nuc").await,
        vec!["5.3.21"]
    );
    assert_eq!(
        versions(server, "balena_os/intel-nuc-esr").await,
        vec!["2024.10.1"]
    );
    let (_, body) = server
        .get("/v7/application?$select=slug&$expand=application_tag($select=tag_key,value)&$filter=slug%20eq%20%27balena_os/intel-nuc-esr%27", None)
        .await;
    assert_eq!(
        body["d"][0]["application_tag"],
        json!([{"tag_key": "release-policy", "value": "esr"}])
    );
    // Aliases from device-type.json, the slug itself included.
    let (_, body) = server
        .get("/v7/device_type?$select=slug&$expand=is_of__cpu_architecture($select=slug)&$filter=device_type_alias/any(a:a/is_referenced_by__alias%20eq%20%27rpi4-64%27)", None)
        .await;
    assert_eq!(
        body["d"],
        json!([{"is_of__cpu_architecture": [{"slug": "aarch64"}], "slug": "raspberrypi4-64"}])
    );
    let (_, body) = server
        .get("/v7/release?$select=semver,semver_build,revision,variant,is_final,status&$filter=raw_version%20eq%20%272.88.4%2Brev1.prod%27", None)
        .await;
    assert_eq!(
        body["d"],
        json!([{"semver": "2.88.4+rev1", "semver_build": "rev1", "revision": 1, "variant": "prod", "is_final": true, "status": "success"}])
    );
}

async fn local(backend: Backend) {
    let server = TestServer::start(backend, false).await;
    let admin = server.admin_key.clone().expect("admin key");
    let bucket = tempfile::tempdir().expect("tempdir");
    write_tree(bucket.path(), &bucket_files());
    let source = BucketSource::Local(bucket.path().to_path_buf());

    let report = server.catalog.import_bucket(&source).await.expect("import");
    assert_eq!(report.device_types_created, 2);
    assert_eq!(report.applications_created, 3);
    assert_eq!(report.releases_created, 5);
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert!(report.skipped[0].contains("raspberrypi4-64/6.1.0"));
    check_imported(&server).await;
    let before = counts(&server, &admin).await;

    // Idempotent.
    let again = server
        .catalog
        .import_bucket(&source)
        .await
        .expect("re-import");
    assert_eq!(
        (
            again.device_types_created,
            again.applications_created,
            again.releases_created,
            again.releases_unchanged
        ),
        (0, 0, 0, 5)
    );
    assert_eq!(counts(&server, &admin).await, before);

    // The finished upload appears on the next import.
    std::fs::remove_file(bucket.path().join("raspberrypi4-64/6.1.0/IGNORE")).expect("rm IGNORE");
    let third = server.catalog.import_bucket(&source).await.expect("import");
    assert_eq!(third.releases_created, 1);

    // A malformed folder fails the whole import and writes nothing, even
    // though other new folders are fine.
    let before = counts(&server, &admin).await;
    let good = device_type_json("raspberrypi3", "Raspberry Pi 3", "armv7hf", &["rpi3"]);
    write_tree(
        bucket.path(),
        &[
            ("raspberrypi3/6.0.13/device-type.json".into(), good),
            ("raspberrypi3/6.0.13/image.json".into(), "{}".into()),
            (
                "zzz-broken/1.0.0/device-type.json".into(),
                json!({"slug": "zzz-broken", "name": "Broken"}).to_string(),
            ),
            ("zzz-broken/1.0.0/image.json".into(), "{}".into()),
        ],
    );
    let err = server
        .catalog
        .import_bucket(&source)
        .await
        .expect_err("broken folder");
    assert!(err.to_string().contains("zzz-broken/1.0.0"), "{err}");
    assert!(err.to_string().contains("arch"), "{err}");
    assert_eq!(counts(&server, &admin).await, before, "nothing written");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_local_bucket_sqlite() {
    local(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_local_bucket_postgres() {
    local(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_s3_bucket() {
    let moto = moto().await;
    let store = moto.create_bucket("balena-img").await;
    for (rel, contents) in bucket_files() {
        store
            .put(
                &ObjectPath::from(format!("images/{rel}")),
                contents.into_bytes().into(),
            )
            .await
            .expect("upload");
    }
    let server = TestServer::start(Backend::Sqlite, false).await;
    let source = moto.source("balena-img", "images");
    let report = server
        .catalog
        .import_bucket(&source)
        .await
        .expect("import from S3");
    assert_eq!(report.releases_created, 5, "{report:?}");
    check_imported(&server).await;
    let value: Value = serde_json::to_value(&report).expect("report serialises");
    assert_eq!(value["skipped"].as_array().map(Vec::len), Some(1));
    server.stop().await;
}
