//! `/download-config`: every field, default and error of balena's
//! endpoint, the keys it makes, on SQLite and PostgreSQL.

use balena_os_server::auth::hash_key;
use balena_os_server::db::{Cell, CellType};
use balena_os_server::images::ImagesConfig;
use balena_os_server::images::config_json::Endpoints;
use sea_query::{Expr, ExprTrait, Query};
use serde_json::{Value, json};

use super::util::{Got, app_id, send};
use crate::common::{Backend, TestServer};

async fn post(server: &TestServer, key: Option<&str>, body: Value) -> Got {
    send(
        server,
        reqwest::Method::POST,
        "/download-config",
        key,
        &[],
        Some(&body),
    )
    .await
}

/// A config.json's keys, in order.
fn keys(config: &Value) -> Vec<&str> {
    config
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

async fn key_row(server: &TestServer, table: &'static str, key: &str) -> Option<Vec<Cell>> {
    let owner = if table == "api_key" {
        "is_of__user"
    } else {
        "is_for__application"
    };
    let q = Query::select()
        .columns([owner, "name", "description"])
        .column("expiry_date")
        .from(table)
        .and_where(Expr::col("key_hash").eq(hash_key(key)))
        .to_owned();
    server
        .catalog
        .db()
        .fetch(
            &q,
            &[CellType::Int, CellType::Text, CellType::Text, CellType::Int],
        )
        .await
        .expect("query")
        .into_iter()
        .next()
}

async fn download_config(backend: Backend) {
    let server = TestServer::start(backend, true).await;
    let key = server.demo_key.clone().expect("demo key");
    let admin = server.admin_key.clone().expect("admin key");
    let kiosk = app_id(&server, "demo/kiosk-rpi3", &key).await;
    let secret = app_id(&server, "acme/secret-fleet", &admin).await;

    // Defaults, in balena's key order.
    let got = post(
        &server,
        Some(&key),
        json!({"appId": kiosk, "version": "6.0.13", "network": "ethernet"}),
    )
    .await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    assert_eq!(
        got.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let c = got.json();
    assert_eq!(
        keys(&c),
        [
            "applicationId",
            "deviceType",
            "userId",
            "appUpdatePollInterval",
            "listenPort",
            "vpnPort",
            "apiEndpoint",
            "vpnEndpoint",
            "registryEndpoint",
            "deltaEndpoint",
            "apiKey"
        ]
    );
    assert_eq!(c["applicationId"], json!(kiosk));
    assert_eq!(c["deviceType"], "raspberrypi3");
    assert_eq!(c["appUpdatePollInterval"], 60_000);
    assert_eq!(c["listenPort"], 48_484);
    assert_eq!(c["vpnPort"], 443);
    assert_eq!(c["apiEndpoint"], json!(server.url));
    assert_eq!(c["vpnEndpoint"], "vpn.invalid");
    let api_key = c["apiKey"].as_str().expect("apiKey").to_owned();
    assert!(api_key.len() == 32 && api_key.bytes().all(|b| b.is_ascii_alphanumeric()));
    let row = key_row(&server, "provisioning_key", &api_key)
        .await
        .expect("stored");
    assert_eq!(row[0].as_int(), Some(kiosk));
    assert_eq!(
        row[1].as_text(),
        Some("Automatically generated provisioning key")
    );
    assert_eq!(
        row[2].as_text(),
        Some("Automatically generated for a config file generation")
    );
    // A new key on every call.
    let again = post(
        &server,
        Some(&key),
        json!({"appId": kiosk, "version": "6.0.13"}),
    )
    .await
    .json();
    assert_ne!(again["apiKey"], json!(api_key));

    // Every option, query and body merged (the body wins).
    let got = send(
        &server,
        reqwest::Method::POST,
        "/download-config?appId=999999&version=2.88.4.dev&appUpdatePollInterval=5",
        Some(&key),
        &[],
        Some(&json!({"appId": kiosk.to_string(), "appUpdatePollInterval": 15, "network": "wifi",
                     "wifiSsid": "ssid", "wifiKey": "p4ss", "provisioningKeyName": "my-key",
                     "provisioningKeyDescription": "made by a test", "provisioningKeyExpiryDate": "2030-10-12",
                     "deviceType": "nuc", "secureboot": "1"})),
    )
    .await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    let c = got.json();
    assert_eq!(c["deviceType"], "intel-nuc", "alias resolved");
    assert_eq!(c["appUpdatePollInterval"], 900_000);
    assert_eq!(c["wifiSsid"], "ssid");
    assert_eq!(c["wifiKey"], "p4ss");
    assert_eq!(c["developmentMode"], true, ".dev suffix");
    assert_eq!(c["installer"], json!({"secureboot": true}));
    let row = key_row(
        &server,
        "provisioning_key",
        c["apiKey"].as_str().expect("key"),
    )
    .await
    .expect("stored");
    assert_eq!(row[1].as_text(), Some("my-key"));
    assert_eq!(row[2].as_text(), Some("made by a test"));
    assert_eq!(row[3].as_int(), Some(1_917_993_600_000));

    // An explicit developmentMode wins over the suffix; wifi keys only for wifi.
    let c = post(
        &server,
        Some(&key),
        json!({"appId": kiosk, "version": "2.88.4.dev", "developmentMode": false,
               "network": "ethernet", "wifiSsid": "x"}),
    )
    .await
    .json();
    assert!(c.get("developmentMode").is_none());
    assert!(c.get("wifiSsid").is_none());
    // GET works too.
    let got = send(
        &server,
        reqwest::Method::GET,
        &format!("/download-config?appId={kiosk}&version=6.0.13&developmentMode=on"),
        Some(&key),
        &[],
        None,
    )
    .await;
    assert_eq!(got.json()["developmentMode"], true);

    // Before 2.7.8 the key is a user key of the caller: it logs in as them.
    let c = post(
        &server,
        Some(&key),
        json!({"appId": kiosk, "version": "2.7.7"}),
    )
    .await
    .json();
    let legacy = c["apiKey"].as_str().expect("key").to_owned();
    assert!(key_row(&server, "api_key", &legacy).await.is_some());
    let (status, body) = server
        .get(
            "/v7/application?$select=slug&$filter=slug%20eq%20%27demo%2Fkiosk-rpi3%27",
            Some(&legacy),
        )
        .await;
    assert_eq!(
        (status, body["d"][0]["slug"].clone()),
        (200, json!("demo/kiosk-rpi3"))
    );

    // Errors.
    let err = |got: Got| (got.status, got.message());
    assert_eq!(
        post(&server, None, json!({"appId": kiosk, "version": "6.0.13"}))
            .await
            .status,
        401
    );
    assert_eq!(
        err(post(&server, Some(&key), json!({"appId": kiosk})).await),
        (400, "A version is required.".to_owned())
    );
    assert_eq!(
        err(post(&server, Some(&key), json!({"version": "6.0.13"})).await),
        (400, "An appId is required.".to_owned())
    );
    assert_eq!(
        err(post(
            &server,
            Some(&key),
            json!({"appId": "x1", "version": "6.0.13"})
        )
        .await),
        (400, "An appId is required.".to_owned())
    );
    for old in ["1.2.0", "1.0.0", "v1+foo"] {
        assert_eq!(
            err(post(&server, Some(&key), json!({"appId": kiosk, "version": old})).await),
            (
                400,
                "balenaOS versions <= 1.2.0 are no longer supported, please update".to_owned()
            ),
            "{old}"
        );
    }
    assert_eq!(
        err(post(
            &server,
            Some(&key),
            json!({"appId": kiosk, "version": "6.0.13", "deviceType": 3})
        )
        .await),
        (400, "Device type must be a string if provided".to_owned())
    );
    assert_eq!(
        err(post(
            &server,
            Some(&key),
            json!({"appId": kiosk, "version": "6.0.13", "provisioningKeyExpiryDate": "soon"})
        )
        .await),
        (400, "Key expiry date should be a valid date".to_owned())
    );
    assert_eq!(
        err(post(
            &server,
            Some(&key),
            json!({"appId": kiosk, "version": "6.0.13", "deviceType": "no-such-board"})
        )
        .await),
        (404, "Unknown device type no-such-board".to_owned())
    );
    // Another organisation's fleet does not exist for the demo user…
    let got = post(
        &server,
        Some(&key),
        json!({"appId": secret, "version": "6.0.13"}),
    )
    .await;
    assert_eq!(got.status, 404);
    // …but the administrator sees it.
    let got = post(
        &server,
        Some(&admin),
        json!({"appId": secret, "version": "6.0.13"}),
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["deviceType"], "raspberrypi4-64");
    let got = post(
        &server,
        Some(&key),
        json!({"appId": 987_654, "version": "6.0.13"}),
    )
    .await;
    assert_eq!(got.status, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_config_sqlite() {
    download_config(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_config_postgres() {
    download_config(Backend::Postgres).await;
}

/// Every endpoint setting of the server's images configuration, as
/// config.json carries it from `/download-config` and inside a configured
/// download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_set_by_configuration() {
    const PEM: &str =
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUexample\n-----END CERTIFICATE-----\n";
    let endpoints = Endpoints {
        api: Some("https://api.balena.example.org/".into()),
        vpn: Some("cloudlink.example.org".into()),
        registry: Some("registry.example.org".into()),
        delta: Some("https://deltas.example.org".into()),
        logs: Some("https://logs.example.org".into()),
        vpn_port: 3128,
        mixpanel_token: Some("mixpanel-token-123".into()),
        root_ca_pem: Some(PEM.into()),
    };
    let server = TestServer::start_configured(Backend::Sqlite, true, |b| {
        b.images(ImagesConfig {
            endpoints,
            ..ImagesConfig::default()
        })
    })
    .await;
    let key = server.demo_key.clone().expect("demo key");
    let kiosk = app_id(&server, "demo/kiosk-rpi3", &key).await;
    let got = post(
        &server,
        Some(&key),
        json!({"appId": kiosk, "version": "6.0.13", "network": "ethernet"}),
    )
    .await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    let c = got.json();
    assert_eq!(
        keys(&c),
        [
            "applicationId",
            "deviceType",
            "userId",
            "appUpdatePollInterval",
            "listenPort",
            "vpnPort",
            "apiEndpoint",
            "vpnEndpoint",
            "registryEndpoint",
            "deltaEndpoint",
            "mixpanelToken",
            "apiKey",
            "logsEndpoint",
            "balenaRootCA",
        ]
    );
    // The configured API URL is used as is, less its trailing slash.
    assert_eq!(c["apiEndpoint"], "https://api.balena.example.org");
    assert_eq!(c["vpnEndpoint"], "cloudlink.example.org");
    assert_eq!(c["registryEndpoint"], "registry.example.org");
    assert_eq!(c["deltaEndpoint"], "https://deltas.example.org");
    assert_eq!(c["logsEndpoint"], "https://logs.example.org");
    assert_eq!(c["vpnPort"], 3128);
    assert_eq!(c["mixpanelToken"], "mixpanel-token-123");
    // balenaRootCA is the PEM in standard base64 (decoded by coreutils).
    let ca = c["balenaRootCA"].as_str().expect("balenaRootCA");
    let mut decode = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("base64 (coreutils)");
    std::io::Write::write_all(&mut decode.stdin.take().expect("stdin"), ca.as_bytes())
        .expect("write");
    let decoded = decode.wait_with_output().expect("base64 -d");
    assert!(decoded.status.success());
    assert_eq!(String::from_utf8(decoded.stdout).expect("utf-8"), PEM);

    // A configured download carries the same endpoints in its config.json.
    let img = super::util::get(
        &server,
        &format!("/download?deviceType=raspberrypi3&version=latest&appId={kiosk}"),
        Some(&key),
    )
    .await;
    assert_eq!(img.status, 200);
    let inside: Value =
        serde_json::from_slice(&super::util::mtype(&img.body, "config.json")).expect("json");
    for k in [
        "apiEndpoint",
        "vpnEndpoint",
        "registryEndpoint",
        "deltaEndpoint",
        "logsEndpoint",
        "vpnPort",
        "mixpanelToken",
        "balenaRootCA",
    ] {
        assert_eq!(inside[k], c[k], "{k} in the image's config.json");
    }
    server.stop().await;
}
