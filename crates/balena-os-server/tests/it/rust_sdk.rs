//! The project's Rust SDK against a running server: the same calls as the
//! JavaScript SDK test, which must give the same JSON.

use std::collections::BTreeMap;

use balena_sdk::{
    AvailableOsVersionsOptions, Balena, IdOrSlug, OsType, PineOptions,
    SupportedOsUpdateVersionsOptions,
};
use serde_json::{Value, json};

use crate::common::Backend;
use crate::js_sdk::{calls, error_name, run_js, sdk_fixture};

fn js<'a>(out: &'a BTreeMap<String, Value>, name: &str) -> &'a Value {
    out.get(name)
        .and_then(|e| e.get("result"))
        .unwrap_or_else(|| panic!("JavaScript {name}: {:?}", out.get(name)))
}

fn same(name: &str, rust: Value, out: &BTreeMap<String, Value>) {
    assert_eq!(
        &rust,
        js(out, name),
        "{name}: Rust SDK and JavaScript SDK differ"
    );
}

/// The Rust call failed with the error the JavaScript SDK gave (by its
/// upstream name), which is `expected`.
fn same_error<T: std::fmt::Debug>(
    name: &str,
    rust: balena_sdk::Result<T>,
    expected: &str,
    out: &BTreeMap<String, Value>,
) {
    assert_eq!(error_name(out, name), expected, "{name}: JavaScript SDK");
    match rust {
        Ok(v) => panic!("{name}: the Rust SDK answered {v:?}"),
        Err(e) => assert_eq!(e.upstream_name(), expected, "{name}: Rust SDK: {e}"),
    }
}

/// Argument `i` of the JavaScript call `name` (so both SDKs get the same).
fn arg(calls: &Value, name: &str, i: usize) -> Value {
    calls
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .map(|c| c["args"][i].clone())
        .unwrap_or_else(|| panic!("no call {name}"))
}

/// The pine options (argument `i`) of the JavaScript call `name`.
fn pine(calls: &Value, name: &str, i: usize) -> PineOptions {
    PineOptions::from_json(arg(calls, name, i)).expect("pine options")
}

fn to_json<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).expect("serialisable")
}

async fn run(backend: Backend) {
    let (server, key, arch_id, fleet) = sdk_fixture(backend).await;
    let calls = calls(arch_id, &fleet);
    let out = run_js(&server.url, &key, &calls).await;

    let anon = Balena::builder()
        .api_url(&server.url)
        .build()
        .expect("client");
    let user = Balena::builder()
        .api_url(&server.url)
        .api_key(&key)
        .build()
        .expect("client");

    same(
        "all_rpi4",
        to_json(
            user.os()
                .get_all_os_versions("raspberrypi4-64", None)
                .await
                .expect("all"),
        ),
        &out,
    );
    same(
        "all_rpi4_anon",
        to_json(
            anon.os()
                .get_all_os_versions("raspberrypi4-64", None)
                .await
                .expect("all"),
        ),
        &out,
    );
    let multi = user
        .os()
        .get_all_os_versions_for(
            &[
                "raspberrypi4-64",
                "intel-nuc",
                "raspberrypi3",
                "no-such-device",
            ],
            None,
        )
        .await
        .expect("all multi");
    same("all_multi", to_json(multi), &out);
    same(
        "all_opts",
        to_json(
            user.os()
                .get_all_os_versions("raspberrypi3", Some(&pine(&calls, "all_opts", 1)))
                .await
                .expect("all with options"),
        ),
        &out,
    );
    same(
        "all_alias",
        to_json(
            user.os()
                .get_all_os_versions("nuc", None)
                .await
                .expect("all by alias"),
        ),
        &out,
    );
    same(
        "avail_rpi3",
        to_json(
            anon.os()
                .get_available_os_versions("raspberrypi3", &AvailableOsVersionsOptions::new())
                .await
                .expect("available"),
        ),
        &out,
    );
    same(
        "avail_rpi3_draft",
        to_json(
            anon.os()
                .get_available_os_versions(
                    "raspberrypi3",
                    &AvailableOsVersionsOptions::new().include_draft(true),
                )
                .await
                .expect("available"),
        ),
        &out,
    );
    same(
        "avail_opts",
        to_json(
            user.os()
                .get_available_os_versions(
                    "raspberrypi3",
                    &AvailableOsVersionsOptions::new().pine(pine(&calls, "avail_opts", 1)),
                )
                .await
                .expect("available with options"),
        ),
        &out,
    );
    same(
        "avail_multi",
        to_json(
            user.os()
                .get_available_os_versions_for(
                    &["intel-nuc", "raspberrypi3"],
                    &AvailableOsVersionsOptions::new(),
                )
                .await
                .expect("available"),
        ),
        &out,
    );
    let os = user.os();
    same(
        "max_latest",
        to_json(
            anon.os()
                .get_max_satisfying_version("raspberrypi3", "latest", None)
                .await
                .expect("max"),
        ),
        &out,
    );
    same(
        "max_latest_default",
        to_json(
            os.get_max_satisfying_version("intel-nuc", "latest", Some(&OsType::Default))
                .await
                .expect("max"),
        ),
        &out,
    );
    same(
        "max_latest_esr",
        to_json(
            os.get_max_satisfying_version("intel-nuc", "latest", Some(&OsType::Esr))
                .await
                .expect("max"),
        ),
        &out,
    );
    let exact = arg(&calls, "max_exact", 1);
    same(
        "max_exact",
        to_json(
            os.get_max_satisfying_version("raspberrypi3", exact.as_str().expect("a version"), None)
                .await
                .expect("max"),
        ),
        &out,
    );
    same(
        "max_range",
        to_json(
            os.get_max_satisfying_version("raspberrypi3", "^6.0.0", None)
                .await
                .expect("max"),
        ),
        &out,
    );
    same(
        "max_alias",
        to_json(
            anon.os()
                .get_max_satisfying_version("nuc", "~7.0.0", None)
                .await
                .expect("max"),
        ),
        &out,
    );
    same(
        "max_none",
        to_json(
            os.get_max_satisfying_version("raspberrypi3", "^99.0.0", None)
                .await
                .expect("max"),
        ),
        &out,
    );
    same_error(
        "max_unknown",
        os.get_max_satisfying_version("no-such-device", "latest", None)
            .await,
        "BalenaInvalidDeviceType",
        &out,
    );
    same(
        "supported",
        to_json(
            os.get_supported_os_update_versions(
                "raspberrypi3",
                "6.5.50",
                &SupportedOsUpdateVersionsOptions::new(),
            )
            .await
            .expect("supported"),
        ),
        &out,
    );
    same(
        "supported_esr",
        to_json(
            os.get_supported_os_update_versions(
                "intel-nuc",
                "2025.1.0",
                &SupportedOsUpdateVersionsOptions::new().os_type(OsType::Esr),
            )
            .await
            .expect("supported"),
        ),
        &out,
    );
    same(
        "sup_aarch64",
        to_json(
            anon.os()
                .get_supervisor_releases_for_cpu_architecture("aarch64".into(), None)
                .await
                .expect("supervisor"),
        ),
        &out,
    );
    let id = u64::try_from(arch_id).expect("id");
    same(
        "sup_id",
        to_json(
            os.get_supervisor_releases_for_cpu_architecture(IdOrSlug::Id(id), None)
                .await
                .expect("supervisor"),
        ),
        &out,
    );
    same(
        "sup_opts",
        to_json(
            os.get_supervisor_releases_for_cpu_architecture(
                "amd64".into(),
                Some(&pine(&calls, "sup_opts", 1)),
            )
            .await
            .expect("supervisor with options"),
        ),
        &out,
    );
    same(
        "update_type",
        json!(
            anon.os()
                .get_os_update_type("nuc", "6.0.10", "7.9.3+rev3")
                .await
                .expect("type")
                .as_str()
        ),
        &out,
    );
    same(
        "update_ok",
        json!(
            anon.os()
                .is_supported_os_update("nuc", "6.0.10", "7.9.3+rev3")
                .await
                .expect("ok")
        ),
        &out,
    );
    same(
        "update_down",
        json!(
            anon.os()
                .is_supported_os_update("nuc", "7.9.3+rev3", "6.0.10")
                .await
                .expect("ok")
        ),
        &out,
    );
    same(
        "dt_alias",
        anon.device_types()
            .get("nuc".into(), None)
            .await
            .expect("device type"),
        &out,
    );
    same(
        "dt_alias_opts",
        user.device_types()
            .get(
                "raspberrypi".into(),
                Some(&pine(&calls, "dt_alias_opts", 1)),
            )
            .await
            .expect("device type with options"),
        &out,
    );
    same_error(
        "dt_private_anon",
        anon.device_types()
            .get("imx8mm-lpddr4-evk".into(), None)
            .await,
        "BalenaInvalidDeviceType",
        &out,
    );
    same(
        "app_slug",
        user.applications()
            .get("demo/fleet-rpi4".into(), None)
            .await
            .expect("app"),
        &out,
    );
    let uuid = fleet["uuid"].as_str().expect("uuid");
    same(
        "app_uuid",
        user.applications()
            .get(uuid.into(), None)
            .await
            .expect("app"),
        &out,
    );
    let fleet_id = fleet["id"].as_u64().expect("id");
    same(
        "app_id",
        user.applications()
            .get(IdOrSlug::Id(fleet_id), None)
            .await
            .expect("app"),
        &out,
    );
    same(
        "app_public_anon",
        anon.applications()
            .get("balena_os/raspberrypi4-64".into(), None)
            .await
            .expect("app"),
        &out,
    );
    same_error(
        "app_slug_anon",
        anon.applications()
            .get("demo/fleet-rpi4".into(), None)
            .await,
        "BalenaApplicationNotFound",
        &out,
    );
    same_error(
        "app_other_org",
        user.applications()
            .get("acme/secret-fleet".into(), None)
            .await,
        "BalenaApplicationNotFound",
        &out,
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sdk_matches_js_sdk_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sdk_matches_js_sdk_postgres() {
    run(Backend::Postgres).await;
}
