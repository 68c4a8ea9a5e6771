//! `versions`, `max-version`, `download-size`: human and `--json` output
//! checked against the demo catalog's rows and the SDK.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::*;

/// `(raw_version, status, is_final, is_invalidated)` of a host app's releases.
fn host_releases(slug: &str) -> Vec<(String, String, bool, bool)> {
    let filter = format!("belongs_to__application/any(a:a/slug eq 'balena_os/{slug}')");
    let path = format!(
        "/v7/release?$select={}&$filter={}",
        enc("raw_version,status,is_final,is_invalidated"),
        enc(&filter)
    );
    rows(&path, None)
        .into_iter()
        .map(|r| {
            (
                r["raw_version"].as_str().expect("raw_version").to_owned(),
                r["status"].as_str().expect("status").to_owned(),
                r["is_final"].as_bool().expect("is_final"),
                r["is_invalidated"].as_bool().expect("is_invalidated"),
            )
        })
        .collect()
}

fn raw_versions(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|v| v["raw_version"].as_str().expect("raw_version").to_owned())
        .collect()
}

fn assert_newest_first(versions: &[String]) {
    for pair in versions.windows(2) {
        assert_ne!(
            balena_semver::compare(&pair[0], &pair[1]),
            std::cmp::Ordering::Less,
            "{} listed before {}",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn available_versions_are_the_final_successful_valid_releases() {
    let out = bos(&["versions", "raspberrypi3", "--json"]);
    let list = json_ok(&out);
    let got = raw_versions(&list);
    assert!(got.len() > 10, "{got:?}");
    assert_newest_first(&got);
    let expected: BTreeSet<String> = host_releases("raspberrypi3")
        .into_iter()
        .filter(|(_, status, is_final, invalid)| status == "success" && *is_final && !invalid)
        .map(|r| r.0)
        .collect();
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), expected);
    // Exactly the SDK's result.
    let sdk_list = sdk(|b| async move {
        b.os()
            .get_available_os_versions("raspberrypi3", &Default::default())
            .await
            .expect("SDK call")
    });
    assert_eq!(list, serde_json::to_value(&sdk_list).unwrap());
    for v in list.as_array().unwrap() {
        assert_eq!(v["osType"], "default");
    }
}

#[test]
fn drafts_and_all_releases() {
    let all_rows = host_releases("raspberrypi3");
    let drafts = json_ok(&bos(&[
        "versions",
        "raspberrypi3",
        "--include-draft",
        "--json",
    ]));
    let expected: BTreeSet<String> = all_rows
        .iter()
        .filter(|(_, status, _, invalid)| status == "success" && !invalid)
        .map(|r| r.0.clone())
        .collect();
    assert_eq!(
        raw_versions(&drafts).into_iter().collect::<BTreeSet<_>>(),
        expected
    );
    assert!(
        all_rows.iter().any(|r| !r.2),
        "the demo catalog has a draft for raspberrypi3"
    );

    let all = json_ok(&bos(&["versions", "raspberrypi3", "--all", "--json"]));
    let expected_all: BTreeSet<String> = all_rows.iter().map(|r| r.0.clone()).collect();
    assert_eq!(
        raw_versions(&all).into_iter().collect::<BTreeSet<_>>(),
        expected_all
    );
    let sdk_all = sdk(|b| async move {
        b.os()
            .get_all_os_versions("raspberrypi3", None)
            .await
            .expect("SDK call")
    });
    assert_eq!(all, serde_json::to_value(&sdk_all).unwrap());

    // --all and --include-draft contradict each other.
    let out = bos(&["versions", "raspberrypi3", "--all", "--include-draft"]);
    assert_clean_error(&out, 2, "cannot be used with");
}

#[test]
fn human_table_lists_every_version_with_its_columns() {
    let list = json_ok(&bos(&["versions", "raspberrypi3", "--json"]));
    let out = bos(&["versions", "raspberrypi3"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("header")
        .split("  ")
        .filter(|c| !c.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        header,
        [
            "VERSION",
            "OS TYPE",
            "LINE",
            "VARIANT",
            "PHASE",
            "KNOWN ISSUES"
        ]
    );
    let body: Vec<&str> = lines.collect();
    let items = list.as_array().unwrap();
    assert_eq!(body.len(), items.len());
    for (line, v) in body.iter().zip(items) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[0], v["raw_version"].as_str().unwrap());
        assert_eq!(cols[1], "default");
        assert_eq!(cols[2], v["line"].as_str().unwrap_or("-"), "{line}");
        if let Some(issue) = v["known_issue_list"].as_str() {
            assert!(line.ends_with(issue), "{line}");
        }
    }
    // The demo catalog gives the newest releases the phases next, current, sunset.
    assert!(body[0].contains("next"), "{}", body[0]);
}

#[test]
fn several_device_types_and_os_type_filter() {
    let out = bos(&[
        "versions",
        "intel-nuc",
        "raspberrypi3",
        "--os-type",
        "esr",
        "--json",
    ]);
    let map = json_ok(&out);
    let obj = map.as_object().expect("an object keyed by slug");
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        ["intel-nuc", "raspberrypi3"]
    );
    let esr = obj["intel-nuc"].as_array().unwrap();
    assert!(!esr.is_empty(), "intel-nuc has an ESR host app");
    assert!(esr.iter().all(|v| v["osType"] == "esr"));
    assert!(obj["raspberrypi3"].as_array().unwrap().is_empty());

    // Without the filter, the map is the SDK's.
    let both = json_ok(&bos(&["versions", "intel-nuc", "raspberrypi3", "--json"]));
    let sdk_map = sdk(|b| async move {
        b.os()
            .get_available_os_versions_for(&["intel-nuc", "raspberrypi3"], &Default::default())
            .await
            .expect("SDK call")
    });
    assert_eq!(both, serde_json::to_value(&sdk_map).unwrap());
    let esr_count = both["intel-nuc"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["osType"] == "esr")
        .count();
    assert_eq!(esr_count, esr.len());

    // Human output: one section per device type.
    let out = bos(&["versions", "intel-nuc", "raspberrypi3", "--os-type", "esr"]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(text.starts_with("intel-nuc:\nVERSION"), "{text}");
    assert!(!text.contains("raspberrypi3:"), "{text}");
    assert!(stderr(&out).contains("no balenaOS versions for \"raspberrypi3\""));
}

#[test]
fn pine_options_reach_the_release_query() {
    let out = bos(&[
        "versions",
        "raspberrypi3",
        "--pine",
        r#"{"$select":["is_final","created_at"]}"#,
        "--json",
    ]);
    let list = json_ok(&out);
    let items = list.as_array().unwrap();
    assert!(!items.is_empty());
    for v in items {
        assert_eq!(v["is_final"], true, "{v}");
        assert!(v["created_at"].is_string(), "{v}");
    }
}

#[test]
fn aliases_are_not_resolved_by_versions() {
    // As in the SDK: getAvailableOsVersions matches slugs only.
    let out = bos(&["versions", "nuc", "--json"]);
    assert_eq!(json_ok(&out), Value::Array(vec![]));
    let out = bos(&["versions", "nuc"]);
    assert_eq!(code(&out), 0);
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("aliases are not resolved"));
}

#[test]
fn max_version_latest_exact_range_and_none() {
    let list = json_ok(&bos(&["versions", "raspberrypi4-64", "--json"]));
    let items = list.as_array().unwrap();
    // latest: the first of the list, whatever its OS type.
    let out = bos(&["max-version", "raspberrypi4-64"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        items[0]["raw_version"].as_str().unwrap()
    );
    // latest of the default line, through the alias-resolving path.
    let default_versions: Vec<&str> = items
        .iter()
        .filter(|v| v["osType"] == "default")
        .map(|v| v["raw_version"].as_str().unwrap())
        .collect();
    let out = bos(&[
        "max-version",
        "raspberrypi4-64",
        "latest",
        "--os-type",
        "default",
        "--json",
    ]);
    assert_eq!(json_ok(&out), Value::from(default_versions[0]));
    // A range.
    let expected = balena_semver::max_satisfying(&default_versions, "^6.0.0")
        .map(|s| s.to_string())
        .expect("a 6.x version in the demo catalog");
    let out = bos(&[
        "max-version",
        "raspberrypi4-64",
        "^6.0.0",
        "--os-type",
        "default",
    ]);
    assert_eq!(stdout(&out).trim(), expected);
    // An exact version is returned as given.
    let exact = default_versions[3];
    let out = bos(&["max-version", "raspberrypi4-64", exact, "--json"]);
    assert_eq!(json_ok(&out), Value::from(exact));
    // Nothing matches: null / a message, status 1.
    let out = bos(&["max-version", "raspberrypi4-64", "^99.0.0", "--json"]);
    assert_eq!(code(&out), 1);
    assert_eq!(parse_one_json(&stdout(&out)), Value::Null);
    let out = bos(&["max-version", "raspberrypi4-64", "^99.0.0"]);
    assert_clean_error(
        &out,
        1,
        "no available version of raspberrypi4-64 matches \"^99.0.0\"",
    );
    assert_eq!(stdout(&out), "");
    // An unknown device type is an error (status 2 for this command).
    let out = bos(&["max-version", "no-such-board"]);
    assert_clean_error(&out, 2, "invalid device type");
}

#[test]
fn max_version_resolves_aliases() {
    let by_slug = stdout(&bos(&[
        "max-version",
        "intel-nuc",
        "latest",
        "--os-type",
        "default",
    ]));
    let by_alias = stdout(&bos(&[
        "max-version",
        "nuc",
        "latest",
        "--os-type",
        "default",
    ]));
    assert!(!by_slug.trim().is_empty());
    assert_eq!(by_slug, by_alias);
}

#[test]
fn download_sizes_from_the_server() {
    let latest = sdk(|b| async move {
        b.os()
            .get_max_satisfying_version("raspberrypi3", "latest", None)
            .await
            .expect("SDK call")
            .expect("a version")
    });
    let expected = {
        let v = latest.clone();
        sdk(|b| async move {
            b.os()
                .get_download_size("raspberrypi3", &v)
                .await
                .expect("SDK call")
        })
    };
    assert!(expected > 0);
    let out = bos(&["download-size", "raspberrypi3", &latest, "--json"]);
    assert_eq!(json_ok(&out), Value::from(expected));
    // `latest` is the default and is resolved by the server.
    let out = bos(&["download-size", "raspberrypi3"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with(&format!("{expected} (")),
        "{}",
        stdout(&out)
    );
    // An image the server does not have.
    let out = bos(&["download-size", "raspberrypi3", "2.0.0+rev1"]);
    assert_clean_error(
        &out,
        1,
        "no OS image found for device type raspberrypi3, version 2.0.0+rev1",
    );
    assert_eq!(stdout(&out), "");
}
