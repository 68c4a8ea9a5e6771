//! Bad arguments (rejected before any request, status 2), `--help`, shell
//! completions, a closed stdout, and `config` against the catalog.

use std::io::Read;
use std::process::Stdio;

use crate::common::*;

/// Runs the binary against a port that counts connections; asserts the
/// status, the message and that nothing was sent.
fn rejected_without_request(args: &[&str], status: i32, needle: &str) {
    let silent = Silent::new();
    let mut c = cli_at(&silent.url);
    c.args(args);
    if !["completions", "arch-compatible"].contains(&args[0]) {
        // In case a request were made, do not wait for the silent port.
        c.args(["--timeout", "2"]);
    }
    let out = run(c);
    assert_clean_error(&out, status, needle);
    assert_eq!(stdout(&out), "", "{args:?}");
    assert_eq!(silent.connections(), 0, "{args:?} sent a request");
}

#[test]
fn bad_arguments_fail_before_any_request() {
    let cases: &[(&[&str], &str)] = &[
        (&["versions", ""], "must not be empty"),
        (&["versions", " "], "must not be empty"),
        (&["versions"], "required"),
        (&["versions", "raspberrypi3", "--pine", "[1]"], "--pine"),
        (
            &["versions", "raspberrypi3", "--pine", r#"{"$nope":1}"#],
            "invalid pine options: ",
        ),
        (&["versions", "raspberrypi3", "--os-type", ""], "--os-type"),
        (&["max-version", "", "latest"], "must not be empty"),
        (
            &["max-version", "raspberrypi3", "a\u{7}b"],
            "control characters",
        ),
        (&["download-size", ""], "must not be empty"),
        (
            &["download", "raspberrypi3", "--version", "2.88"],
            "invalid version \"2.88\"",
        ),
        (
            &["download", "raspberrypi3", "--version", "^2.88.0"],
            "ranges are not accepted",
        ),
        (
            &["download", "raspberrypi3", "--file-type", "tar"],
            "expected img, gz or zip",
        ),
        (
            &["download", "raspberrypi3", "--image-type", "Raw"],
            "expected raw or flasher",
        ),
        (
            &[
                "download",
                "raspberrypi3",
                "--network",
                "ethernet",
                "--wifi-ssid",
                "x",
                "-o",
                "x.img",
            ],
            "--network wifi",
        ),
        (&["download", ""], "must not be empty"),
        (&["config", "demo/fleet"], "--version"),
        (
            &["config", "", "--version", "6.0.10+rev1"],
            "must not be empty",
        ),
        (
            &[
                "config",
                "demo/fleet",
                "--version",
                "6.0.10+rev1",
                "--ip",
                "10.0.0.2",
            ],
            "--gateway",
        ),
        (
            &[
                "config",
                "demo/fleet",
                "--version",
                "6.0.10+rev1",
                "--set",
                "novalue",
            ],
            "KEY=VALUE",
        ),
        (
            &["update-targets", "raspberrypi3", "garbage"],
            "current_version",
        ),
        (
            &["supervisor-releases", "99999999999999999999"],
            "out of range",
        ),
        (
            &["supervisor-releases", "aarch64", "--pine", "{"],
            "not JSON",
        ),
        (
            &["versions", "raspberrypi3", "--api-url", "ftp://example.com"],
            "--api-url",
        ),
        (&["versions", "raspberrypi3", "--timeout", "0"], "--timeout"),
        (&["no-such-command"], "unrecognized subcommand"),
        (&["completions", "tcsh"], "invalid value 'tcsh'"),
    ];
    for (args, needle) in cases {
        rejected_without_request(args, 2, needle);
    }
    // Predicate commands: status 2 for usage errors too.
    rejected_without_request(&["can-update", "raspberrypi3", ""], 2, "must not be empty");
    rejected_without_request(&["arch-compatible", "aarch64"], 2, "required");
}

#[test]
fn help_documents_commands_and_exit_statuses() {
    let out = run({
        let mut c = cli_at("http://127.0.0.1:9");
        c.arg("--help");
        c
    });
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    for cmd in [
        "versions",
        "max-version",
        "download-size",
        "download",
        "config",
        "update-type",
        "can-update",
        "update-targets",
        "supervisor-releases",
        "arch-compatible",
        "configure",
        "completions",
        "serve",
        "admin",
    ] {
        assert!(
            text.contains(&format!("\n  {cmd} ")),
            "{cmd} missing from --help"
        );
    }
    assert!(text.contains("Exit status:"), "{text}");
    assert!(text.contains("130"), "{text}");
    // Every SDK subcommand documents its API options and credentials.
    for cmd in [
        "versions",
        "download",
        "config",
        "can-update",
        "supervisor-releases",
    ] {
        let out = run({
            let mut c = cli_at("http://127.0.0.1:9");
            c.args([cmd, "--help"]);
            c
        });
        assert_eq!(code(&out), 0, "{cmd}");
        let text = stdout(&out);
        for needle in [
            "--api-url",
            "--api-key",
            "--json",
            "--timeout",
            "Exit status:",
            "Credentials:",
        ] {
            assert!(text.contains(needle), "{cmd} --help lacks {needle}");
        }
        assert!(!text.contains("panicked"));
    }
    // The API key's value is never echoed in help.
    let out = run({
        let mut c = cli_at("http://127.0.0.1:9");
        c.env("BALENA_API_KEY", "supersecretkey")
            .args(["versions", "--help"]);
        c
    });
    assert!(!stdout(&out).contains("supersecretkey"));
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef balena-os"),
        ("fish", "complete -c balena-os"),
    ] {
        let out = run({
            let mut c = cli_at("http://127.0.0.1:9");
            c.args(["completions", shell]);
            c
        });
        assert_eq!(code(&out), 0, "{shell}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains(marker), "{shell}");
        for sub in [
            "update-targets",
            "supervisor-releases",
            "configure",
            "file-type",
        ] {
            assert!(text.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    // bash accepts the script.
    let out = run({
        let mut c = cli_at("http://127.0.0.1:9");
        c.args(["completions", "bash"]);
        c
    });
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("balena-os.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn closed_stdout_is_a_clean_exit() {
    for args in [
        vec!["versions", "raspberrypi3", "intel-nuc", "generic-amd64"],
        vec!["versions", "raspberrypi3", "--all", "--json"],
        vec!["completions", "zsh"],
    ] {
        let mut c = cli();
        c.args(&args).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn");
        // The reader goes away before the command writes anything.
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert_eq!(err, "", "{args:?}");
    }
}

#[test]
fn config_comes_from_the_server() {
    let api = api();
    // Anonymous callers do not see the demo organisation's private fleets.
    let out = bos(&["config", "demo/fleet-rpi4", "--version", "6.0.10+rev1"]);
    assert_clean_error(&out, 1, "application not found");

    let out = bos(&[
        "config",
        "demo/fleet-rpi4",
        "--version",
        "6.0.10+rev1",
        "--api-key",
        &api.demo_key,
        "--wifi-ssid",
        "home",
        "--wifi-key",
        "secretpass",
        "--dev",
        "--poll-interval",
        "15",
        "--json",
    ]);
    let config = json_ok(&out);
    assert_eq!(config["applicationId"], fleet_id("demo/fleet-rpi4"));
    assert_eq!(config["deviceType"], "raspberrypi4-64");
    assert_eq!(config["wifiSsid"], "home");
    assert_eq!(config["wifiKey"], "secretpass");
    assert_eq!(config["developmentMode"], true);
    assert_eq!(config["appUpdatePollInterval"], 15 * 60_000);
    assert!(
        config["apiKey"].as_str().is_some_and(|k| !k.is_empty()),
        "{config}"
    );
    assert_eq!(config["apiEndpoint"], api.url.as_str());

    // Ethernet: no wifi keys. By numeric fleet id, pretty-printed.
    let id = fleet_id("demo/fleet-rpi4").to_string();
    let out = bos(&[
        "config",
        &id,
        "--version",
        "6.0.10+rev1",
        "--api-key",
        &api.demo_key,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("{\n  \""), "pretty JSON: {text}");
    let plain: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(plain.get("wifiSsid").is_none(), "{plain}");
    assert_eq!(plain["applicationId"], config["applicationId"]);

    // -o: written atomically, a message on stderr, nothing on stdout.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("config.json");
    let out = bos(&[
        "config",
        "demo/kiosk-rpi3",
        "--version",
        "6.0.10+rev1",
        "--api-key",
        &api.demo_key,
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), format!("wrote {}\n", target.display()));
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert_eq!(saved["applicationId"], fleet_id("demo/kiosk-rpi3"));
    assert_eq!(saved["deviceType"], "raspberrypi3");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // The key also comes from BALENA_API_KEY, and from the balena CLI's token file.
    let mut c = cli();
    c.env("BALENA_API_KEY", &api.demo_key).args([
        "config",
        "demo/fleet-rpi4",
        "--version",
        "6.0.10+rev1",
        "--json",
    ]);
    assert_eq!(json_ok(&run(c))["deviceType"], "raspberrypi4-64");
    let rc = tempfile::tempdir().unwrap();
    std::fs::write(rc.path().join("token"), format!("{}\n", api.demo_key)).unwrap();
    let mut c = cli();
    c.env("BALENARC_DATA_DIRECTORY", rc.path()).args([
        "config",
        "demo/fleet-rpi4",
        "--version",
        "6.0.10+rev1",
        "--json",
    ]);
    assert_eq!(json_ok(&run(c))["deviceType"], "raspberrypi4-64");
    // A wrong key is refused by the server.
    let out = bos(&[
        "config",
        "demo/fleet-rpi4",
        "--version",
        "6.0.10+rev1",
        "--api-key",
        "wrong",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    // The server's own validation reaches the user: versions at or below
    // 1.2.0 are refused.
    let out = bos(&[
        "config",
        "demo/fleet-rpi4",
        "--version",
        "1.0.0",
        "--api-key",
        &api.demo_key,
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/download-config failed with HTTP 400"),
        "{}",
        stderr(&out)
    );
}
