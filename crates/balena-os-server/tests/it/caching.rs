//! The answer cache: gzip, entity tags, and freshness after writes made
//! by this process or by another one.

use std::io::Read;
use std::time::{Duration, Instant};

use balena_os_server::cache::{POLL_INTERVAL, Visibility};
use balena_os_server::catalog::{Catalog, NewApplication};
use balena_os_server::db::CellType;
use serde_json::{Value, json};

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
    keys_are_not_catalog_changes(&server, &other).await;
    other.db().close().await;
    server.stop().await;
}

async fn provisioning_keys(server: &TestServer) -> i64 {
    let q = sea_query::Query::select()
        .expr(sea_query::Expr::cust("COUNT(*)"))
        .from("provisioning_key")
        .to_owned();
    let rows = server
        .catalog
        .db()
        .fetch(&q, &[CellType::Int])
        .await
        .expect("count");
    rows[0][0].as_int().expect("count")
}

/// Config downloads store provisioning keys, and API keys come and go:
/// none of it is catalog data, so cached answers survive it, while a
/// revoked key is refused at once (this process) or within the poll
/// interval (another process).
async fn keys_are_not_catalog_changes(server: &TestServer, other: &Catalog) {
    let demo_key = server.demo_key.clone().expect("demo key");
    let (status, fleets) = server
        .get(
            "/v7/application?$select=id&$filter=slug%20eq%20%27demo%2Fkiosk-rpi3%27",
            Some(&demo_key),
        )
        .await;
    assert_eq!(status, 200);
    let kiosk = fleets["d"][0]["id"].as_i64().expect("kiosk fleet id");
    // Let the poller see the last write from the other process, then cache Q.
    tokio::time::sleep(2 * POLL_INTERVAL).await;
    let (_, cached) = server.get(Q, None).await;
    assert!(
        server.cache.get(Q, &Visibility::Anonymous).is_some(),
        "Q is cached"
    );
    let db = server.catalog.db();
    let commits = db.local_commits();
    let generation = db.catalog_generation().await.expect("generation");
    let keys = provisioning_keys(server).await;

    // POST and GET /download-config each store a new provisioning key.
    let post = server
        .client
        .post(format!("{}/download-config", server.url))
        .bearer_auth(&demo_key)
        .json(&json!({"appId": kiosk, "version": "6.0.13", "network": "ethernet"}))
        .send()
        .await
        .expect("post");
    assert_eq!(post.status().as_u16(), 200);
    let config: Value = post.json().await.expect("config.json");
    assert!(config["apiKey"].as_str().is_some_and(|k| k.len() == 32));
    let get = server
        .client
        .get(format!(
            "{}/download-config?appId={kiosk}&version=6.0.13&network=ethernet",
            server.url
        ))
        .bearer_auth(&demo_key)
        .send()
        .await
        .expect("get");
    assert_eq!(get.status().as_u16(), 200);
    assert_eq!(provisioning_keys(server).await, keys + 2, "two keys stored");
    assert_eq!(db.local_commits(), commits, "no catalog commit counted");
    assert_eq!(
        db.catalog_generation().await.expect("generation"),
        generation,
        "no trigger moved the catalog generation"
    );
    assert!(
        server.cache.get(Q, &Visibility::Anonymous).is_some(),
        "the cached answer survived the config downloads"
    );
    // Also after the poller looked at the database again.
    tokio::time::sleep(2 * POLL_INTERVAL).await;
    assert!(
        server.cache.get(Q, &Visibility::Anonymous).is_some(),
        "the cached answer survived the next polls"
    );
    assert_eq!(server.get(Q, None).await.1, cached);

    // A new API key, used (and so cached by the authenticator), then revoked
    // in this process: refused on the very next request.
    let made = server
        .catalog
        .create_api_key("demo", Some("short-lived"), None)
        .await
        .expect("key");
    assert_eq!(server.get(Q, Some(&made.key)).await.0, 200);
    assert_eq!(server.get(Q, Some(&made.key)).await.0, 200);
    server
        .catalog
        .revoke_api_key(made.id)
        .await
        .expect("revoke");
    assert_eq!(server.get(Q, Some(&made.key)).await.0, 401);
    assert_eq!(db.local_commits(), commits, "keys are not catalog changes");
    assert!(server.cache.get(Q, &Visibility::Anonymous).is_some());

    // Revoked by another process: refused within the poll interval.
    let made = other
        .create_api_key("demo", Some("revoked elsewhere"), None)
        .await
        .expect("key");
    assert_eq!(server.get(Q, Some(&made.key)).await.0, 200);
    other.revoke_api_key(made.id).await.expect("revoke");
    let revoked_at = Instant::now();
    loop {
        let status = server.get(Q, Some(&made.key)).await.0;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked_at.elapsed() < 3 * POLL_INTERVAL,
            "a key revoked elsewhere still works after {:?}",
            revoked_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        db.catalog_generation().await.expect("generation"),
        generation,
        "keys do not move the catalog generation"
    );
    assert!(server.cache.get(Q, &Visibility::Anonymous).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_freshness_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_freshness_postgres() {
    run(Backend::Postgres).await;
}
