//! Downloads from the demo catalog's images: every file type on MBR, GPT
//! and flasher images, configured or not, checked with the real tools and
//! against configuring the raw image in place with balena-image; byte
//! ranges; fleet-configured downloads.

use balena_image::import::Artifact;
use balena_image::{Configuration, read_boot_file};
use sea_query::ExprTrait;
use serde_json::{Map, Value, json};

use super::util::{
    Got, app_id, builds, configured_in_place, fsck_boot, get, get_with, gunzip, images_dir, mtype,
    reference_image, unzip,
};
use crate::common::{Backend, TestServer};

fn same_bytes(what: &str, got: &[u8], want: &[u8]) {
    if got != want {
        let first = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "{what}: {} bytes, expected {}; first difference at byte {first}",
            got.len(),
            want.len()
        );
    }
}

/// The bytes of a download's image, whatever its container.
fn image_of(file_type: &str, got: &Got) -> Vec<u8> {
    match file_type {
        ".gz" => gunzip(&got.body),
        ".zip" => {
            let (raw, names) = unzip(&got.body);
            assert_eq!(names.len(), 1, "{names:?}");
            assert!(names[0].ends_with(".img"), "{names:?}");
            raw
        }
        _ => got.body.clone(),
    }
}

/// Range requests against a full download `full` of `url`.
pub async fn check_ranges(server: &TestServer, url: &str, key: Option<&str>, full: &Got) {
    check_ranges_with(server, url, key, full, &[]).await;
}

/// [`check_ranges`] with extra request headers (e.g. `Accept-Encoding`).
pub async fn check_ranges_with(
    server: &TestServer,
    url: &str,
    key: Option<&str>,
    full: &Got,
    extra: &[(&str, &str)],
) {
    let req = |h: Vec<(&str, String)>| {
        let mut all: Vec<(String, String)> =
            h.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        all.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        async move {
            let pairs: Vec<(&str, &str)> =
                all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            get_with(server, url, key, &pairs).await
        }
    };
    let n = full.body.len();
    assert!(n > 200_000, "{n}");
    let etag = full.header("etag").expect("etag").to_owned();
    assert!(etag.starts_with('"'), "strong etag: {etag}");
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    let cases = [
        ("bytes=0-99".to_owned(), 0, 100),
        (
            format!("bytes={}-{}", n / 2, n / 2 + 70_000),
            n / 2,
            n / 2 + 70_001,
        ),
        ("bytes=-100".to_owned(), n - 100, n),
        (format!("bytes={}-", n - 1), n - 1, n),
        (format!("bytes=5-{}", n + 1000), 5, n),
    ];
    for (range, s, e) in cases {
        let got = req(vec![("range", range.clone())]).await;
        assert_eq!(got.status, 206, "{range}");
        assert_eq!(
            got.header("content-range"),
            Some(format!("bytes {s}-{}/{n}", e - 1).as_str()),
            "{range}"
        );
        assert_eq!(
            got.header("content-length"),
            Some((e - s).to_string().as_str())
        );
        assert!(got.body == full.body[s..e], "{range}: wrong bytes");
        assert_eq!(got.header("etag"), Some(etag.as_str()));
    }
    let got = req(vec![
        ("range", "bytes=10-19".into()),
        ("if-range", etag.clone()),
    ])
    .await;
    assert_eq!(got.status, 206);
    assert!(got.body == full.body[10..20]);
    let got = req(vec![
        ("range", "bytes=10-19".into()),
        ("if-range", "\"something-else\"".into()),
    ])
    .await;
    assert_eq!(got.status, 200, "a stale If-Range gets the whole file");
    assert!(got.body == full.body);
    let got = req(vec![("range", format!("bytes={n}-"))]).await;
    assert_eq!(got.status, 416);
    assert_eq!(
        got.header("content-range"),
        Some(format!("bytes */{n}").as_str())
    );
    let got = req(vec![("if-none-match", etag.clone())]).await;
    assert_eq!(got.status, 304);
    check_multiple_ranges(server, url, key, full, extra).await;
}

/// Several ranges in one request, through curl: `multipart/byteranges`
/// whose parts are the same bytes as the full download's, except for a
/// gzip-encoded `.img` (and more than 16 ranges), which get the whole file.
async fn check_multiple_ranges(
    server: &TestServer,
    url: &str,
    key: Option<&str>,
    full: &Got,
    extra: &[(&str, &str)],
) {
    let n = full.body.len();
    let etag = full.header("etag").expect("etag");
    let encoded = full.header("content-encoding").is_some();
    let curl_range = |range: String| async move {
        let mut headers = extra.to_vec();
        headers.push(("range", &range));
        super::util::curl(server, url, key, &headers).await
    };
    let cases: [(String, Vec<(usize, usize)>); 3] = [
        ("bytes=0-9,20-29".into(), vec![(0, 10), (20, 30)]),
        // In the order asked, suffix and open end included.
        (
            format!("bytes=-100, {}-{},0-0", n / 2, n / 2 + 99_999),
            vec![(n - 100, n), (n / 2, n / 2 + 100_000), (0, 1)],
        ),
        // Overlapping and touching ranges coalesce; unsatisfiable ones drop.
        (
            format!("bytes=0-9,5-19,20-29,1000-1099,{n}-"),
            vec![(0, 30), (1000, 1100)],
        ),
    ];
    for (range, want) in cases {
        let (status, headers, body) = curl_range(range.clone()).await;
        assert_eq!(
            headers.get("content-length"),
            Some(&body.len().to_string()),
            "{range}: Content-Length is exact"
        );
        assert_eq!(
            headers.get("etag").map(String::as_str),
            Some(etag),
            "{range}"
        );
        if encoded {
            assert_eq!(
                status, 200,
                "{range} of a gzip-encoded .img: the whole file"
            );
            assert!(body == full.body, "{range}: the whole file");
            continue;
        }
        assert_eq!(status, 206, "{range}");
        assert!(!headers.contains_key("content-range"), "{range}");
        let content_type = headers.get("content-type").expect("content-type");
        let boundary = content_type
            .strip_prefix("multipart/byteranges; boundary=")
            .unwrap_or_else(|| panic!("{range}: {content_type}"));
        let parts = super::util::byteranges(&body, boundary);
        assert_eq!(parts.len(), want.len(), "{range}");
        for ((content_range, bytes), (s, e)) in parts.iter().zip(&want) {
            assert_eq!(
                content_range,
                &format!("bytes {s}-{}/{n}", e - 1),
                "{range}"
            );
            assert!(
                bytes[..] == full.body[*s..*e],
                "{range}: wrong bytes in {s}..{e}"
            );
        }
    }
    // Ranges that coalesce into one: a single-part answer.
    let (status, headers, body) = curl_range("bytes=0-9,10-19".into()).await;
    if !encoded {
        assert_eq!(status, 206);
        assert_eq!(
            headers.get("content-range"),
            Some(&format!("bytes 0-19/{n}"))
        );
        assert!(body[..] == full.body[..20]);
    }
    // None satisfiable: 416.
    let (status, headers, _) = curl_range(format!("bytes={n}-,{}-{}", n + 5, n + 9)).await;
    assert_eq!(status, 416);
    assert_eq!(headers.get("content-range"), Some(&format!("bytes */{n}")));
    // More than 16: the whole file.
    let many: Vec<String> = (0..17)
        .map(|i| format!("{}-{}", i * 100, i * 100 + 9))
        .collect();
    let (status, _, body) = curl_range(format!("bytes={}", many.join(","))).await;
    assert_eq!(status, 200);
    assert!(body == full.body, "17 ranges: the whole file");
}

/// The stock config.json of an image plus what an unmanaged download with
/// `developmentMode=true&appUpdatePollInterval=15` and wifi adds.
fn unmanaged_configuration(reference: &[u8]) -> Configuration {
    let stock = read_boot_file(reference, "/config.json", None).expect("stock config.json");
    let mut map: Map<String, Value> = serde_json::from_slice(&stock).expect("stock JSON");
    map.insert("developmentMode".into(), json!(true));
    map.insert("appUpdatePollInterval".into(), json!(900_000));
    map.insert("wifiSsid".into(), json!("demo net"));
    map.insert("wifiKey".into(), json!("password123"));
    Configuration::new(map).expect("configuration")
}

async fn unmanaged(server: &TestServer, slug: &str) {
    let root = images_dir(server);
    let plain_url = format!("/download?deviceType={slug}&version=latest&fileType=.gz");
    let plain = get(server, &plain_url, None).await;
    assert_eq!(
        plain.status,
        200,
        "{slug}: {}",
        String::from_utf8_lossy(&plain.body)
    );
    let found = builds(&root, slug);
    assert_eq!(found.len(), 1, "{slug}: {found:?}");
    let build = &found[0];
    let reference = reference_image(&root, slug, build, Artifact::Default);
    same_bytes(
        &format!("{slug} plain .gz"),
        &gunzip(&plain.body),
        &reference,
    );
    assert_eq!(
        plain.header("content-length"),
        Some(plain.body.len().to_string().as_str())
    );
    let disposition = plain.header("content-disposition").expect("disposition");
    assert!(
        disposition.contains(&format!("balena-{slug}-")) && disposition.ends_with(".img.gz\""),
        "{disposition}"
    );
    // The download size is the sum of the compressed parts; an unmodified
    // gzip download is exactly 20 bytes more.
    let size = get(
        server,
        &format!("/device-types/v1/{slug}/images/latest/download-size"),
        None,
    )
    .await;
    assert_eq!(size.status, 200);
    let size = size.json()["size"].as_u64().expect("size");
    assert_eq!(plain.body.len() as u64, size + 20);
    let exact = get(
        server,
        &format!(
            "/device-types/v1/{slug}/images/{}/download-size",
            build.replace('+', "%2B")
        ),
        None,
    )
    .await;
    assert_eq!(exact.json()["size"].as_u64(), Some(size));

    // Unmanaged but configured: development mode, update interval, wifi.
    let cfg = unmanaged_configuration(&reference);
    let expected = configured_in_place(&reference, &cfg);
    let opts = "developmentMode=true&network=wifi&wifiSsid=demo%20net&wifiKey=password123&appUpdatePollInterval=15";
    for ft in [".img", ".gz", ".zip"] {
        let url = format!("/download?deviceType={slug}&version=latest&fileType={ft}&{opts}");
        let got = get(server, &url, None).await;
        assert_eq!(got.status, 200, "{slug} {ft}");
        assert_eq!(
            got.header("content-type"),
            Some(if ft == ".zip" {
                "application/zip"
            } else {
                "application/octet-stream"
            })
        );
        same_bytes(&format!("{slug} {ft}"), &image_of(ft, &got), &expected);
        check_ranges(server, &url, None, &got).await;
    }
    assert_eq!(mtype(&expected, "config.json"), cfg.config_json());
    let keyfile =
        String::from_utf8(mtype(&expected, "system-connections/balena-wifi-01")).expect("keyfile");
    assert!(
        keyfile.contains("ssid=demo net") && keyfile.contains("psk=password123"),
        "{keyfile}"
    );
    fsck_boot(&expected);

    // `.img` to a client that accepts gzip: the `.gz` bytes, gzip-encoded.
    let url = format!("/download?deviceType={slug}&version=latest&{opts}");
    let encoded = get_with(server, &url, None, &[("accept-encoding", "gzip, deflate")]).await;
    assert_eq!(encoded.header("content-encoding"), Some("gzip"));
    assert_eq!(encoded.header("vary"), Some("Accept-Encoding"));
    same_bytes("gzip-encoded .img", &gunzip(&encoded.body), &expected);
    let identity = get(server, &url, None).await;
    assert_ne!(encoded.header("etag"), identity.header("etag"));
    check_ranges_with(server, &url, None, &encoded, &[("accept-encoding", "gzip")]).await;

    // HEAD: the same headers, no body.
    let head = super::util::send(server, reqwest::Method::HEAD, &url, None, &[], None).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(expected.len().to_string().as_str())
    );
    assert_eq!(head.header("etag"), identity.header("etag"));
}

async fn fleet_configured(server: &TestServer, fleet: &str, slug: &str, file_type: &str) {
    let key = server.demo_key.clone().expect("demo key");
    let id = app_id(server, fleet, &key).await;
    // Make the release's image first, to know its folder.
    let warm = get(
        server,
        &format!("/download?deviceType={slug}&version=latest&fileType=.gz"),
        Some(&key),
    )
    .await;
    assert_eq!(warm.status, 200);
    let root = images_dir(server);
    let build = builds(&root, slug).pop().expect("a build");
    let version = build.replace('+', "%2B");
    let url = format!(
        "/download?deviceType={slug}&version={version}&appId={id}&fileType={file_type}&network=wifi&wifiSsid=fleet-net&wifiKey=password123&appUpdatePollInterval=30"
    );
    let got = get(server, &url, Some(&key)).await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    assert!(
        got.header("content-disposition")
            .is_some_and(|d| d.contains(fleet.split('/').nth(1).unwrap_or(fleet))),
        "{:?}",
        got.header("content-disposition")
    );
    assert_eq!(got.header("cache-control"), Some("private, no-store"));
    let image = image_of(file_type, &got);
    let config: Map<String, Value> =
        serde_json::from_slice(&mtype(&image, "config.json")).expect("config.json");
    assert_eq!(config["applicationId"], json!(id));
    assert_eq!(config["deviceType"], json!(slug));
    assert_eq!(config["appUpdatePollInterval"], json!(1_800_000));
    assert_eq!(config["listenPort"], json!(48_484));
    assert_eq!(config["apiEndpoint"], json!(server.url));
    assert!(config.get("wifiSsid").is_none(), "wifi goes to a keyfile");
    let api_key = config["apiKey"].as_str().expect("apiKey").to_owned();
    assert!(api_key.len() == 32 && api_key.bytes().all(|b| b.is_ascii_alphanumeric()));

    // The config is what /download-config promises for the same request
    // (but for the fresh key).
    let promised = super::util::send(
        server,
        reqwest::Method::POST,
        "/download-config",
        Some(&key),
        &[],
        Some(
            &json!({"appId": id, "version": build, "network": "wifi", "wifiSsid": "fleet-net",
                     "wifiKey": "password123", "appUpdatePollInterval": 30, "deviceType": slug}),
        ),
    )
    .await;
    assert_eq!(promised.status, 200);
    let mut promised = promised.json().as_object().cloned().expect("object");
    assert_ne!(promised["apiKey"], json!(api_key));
    promised.insert("apiKey".into(), json!(api_key));
    assert_eq!(promised.shift_remove("wifiSsid"), Some(json!("fleet-net")));
    assert_eq!(promised.shift_remove("wifiKey"), Some(json!("password123")));
    assert_eq!(Value::Object(promised), Value::Object(config.clone()));

    // Byte-identical to configuring the raw image in place.
    let artifact = Artifact::Default;
    let reference = reference_image(&root, slug, &build, artifact);
    let mut full = config.clone();
    full.insert("wifiSsid".into(), json!("fleet-net"));
    full.insert("wifiKey".into(), json!("password123"));
    let expected = configured_in_place(&reference, &Configuration::new(full).expect("cfg"));
    same_bytes(&format!("{fleet} {file_type}"), &image, &expected);
    fsck_boot(&image);

    // The provisioning key is stored for the fleet and is no user key.
    let rows = server
        .catalog
        .db()
        .fetch(
            &sea_query::Query::select()
                .column("is_for__application")
                .from("provisioning_key")
                .and_where(
                    sea_query::Expr::col("key_hash").eq(balena_os_server::auth::hash_key(&api_key)),
                )
                .to_owned(),
            &[balena_os_server::db::CellType::Int],
        )
        .await
        .expect("query");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0].as_int(), Some(id));
    let (status, _) = server
        .get("/v7/application?$select=id", Some(&api_key))
        .await;
    assert_eq!(status, 401, "a provisioning key does not log in as a user");

    // Deterministic: the same request gives the same bytes (so a client can
    // resume with Range + If-Range).
    let again = get(server, &url, Some(&key)).await;
    assert_eq!(again.header("etag"), got.header("etag"));
    assert!(again.body == got.body);
    check_ranges(server, &url, Some(&key), &got).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmanaged_downloads_mbr_gpt_flasher() {
    let server = TestServer::start(Backend::Sqlite, true).await;
    for slug in ["raspberrypi3", "generic-amd64", "intel-nuc"] {
        unmanaged(&server, slug).await;
    }
    server.stop().await;
}

async fn fleets(backend: Backend) {
    let server = TestServer::start(backend, true).await;
    fleet_configured(&server, "demo/kiosk-rpi3", "raspberrypi3", ".zip").await;
    fleet_configured(&server, "demo/nuc-gateways", "intel-nuc", ".gz").await;
    fleet_configured(&server, "demo/fleet-rpi4", "raspberrypi4-64", ".img").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_configured_downloads_sqlite() {
    fleets(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_configured_downloads_postgres() {
    fleets(Backend::Postgres).await;
}
