//! `download` over real HTTP: from the catalog server's own `/download`
//! (configured demo images), and from the test's image server for slow
//! transfers, cut connections and exact query checks.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use balena_sdk::OsType;
use serde_json::Value;

use crate::common::*;
use crate::image_server::{Behaviour, ImageServer, MISSING_VERSION, files, names_in, query_map};

fn latest_default(device_type: &'static str) -> String {
    sdk(move |b| async move {
        b.os()
            .get_max_satisfying_version(device_type, "latest", Some(&OsType::Default))
            .await
            .expect("SDK call")
            .expect("a default version")
    })
}

fn some_version() -> String {
    let list = sdk(|b| async move {
        b.os()
            .get_available_os_versions("raspberrypi3", &Default::default())
            .await
            .expect("SDK call")
    });
    list[2].raw_version.clone()
}

fn download_cmd(server: &ImageServer, dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = cli_at(&server.url);
    c.current_dir(dir).arg("download").args(args);
    c
}

#[test]
fn raw_image_to_a_file_with_json_report() {
    let server = ImageServer::start(Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let version = some_version();
    let out = run(download_cmd(
        &server,
        dir.path(),
        &[
            "raspberrypi3",
            "--version",
            &version,
            "-o",
            "rpi.img",
            "--json",
        ],
    ));
    let report = json_ok(&out);
    // Not a terminal: no progress output at all.
    assert_eq!(stderr(&out), "");
    let img = &files().img;
    assert_eq!(report["bytesWritten"], img.len() as u64);
    assert_eq!(report["wireBytes"], img.len() as u64);
    assert_eq!(report["verification"], "length");
    assert_eq!(report["version"], Value::from(version.clone()));
    assert_eq!(report["deviceType"], "raspberrypi3");
    assert_eq!(report["resumes"], 0);
    assert_eq!(report["metadata"]["status"], 200);
    assert_eq!(report["metadata"]["fileName"], "image.img");
    assert_eq!(std::fs::read(dir.path().join("rpi.img")).unwrap(), *img);
    assert_eq!(names_in(dir.path()), ["rpi.img"]);
    let queries = server.download_queries();
    assert_eq!(queries.len(), 1);
    let q = query_map(&queries[0]);
    assert_eq!(q["deviceType"], "raspberrypi3");
    assert_eq!(q["version"], version);
    assert!(!q.contains_key("fileType"));
    // The slug lookup went to the catalog server.
    assert!(server.passed.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

#[test]
fn latest_gzip_image_with_the_default_name() {
    let server = ImageServer::start(Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let latest = latest_default("raspberrypi3");
    let out = run(download_cmd(
        &server,
        dir.path(),
        &["raspberrypi3", "--file-type", "gz"],
    ));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let name = format!("raspberrypi3-{latest}.img.gz");
    assert_eq!(names_in(dir.path()), std::slice::from_ref(&name));
    assert_eq!(std::fs::read(dir.path().join(&name)).unwrap(), files().gz);
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("downloaded raspberrypi3 {latest} to {name}: ")),
        "{text}"
    );
    assert!(text.contains("checked: gzip"), "{text}");
    let q = query_map(&server.download_queries()[0]);
    assert_eq!(q["fileType"], ".gz");
    assert_eq!(q["version"], latest);
    assert_eq!(stderr(&out), "");
}

#[test]
fn zip_image_is_verified_as_zip() {
    let server = ImageServer::start(Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let out = run(download_cmd(
        &server,
        dir.path(),
        &[
            "raspberrypi3",
            "--version",
            "v6.0.10+rev1",
            "--file-type",
            ".zip",
            "-o",
            "x.zip",
            "--json",
        ],
    ));
    let report = json_ok(&out);
    assert_eq!(report["verification"], "zip");
    // The leading v is dropped, as the SDK does.
    assert_eq!(report["version"], "6.0.10+rev1");
    assert_eq!(
        std::fs::read(dir.path().join("x.zip")).unwrap(),
        files().zip
    );
}

#[test]
fn every_download_option_reaches_the_request() {
    let api = api();
    let server = ImageServer::start(Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let fleet_id = fleet_id("demo/fleet-rpi4");
    let out = run(download_cmd(
        &server,
        dir.path(),
        &[
            "raspberrypi3",
            "--version",
            "6.0.10+rev1",
            "-o",
            "a.img",
            "--dev",
            "--fleet",
            "demo/fleet-rpi4",
            "--api-key",
            &api.demo_key,
            "--image-type",
            "raw",
            "--wifi-ssid",
            "my net",
            "--wifi-key",
            "p&ss=word",
            "--poll-interval",
            "15",
        ],
    ));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let q = query_map(&server.download_queries()[0]);
    assert_eq!(q["developmentMode"], "true");
    assert_eq!(q["appId"], fleet_id.to_string());
    assert_eq!(q["imageType"], "raw");
    assert_eq!(q["appUpdatePollInterval"], "15");
    assert_eq!(q["network"], "wifi");
    assert_eq!(q["wifiSsid"], "my net");
    assert_eq!(q["wifiKey"], "p&ss=word");

    // A numeric fleet id needs no lookup; ethernet is sent as such.
    let out = run(download_cmd(
        &server,
        dir.path(),
        &[
            "raspberrypi3",
            "--version",
            "6.0.10+rev1",
            "-o",
            "b.img",
            "--fleet",
            &fleet_id.to_string(),
            "--network",
            "ethernet",
        ],
    ));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let q = query_map(&server.download_queries()[1]);
    assert_eq!(q["appId"], fleet_id.to_string());
    assert_eq!(q["network"], "ethernet");
    assert!(!q.contains_key("wifiSsid"));
}

#[test]
fn existing_files_are_kept_unless_forced() {
    let server = ImageServer::start(Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.img"), b"mine").unwrap();
    let out = run(download_cmd(
        &server,
        dir.path(),
        &["raspberrypi3", "--version", "6.0.10+rev1", "-o", "keep.img"],
    ));
    assert_clean_error(&out, 2, "already exists (use --force");
    assert_eq!(std::fs::read(dir.path().join("keep.img")).unwrap(), b"mine");
    assert!(server.download_queries().is_empty());
    assert_eq!(server.passed.load(std::sync::atomic::Ordering::SeqCst), 0);

    let out = run(download_cmd(
        &server,
        dir.path(),
        &[
            "raspberrypi3",
            "--version",
            "6.0.10+rev1",
            "-o",
            "keep.img",
            "--force",
        ],
    ));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read(dir.path().join("keep.img")).unwrap(),
        files().img
    );

    // A directory is not a file name.
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let out = run(download_cmd(
        &server,
        dir.path(),
        &[
            "raspberrypi3",
            "--version",
            "6.0.10+rev1",
            "-o",
            "sub",
            "--force",
        ],
    ));
    assert_clean_error(&out, 2, "is a directory");
}

#[test]
fn failures_leave_no_file() {
    // 404 for the version.
    let server = ImageServer::start(Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let out = run(download_cmd(
        &server,
        dir.path(),
        &["raspberrypi3", "--version", MISSING_VERSION, "-o", "x.img"],
    ));
    assert_clean_error(
        &out,
        1,
        &format!("no OS image found for device type raspberrypi3, version {MISSING_VERSION}"),
    );
    assert!(names_in(dir.path()).is_empty());

    // A connection cut mid-body by a server that cannot resume.
    let server = ImageServer::start(Behaviour {
        cut_first_at: Some(300_000),
        ..Behaviour::default()
    });
    let out = run(download_cmd(
        &server,
        dir.path(),
        &["raspberrypi3", "--version", "6.0.10+rev1", "-o", "x.img"],
    ));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("error: downloading raspberrypi3 6.0.10+rev1 to x.img"),
        "{}",
        stderr(&out)
    );
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );

    // An unknown device type: the slug lookup fails, nothing is downloaded.
    let out = run(download_cmd(
        &server,
        dir.path(),
        &["no-such-board", "--version", "6.0.10+rev1", "-o", "x.img"],
    ));
    assert_clean_error(&out, 1, "invalid device type");
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn interrupted_transfers_are_resumed() {
    let server = ImageServer::start(Behaviour {
        cut_first_at: Some(300_000),
        ranges: true,
        ..Behaviour::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let out = run(download_cmd(
        &server,
        dir.path(),
        &["raspberrypi3", "--version", "6.0.10+rev1", "-o", "x.img"],
    ));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("resumed once"), "{}", stdout(&out));
    assert_eq!(
        std::fs::read(dir.path().join("x.img")).unwrap(),
        files().img
    );
    let ranges = server.ranges.lock().unwrap().clone();
    assert_eq!(ranges, [None, Some("bytes=300000-".to_owned())]);
    assert_eq!(names_in(dir.path()), ["x.img"]);
}

fn wait_for_part_file(dir: &Path, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if names_in(dir).iter().any(|n| n.ends_with(".part")) {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the download ended early: {status}");
        }
        assert!(Instant::now() < deadline, "no temporary file appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn interrupt_with(signal: &str) {
    let server = ImageServer::start(Behaviour {
        slow: true,
        ..Behaviour::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut c = download_cmd(
        &server,
        dir.path(),
        &["raspberrypi3", "--version", "6.0.10+rev1", "-o", "x.img"],
    );
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    wait_for_part_file(dir.path(), &mut child);
    // Some bytes have arrived.
    std::thread::sleep(Duration::from_millis(200));
    let kill = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("interrupted: x.img was not written"),
        "{}",
        stderr(&out)
    );
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
}

#[test]
fn ctrl_c_leaves_nothing_behind() {
    interrupt_with("-INT");
}

#[test]
fn sigterm_leaves_nothing_behind() {
    interrupt_with("-TERM");
}

/// Runs a command under a pseudo-terminal (util-linux `script`) and returns
/// everything it showed.
fn in_terminal(server: &ImageServer, dir: &Path, extra: &[&str]) -> String {
    let bin = assert_cmd::cargo::cargo_bin("balena-os");
    let mut cmd = format!(
        "'{}' download raspberrypi3 --version 6.0.10+rev1 --file-type gz --api-url '{}'",
        bin.display(),
        server.url
    );
    for a in extra {
        cmd.push_str(&format!(" '{a}'"));
    }
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(dir)
        .env("TERM", "xterm-256color")
        .env("HOME", &api().home)
        .env_remove("BALENA_API_KEY")
        .env_remove("BALENA_API_URL")
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) is required: apt-get install bsdutils");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn progress_bar_only_on_a_terminal() {
    let server = ImageServer::start(Behaviour {
        slow: true,
        ..Behaviour::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let shown = in_terminal(&server, dir.path(), &["-o", "a.img.gz"]);
    assert!(
        shown.contains("ETA"),
        "no progress bar on a terminal: {shown:?}"
    );
    assert!(
        shown.contains("downloaded raspberrypi3 6.0.10+rev1 to a.img.gz"),
        "{shown:?}"
    );
    let quiet = in_terminal(&server, dir.path(), &["-o", "b.img.gz", "--no-progress"]);
    assert!(!quiet.contains("ETA"), "{quiet:?}");
    assert_eq!(
        std::fs::read(dir.path().join("a.img.gz")).unwrap(),
        files().gz
    );
}

/// The boot partition's file `name` inside a raw image file.
fn boot_file(image: &Path, name: &str) -> Vec<u8> {
    let file = std::fs::File::open(image).unwrap();
    balena_sdk::image::read_boot_file(&file, name, None).unwrap()
}

#[test]
fn the_servers_configured_images() {
    let api = api();
    let dir = tempfile::tempdir().unwrap();
    let latest = latest_default("raspberrypi3");
    // A raw image configured for a fleet, with wifi and development mode.
    let mut c = cli();
    c.current_dir(dir.path()).args([
        "download",
        "raspberrypi3",
        "--fleet",
        "demo/kiosk-rpi3",
        "--api-key",
        &api.demo_key,
        "--wifi-ssid",
        "home",
        "--wifi-key",
        "secretpass",
        "--dev",
        "-o",
        "kiosk.img",
        "--json",
    ]);
    let report = json_ok(&run(c));
    assert_eq!(report["version"], Value::from(latest.clone()));
    assert_eq!(report["verification"], "length");
    let image = dir.path().join("kiosk.img");
    assert_eq!(
        report["bytesWritten"],
        std::fs::metadata(&image).unwrap().len()
    );
    let config: Value = serde_json::from_slice(&boot_file(&image, "/config.json")).unwrap();
    assert_eq!(config["applicationId"], fleet_id("demo/kiosk-rpi3"));
    assert_eq!(config["deviceType"], "raspberrypi3");
    assert_eq!(config["developmentMode"], true);
    let wifi = String::from_utf8(boot_file(&image, "/system-connections/balena-wifi-01")).unwrap();
    assert!(
        wifi.contains("ssid=home") && wifi.contains("psk=secretpass"),
        "{wifi}"
    );
    // Its OS version is the one asked for.
    let os_release = String::from_utf8(boot_file(&image, "/os-release")).unwrap();
    assert_eq!(
        balena_sdk::image::os_version_from_os_release(&os_release).as_deref(),
        Some(latest.as_str())
    );

    // gzip and zip: verified by the SDK and by the real tools.
    let out = bos_in(
        dir.path(),
        &["download", "raspberrypi3", "--file-type", "gz"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("checked: gzip"), "{}", stdout(&out));
    let gz = dir.path().join(format!("raspberrypi3-{latest}.img.gz"));
    let t = std::process::Command::new("gzip")
        .arg("-t")
        .arg(&gz)
        .status()
        .unwrap();
    assert!(t.success());
    let out = bos_in(
        dir.path(),
        &[
            "download",
            "raspberrypi3",
            "--file-type",
            "zip",
            "-o",
            "r.zip",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("checked: zip"), "{}", stdout(&out));
    let t = std::process::Command::new("unzip")
        .arg("-tq")
        .arg(dir.path().join("r.zip"))
        .output()
        .unwrap();
    assert!(t.status.success(), "{t:?}");

    // An image the server does not have: a clear failure, no file.
    let out = bos_in(
        dir.path(),
        &[
            "download",
            "raspberrypi3",
            "--version",
            "2.0.0+rev1",
            "-o",
            "none.img",
        ],
    );
    assert_clean_error(
        &out,
        1,
        "no OS image found for device type raspberrypi3, version 2.0.0+rev1",
    );
    assert!(!dir.path().join("none.img").exists());
    assert!(names_in(dir.path()).iter().all(|n| !n.ends_with(".part")));
}

fn bos_in(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut c = cli();
    c.current_dir(dir).args(args);
    run(c)
}

#[test]
fn dash_writes_the_image_to_stdout() {
    let server = ImageServer::start(Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    for (file_type, expected) in [
        ("img", &files().img),
        ("gz", &files().gz),
        ("zip", &files().zip),
    ] {
        let out = run(download_cmd(
            &server,
            dir.path(),
            &[
                "raspberrypi3",
                "--version",
                "6.0.10+rev1",
                "--file-type",
                file_type,
                "-o",
                "-",
            ],
        ));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        // Nothing but the image on stdout, nothing on stderr (not a terminal).
        assert_eq!(stderr(&out), "");
        assert!(
            out.stdout == *expected,
            "{file_type}: {} bytes",
            out.stdout.len()
        );
    }
    // No file was written anywhere.
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
    let q = query_map(&server.download_queries()[1]);
    assert_eq!(q["fileType"], ".gz");
}

#[test]
fn stdout_bytes_equal_a_file_download_from_the_catalog_server() {
    // The catalog server's own /download: a configured image (config.json
    // written into it by the server).
    let dir = tempfile::tempdir().unwrap();
    let latest = latest_default("raspberrypi3");
    for file_type in ["img", "gz"] {
        let name = format!("file.{file_type}");
        // The same download, to a file and to stdout.
        let download_to = |target: &str| {
            bos_in(
                dir.path(),
                &[
                    "download",
                    "raspberrypi3",
                    "--version",
                    &latest,
                    "--file-type",
                    file_type,
                    "--wifi-ssid",
                    "home",
                    "--wifi-key",
                    "secretpass",
                    "-o",
                    target,
                ],
            )
        };
        let out = download_to(&name);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let piped = download_to("-");
        assert_eq!(code(&piped), 0, "{}", stderr(&piped));
        assert_eq!(stderr(&piped), "");
        let file = std::fs::read(dir.path().join(&name)).unwrap();
        assert!(file.len() > 4096, "{file_type}: {} bytes", file.len());
        assert!(
            piped.stdout == file,
            "{file_type}: stdout differs from the file"
        );
    }
    assert_eq!(names_in(dir.path()), ["file.gz", "file.img"]);
    // The streamed raw image is a configured balenaOS image.
    let streamed = dir.path().join("streamed.img");
    let out = bos_in(
        dir.path(),
        &["download", "raspberrypi3", "--version", &latest, "-o", "-"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    std::fs::write(&streamed, &out.stdout).unwrap();
    let config: Value = serde_json::from_slice(&boot_file(&streamed, "/config.json")).unwrap();
    assert_eq!(config["deviceType"], "raspberrypi3");
}

#[test]
fn stdout_failures_are_one_clear_line() {
    let server = ImageServer::start(Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    // A missing image: nothing on stdout.
    let out = run(download_cmd(
        &server,
        dir.path(),
        &["raspberrypi3", "--version", MISSING_VERSION, "-o", "-"],
    ));
    assert_clean_error(
        &out,
        1,
        &format!("no OS image found for device type raspberrypi3, version {MISSING_VERSION}"),
    );
    assert!(out.stdout.is_empty());
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));

    // A body cut short (no resume to stdout): status 1, the error says so.
    let server = ImageServer::start(Behaviour {
        cut_first_at: Some(300_000),
        ..Behaviour::default()
    });
    let out = run(download_cmd(
        &server,
        dir.path(),
        &["raspberrypi3", "--version", "6.0.10+rev1", "-o", "-"],
    ));
    assert_clean_error(
        &out,
        1,
        "the image on stdout is incomplete after 300000 bytes",
    );
    assert_eq!(out.stdout.len(), 300_000);
    assert_eq!(out.stdout[..], files().img[..300_000]);
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));

    // --json has no place when stdout carries the image.
    let out = run(download_cmd(
        &server,
        dir.path(),
        &[
            "raspberrypi3",
            "--version",
            "6.0.10+rev1",
            "-o",
            "-",
            "--json",
        ],
    ));
    assert_clean_error(&out, 2, "--json cannot be used with -o -");
    assert!(out.stdout.is_empty());
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn stdout_download_stops_on_ctrl_c_and_on_a_closed_pipe() {
    use std::io::Read;
    let server = ImageServer::start(Behaviour {
        slow: true,
        ..Behaviour::default()
    });
    let dir = tempfile::tempdir().unwrap();
    for signal in ["-INT", "-TERM"] {
        let mut c = download_cmd(
            &server,
            dir.path(),
            &["raspberrypi3", "--version", "6.0.10+rev1", "-o", "-"],
        );
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn");
        let mut first = vec![0u8; 20_000];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .expect("the first bytes");
        assert_eq!(first[..], files().img[..20_000]);
        let kill = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(130), "{signal}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "interrupted: the image on stdout is incomplete\n"
        );
        assert!(out.stdout.len() + 20_000 < files().img.len());
    }

    // The reader goes away (`| head -c 20000`): a quiet stop, status 0.
    let mut c = download_cmd(
        &server,
        dir.path(),
        &["raspberrypi3", "--version", "6.0.10+rev1", "-o", "-"],
    );
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let mut stdout = child.stdout.take().unwrap();
    let mut first = vec![0u8; 20_000];
    stdout.read_exact(&mut first).expect("the first bytes");
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert!(names_in(dir.path()).is_empty());
}

/// Runs `download … -o - EXTRA` with stdout on a pseudo-terminal; returns
/// the exit status and everything the terminal showed.
fn stdout_on_a_terminal(server: &ImageServer, dir: &Path, extra: &str) -> (i32, String) {
    let bin = assert_cmd::cargo::cargo_bin("balena-os");
    let cmd = format!(
        "'{}' download raspberrypi3 --version 6.0.10+rev1 --api-url '{}' -o - {extra}; echo \"[status $?]\"",
        bin.display(),
        server.url
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(dir)
        .env("TERM", "dumb")
        .env("HOME", &api().home)
        .env_remove("BALENA_API_KEY")
        .env_remove("BALENA_API_URL")
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) is required: apt-get install bsdutils");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = shown
        .rsplit_once("[status ")
        .and_then(|(_, s)| s.split(']').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {shown:?}"));
    (status, shown)
}

#[test]
fn an_image_is_not_written_to_a_terminal_unless_forced() {
    let server = ImageServer::start(Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let (status, shown) = stdout_on_a_terminal(&server, dir.path(), "");
    assert_eq!(status, 2, "{shown:?}");
    assert!(
        shown.contains("refusing to write an OS image to a terminal") && shown.contains("--force"),
        "{shown:?}"
    );
    assert!(
        server.download_queries().is_empty(),
        "nothing was requested"
    );
    let (status, shown) = stdout_on_a_terminal(&server, dir.path(), "--force --no-progress");
    let tail: String = shown
        .chars()
        .rev()
        .take(300)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert_eq!(status, 0, "{tail}");
    assert!(!shown.contains("refusing"));
    assert_eq!(server.download_queries().len(), 1);
    assert!(names_in(dir.path()).is_empty());
}
