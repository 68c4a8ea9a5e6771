//! The official JavaScript SDK (`balena-sdk@23.2.15`, from the committed
//! lock file in `tests/js`) and the project's Rust SDK download, size and
//! configure images against the server, and get the same bytes.

use std::collections::BTreeMap;

use balena_image::import::Artifact;
use balena_sdk::{Balena, ConfigOptions, DownloadOptions, FileType, Network};
use futures_util::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::util::{app_id, builds, images_dir, manifest, reference_image};
use crate::common::{Backend, TestServer};
use crate::js_sdk::run_js_script;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn result<'a>(out: &'a BTreeMap<String, Value>, name: &str) -> &'a Value {
    out.get(name)
        .and_then(|e| e.get("result"))
        .unwrap_or_else(|| panic!("JavaScript {name}: {:?}", out.get(name)))
}

async fn rust_download(sdk: &Balena, opts: &DownloadOptions) -> (String, u64) {
    let mut dl = sdk.os().download(opts).await.expect("Rust SDK download");
    let mut h = Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = dl.next().await {
        let chunk = chunk.expect("chunk");
        n += chunk.len() as u64;
        h.update(&chunk);
    }
    (hex(&h.finalize()), n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_and_rust_sdks_download_the_same_bytes() {
    let server = TestServer::start(Backend::Sqlite, true).await;
    let key = server.demo_key.clone().expect("demo key");
    let kiosk = app_id(&server, "demo/kiosk-rpi3", &key).await;
    let sdk = Balena::builder()
        .api_url(&server.url)
        .api_key(&key)
        .build()
        .expect("Rust SDK");
    // The newest raspberrypi3 release gets its demo image.
    let size = sdk
        .os()
        .get_download_size("raspberrypi3", "latest")
        .await
        .expect("size");
    let root = images_dir(&server);
    let build = builds(&root, "raspberrypi3").pop().expect("build");
    let stored = manifest(&root, "raspberrypi3", &build, Artifact::Default)
        .single()
        .expect("single")
        .1
        .compressed_len();
    assert_eq!(size, stored);

    let wifi = json!({"network": "wifi", "wifiSsid": "js-net", "wifiKey": "password123"});
    let mut fleet_opts = json!({"deviceType": "raspberrypi3", "version": build, "appId": kiosk,
                                "fileType": ".gz", "developmentMode": true});
    fleet_opts
        .as_object_mut()
        .expect("object")
        .extend(wifi.as_object().expect("object").clone());
    let mut config_opts = json!({"version": build});
    config_opts
        .as_object_mut()
        .expect("object")
        .extend(wifi.as_object().expect("object").clone());
    let calls = json!([
        {"name": "size latest", "auth": "none", "method": "os.getDownloadSize", "args": ["raspberrypi3"]},
        {"name": "size alias", "auth": "key", "method": "os.getDownloadSize", "args": ["nuc", "latest"]},
        {"name": "img", "auth": "none", "method": "os.download", "args": [{"deviceType": "raspberrypi3", "version": build}]},
        {"name": "zip", "auth": "key", "method": "os.download", "args": [{"deviceType": "raspberrypi3", "version": build, "fileType": ".zip"}]},
        {"name": "fleet gz", "auth": "key", "method": "os.download", "args": [fleet_opts]},
        {"name": "latest by alias", "auth": "key", "method": "os.download", "args": [{"deviceType": "nuc", "fileType": ".gz"}]},
        {"name": "config", "auth": "key", "method": "os.getConfig", "args": ["demo/kiosk-rpi3", config_opts]},
        {"name": "missing", "auth": "none", "method": "os.download", "args": [{"deviceType": "raspberrypi3", "version": "9.9.9"}]},
    ]);
    let out = run_js_script("images-calls.js", &server.url, &key, &calls).await;

    // Sizes.
    assert_eq!(result(&out, "size latest"), &json!(size));
    let nuc_size = sdk
        .os()
        .get_download_size("nuc", "latest")
        .await
        .expect("size");
    assert_eq!(result(&out, "size alias"), &json!(nuc_size));

    // The plain image: the SDKs inflate the gzip-encoded body; the bytes are
    // the stored image.
    let raw = reference_image(&root, "raspberrypi3", &build, Artifact::Default);
    let raw_sha = hex(&Sha256::digest(&raw));
    let js_img = result(&out, "img");
    assert_eq!(js_img["sha256"], json!(raw_sha));
    assert_eq!(js_img["mime"], json!("application/octet-stream"));
    let (rust_sha, n) =
        rust_download(&sdk, &DownloadOptions::new("raspberrypi3").version(&build)).await;
    assert_eq!((rust_sha, n), (raw_sha, raw.len() as u64));

    // The zip, as is.
    let js_zip = result(&out, "zip");
    assert_eq!(js_zip["mime"], json!("application/zip"));
    let (rust_sha, n) = rust_download(
        &sdk,
        &DownloadOptions::new("raspberrypi3")
            .version(&build)
            .file_type(FileType::Zip),
    )
    .await;
    assert_eq!(
        (json!(rust_sha), json!(n)),
        (js_zip["sha256"].clone(), js_zip["bytes"].clone())
    );

    // A fleet-configured download: the same request gives the same bytes
    // whichever SDK sends it (the provisioning key is derived from it).
    let (rust_sha, _) = rust_download(
        &sdk,
        &DownloadOptions::new("raspberrypi3")
            .version(&build)
            .app_id(u64::try_from(kiosk).expect("id"))
            .file_type(FileType::Gz)
            .development_mode(true)
            .network(Network::wifi("js-net", Some("password123"))),
    )
    .await;
    assert_eq!(result(&out, "fleet gz")["sha256"], json!(rust_sha));

    // `latest` resolved by each SDK, through an alias.
    let (rust_sha, _) =
        rust_download(&sdk, &DownloadOptions::new("nuc").file_type(FileType::Gz)).await;
    assert_eq!(result(&out, "latest by alias")["sha256"], json!(rust_sha));

    // getConfig: the same document but for the fresh key.
    let rust_cfg = sdk
        .os()
        .get_config(
            "demo/kiosk-rpi3".into(),
            &ConfigOptions::new(build.clone())
                .network(Network::wifi("js-net", Some("password123"))),
        )
        .await
        .expect("Rust getConfig");
    let mut js_cfg = result(&out, "config").clone();
    assert_ne!(js_cfg["apiKey"], rust_cfg["apiKey"]);
    js_cfg["apiKey"] = rust_cfg["apiKey"].clone();
    assert_eq!(js_cfg, rust_cfg);
    assert_eq!(rust_cfg["wifiSsid"], "js-net");

    // A missing image is the SDK's OSImageNotFound.
    let missing = &out["missing"]["error"];
    assert_eq!(
        missing["message"],
        json!("No image found for device type raspberrypi3 and version 9.9.9"),
        "{missing}"
    );
    let rust_missing = sdk
        .os()
        .download(&DownloadOptions::new("raspberrypi3").version("9.9.9"))
        .await
        .expect_err("missing");
    assert!(
        matches!(rust_missing, balena_sdk::Error::OsImageNotFound { .. }),
        "{rust_missing:?}"
    );
    server.stop().await;
}
