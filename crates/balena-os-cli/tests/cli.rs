//! The `balena-os` binary: serve (first stdout line, demo key, clean
//! shutdown on SIGTERM and SIGINT) and the admin commands.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

fn balena_os() -> Command {
    Command::cargo_bin("balena-os").expect("balena-os binary")
}

fn admin(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    balena_os()
        .args(["admin", "--data"])
        .arg(data)
        .args(args)
        .env_remove("BALENA_OS_DATABASE_URL")
        .output()
        .expect("run balena-os admin")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn http_get(base: &str, path: &str, key: Option<&str>) -> (u16, String) {
    // A tiny HTTP/1.1 client: the test needs no HTTP library for this.
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Starts `serve --demo`, checks that it answers, sends `signal` and
/// requires a clean stop: status 0 and the shutdown logged on stderr.
fn serve_then_stop_with(signal: &str) {
    let data = tempfile::tempdir().expect("tempdir");
    let log_path = data.path().join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = balena_os()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--demo",
            "--drain-timeout",
            "3",
            "--data",
        ])
        .arg(data.path())
        .env_remove("BALENA_OS_DATABASE_URL")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start balena-os serve");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    let base = first.trim().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert_eq!(http_get(&base, "/ping", None), (200, "OK".to_owned()));
    let key = std::fs::read_to_string(data.path().join("demo-api-key")).expect("demo key file");
    let (status, body) = http_get(
        &base,
        "/v7/application?$select=slug&$filter=slug%20eq%20%27demo/fleet-rpi4%27",
        Some(key.trim()),
    );
    assert_eq!(status, 200);
    assert!(body.contains("demo/fleet-rpi4"), "{body}");
    assert!(data.path().join("admin-api-key").exists());

    let kill = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop on SIG{signal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(&log_path).expect("read the log");
    // A requested stop is a success (documented in `serve --help`).
    assert_eq!(
        status.code(),
        Some(0),
        "clean exit on SIG{signal}: {status}\n{log}"
    );
    assert!(
        log.contains("shutting down") && log.contains(&format!("signal=\"SIG{signal}\"")),
        "{log}"
    );
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    // Stopped means stopped: the port no longer answers.
    let addr = base.trim_start_matches("http://");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening"
    );
}

#[test]
fn serve_prints_url_first_and_stops_on_sigterm() {
    serve_then_stop_with("TERM");
}

#[test]
fn serve_stops_on_sigint_like_ctrl_c() {
    serve_then_stop_with("INT");
}

#[test]
fn serve_help_documents_how_it_stops() {
    let out = balena_os()
        .args(["serve", "--help"])
        .output()
        .expect("serve --help");
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Ctrl-C (SIGINT) or SIGTERM"), "{help}");
    assert!(help.contains("status 0"), "{help}");
    assert!(help.contains("--drain-timeout <SECONDS>"), "{help}");
}

#[test]
fn admin_commands() {
    let data = tempfile::tempdir().expect("tempdir");
    let d = data.path();
    let out = admin(d, &["org", "create", "acme", "--name", "ACME Corp"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("\"handle\":\"acme\""));
    // Creating it twice is refused with a message.
    let out = admin(d, &["org", "create", "acme"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    // Bad input is refused.
    let out = admin(d, &["org", "create", "Not Valid"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid organization handle"));

    let out = admin(
        d,
        &[
            "user",
            "create",
            "bob",
            "--org",
            "acme",
            "--email",
            "bob@acme.example",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let out = admin(
        d,
        &[
            "api-key",
            "create",
            "bob",
            "--name",
            "ci",
            "--expires-in-days",
            "30",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let key = stdout(&out);
    assert_eq!(key.len(), 32, "{key}");
    let out = admin(d, &["api-key", "create", "nobody"]);
    assert!(!out.status.success());
    // Keys are listed without their secret, and can be revoked.
    let spare = stdout(&admin(d, &["api-key", "create", "bob", "--name", "spare"]));
    let out = admin(d, &["api-key", "list", "bob"]);
    assert!(out.status.success(), "{out:?}");
    let listed = stdout(&out);
    assert!(
        !listed.contains(&key) && !listed.contains(&spare),
        "no secrets listed"
    );
    let keys: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["name"], "ci");
    assert!(keys[0]["expires_at"].is_string());
    let spare_id = keys[1]["id"].to_string();
    let out = admin(d, &["api-key", "revoke", &spare_id]);
    assert!(out.status.success(), "{out:?}");
    assert!(!admin(d, &["api-key", "revoke", &spare_id]).status.success());
    assert_eq!(stdout(&admin(d, &["api-key", "list"])).lines().count(), 1);

    // A fleet needs an existing device type: import one first.
    let out = admin(
        d,
        &[
            "fleet",
            "create",
            "acme",
            "gateways",
            "--device-type",
            "intel-nuc",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no device type 'intel-nuc'"));
    let bucket = tempfile::tempdir().expect("bucket");
    let build = bucket.path().join("intel-nuc/6.0.13");
    std::fs::create_dir_all(&build).expect("mkdir");
    std::fs::write(
        build.join("device-type.json"),
        r#"{"slug":"intel-nuc","name":"Intel NUC","arch":"amd64","aliases":["nuc"]}"#,
    )
    .expect("write");
    std::fs::write(build.join("image.json"), "{}").expect("write");
    let out = admin(d, &["import", bucket.path().to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON report");
    assert_eq!(report["releases_created"], 1);
    let out = admin(
        d,
        &[
            "fleet",
            "create",
            "acme",
            "gateways",
            "--device-type",
            "nuc",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let fleet: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON fleet");
    assert_eq!(fleet["slug"], "acme/gateways");
    assert_eq!(fleet["uuid"].as_str().map(str::len), Some(32));

    // The key works against a server on the same data directory, and sees
    // the private fleet of its organisation.
    let mut child = balena_os()
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(d)
        .env_remove("BALENA_OS_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    let base = first.trim().to_owned();
    let q = "/v7/application?$select=slug&$filter=slug%20eq%20%27acme/gateways%27";
    let (_, body) = http_get(&base, q, Some(&key));
    assert!(body.contains("acme/gateways"), "{body}");
    let (_, body) = http_get(&base, q, None);
    assert_eq!(body, r#"{"d":[]}"#);
    let (status, _) = http_get(&base, q, Some(&spare));
    assert_eq!(status, 401, "a revoked key is refused");
    let _ = child.kill();
    let _ = child.wait();
}
