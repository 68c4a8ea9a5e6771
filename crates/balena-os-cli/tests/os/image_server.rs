//! A small real HTTP server in front of the demo catalog server, for the
//! download cases the real server does not produce on demand: it serves
//! one real image file (raw, gzip or zip, made with the real tools) at
//! `/download` slowly, or cuts the connection mid-body, with or without
//! `Range` support, and records the query strings it got. Every other
//! request (the `/v7` catalog queries the SDK makes first) passes through
//! to the catalog server unchanged.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::common::api;

/// The files served.
pub struct Files {
    /// The raw image.
    pub img: Vec<u8>,
    /// `gzip -n` of it.
    pub gz: Vec<u8>,
    /// `zip` of it.
    pub zip: Vec<u8>,
}

static FILES: OnceLock<Files> = OnceLock::new();

/// A small real balenaOS-like image (balena-image's demo generator) and its
/// gzip and zip forms made by the real tools.
pub fn files() -> &'static Files {
    FILES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let img_path = dir.path().join("raspberrypi3.img");
        balena_image::demo::DemoSpec::new("raspberrypi3")
            .boot_fat(balena_image::demo::DemoFat::Fat16)
            .sizes(1 << 20, 1 << 20)
            .build()
            .expect("demo image")
            .write_to_path(&img_path)
            .expect("write demo image");
        let img = std::fs::read(&img_path).expect("read image");
        let gz = std::process::Command::new("gzip")
            .args(["-c", "-n", "-6"])
            .arg(&img_path)
            .output()
            .expect("gzip is required (apt-get install gzip)");
        assert!(gz.status.success());
        let zip_path = dir.path().join("raspberrypi3.zip");
        let z = std::process::Command::new("zip")
            .current_dir(dir.path())
            .args(["-q", "-j"])
            .arg(&zip_path)
            .arg(&img_path)
            .status()
            .expect("zip is required (apt-get install zip)");
        assert!(z.success());
        Files {
            img,
            gz: gz.stdout,
            zip: std::fs::read(&zip_path).expect("read zip"),
        }
    })
}

/// How the server behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Send the body in 16 KiB pieces, 40 ms apart.
    pub slow: bool,
    /// Close the first download's connection after this many body bytes.
    pub cut_first_at: Option<usize>,
    /// Advertise and honour `Range` requests (with an ETag).
    pub ranges: bool,
}

/// The running server.
pub struct ImageServer {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// Query strings of the `/download` requests, in order.
    pub downloads: Arc<Mutex<Vec<String>>>,
    /// `Range` headers of the `/download` requests.
    pub ranges: Arc<Mutex<Vec<Option<String>>>>,
    /// Requests passed through to the catalog server.
    pub passed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Drop for ImageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

/// The version for which `/download` answers 404.
pub const MISSING_VERSION: &str = "2.0.0+rev1";

impl ImageServer {
    /// Starts a server.
    pub fn start(behaviour: Behaviour) -> Self {
        let upstream = api().url.trim_start_matches("http://").to_owned();
        files();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let downloads = Arc::new(Mutex::new(Vec::new()));
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let passed = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let first_cut = Arc::new(AtomicBool::new(behaviour.cut_first_at.is_some()));
        {
            let downloads = downloads.clone();
            let ranges = ranges.clone();
            let passed = passed.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let ctx = Ctx {
                        upstream: upstream.clone(),
                        behaviour,
                        downloads: downloads.clone(),
                        ranges: ranges.clone(),
                        passed: passed.clone(),
                        first_cut: first_cut.clone(),
                    };
                    std::thread::spawn(move || {
                        let _ = handle(conn, &ctx);
                    });
                }
            });
        }
        ImageServer {
            url,
            downloads,
            ranges,
            passed,
            stop,
        }
    }

    /// The `/download` query strings so far.
    pub fn download_queries(&self) -> Vec<String> {
        self.downloads.lock().unwrap().clone()
    }
}

struct Ctx {
    upstream: String,
    behaviour: Behaviour,
    downloads: Arc<Mutex<Vec<String>>>,
    ranges: Arc<Mutex<Vec<Option<String>>>>,
    passed: Arc<AtomicUsize>,
    first_cut: Arc<AtomicBool>,
}

/// Reads the request head (through the blank line).
fn read_head(conn: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Decodes `a=b&c=d` (percent-encoding included).
pub fn query_map(query: &str) -> BTreeMap<String, String> {
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%'
                && i + 2 < bytes.len()
                && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn handle(mut conn: TcpStream, ctx: &Ctx) -> std::io::Result<()> {
    let head = read_head(&mut conn)?;
    let target = head.split(' ').nth(1).unwrap_or("/").to_owned();
    if let Some(query) = target.strip_prefix("/download?") {
        return serve_download(conn, ctx, &head, query);
    }
    ctx.passed.fetch_add(1, Ordering::SeqCst);
    pass_through(conn, &ctx.upstream, &head)
}

/// Sends the request to the catalog server with `Connection: close` and
/// copies the answer back.
fn pass_through(mut conn: TcpStream, upstream: &str, head: &str) -> std::io::Result<()> {
    let mut up = TcpStream::connect(upstream)?;
    let mut out = String::new();
    for (i, line) in head.split("\r\n").enumerate() {
        if line.is_empty() {
            continue;
        }
        if i > 0 && line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes())?;
    if let Some(n) = header(head, "content-length").and_then(|v| v.parse::<u64>().ok()) {
        let mut body = (&mut conn).take(n);
        std::io::copy(&mut body, &mut up)?;
    }
    std::io::copy(&mut up, &mut conn)?;
    conn.shutdown(Shutdown::Both)
}

fn serve_download(mut conn: TcpStream, ctx: &Ctx, head: &str, query: &str) -> std::io::Result<()> {
    ctx.downloads.lock().unwrap().push(query.to_owned());
    let range = header(head, "range").map(str::to_owned);
    ctx.ranges.lock().unwrap().push(range.clone());
    let q = query_map(query);
    if q.get("version").map(String::as_str) == Some(MISSING_VERSION) {
        let body = "\"No such version for the device type\"";
        return write!(
            conn,
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
    let f = files();
    let (data, ctype, name): (&[u8], &str, &str) = match q.get("fileType").map(String::as_str) {
        Some(".gz") => (&f.gz, "application/octet-stream", "image.img.gz"),
        Some(".zip") => (&f.zip, "application/zip", "image.zip"),
        _ => (&f.img, "application/octet-stream", "image.img"),
    };
    let start = match (&range, ctx.behaviour.ranges) {
        (Some(r), true) => r
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
            .min(data.len()),
        _ => 0,
    };
    let mut headers = format!(
        "Content-Type: {ctype}\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Length: {}\r\nConnection: close\r\n",
        data.len() - start
    );
    if ctx.behaviour.ranges {
        headers.push_str("Accept-Ranges: bytes\r\nETag: \"image-v1\"\r\n");
    }
    let status = if start > 0 {
        headers.push_str(&format!(
            "Content-Range: bytes {start}-{}/{}\r\n",
            data.len() - 1,
            data.len()
        ));
        "206 Partial Content"
    } else {
        "200 OK"
    };
    write!(conn, "HTTP/1.1 {status}\r\n{headers}\r\n")?;
    let mut body = &data[start..];
    if let Some(cut) = ctx.behaviour.cut_first_at
        && ctx.first_cut.swap(false, Ordering::SeqCst)
    {
        conn.write_all(&body[..cut.min(body.len())])?;
        conn.flush()?;
        // An abrupt end of the connection mid-body.
        return conn.shutdown(Shutdown::Both);
    }
    while !body.is_empty() {
        let n = if ctx.behaviour.slow {
            16 * 1024
        } else {
            1 << 20
        }
        .min(body.len());
        conn.write_all(&body[..n])?;
        body = &body[n..];
        if ctx.behaviour.slow {
            std::thread::sleep(Duration::from_millis(40));
        }
    }
    conn.flush()?;
    conn.shutdown(Shutdown::Both)
}

/// Lists the names in a directory.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn query_strings_are_decoded() {
    let q = query_map("deviceType=raspberrypi3&version=6.0.10%2Brev1&wifiSsid=my%20net");
    assert_eq!(q["version"], "6.0.10+rev1");
    assert_eq!(q["wifiSsid"], "my net");
}
