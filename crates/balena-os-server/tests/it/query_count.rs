//! `$expand` without N+1 queries: the number of SQL statements a pine
//! query runs is one for the top-level rows plus one per `$expand` (at any
//! depth), the same for a catalog with one device type as for one with
//! many device types and hundreds of releases. Counted by the server's
//! [`QueryStats`](balena_os_server::query::QueryStats), with the answer
//! cache off so that every request really executes.

use balena_os_server::catalog::demo;
use serde_json::Value;

use crate::common::{Backend, TestServer, shared_json};

/// The URL the JavaScript SDK sends for `os.getAllOsVersions('raspberrypi4-64')`
/// (recorded against open-balena-api).
fn sdk_host_app_query() -> String {
    let captures = shared_json("conformance/open-balena-api-responses.json");
    let request = captures["captures"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|x| x["name"] == "sdk os.getAllOsVersions(raspberrypi4-64) [anonymous]")
        })
        .map(|x| &x["request"])
        .expect("the recorded getAllOsVersions request");
    let path = request["path"].as_str().expect("path");
    let query = request["raw_query"].as_str().expect("raw_query");
    assert!(
        query.contains("(%27raspberrypi4-64%27)"),
        "the recorded query filters on one slug: {query}"
    );
    format!("{path}?{query}")
}

/// The SDK's query for `slugs` instead of the recorded single slug (as the
/// SDK writes it for several device types, see the recorded
/// `getAllOsVersions([raspberrypi4-64,raspberrypi3,intel-nuc])`).
fn for_slugs(sdk_query: &str, slugs: &[String]) -> String {
    let list: Vec<String> = slugs.iter().map(|s| format!("%27{s}%27")).collect();
    sdk_query.replace("(%27raspberrypi4-64%27)", &format!("({})", list.join(",")))
}

/// A release query with a nested `any` lambda in `$filter` and a two-level
/// `$expand`: 1 + 3 statements.
fn lambda_query(slugs: &[String]) -> String {
    let list: Vec<String> = slugs.iter().map(|s| format!("%27{s}%27")).collect();
    format!(
        "/v7/release?$select=id,raw_version\
         &$filter=belongs_to__application/any(a:a/is_host%20eq%20true%20and%20\
         a/is_for__device_type/any(dt:dt/slug%20in%20({})))\
         &$expand=belongs_to__application($select=slug;$expand=is_for__device_type($select=slug)),\
         release_tag($select=tag_key,value)",
        list.join(",")
    )
}

/// GETs `pq` anonymously; returns the answer and the SQL statements it ran.
async fn measured(server: &TestServer, pq: &str) -> (Value, u64) {
    let (queries, statements) = (server.stats.queries(), server.stats.statements());
    let (status, body) = server.get(pq, None).await;
    assert_eq!(status, 200, "{pq}: {body}");
    assert_eq!(
        server.stats.queries() - queries,
        1,
        "{pq}: exactly one executed query (the answer cache is off)"
    );
    (body, server.stats.statements() - statements)
}

fn rows(body: &Value) -> &[Value] {
    body["d"].as_array().map_or(&[], Vec::as_slice)
}

/// Releases (and how many of them carry tags) in a host-app answer.
fn release_counts(body: &Value) -> (usize, usize) {
    let releases: Vec<&Value> = rows(body)
        .iter()
        .flat_map(|app| rows_of(&app["owns__release"]))
        .collect();
    let tagged = releases
        .iter()
        .filter(|r| !rows_of(&r["release_tag"]).is_empty())
        .count();
    (releases.len(), tagged)
}

fn rows_of(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// The number of host apps the caller sees and the device type slugs they
/// are for (one statement plus one for the expansion, checked too).
async fn host_slugs(server: &TestServer) -> (usize, Vec<String>) {
    let (body, statements) = measured(
        server,
        "/v7/application?$select=id&$filter=is_host%20eq%20true\
         &$expand=is_for__device_type($select=slug)",
    )
    .await;
    assert_eq!(statements, 2);
    let mut slugs: Vec<String> = rows(&body)
        .iter()
        .flat_map(|a| rows_of(&a["is_for__device_type"]))
        .filter_map(|d| d["slug"].as_str().map(str::to_owned))
        .collect();
    slugs.sort();
    slugs.dedup();
    (rows(&body).len(), slugs)
}

/// What one catalog measured: statements of the SDK query for one and for
/// every device type, of the lambda query, of a `$count` expansion, and the
/// sizes answered.
#[derive(Debug)]
struct Measured {
    one: u64,
    all: u64,
    lambda: u64,
    count: u64,
    empty: u64,
    device_types: usize,
    apps: usize,
    releases: usize,
}

async fn measure(server: &TestServer) -> Measured {
    let sdk = sdk_host_app_query();
    let (host_apps, slugs) = host_slugs(server).await;
    assert!(!slugs.is_empty());

    let (body, one) = measured(server, &for_slugs(&sdk, &slugs[..1])).await;
    assert!(!rows(&body).is_empty(), "a host app for {}", slugs[0]);
    assert!(release_counts(&body).0 > 0, "with releases");

    let (body, all) = measured(server, &for_slugs(&sdk, &slugs)).await;
    let apps = rows(&body).len();
    assert!(apps >= slugs.len(), "a host app per device type");
    let (releases, tagged) = release_counts(&body);
    assert!(
        tagged > 0,
        "some releases carry tags, so release_tag is read"
    );

    let (body, lambda) = measured(server, &lambda_query(&slugs)).await;
    assert_eq!(
        rows(&body).len(),
        releases,
        "the lambda query finds the same releases"
    );
    assert!(rows(&body).iter().all(|r| {
        rows_of(&r["belongs_to__application"])
            .first()
            .is_some_and(|a| rows_of(&a["is_for__device_type"]).len() == 1)
    }));

    let (body, count) = measured(
        server,
        "/v7/application?$select=slug&$filter=is_host%20eq%20true\
         &$expand=owns__release/$count($filter=is_final%20eq%20true)",
    )
    .await;
    assert_eq!(rows(&body).len(), host_apps);

    // An expansion of nothing runs nothing.
    let (body, empty) = measured(server, &for_slugs(&sdk, &["no-such-device".into()])).await;
    assert!(rows(&body).is_empty());

    Measured {
        one,
        all,
        lambda,
        count,
        empty,
        device_types: slugs.len(),
        apps,
        releases,
    }
}

/// Measures a server with the synthetic catalog of `device_types` host
/// apps with `releases` releases each.
async fn synthetic(backend: Backend, device_types: usize, releases: usize) -> Measured {
    let server = TestServer::launch(
        backend,
        false,
        |b| b.cache_bytes(0),
        |catalog| async move {
            let batch = demo::synthetic(device_types, releases).expect("synthetic catalog");
            catalog.write_batch(&batch).await.expect("write catalog");
        },
    )
    .await;
    let m = measure(&server).await;
    server.stop().await;
    assert_eq!(m.device_types, device_types);
    assert_eq!(m.apps, device_types);
    assert_eq!(m.releases, device_types * releases);
    m
}

async fn run(backend: Backend) {
    let tiny = synthetic(backend, 1, 10).await;
    let big = synthetic(backend, 12, 40).await;
    let server = TestServer::launch(backend, true, |b| b.cache_bytes(0), |_| async {}).await;
    let demo = measure(&server).await;
    server.stop().await;
    eprintln!(
        "{backend:?}:\n  synthetic 1x10 {tiny:?}\n  synthetic 12x40 {big:?}\n  demo {demo:?}"
    );
    assert!(tiny.releases < big.releases && tiny.apps < demo.apps);

    for m in [&tiny, &big, &demo] {
        // application + application_tag, is_for__device_type, owns__release
        // and owns__release/release_tag.
        assert_eq!(m.one, 5, "{m:?}");
        assert_eq!(m.all, 5, "{m:?}");
        // release + belongs_to__application, its is_for__device_type, and
        // release_tag; the lambdas are inside the first statement.
        assert_eq!(m.lambda, 4, "{m:?}");
        // application + one grouped count.
        assert_eq!(m.count, 2, "{m:?}");
        // No application: no expansion is queried.
        assert_eq!(m.empty, 1, "{m:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expand_statements_are_constant_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expand_statements_are_constant_postgres() {
    run(Backend::Postgres).await;
}
