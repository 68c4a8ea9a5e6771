//! Who sees what: anonymous callers, users of an organisation, the
//! administrator, and refused credentials.

use serde_json::Value;

use crate::common::{Backend, TestServer};

fn slugs(body: &Value) -> Vec<String> {
    body["d"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r["slug"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn run(backend: Backend) {
    let t0 = std::time::Instant::now();
    let server = TestServer::start(backend, true).await;
    eprintln!("[{backend:?}] demo catalog loaded in {:?}", t0.elapsed());
    let admin = server.admin_key.clone().expect("bootstrap admin key");
    let demo = server.demo_key.clone().expect("demo key");
    let on_disk =
        std::fs::read_to_string(server.data.path().join("demo-api-key")).expect("key file");
    assert_eq!(on_disk.trim(), demo);

    let q = "/v7/application?$select=slug&$filter=is_host%20eq%20false&$orderby=slug%20asc";
    // Anonymous: public apps only (supervisors and the public fleet).
    let (status, body) = server.get(q, None).await;
    assert_eq!(status, 200, "{body}");
    let anon = slugs(&body);
    assert!(
        anon.contains(&"balena_os/aarch64-supervisor".to_owned()),
        "{anon:?}"
    );
    assert!(anon.contains(&"demo/public-sensors".to_owned()), "{anon:?}");
    assert!(
        !anon
            .iter()
            .any(|s| s == "demo/fleet-rpi4" || s == "acme/secret-fleet"),
        "{anon:?}"
    );
    // The demo user: plus its organisation's fleets, never acme's.
    let (_, body) = server.get(q, Some(&demo)).await;
    let user = slugs(&body);
    assert!(user.contains(&"demo/fleet-rpi4".to_owned()), "{user:?}");
    assert!(!user.contains(&"acme/secret-fleet".to_owned()), "{user:?}");
    // The administrator: everything.
    let (_, body) = server.get(q, Some(&admin)).await;
    assert!(slugs(&body).contains(&"acme/secret-fleet".to_owned()));

    // Another organisation's private fleet by key: as if it did not exist.
    let (_, body) = server
        .get(
            "/v7/application?$filter=slug%20eq%20%27acme/secret-fleet%27&$select=id",
            Some(&admin),
        )
        .await;
    let id = body["d"][0]["id"].as_i64().expect("acme fleet id");
    let (status, body) = server
        .get(&format!("/v7/application({id})"), Some(&demo))
        .await;
    assert_eq!(
        (status, body.clone()),
        (200, serde_json::json!({"d": []})),
        "{body}"
    );
    let (_, missing) = server.get("/v7/application(999999)", Some(&demo)).await;
    assert_eq!(missing, body, "hidden and missing look the same");
    // ...and its releases and tags are hidden through every path.
    let (_, body) = server
        .get(
            &format!("/v7/release?$filter=belongs_to__application%20eq%20{id}"),
            Some(&demo),
        )
        .await;
    assert_eq!(body["d"], serde_json::json!([]));

    // Private (in development) device types: administrators only.
    let dt = "/v7/device_type?$select=slug&$filter=slug%20eq%20%27imx8mm-lpddr4-evk%27";
    assert_eq!(
        server.get(dt, None).await.1["d"].as_array().map(Vec::len),
        Some(0)
    );
    assert_eq!(
        server.get(dt, Some(&demo)).await.1["d"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(
        server.get(dt, Some(&admin)).await.1["d"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Organisations: own only; none for anonymous callers.
    let (_, body) = server
        .get("/v7/organization?$select=handle", Some(&demo))
        .await;
    assert_eq!(body["d"], serde_json::json!([{"handle": "demo"}]));
    let (_, body) = server.get("/v7/organization?$select=handle", None).await;
    assert_eq!(body["d"], serde_json::json!([]));

    // Credentials: a wrong key is 401, through the header or ?apikey=.
    let (status, body) = server
        .get("/v7/device_type?$select=slug", Some("wrong"))
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body.as_str().is_some_and(|m| m.contains("not valid")),
        "{body}"
    );
    let (status, _) = server
        .get("/v7/device_type?$select=slug&apikey=wrong", None)
        .await;
    assert_eq!(status, 401);
    let (status, body) = server.get(&format!("{q}&apikey={demo}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(slugs(&body), user, "?apikey= works like the header");
    // Expired keys are refused.
    let expired = server
        .catalog
        .create_api_key("demo", Some("expired"), Some(1_000))
        .await
        .expect("key");
    let (status, body) = server
        .get("/v7/device_type?$select=slug", Some(&expired.key))
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body.as_str().is_some_and(|m| m.contains("expired")),
        "{body}"
    );
    // Keys are stored hashed.
    assert!(
        !std::fs::read(server.data.path().join("catalog.sqlite"))
            .map(|bytes| bytes.windows(demo.len()).any(|w| w == demo.as_bytes()))
            .unwrap_or(false)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_rules_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_rules_postgres() {
    run(Backend::Postgres).await;
}
