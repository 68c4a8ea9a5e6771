//! The answer cache: gzip, entity tags, and freshness after writes made
//! by this process or by another one.

use std::io::Read;
use std::time::{Duration, Instant};

use balena_os_server::catalog::NewApplication;
use serde_json::Value;

use crate::common::{Backend, TestServer};

const Q: &str = "/v7/application?$select=slug,uuid,created_at,app_name&$filter=is_host%20eq%20false&$orderby=slug%20asc&$expand=owns__release($select=id)";

fn slugs(body: &Value) -> Vec<&str> {
    body["d"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["slug"].as_str()).collect())
        .unwrap_or_default()
}

fn fleet(name: &str) -> NewApplication {
    NewApplication {
        organization: "demo".into(),
        app_name: name.into(),
        device_type: "raspberrypi4-64".into(),
        is_host: false,
        is_public: true,
        tags: Vec::new(),
        uuid: None,
        created_at: None,
    }
}

async fn run(backend: Backend) {
    let server = TestServer::start(backend, true).await;
    let (_, first) = server.get(Q, None).await;
    assert!(!slugs(&first).contains(&"demo/added-here"));

    // gzip and entity tags.
    let resp = server
        .client
        .get(format!("{}{Q}", server.url))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    assert_eq!(resp.headers()["vary"], "Accept-Encoding");
    let etag = resp.headers()["etag"].to_str().expect("etag").to_owned();
    let gz = resp.bytes().await.expect("body");
    let mut json = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut json)
        .expect("gunzip");
    assert_eq!(serde_json::from_str::<Value>(&json).expect("json"), first);
    let resp = server
        .client
        .get(format!("{}{Q}", server.url))
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 304);
    let small = server
        .client
        .get(format!(
            "{}/v7/cpu_architecture?$select=slug&$top=1",
            server.url
        ))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("get");
    assert!(
        small.headers().get("content-encoding").is_none(),
        "small answers stay plain"
    );

    // CORS for browsers: the origin is mirrored, preflights are answered.
    let resp = server
        .client
        .get(format!("{}{Q}", server.url))
        .header("Origin", "https://dashboard.example")
        .send()
        .await
        .expect("get");
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://dashboard.example"
    );
    assert_eq!(resp.headers()["access-control-allow-credentials"], "true");
    let preflight = server
        .client
        .request(reqwest::Method::OPTIONS, format!("{}{Q}", server.url))
        .header("Origin", "https://dashboard.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .expect("options");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        "authorization"
    );

    // A write through this process is visible at once.
    server
        .catalog
        .create_application(&fleet("added-here"))
        .await
        .expect("fleet");
    let (_, body) = server.get(Q, None).await;
    assert!(slugs(&body).contains(&"demo/added-here"), "{body}");

    // A write from another process is visible within the poll interval.
    let other = server.other_process_catalog().await;
    other
        .create_application(&fleet("added-elsewhere"))
        .await
        .expect("fleet");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, body) = server.get(Q, None).await;
        if slugs(&body).contains(&"demo/added-elsewhere") {
            break;
        }
        assert!(Instant::now() < deadline, "stale after 5 s: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    other.db().close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_freshness_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_freshness_postgres() {
    run(Backend::Postgres).await;
}
