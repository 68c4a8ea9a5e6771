//! The official JavaScript SDK (`balena-sdk@23.2.15`, installed from the
//! committed lock file in `tests/js`) against a running server with the
//! demo catalog, checked against what the catalog holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use balena_os_server::catalog::demo::{self, SUPERVISOR_VERSIONS};
use balena_os_server::catalog::{NewApplication, NewRelease};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::common::{Backend, TestServer};

fn js_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js")).to_path_buf()
}

/// Installs the SDK from the lock file once per test run.
fn ensure_npm() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let dir = js_dir();
        if dir.join("node_modules/balena-sdk/package.json").exists() {
            return;
        }
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm is needed for the JavaScript SDK test (apt-get install nodejs npm)");
        assert!(status.success(), "npm ci failed in {}", dir.display());
    });
}

/// Runs `calls` through the JavaScript SDK's general calls script.
pub async fn run_js(url: &str, key: &str, calls: &Value) -> BTreeMap<String, Value> {
    run_js_script("sdk-calls.js", url, key, calls).await
}

/// Runs `calls` (JSON on stdin) through `script` in `tests/js`, which prints
/// a JSON object of results keyed by call name.
pub async fn run_js_script(
    script: &str,
    url: &str,
    key: &str,
    calls: &Value,
) -> BTreeMap<String, Value> {
    ensure_npm();
    let mut child = tokio::process::Command::new("node")
        .arg(script)
        .arg(url)
        .arg(key)
        .current_dir(js_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is needed for the JavaScript SDK test");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(calls.to_string().as_bytes())
        .await
        .expect("write calls");
    drop(stdin);
    let out = child.wait_with_output().await.expect("node output");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON from {script}: {e}"))
}

/// What the SDK makes of a release's raw_version (legacy `0.0.0` releases
/// take their version and variant from tags, and are dropped without a
/// `version` tag).
fn sdk_raw_version(r: &NewRelease) -> Option<String> {
    let raw = r.version.raw_version(r.created_at);
    if !raw.starts_with("0.0.0") {
        return Some(raw);
    }
    let tag = |k: &str| {
        r.tags
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let version = tag("version")?;
    let variant = match tag("variant").as_deref() {
        Some("production") => "prod".to_owned(),
        Some("development") => "dev".to_owned(),
        Some(other) => other.to_owned(),
        None => r.version.variant.clone(),
    };
    Some(if variant.is_empty() {
        version
    } else {
        format!("{version}.{variant}")
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    All,
    Supported,
    IncludeDraft,
}

fn keep(r: &NewRelease, kind: Kind) -> bool {
    match kind {
        Kind::All => true,
        Kind::Supported => r.version.is_final() && !r.is_invalidated && r.status == "success",
        Kind::IncludeDraft => !r.is_invalidated && r.status == "success",
    }
}

/// Host apps of a device type in the demo catalog, with their releases.
fn host_apps(slug: &str) -> Vec<(NewApplication, Vec<NewRelease>)> {
    demo::batch()
        .expect("demo batch")
        .applications
        .into_iter()
        .filter(|(a, _)| a.is_host && a.device_type == slug)
        .collect()
}

/// The raw_versions the SDK should list for a device type, newest first.
fn expected_versions(slug: &str, kind: Kind) -> Vec<String> {
    let mut out: Vec<String> = host_apps(slug)
        .iter()
        .flat_map(|(_, rs)| rs.iter())
        .filter(|r| keep(r, kind))
        .filter_map(sdk_raw_version)
        .collect();
    out.sort_by(|a, b| balena_semver::rcompare(a, b));
    out
}

fn raw_versions(result: &Value) -> Vec<String> {
    result
        .as_array()
        .unwrap_or_else(|| panic!("expected a list, got {result}"))
        .iter()
        .map(|v| v["raw_version"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn assert_newest_first(list: &[String], what: &str) {
    for pair in list.windows(2) {
        assert_ne!(
            balena_semver::compare(&pair[0], &pair[1]),
            std::cmp::Ordering::Less,
            "{what}: {} listed before {}",
            pair[0],
            pair[1]
        );
    }
}

fn result<'a>(out: &'a BTreeMap<String, Value>, name: &str) -> &'a Value {
    let entry = out
        .get(name)
        .unwrap_or_else(|| panic!("no result for {name}"));
    entry
        .get("result")
        .unwrap_or_else(|| panic!("{name} failed: {entry}"))
}

/// The upstream error name of a call that failed.
pub fn error_name<'a>(out: &'a BTreeMap<String, Value>, name: &str) -> &'a str {
    out.get(name)
        .and_then(|e| e["error"]["name"].as_str())
        .unwrap_or_else(|| panic!("{name} should have failed: {:?}", out.get(name)))
}

/// The calls: (name, auth, method, args).
pub fn calls(arch_id: i64, fleet: &Value) -> Value {
    let c = |name: &str, auth: &str, method: &str, args: Value| json!({"name": name, "auth": auth, "method": method, "args": args});
    let avail = expected_versions("raspberrypi3", Kind::Supported);
    json!([
        c(
            "all_rpi4_anon",
            "none",
            "os.getAllOsVersions",
            json!(["raspberrypi4-64"])
        ),
        c(
            "all_rpi4",
            "key",
            "os.getAllOsVersions",
            json!(["raspberrypi4-64"])
        ),
        c(
            "all_multi",
            "key",
            "os.getAllOsVersions",
            json!([[
                "raspberrypi4-64",
                "intel-nuc",
                "raspberrypi3",
                "no-such-device"
            ]])
        ),
        c(
            "all_opts",
            "key",
            "os.getAllOsVersions",
            json!(["raspberrypi3", {"$filter": {"is_invalidated": false}}])
        ),
        c("all_alias", "key", "os.getAllOsVersions", json!(["nuc"])),
        c(
            "avail_rpi3",
            "none",
            "os.getAvailableOsVersions",
            json!(["raspberrypi3"])
        ),
        c(
            "avail_rpi3_draft",
            "none",
            "os.getAvailableOsVersions",
            json!(["raspberrypi3", null, {"includeDraft": true}])
        ),
        c(
            "avail_opts",
            "key",
            "os.getAvailableOsVersions",
            json!(["raspberrypi3", {"$filter": {"phase": "current"}, "$select": ["known_issue_list"]}])
        ),
        c(
            "avail_multi",
            "key",
            "os.getAvailableOsVersions",
            json!([["intel-nuc", "raspberrypi3"]])
        ),
        c(
            "max_latest",
            "none",
            "os.getMaxSatisfyingVersion",
            json!(["raspberrypi3"])
        ),
        c(
            "max_latest_default",
            "key",
            "os.getMaxSatisfyingVersion",
            json!(["intel-nuc", "latest", "default"])
        ),
        c(
            "max_latest_esr",
            "key",
            "os.getMaxSatisfyingVersion",
            json!(["intel-nuc", "latest", "esr"])
        ),
        c(
            "max_exact",
            "key",
            "os.getMaxSatisfyingVersion",
            json!(["raspberrypi3", avail[4]])
        ),
        c(
            "max_range",
            "key",
            "os.getMaxSatisfyingVersion",
            json!(["raspberrypi3", "^6.0.0"])
        ),
        c(
            "max_alias",
            "none",
            "os.getMaxSatisfyingVersion",
            json!(["nuc", "~7.0.0"])
        ),
        c(
            "max_none",
            "key",
            "os.getMaxSatisfyingVersion",
            json!(["raspberrypi3", "^99.0.0"])
        ),
        c(
            "max_unknown",
            "key",
            "os.getMaxSatisfyingVersion",
            json!(["no-such-device", "latest"])
        ),
        c(
            "supported",
            "key",
            "os.getSupportedOsUpdateVersions",
            json!(["raspberrypi3", "6.5.50"])
        ),
        c(
            "supported_esr",
            "key",
            "os.getSupportedOsUpdateVersions",
            json!(["intel-nuc", "2025.1.0", {"osType": "esr"}])
        ),
        c(
            "sup_aarch64",
            "none",
            "os.getSupervisorReleasesForCpuArchitecture",
            json!(["aarch64"])
        ),
        c(
            "sup_id",
            "key",
            "os.getSupervisorReleasesForCpuArchitecture",
            json!([arch_id])
        ),
        c(
            "sup_opts",
            "key",
            "os.getSupervisorReleasesForCpuArchitecture",
            json!(["amd64", {"$select": ["id", "raw_version"], "$top": 1}])
        ),
        c(
            "update_type",
            "none",
            "os.getOsUpdateType",
            json!(["nuc", "6.0.10", "7.9.3+rev3"])
        ),
        c(
            "update_ok",
            "none",
            "os.isSupportedOsUpdate",
            json!(["nuc", "6.0.10", "7.9.3+rev3"])
        ),
        c(
            "update_down",
            "none",
            "os.isSupportedOsUpdate",
            json!(["nuc", "7.9.3+rev3", "6.0.10"])
        ),
        c("dt_alias", "none", "deviceType.get", json!(["nuc"])),
        c(
            "dt_alias_opts",
            "key",
            "deviceType.get",
            json!(["raspberrypi", {"$select": ["slug", "name"], "$expand": {"is_of__cpu_architecture": {"$select": "slug"}}}])
        ),
        c(
            "dt_private_anon",
            "none",
            "deviceType.get",
            json!(["imx8mm-lpddr4-evk"])
        ),
        c(
            "app_slug",
            "key",
            "application.get",
            json!(["demo/fleet-rpi4"])
        ),
        c(
            "app_slug_anon",
            "none",
            "application.get",
            json!(["demo/fleet-rpi4"])
        ),
        c("app_uuid", "key", "application.get", json!([fleet["uuid"]])),
        c("app_id", "key", "application.get", json!([fleet["id"]])),
        c(
            "app_public_anon",
            "none",
            "application.get",
            json!(["balena_os/raspberrypi4-64"])
        ),
        c(
            "app_other_org",
            "key",
            "application.get",
            json!(["acme/secret-fleet"])
        ),
    ])
}

/// A demo server and what the SDK calls need from it: the demo key, the
/// id of the `aarch64` CPU architecture and the demo fleet's `id`/`uuid`.
pub(crate) async fn sdk_fixture(backend: Backend) -> (TestServer, String, i64, Value) {
    let server = TestServer::start(backend, true).await;
    let key = server.demo_key.clone().expect("demo key");
    let (_, arch) = server
        .get(
            "/v7/cpu_architecture?$select=id&$filter=slug%20eq%20'aarch64'",
            None,
        )
        .await;
    let arch_id = arch["d"][0]["id"].as_i64().expect("aarch64 id");
    let (_, fleet) = server
        .get(
            "/v7/application?$select=id,uuid&$filter=slug%20eq%20'demo/fleet-rpi4'",
            Some(&key),
        )
        .await;
    let fleet = fleet["d"][0].clone();
    (server, key, arch_id, fleet)
}

async fn run(backend: Backend) {
    let (server, key, arch_id, fleet) = sdk_fixture(backend).await;
    let out = run_js(&server.url, &key, &calls(arch_id, &fleet)).await;

    // getAllOsVersions: every release of every host app of the device type
    // (the ESR app included), legacy releases rewritten, newest first.
    let all = raw_versions(result(&out, "all_rpi4"));
    assert_eq!(
        sorted(all.clone()),
        sorted(expected_versions("raspberrypi4-64", Kind::All))
    );
    assert_newest_first(&all, "all_rpi4");
    assert_eq!(result(&out, "all_rpi4_anon"), result(&out, "all_rpi4"));
    let multi = result(&out, "all_multi");
    let keys: Vec<&String> = multi.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_eq!(&multi["raspberrypi4-64"], result(&out, "all_rpi4"));
    for dt in ["intel-nuc", "raspberrypi3"] {
        assert_eq!(
            sorted(raw_versions(&multi[dt])),
            sorted(expected_versions(dt, Kind::All)),
            "{dt}"
        );
    }
    let not_invalidated: Vec<String> = host_apps("raspberrypi3")
        .iter()
        .flat_map(|(_, rs)| rs.iter())
        .filter(|r| !r.is_invalidated)
        .filter_map(sdk_raw_version)
        .collect();
    assert_eq!(
        sorted(raw_versions(result(&out, "all_opts"))),
        sorted(not_invalidated)
    );
    // Aliases are not resolved by getAllOsVersions (as upstream).
    assert_eq!(result(&out, "all_alias"), &json!([]));

    // getAvailableOsVersions.
    let avail = raw_versions(result(&out, "avail_rpi3"));
    assert_eq!(avail, expected_versions("raspberrypi3", Kind::Supported));
    let drafts = raw_versions(result(&out, "avail_rpi3_draft"));
    assert_eq!(
        sorted(drafts.clone()),
        sorted(expected_versions("raspberrypi3", Kind::IncludeDraft))
    );
    assert!(
        drafts.len() > avail.len(),
        "the demo has a draft for raspberrypi3"
    );
    let current = result(&out, "avail_opts").as_array().expect("list");
    assert!(!current.is_empty());
    for v in current {
        assert_eq!(v["phase"], "current", "{v}");
        assert_eq!(v["line"], "current", "{v}");
        assert!(v.get("known_issue_list").is_some());
    }
    let avail_multi = result(&out, "avail_multi");
    assert_eq!(raw_versions(&avail_multi["raspberrypi3"]), avail);
    let nuc = avail_multi["intel-nuc"].as_array().expect("intel-nuc list");
    let by_raw = |raw: &str| -> &Value {
        nuc.iter()
            .find(|v| v["raw_version"] == raw)
            .unwrap_or_else(|| panic!("{raw} listed"))
    };
    // ESR lines from the ESR app's tags; meta-balena-base as basedOnVersion.
    assert_eq!(by_raw("2025.7.0")["osType"], "esr");
    assert_eq!(by_raw("2025.7.0")["line"], "next");
    assert_eq!(by_raw("2025.4.1")["line"], "current");
    assert_eq!(by_raw("2025.1.0")["line"], "sunset");
    assert_eq!(by_raw("2024.10.1")["line"], "outdated");
    assert_eq!(by_raw("2024.10.1")["basedOnVersion"], "v6.0.13");
    assert_eq!(by_raw("2021.10.2.prod")["osType"], "esr");
    assert_eq!(by_raw("2021.10.2.prod")["strippedVersion"], "2021.10.2");
    assert_eq!(by_raw("2.0.0.custom")["variant"], "custom");
    assert_eq!(by_raw("7.9.3+rev3")["osType"], "default");
    assert_eq!(by_raw("7.9.3+rev3")["line"], "next");

    // getMaxSatisfyingVersion.
    assert_eq!(result(&out, "max_latest"), &json!(avail[0]));
    let default_nuc: Vec<String> = nuc
        .iter()
        .filter(|v| v["osType"] == "default")
        .map(|v| v["raw_version"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(result(&out, "max_latest_default"), &json!(default_nuc[0]));
    assert_eq!(result(&out, "max_latest_esr"), &json!("2025.7.0"));
    assert_eq!(result(&out, "max_exact"), &json!(avail[4]));
    let range = balena_semver::max_satisfying(&avail, "^6.0.0").cloned();
    assert_eq!(result(&out, "max_range"), &json!(range));
    let nuc_all: Vec<String> = nuc
        .iter()
        .map(|v| v["raw_version"].as_str().unwrap_or_default().to_owned())
        .collect();
    let tilde = balena_semver::max_satisfying(&nuc_all, "~7.0.0").cloned();
    assert!(tilde.is_some());
    assert_eq!(result(&out, "max_alias"), &json!(tilde));
    assert_eq!(result(&out, "max_none"), &Value::Null);
    assert_eq!(error_name(&out, "max_unknown"), "BalenaInvalidDeviceType");

    // getSupportedOsUpdateVersions.
    let sup = result(&out, "supported");
    assert_eq!(sup["current"], "6.5.50");
    let versions: Vec<String> = serde_json::from_value(sup["versions"].clone()).expect("versions");
    assert!(!versions.is_empty());
    for v in &versions {
        assert!(avail.contains(v), "{v} is available");
        assert!(balena_semver::gt(v, "6.5.50"), "{v} is newer");
    }
    assert_eq!(sup["recommended"], json!(versions[0]));
    let esr = result(&out, "supported_esr");
    assert_eq!(esr["current"], "2025.1.0");
    assert_eq!(
        esr["versions"],
        json!(["2025.7.0", "2025.4.1", "2025.4.0", "2025.1.2+rev1"])
    );

    // Supervisor releases: successful final ones, newest first.
    let mut sup_expected: Vec<String> = SUPERVISOR_VERSIONS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    sup_expected.reverse();
    assert_eq!(raw_versions(result(&out, "sup_aarch64")), sup_expected);
    assert_eq!(result(&out, "sup_id"), result(&out, "sup_aarch64"));
    let top = result(&out, "sup_opts").as_array().expect("list");
    assert_eq!(top.len(), 1);
    assert_eq!(top[0]["raw_version"], sup_expected[0]);

    // Update rules through an alias.
    assert_eq!(result(&out, "update_type"), &json!("balenahup"));
    assert_eq!(result(&out, "update_ok"), &json!(true));
    assert_eq!(result(&out, "update_down"), &json!(false));

    // Device types by alias; private ones are invisible to anonymous callers.
    assert_eq!(result(&out, "dt_alias")["slug"], "intel-nuc");
    assert_eq!(result(&out, "dt_alias")["name"], "Intel NUC");
    assert_eq!(
        result(&out, "dt_alias_opts"),
        &json!({"is_of__cpu_architecture": [{"slug": "rpi"}], "slug": "raspberry-pi", "name": "Raspberry Pi (v1 / Zero / Zero W)"})
    );
    assert_eq!(
        error_name(&out, "dt_private_anon"),
        "BalenaInvalidDeviceType"
    );

    // Applications by slug, uuid and id; hidden ones are not found.
    for name in ["app_slug", "app_uuid", "app_id"] {
        assert_eq!(result(&out, name)["slug"], "demo/fleet-rpi4", "{name}");
        assert_eq!(result(&out, name)["id"], fleet["id"], "{name}");
    }
    assert_eq!(
        error_name(&out, "app_slug_anon"),
        "BalenaApplicationNotFound"
    );
    assert_eq!(
        error_name(&out, "app_other_org"),
        "BalenaApplicationNotFound"
    );
    assert_eq!(result(&out, "app_public_anon")["is_host"], true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_js_sdk_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_js_sdk_postgres() {
    run(Backend::Postgres).await;
}
