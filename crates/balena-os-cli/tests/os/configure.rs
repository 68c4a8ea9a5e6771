//! `configure` on images built with the real tools (sfdisk, mkfs.vfat,
//! mtools), read back with mtype and checked with fsck.fat.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::*;

const BOOT_START: u64 = 2048 * 512;
const BOOT_SECTORS: u64 = 20 * 2048;

fn tool(name: &str, args: &[&str], input: Option<&str>) -> Vec<u8> {
    let mut c = Command::new(name);
    c.args(args)
        .env("MTOOLS_SKIP_CHECK", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = c.spawn().unwrap_or_else(|e| {
        panic!("{name} is required for this test ({e}): apt-get install fdisk dosfstools mtools")
    });
    if let Some(text) = input {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn mimg(path: &Path) -> String {
    format!("{}@@{BOOT_START}", path.display())
}

/// A balenaOS-like image: MBR with resin-boot (FAT16, label resin-boot),
/// two root partitions, an extended partition with state and data, and
/// the stock boot files.
fn build_image(dir: &Path) -> PathBuf {
    let path = dir.join("balena.img");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(48 << 20).unwrap();
    drop(f);
    let p = path.to_str().unwrap();
    let script = format!(
        "label: dos\nunit: sectors\n\nstart=2048, size={BOOT_SECTORS}, type=e, bootable\nsize=12288, type=83\nsize=12288, type=83\ntype=f\nsize=4096, type=83\nsize=8192, type=83\n"
    );
    tool("sfdisk", &["-q", p], Some(&script));
    let blocks = (BOOT_SECTORS / 2).to_string();
    tool(
        "mkfs.vfat",
        &[
            "-F",
            "16",
            "-n",
            "resin-boot",
            "-i",
            "12345678",
            "--offset",
            "2048",
            p,
            &blocks,
        ],
        None,
    );
    // Recognisable content in a root partition, to prove it is never touched.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(BOOT_START + BOOT_SECTORS * 512))
            .unwrap();
        for i in 0..4096u32 {
            f.write_all(&i.to_le_bytes()).unwrap();
        }
    }
    let img = mimg(&path);
    let stage = dir.join("stage");
    std::fs::create_dir_all(&stage).unwrap();
    let put = |name: &str, content: &[u8]| {
        let local = stage.join(name.replace('/', "_"));
        std::fs::write(&local, content).unwrap();
        tool(
            "mcopy",
            &["-i", &img, local.to_str().unwrap(), &format!("::{name}")],
            None,
        );
    };
    put(
        "config.json",
        br#"{"deviceType":"raspberrypi3","persistentLogging":false}"#,
    );
    put(
        "device-type.json",
        br#"{"slug":"raspberrypi3","aliases":["raspberry-pi3"],"configuration":{"config":{"partition":{"primary":1},"path":"/config.json"}}}"#,
    );
    put(
        "os-release",
        b"NAME=\"balenaOS\"\nVERSION=\"6.0.10+rev1\"\n",
    );
    tool("mmd", &["-i", &img, "::system-connections"], None);
    put(
        "system-connections/balena-sample.ignore",
        b"[connection]\nid=sample\n",
    );
    path
}

fn mtype(image: &Path, file: &str) -> String {
    String::from_utf8(tool(
        "mtype",
        &["-i", &mimg(image), &format!("::{file}")],
        None,
    ))
    .unwrap()
}

fn fsck_boot(image: &Path, dir: &Path) {
    let bytes = std::fs::read(image).unwrap();
    let part = &bytes[BOOT_START as usize..(BOOT_START + BOOT_SECTORS * 512) as usize];
    let p = dir.join("boot.fat");
    std::fs::write(&p, part).unwrap();
    let out = Command::new("fsck.fat")
        .args(["-n", p.to_str().unwrap()])
        .output()
        .expect("fsck.fat is required: apt-get install dosfstools");
    assert!(
        out.status.success(),
        "fsck.fat: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `balena-os configure` with no usable API (a port that counts
/// connections), returning the output and the number of connections.
fn configure(args: &[&str]) -> (std::process::Output, usize) {
    let silent = Silent::new();
    let mut c = cli_at(&silent.url);
    c.arg("configure").args(args).args(["--timeout", "2"]);
    let out = run(c);
    (out, silent.connections())
}

fn write_config(dir: &Path, value: &Value) -> PathBuf {
    let p = dir.join("config-in.json");
    std::fs::write(&p, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    p
}

#[test]
fn config_file_and_wifi_written_without_network() {
    let dir = tempfile::tempdir().unwrap();
    let image = build_image(dir.path());
    let before = std::fs::read(&image).unwrap();
    let config = json!({
        "applicationId": 1234,
        "deviceType": "raspberrypi3",
        "apiEndpoint": "https://api.example.com",
        "persistentLogging": false
    });
    let cfg_path = write_config(dir.path(), &config);
    let args = [
        image.to_str().unwrap(),
        "--config",
        cfg_path.to_str().unwrap(),
        "--wifi-ssid",
        "home net",
        "--wifi-key",
        "secretpass",
    ];
    let (out, connections) = configure(&args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(connections, 0, "--config needs no network");
    assert_eq!(stderr(&out), "");
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "configured {}: boot partition 1 (label resin-boot)",
            image.display()
        )),
        "{text}"
    );
    assert!(text.contains("  /config.json ("), "{text}");
    assert!(
        text.contains("  /system-connections/balena-wifi-01 ("),
        "{text}"
    );

    // Read back with mtools.
    assert_eq!(
        mtype(&image, "config.json"),
        serde_json::to_string(&config).unwrap()
    );
    let wifi = mtype(&image, "system-connections/balena-wifi-01");
    assert!(wifi.contains("\nssid=home net\n"), "{wifi}");
    assert!(wifi.contains("\npsk=secretpass"), "{wifi}");
    assert!(wifi.contains("method=auto"), "{wifi}");
    // Stock files are still there.
    assert!(mtype(&image, "device-type.json").contains("raspberrypi3"));
    assert!(mtype(&image, "system-connections/balena-sample.ignore").contains("id=sample"));
    fsck_boot(&image, dir.path());

    // Only the boot partition changed.
    let after = std::fs::read(&image).unwrap();
    assert_eq!(before.len(), after.len());
    let boot_end = (BOOT_START + BOOT_SECTORS * 512) as usize;
    assert_eq!(before[..BOOT_START as usize], after[..BOOT_START as usize]);
    assert_eq!(before[boot_end..], after[boot_end..]);

    // Configuring again with the same settings changes nothing.
    let (out, _) = configure(&args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read(&image).unwrap(), after);
}

#[test]
fn the_images_own_config_with_a_static_ip_and_a_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let image = build_image(dir.path());
    let (out, connections) = configure(&[
        image.to_str().unwrap(),
        "--wifi-ssid",
        "office",
        "--wifi-key",
        "0123456789",
        "--ip",
        "192.168.1.50",
        "--netmask",
        "255.255.255.0",
        "--gateway",
        "192.168.1.1",
        "--json",
    ]);
    assert_eq!(connections, 0);
    let report = json_ok(&out);
    assert_eq!(report["bootPartition"]["index"], 1);
    assert_eq!(report["bootPartition"]["start"], BOOT_START);
    assert_eq!(report["bootPartition"]["foundBy"], "label resin-boot");
    assert_eq!(report["deviceType"], "raspberrypi3");
    assert_eq!(report["osVersion"], "6.0.10+rev1");
    assert_eq!(report["dryRun"], false);
    assert!(report["changedBytes"].as_u64().unwrap() > 0);
    let files: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        ["/config.json", "/system-connections/balena-wifi-01"]
    );
    // The stock config.json is kept as it was.
    assert_eq!(
        mtype(&image, "config.json"),
        r#"{"deviceType":"raspberrypi3","persistentLogging":false}"#
    );
    let wifi = mtype(&image, "system-connections/balena-wifi-01");
    assert!(
        wifi.contains("method=manual\naddress1=192.168.1.50/24,192.168.1.1"),
        "{wifi}"
    );
    fsck_boot(&image, dir.path());
}

#[test]
fn raw_keyfiles_for_ethernet() {
    let dir = tempfile::tempdir().unwrap();
    let image = build_image(dir.path());
    let keyfile = dir.path().join("eth0.nmconnection");
    let content = "[connection]\nid=static-eth0\ntype=ethernet\ninterface-name=eth0\n\n[ipv4]\naddress1=192.168.1.50/24,192.168.1.1\ndns=8.8.8.8;\nmethod=manual\n";
    std::fs::write(&keyfile, content).unwrap();
    let (out, _) = configure(&[
        image.to_str().unwrap(),
        "--connection",
        keyfile.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("/system-connections/connection-01"),
        "{}",
        stdout(&out)
    );
    assert_eq!(mtype(&image, "system-connections/connection-01"), content);
    fsck_boot(&image, dir.path());
    // An unreadable keyfile: status 1, image as it was.
    let before = std::fs::read(&image).unwrap();
    let (out, _) = configure(&[image.to_str().unwrap(), "--connection", "/nonexistent/x"]);
    assert_clean_error(&out, 1, "reading the keyfile /nonexistent/x");
    assert_eq!(std::fs::read(&image).unwrap(), before);
}

#[test]
fn dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let image = build_image(dir.path());
    let before = std::fs::read(&image).unwrap();
    let (out, _) = configure(&[image.to_str().unwrap(), "--wifi-ssid", "x", "--dry-run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("would configure "),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read(&image).unwrap(), before);
}

#[test]
fn invalid_input_leaves_the_image_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let image = build_image(dir.path());
    let before = std::fs::read(&image).unwrap();
    let img = image.to_str().unwrap();
    let unchanged = || {
        assert!(
            std::fs::read(&image).unwrap() == before,
            "the image was modified"
        )
    };

    // Config files that are not usable: status 1.
    let bad_json = dir.path().join("bad.json");
    std::fs::write(&bad_json, b"{\"deviceType\": ").unwrap();
    let array = write_config(dir.path(), &json!([1, 2]));
    let (out, _) = configure(&[img, "--config", bad_json.to_str().unwrap()]);
    assert_clean_error(&out, 1, "is not valid JSON");
    unchanged();
    let (out, _) = configure(&[img, "--config", array.to_str().unwrap()]);
    assert_clean_error(&out, 1, "must hold a JSON object");
    unchanged();
    let weak = write_config(
        dir.path(),
        &json!({"deviceType": "raspberrypi3", "wifiSsid": "x", "wifiKey": "short"}),
    );
    let (out, _) = configure(&[img, "--config", weak.to_str().unwrap()]);
    assert_clean_error(&out, 1, "wifiKey");
    unchanged();
    let other = write_config(dir.path(), &json!({"deviceType": "intel-nuc"}));
    let (out, _) = configure(&[img, "--config", other.to_str().unwrap()]);
    assert_clean_error(&out, 1, "is for device type \"intel-nuc\" but");
    unchanged();
    let missing = dir.path().join("nope.json");
    let (out, _) = configure(&[img, "--config", missing.to_str().unwrap()]);
    assert_clean_error(&out, 1, "reading the config file");
    unchanged();

    // Bad command-line values: status 2.
    for (args, needle) in [
        (
            vec!["--wifi-ssid", "x", "--wifi-key", "short"],
            "--wifi-ssid/--wifi-key",
        ),
        (vec!["--wifi-ssid", &"x".repeat(40)], "1 to 32 bytes"),
        (
            vec![
                "--wifi-ssid",
                "x",
                "--ip",
                "10.0.0.2",
                "--netmask",
                "255.0.255.0",
                "--gateway",
                "10.0.0.1",
            ],
            "--netmask",
        ),
        (vec!["--ip", "10.0.0.2"], "--netmask"),
        (vec!["--wifi-key", "secretpass"], "--wifi-ssid"),
        (vec![], "nothing to configure"),
        (vec!["--version", "6.0.10+rev1"], "--fleet"),
        (
            vec!["--config", "a.json", "--fleet", "x"],
            "cannot be used with",
        ),
        (vec!["--device-type", ""], "must not be empty"),
    ] {
        let mut full = vec![img];
        full.extend(args.iter().copied());
        let (out, connections) = configure(&full);
        assert_clean_error(&out, 2, needle);
        assert_eq!(connections, 0);
        unchanged();
    }

    // A device type that is not the image's.
    let (out, _) = configure(&[img, "--device-type", "intel-nuc"]);
    assert_clean_error(&out, 1, "is a raspberrypi3 image");
    unchanged();
    // An alias of the image's device type is accepted.
    let (out, _) = configure(&[img, "--device-type", "raspberry-pi3", "--dry-run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    unchanged();
}

#[test]
fn files_that_are_not_images_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.img");
    let bytes: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&junk, &bytes).unwrap();
    let cfg = write_config(dir.path(), &json!({"deviceType": "raspberrypi3"}));
    let (out, _) = configure(&[junk.to_str().unwrap(), "--config", cfg.to_str().unwrap()]);
    assert_clean_error(&out, 1, "does not look like a balenaOS image");
    assert_eq!(std::fs::read(&junk).unwrap(), bytes);

    let (out, _) = configure(&[
        dir.path().join("missing.img").to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_clean_error(&out, 1, "opening");
    let (out, _) = configure(&[
        dir.path().to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
}

#[test]
fn read_only_images_are_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let image = build_image(dir.path());
    let before = std::fs::read(&image).unwrap();
    std::fs::set_permissions(&image, std::fs::Permissions::from_mode(0o444)).unwrap();
    let (out, _) = configure(&[image.to_str().unwrap(), "--wifi-ssid", "x"]);
    if nix_is_root() {
        // root may write anyway; then the image must at least be valid.
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        fsck_boot(&image, dir.path());
    } else {
        assert_clean_error(&out, 1, "the image was not modified");
        assert_eq!(std::fs::read(&image).unwrap(), before);
    }
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn fleet_config_comes_from_the_api() {
    let api = api();
    let dir = tempfile::tempdir().unwrap();
    let image = build_image(dir.path());
    let before = std::fs::read(&image).unwrap();
    // Without credentials the private fleet is not found; the image is untouched.
    let out = bos(&[
        "configure",
        image.to_str().unwrap(),
        "--fleet",
        "demo/kiosk-rpi3",
    ]);
    assert_clean_error(&out, 1, "application not found");
    assert_eq!(std::fs::read(&image).unwrap(), before);

    // The version comes from the image's /os-release, the device type from
    // its device-type.json; the config from the server's /download-config.
    let out = bos(&[
        "configure",
        image.to_str().unwrap(),
        "--fleet",
        "demo/kiosk-rpi3",
        "--api-key",
        &api.demo_key,
        "--wifi-ssid",
        "home",
        "--wifi-key",
        "secretpass",
        "--dev",
        "--poll-interval",
        "20",
        "--json",
    ]);
    let report = json_ok(&out);
    assert_eq!(report["osVersion"], "6.0.10+rev1");
    let written: Value = serde_json::from_str(&mtype(&image, "config.json")).unwrap();
    assert_eq!(written, report["config"]);
    assert_eq!(written["applicationId"], fleet_id("demo/kiosk-rpi3"));
    assert_eq!(written["deviceType"], "raspberrypi3");
    assert_eq!(written["developmentMode"], true);
    assert_eq!(written["appUpdatePollInterval"], 20 * 60_000);
    assert!(written["apiKey"].as_str().is_some_and(|k| !k.is_empty()));
    // Network keys became a keyfile.
    assert!(written.get("wifiSsid").is_none(), "{written}");
    let wifi = mtype(&image, "system-connections/balena-wifi-01");
    assert!(
        wifi.contains("\nssid=home\n") && wifi.contains("psk=secretpass"),
        "{wifi}"
    );
    fsck_boot(&image, dir.path());

    // A fleet of another device type is refused before anything is written.
    let configured = std::fs::read(&image).unwrap();
    let out = bos(&[
        "configure",
        image.to_str().unwrap(),
        "--fleet",
        "demo/kiosk-rpi3",
        "--api-key",
        &api.demo_key,
        "--device-type",
        "intel-nuc",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(std::fs::read(&image).unwrap(), configured);
}

const DEVICE_UUID: &str = "0123456789abcdef0123456789abcdef";

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn device_mode_on_a_fleet_config_from_the_api() {
    let api = api();
    let dir = tempfile::tempdir().unwrap();
    let image = build_image(dir.path());
    let started = unix_now();
    let out = bos(&[
        "configure",
        image.to_str().unwrap(),
        "--fleet",
        "demo/kiosk-rpi3",
        "--api-key",
        &api.demo_key,
        "--device-uuid",
        DEVICE_UUID,
        "--device-api-key",
        "d3v1ce-k3y",
        "--device-id",
        "4242",
        "--json",
    ]);
    let report = json_ok(&out);
    let written: Value = serde_json::from_str(&mtype(&image, "config.json")).unwrap();
    assert_eq!(written, report["config"]);
    // The fleet's config, turned into the device's: no provisioning key.
    assert_eq!(written["applicationId"], fleet_id("demo/kiosk-rpi3"));
    assert_eq!(written["deviceType"], "raspberrypi3");
    assert!(written.get("apiKey").is_none(), "{written}");
    assert_eq!(written["uuid"], DEVICE_UUID);
    assert_eq!(written["deviceApiKey"], "d3v1ce-k3y");
    assert_eq!(written["deviceId"], 4242);
    let registered = written["registered_at"].as_u64().expect("registered_at");
    assert!((started..=unix_now()).contains(&registered), "{registered}");
    fsck_boot(&image, dir.path());
}

#[test]
fn device_mode_offline_and_again_on_the_images_own_config() {
    let dir = tempfile::tempdir().unwrap();
    let image = build_image(dir.path());
    let long_uuid = "ab".repeat(31);
    let cfg_path = write_config(
        dir.path(),
        &json!({
            "applicationId": 1234,
            "deviceType": "raspberrypi3",
            "apiEndpoint": "https://api.example.com",
            "apiKey": "provisioning-key"
        }),
    );
    let (out, connections) = configure(&[
        image.to_str().unwrap(),
        "--config",
        cfg_path.to_str().unwrap(),
        "--device-uuid",
        &long_uuid,
        "--device-api-key",
        "k",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(connections, 0);
    let first: Value = serde_json::from_str(&mtype(&image, "config.json")).unwrap();
    let registered = first["registered_at"].as_u64().expect("registered_at");
    assert_eq!(
        first,
        json!({
            "applicationId": 1234,
            "deviceType": "raspberrypi3",
            "apiEndpoint": "https://api.example.com",
            "uuid": long_uuid,
            "deviceApiKey": "k",
            "registered_at": registered
        })
    );
    let configured = std::fs::read(&image).unwrap();

    // Again from the image's own config.json, a second later: the same
    // device keeps its registration time, so the bytes do not change.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (out, _) = configure(&[
        image.to_str().unwrap(),
        "--device-uuid",
        &long_uuid,
        "--device-api-key",
        "k",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read(&image).unwrap(), configured);

    // Another device on the same image: its own uuid, key and time.
    let (out, _) = configure(&[
        image.to_str().unwrap(),
        "--device-uuid",
        DEVICE_UUID,
        "--device-api-key",
        "other",
        "--device-id",
        "7",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let second: Value = serde_json::from_str(&mtype(&image, "config.json")).unwrap();
    assert_eq!(second["uuid"], DEVICE_UUID);
    assert_eq!(second["deviceApiKey"], "other");
    assert_eq!(second["deviceId"], 7);
    assert!(second["registered_at"].as_u64().unwrap() > registered);
    assert_eq!(second["applicationId"], 1234);
    fsck_boot(&image, dir.path());
}

#[test]
fn device_mode_arguments_are_checked_before_anything_happens() {
    let dir = tempfile::tempdir().unwrap();
    let image = build_image(dir.path());
    let before = std::fs::read(&image).unwrap();
    let img = image.to_str().unwrap();
    let upper = DEVICE_UUID.to_uppercase();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--device-uuid", "0123", "--device-api-key", "k"],
            "32 or 62 lowercase hexadecimal digits",
        ),
        (
            vec!["--device-uuid", &upper, "--device-api-key", "k"],
            "32 or 62 lowercase hexadecimal digits",
        ),
        (
            vec!["--device-uuid", DEVICE_UUID, "--device-api-key", ""],
            "the device API key is empty",
        ),
        (
            vec!["--device-uuid", DEVICE_UUID, "--device-api-key", "a key"],
            "printable ASCII",
        ),
        (vec!["--device-uuid", DEVICE_UUID], "--device-api-key"),
        (vec!["--device-api-key", "k"], "--device-uuid"),
        (
            vec!["--device-id", "3", "--wifi-ssid", "x"],
            "--device-uuid",
        ),
        (
            vec![
                "--device-uuid",
                DEVICE_UUID,
                "--device-api-key",
                "k",
                "--device-id",
                "0",
            ],
            "--device-id",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec![img];
        all.extend(args.iter().copied());
        let (out, connections) = configure(&all);
        assert_clean_error(&out, 2, needle);
        assert_eq!(connections, 0, "{args:?}");
        assert_eq!(std::fs::read(&image).unwrap(), before, "{args:?}");
    }
}
