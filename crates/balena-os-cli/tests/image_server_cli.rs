//! The image endpoints through the `balena-os` binary: `serve --demo`
//! serves downloads out of the box, and `admin import-image` adds a release
//! that the running server then serves.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;

fn balena_os() -> Command {
    let mut c = Command::cargo_bin("balena-os").expect("balena-os binary");
    c.env_remove("BALENA_OS_DATABASE_URL")
        .env_remove("BALENA_OS_IMAGES");
    c
}

struct Serving {
    child: Child,
    url: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &std::path::Path) -> Serving {
    let mut child = balena_os()
        .args(["serve", "--listen", "127.0.0.1:0", "--demo", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start balena-os serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    Serving {
        child,
        url: line.trim().to_owned(),
    }
}

/// A tiny HTTP/1.1 GET returning (status, body bytes).
fn get(base: &str, path: &str) -> (u16, Vec<u8>) {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).expect("read");
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers");
    let head = String::from_utf8_lossy(&resp[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, resp[split + 4..].to_vec())
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).expect("JSON body")
}

#[test]
fn demo_server_downloads_and_import_image() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = serve(data.path());
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );

    // Out of the box: the demo catalog's device types have images.
    let (status, body) = get(
        &server.url,
        "/device-types/v1/raspberrypi3/images/latest/download-size",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(json(&body)["size"].as_u64().is_some_and(|s| s > 0));
    let (status, zip) = get(
        &server.url,
        "/download?deviceType=nuc&version=latest&fileType=.zip&developmentMode=true",
    );
    assert_eq!(status, 200);
    let file = data.path().join("nuc.zip");
    std::fs::write(&file, &zip).expect("write zip");
    let test = Command::new("unzip")
        .arg("-tq")
        .arg(&file)
        .status()
        .expect("unzip is needed");
    assert!(test.success());

    // admin import-image: a new raspberrypi3 release, served at once.
    let img = data.path().join("rpi3.img");
    let entry = serde_json::json!({
        "slug": "raspberrypi3", "name": "Raspberry Pi 3", "cpu_architecture": "armv7hf",
        "partition_table": "msdos", "boot_fs": "vfat-fat32"
    });
    balena_image::demo::DemoSpec::from_catalog_entry(&entry)
        .expect("spec")
        .os_version("7.1.2")
        .build()
        .expect("demo image")
        .write_to_path(&img)
        .expect("write image");
    let out = balena_os()
        .args(["admin", "--data"])
        .arg(data.path())
        .arg("import-image")
        .arg(&img)
        .args(["--device-type", "raspberrypi3", "--version", "7.1.2"])
        .output()
        .expect("run import-image");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out.stdout);
    assert_eq!(report["build"], "7.1.2");
    assert_eq!(report["catalog"]["releases_created"], 1);
    let (status, body) = get(
        &server.url,
        "/device-types/v1/raspberrypi3/images/7.1.2/download-size",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["size"], report["compressed_bytes"]);
    let (status, raw) = get(
        &server.url,
        "/download?deviceType=raspberrypi3&version=7.1.2",
    );
    assert_eq!(status, 200);
    assert!(raw == std::fs::read(&img).expect("read image"));

    // Importing the same version again needs --force.
    let again = balena_os()
        .args(["admin", "--data"])
        .arg(data.path())
        .arg("import-image")
        .arg(&img)
        .args(["--device-type", "raspberrypi3", "--version", "7.1.2"])
        .output()
        .expect("run import-image");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
}
