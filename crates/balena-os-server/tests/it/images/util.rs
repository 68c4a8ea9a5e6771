//! Helpers for the image endpoint tests: HTTP with headers, the real
//! archive tools (gzip, unzip, mtools, fsck.fat), and reference images made
//! with balena-image from the stored parts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use balena_image::import::Artifact;
use balena_image::inflate::inflate_to_writer;
use balena_image::{
    Configuration, ConfiguredParts, DirPartStore, ImageManifest, configure_image_file,
    find_boot_partition,
};
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::common::TestServer;

/// A response, body included.
pub struct Got {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }

    /// The JSON string message of an error answer.
    pub fn message(&self) -> String {
        match self.json() {
            Value::String(s) => s,
            other => panic!("error body is not a JSON string: {other}"),
        }
    }
}

/// A client that does not decode `Content-Encoding` (the tests look at the
/// wire bytes).
pub fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .no_deflate()
        .build()
        .expect("client")
}

pub async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path_and_query: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    json_body: Option<&Value>,
) -> Got {
    let mut req = raw_client().request(method, format!("{}{}", server.url, path_and_query));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = json_body {
        req = req.json(b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body").to_vec();
    Got {
        status,
        headers,
        body,
    }
}

pub async fn get(server: &TestServer, path_and_query: &str, key: Option<&str>) -> Got {
    send(server, reqwest::Method::GET, path_and_query, key, &[], None).await
}

pub async fn get_with(
    server: &TestServer,
    path_and_query: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
) -> Got {
    send(
        server,
        reqwest::Method::GET,
        path_and_query,
        key,
        headers,
        None,
    )
    .await
}

/// A GET through the `curl` binary (its own HTTP stack, no decoding):
/// status, lower-cased response headers and the body bytes.
pub async fn curl(
    server: &TestServer,
    path_and_query: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, std::collections::BTreeMap<String, String>, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (head, body) = (dir.path().join("head"), dir.path().join("body"));
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(["-sS", "--http1.1", "-D"])
        .arg(&head)
        .arg("-o")
        .arg(&body);
    if let Some(k) = key {
        cmd.arg("-H").arg(format!("Authorization: Bearer {k}"));
    }
    for (k, v) in headers {
        cmd.arg("-H").arg(format!("{k}: {v}"));
    }
    let status = cmd
        .arg(format!("{}{path_and_query}", server.url))
        .status()
        .await
        .expect("curl is needed (apt-get install curl)");
    assert!(status.success(), "curl failed: {status}");
    let head = std::fs::read_to_string(&head).expect("headers");
    let mut lines = head.lines();
    let code = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let fields = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (code, fields, std::fs::read(&body).unwrap_or_default())
}

/// The parts of a `multipart/byteranges` body (RFC 9110 §14.6, RFC 2046
/// §5.1.1): each part's `Content-Range` and bytes. Panics on anything
/// that is not such a body with this boundary.
pub fn byteranges(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }
    // Every delimiter is CRLF "--" boundary; the first one's CRLF may be
    // the start of the body.
    let delimiter = format!("\r\n--{boundary}");
    let mut text = b"\r\n".to_vec();
    text.extend_from_slice(body);
    let mut rest = &text[..];
    let mut parts = Vec::new();
    let at = find(rest, delimiter.as_bytes()).expect("first delimiter");
    assert!(
        rest[..at].is_empty(),
        "no preamble expected: {:?}",
        String::from_utf8_lossy(&rest[..at])
    );
    rest = &rest[at + delimiter.len()..];
    loop {
        if let Some(after) = rest.strip_prefix(b"--") {
            assert_eq!(after, b"\r\n", "nothing after the close delimiter");
            return parts;
        }
        rest = rest.strip_prefix(b"\r\n").expect("CRLF after a delimiter");
        let head_end = find(rest, b"\r\n\r\n").expect("end of part headers");
        let head = std::str::from_utf8(&rest[..head_end]).expect("ASCII part headers");
        let range = head
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("content-range"))
            .map(|(_, v)| v.trim().to_owned())
            .expect("Content-Range in each part");
        rest = &rest[head_end + 4..];
        let next = find(rest, delimiter.as_bytes()).expect("next delimiter");
        parts.push((range, rest[..next].to_vec()));
        rest = &rest[next + delimiter.len()..];
    }
}

/// The image store of a test server.
pub fn images_dir(server: &TestServer) -> PathBuf {
    server.data.path().join("images")
}

/// The complete release folders of a device type in a local store.
pub fn builds(root: &Path, slug: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root.join(slug))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The stored manifest of a release.
pub fn manifest(root: &Path, slug: &str, build: &str, artifact: Artifact) -> ImageManifest {
    let path = root.join(slug).join(build).join(artifact.manifest_name());
    ImageManifest::from_slice(&std::fs::read(&path).expect("manifest")).expect("parse manifest")
}

/// The raw image of a stored release, inflated from its parts.
pub fn reference_image(root: &Path, slug: &str, build: &str, artifact: Artifact) -> Vec<u8> {
    let m = manifest(root, slug, build, artifact);
    let (_, layout) = m.single().expect("single image");
    let store = DirPartStore::new(root.join(slug).join(build).join(artifact.parts_dir()));
    let mut out = Vec::new();
    inflate_to_writer(&ConfiguredParts::unconfigured(&layout), &store, &mut out, 0)
        .expect("inflate");
    out
}

/// `raw` configured in place (in a file) with `cfg`, as the CLI would.
pub fn configured_in_place(raw: &[u8], cfg: &Configuration) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("image.img");
    std::fs::write(&path, raw).expect("write");
    configure_image_file(&path, cfg).expect("configure in place");
    std::fs::read(&path).expect("read")
}

fn run(cmd: &mut Command, input: Option<&[u8]>) -> Vec<u8> {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (install gzip, unzip, mtools and dosfstools)"));
    if let Some(data) = input {
        let mut stdin = child.stdin.take().expect("stdin");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `gzip -t` then `gzip -dc` of a gzip file.
pub fn gunzip(gz: &[u8]) -> Vec<u8> {
    run(Command::new("gzip").arg("-t"), Some(gz));
    run(Command::new("gzip").arg("-dc"), Some(gz))
}

/// `unzip -t` then `unzip -p` of a zip file; also returns the entry names
/// (`unzip -Z1`).
pub fn unzip(zip: &[u8]) -> (Vec<u8>, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("download.zip");
    std::fs::write(&path, zip).expect("write");
    run(Command::new("unzip").arg("-tq").arg(&path), None);
    let names = String::from_utf8(run(Command::new("unzip").arg("-Z1").arg(&path), None))
        .expect("names")
        .lines()
        .map(str::to_owned)
        .collect();
    (run(Command::new("unzip").arg("-p").arg(&path), None), names)
}

/// A file of the image's boot partition, read with mtools
/// (`mtype -i image@@offset ::path`).
pub fn mtype(img: &[u8], path: &str) -> Vec<u8> {
    let boot = find_boot_partition(&img.to_vec(), None).expect("boot partition");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("image.img");
    std::fs::write(&file, img).expect("write");
    run(
        Command::new("mtype")
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-i")
            .arg(format!("{}@@{}", file.display(), boot.start))
            .arg(format!("::{path}")),
        None,
    )
}

/// `fsck.fat -n` of the image's boot partition passes without changes to
/// make.
pub fn fsck_boot(img: &[u8]) {
    let boot = find_boot_partition(&img.to_vec(), None).expect("boot partition");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("boot.vfat");
    let (s, e) = (boot.start as usize, (boot.start + boot.len) as usize);
    std::fs::write(&file, &img[s..e]).expect("write");
    let out = Command::new("fsck.fat")
        .arg("-n")
        .arg(&file)
        .output()
        .expect("fsck.fat (dosfstools) is needed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.contains("differ") && !text.contains("Free cluster summary"),
        "fsck.fat -n: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Ids of applications by slug, as the demo user sees them.
pub async fn app_id(server: &TestServer, slug: &str, key: &str) -> i64 {
    let (status, body) = server
        .get(
            &format!(
                "/v7/application?$select=id&$filter=slug%20eq%20%27{}%27",
                slug.replace('/', "%2F")
            ),
            Some(key),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["d"][0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no application {slug}: {body}"))
}
