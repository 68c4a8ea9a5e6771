//! `update-type`, `can-update`, `update-targets`, `supervisor-releases`,
//! `arch-compatible`.

use serde_json::Value;

use crate::common::*;

#[test]
fn update_type_balenahup_takeover_and_refusals() {
    let out = bos(&[
        "update-type",
        "raspberrypi3",
        "2.80.3+rev1.prod",
        "2.88.4+rev1.prod",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "balenahup\n");
    // jetson-xavier has a minimum takeover version of 6.0.50.
    let out = bos(&[
        "update-type",
        "jetson-xavier",
        "5.0.0+rev1",
        "6.0.50+rev1",
        "--json",
    ]);
    assert_eq!(json_ok(&out), Value::from("takeover"));
    // Through an alias.
    let out = bos(&[
        "update-type",
        "nuc",
        "2.80.3+rev1.prod",
        "2.88.4+rev1.prod",
        "--json",
    ]);
    assert_eq!(json_ok(&out), Value::from("balenahup"));
    // Refused: the rule is named once, status 1.
    let out = bos(&[
        "update-type",
        "raspberrypi3",
        "2.88.4+rev1.prod",
        "2.80.3+rev1.prod",
    ]);
    assert_clean_error(&out, 1, "OS downgrades are not allowed");
    assert_eq!(
        stderr(&out)
            .matches("OS downgrades are not allowed")
            .count(),
        1
    );
    let out = bos(&[
        "update-type",
        "raspberrypi3",
        "2.80.3+rev1.dev",
        "2.88.4+rev1.prod",
    ]);
    assert_clean_error(&out, 1, "between development and production");
}

#[test]
fn can_update_exit_statuses() {
    let out = bos(&[
        "can-update",
        "raspberrypi3",
        "2.80.3+rev1.prod",
        "2.88.4+rev1.prod",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "yes: raspberrypi3 can update from 2.80.3+rev1.prod to 2.88.4+rev1.prod (balenahup)\n"
    );
    let out = bos(&[
        "can-update",
        "raspberrypi3",
        "2.80.3+rev1.prod",
        "2.88.4+rev1.prod",
        "--json",
    ]);
    assert_eq!(json_ok(&out), Value::Bool(true));

    // Not supported: status 1, the reason on stdout, nothing on stderr.
    let out = bos(&[
        "can-update",
        "raspberrypi3",
        "2.88.4+rev1.prod",
        "2.80.3+rev1.prod",
    ]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stdout(&out),
        "no: raspberrypi3 cannot update from 2.88.4+rev1.prod to 2.80.3+rev1.prod: OS downgrades are not allowed\n"
    );
    assert_eq!(stderr(&out), "");
    let out = bos(&[
        "can-update",
        "raspberrypi3",
        "2.88.4+rev1.prod",
        "2.88.4+rev1.prod",
        "--json",
    ]);
    assert_eq!(code(&out), 1);
    assert_eq!(parse_one_json(&stdout(&out)), Value::Bool(false));
    // Garbage versions are a "no" too (the SDK answers false).
    let out = bos(&[
        "can-update",
        "raspberrypi3",
        "not-a-version",
        "2.88.4+rev1.prod",
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("Invalid current balenaOS version"),
        "{}",
        stdout(&out)
    );

    // An error is status 2, distinct from "no".
    let out = bos(&[
        "can-update",
        "no-such-board",
        "2.80.3+rev1.prod",
        "2.88.4+rev1.prod",
    ]);
    assert_clean_error(&out, 2, "invalid device type");
    assert_eq!(stdout(&out), "");
    let dead = Silent::new();
    let url = dead.url.clone();
    drop(dead); // Nothing listens there any more: connection refused.
    let mut c = cli_at(&url);
    c.args([
        "can-update",
        "raspberrypi3",
        "2.80.3+rev1.prod",
        "2.88.4+rev1.prod",
    ]);
    let out = run(c);
    assert_clean_error(&out, 2, "error: ");
}

#[test]
fn update_targets_match_the_sdk_and_mark_the_recommended_one() {
    let out = bos(&[
        "update-targets",
        "raspberrypi4-64",
        "2.80.3+rev1.prod",
        "--json",
    ]);
    let res = json_ok(&out);
    let sdk_res = sdk(|b| async move {
        b.os()
            .get_supported_os_update_versions(
                "raspberrypi4-64",
                "2.80.3+rev1.prod",
                &Default::default(),
            )
            .await
            .expect("SDK call")
    });
    assert_eq!(res, serde_json::to_value(&sdk_res).unwrap());
    let versions: Vec<&str> = res["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!versions.is_empty());
    // Every target is an allowed update, by the CLI's own can-update.
    for v in versions.iter().take(3) {
        let out = bos(&["can-update", "raspberrypi4-64", "2.80.3+rev1.prod", v]);
        assert_eq!(code(&out), 0, "{v}: {}", stdout(&out));
    }
    let recommended = res["recommended"].as_str().expect("a recommended version");

    let out = bos(&["update-targets", "raspberrypi4-64", "2.80.3+rev1.prod"]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), versions.len());
    assert!(
        lines.contains(&format!("{recommended}  (recommended)").as_str()),
        "{text}"
    );

    // --os-type default keeps only default-line releases.
    let out = bos(&[
        "update-targets",
        "raspberrypi4-64",
        "2.80.3+rev1.prod",
        "--os-type",
        "default",
        "--json",
    ]);
    let default_only = json_ok(&out);
    let all_versions = json_ok(&bos(&["versions", "raspberrypi4-64", "--json"]));
    for v in default_only["versions"].as_array().unwrap() {
        let entry = all_versions
            .as_array()
            .unwrap()
            .iter()
            .find(|x| &x["raw_version"] == v)
            .expect("listed");
        assert_eq!(entry["osType"], "default");
    }

    // A current version that is not a version: rejected before any request.
    let silent = Silent::new();
    let mut c = cli_at(&silent.url);
    c.args(["update-targets", "raspberrypi4-64", "not-a-version"]);
    let out = run(c);
    assert_clean_error(&out, 2, "current_version");
    assert_eq!(silent.connections(), 0);
}

#[test]
fn supervisor_releases_by_slug_and_id() {
    let expected: Vec<&str> = balena_os_server::catalog::demo::SUPERVISOR_VERSIONS
        .iter()
        .rev()
        .copied()
        .collect();
    let list = json_ok(&bos(&["supervisor-releases", "aarch64", "--json"]));
    let got: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["raw_version"].as_str().unwrap())
        .collect();
    assert_eq!(got, expected);
    let sdk_list = sdk(|b| async move {
        b.os()
            .get_supervisor_releases_for_cpu_architecture("aarch64".into(), None)
            .await
            .expect("SDK call")
    });
    assert_eq!(list, serde_json::to_value(&sdk_list).unwrap());

    // By numeric id.
    let arch = rows(
        &format!(
            "/v7/cpu_architecture?$select=id&$filter={}",
            enc("slug eq 'aarch64'")
        ),
        None,
    );
    let id = arch[0]["id"].as_u64().expect("id").to_string();
    let by_id = json_ok(&bos(&["supervisor-releases", &id, "--json"]));
    assert_eq!(by_id, list);

    // Pine options.
    let top = json_ok(&bos(&[
        "supervisor-releases",
        "aarch64",
        "--pine",
        r#"{"$top":1}"#,
        "--json",
    ]));
    assert_eq!(top.as_array().unwrap().len(), 1);
    assert_eq!(top[0]["raw_version"], expected[0]);

    // Human table.
    let out = bos(&["supervisor-releases", "aarch64"]);
    let text = stdout(&out);
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("VERSION"));
    let versions: Vec<&str> = lines
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(versions, expected);
}

#[test]
fn arch_compatible_answers_by_status() {
    let out = run({
        let mut c = cli_at("http://127.0.0.1:9");
        c.args(["arch-compatible", "aarch64", "armv7hf"]);
        c
    });
    assert_eq!(code(&out), 0);
    assert_eq!(
        stdout(&out),
        "yes: an aarch64 OS runs armv7hf applications\n"
    );
    let out = run({
        let mut c = cli_at("http://127.0.0.1:9");
        c.args(["arch-compatible", "rpi", "aarch64", "--json"]);
        c
    });
    assert_eq!(code(&out), 1);
    assert_eq!(parse_one_json(&stdout(&out)), Value::Bool(false));
    assert_eq!(stderr(&out), "");
}
