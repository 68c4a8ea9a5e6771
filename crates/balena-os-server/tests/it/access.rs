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

/// `balena-os admin` commands run before the first `serve`: an
/// administrator is still made as long as no superuser exists, and
/// `--demo` loads the demo catalog unless host apps exist, in which case it
/// says why not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_after_admin_commands() {
    use balena_os_server::catalog::{Batch, NewApplication, NewDeviceType};

    // Only an organisation and an ordinary user (called `admin`, even):
    // the administrator gets another name, and the demo is loaded.
    let server = TestServer::start_with(Backend::Sqlite, true, |catalog| async move {
        catalog.create_organization("ops", None).await.expect("org");
        catalog
            .create_user("admin", None, &["ops"], false)
            .await
            .expect("user");
    })
    .await;
    let admin = server.admin_key.clone().expect("an administrator was made");
    let on_disk =
        std::fs::read_to_string(server.data.path().join("admin-api-key")).expect("key file");
    assert_eq!(on_disk.trim(), admin);
    assert!(server.demo_key.is_some(), "the demo catalog was loaded");
    assert_eq!(server.demo_skipped, None);
    let private = "/v7/device_type?$select=slug&$filter=is_private%20eq%20true";
    let (status, body) = server.get(private, Some(&admin)).await;
    assert_eq!(status, 200);
    assert!(
        !slugs(&body).is_empty(),
        "the new key is a superuser's: it sees private device types"
    );
    let keys = server.catalog.list_api_keys(None).await.expect("keys");
    assert!(
        keys.iter().any(|k| k.username == "bootstrap-admin"
            && k.name.as_deref() == Some("bootstrap administrator key")),
        "{keys:?}"
    );
    // A restart makes no second administrator and says nothing.
    let again = balena_os_server::Server::builder()
        .data_dir(server.data.path())
        .demo(true)
        .build()
        .await
        .expect("restart");
    assert_eq!(again.bootstrap(), None, "a restart bootstraps nothing");
    again.catalog().db().close().await;
    server.stop().await;

    // A host app imported first: an administrator, but no demo, and why.
    let server = TestServer::start_with(Backend::Sqlite, true, |catalog| async move {
        let batch = Batch {
            organizations: vec![("balena_os".into(), "balenaOS".into())],
            device_types: vec![NewDeviceType {
                slug: "raspberrypi3".into(),
                name: "Raspberry Pi 3".into(),
                arch: "armv7hf".into(),
                aliases: Vec::new(),
                contract: serde_json::json!({"slug": "raspberrypi3"}),
                logo: None,
                is_private: false,
            }],
            applications: vec![(
                NewApplication {
                    organization: "balena_os".into(),
                    app_name: "raspberrypi3".into(),
                    device_type: "raspberrypi3".into(),
                    is_host: true,
                    is_public: true,
                    tags: Vec::new(),
                    uuid: None,
                    created_at: None,
                },
                Vec::new(),
            )],
        };
        catalog.write_batch(&batch).await.expect("host app");
    })
    .await;
    assert!(server.admin_key.is_some(), "an administrator was made");
    assert_eq!(server.demo_key, None);
    let why = server.demo_skipped.clone().expect("a reason");
    assert!(why.contains("1 host app"), "{why}");
    let (_, body) = server
        .get(
            "/v7/application?$select=slug&$filter=is_host%20eq%20true",
            None,
        )
        .await;
    assert_eq!(slugs(&body), ["balena_os/raspberrypi3"], "no demo apps");
    server.stop().await;
}

/// Every response carries an `X-Request-Id`: a new UUID, or the caller's
/// own id when it sent one (successes and errors, catalog and images).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids() {
    let server = TestServer::start(Backend::Sqlite, false).await;
    let id_of = |resp: &reqwest::Response| {
        resp.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut seen = Vec::new();
    for (path, key, status) in [
        ("/ping", None, 200),
        ("/v7/cpu_architecture?$select=slug", None, 200),
        ("/v7/nothing", None, 404),
        ("/v7/cpu_architecture", Some("not-a-key"), 401),
        ("/download?deviceType=nope&version=latest", None, 404),
        ("/device-types/v1", None, 200),
    ] {
        let mut req = server.client.get(format!("{}{path}", server.url));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status().as_u16(), status, "{path}");
        let id = id_of(&resp).unwrap_or_else(|| panic!("{path}: no X-Request-Id"));
        let hex: String = id.chars().filter(|c| *c != '-').collect();
        assert!(
            id.len() == 36 && hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()),
            "{path}: a UUID, got {id}"
        );
        assert!(!seen.contains(&id), "{path}: ids are unique");
        seen.push(id);
        // The caller's own id is kept.
        let resp = server
            .client
            .get(format!("{}{path}", server.url))
            .header("x-request-id", "trace-4711")
            .send()
            .await
            .expect("request");
        assert_eq!(id_of(&resp).as_deref(), Some("trace-4711"), "{path}");
    }
    server.stop().await;
}
