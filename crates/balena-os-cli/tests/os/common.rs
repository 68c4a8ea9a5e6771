//! Shared helpers: the real catalog server (in-process, demo catalog, real
//! SQLite file, real loopback port), running the `balena-os` binary, raw
//! HTTP reads of the catalog, and the SDK as an oracle for `--json`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// The running demo server.
pub struct Api {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The demo user's API key (sees the demo organisation's fleets).
    pub demo_key: String,
    /// An empty directory used as HOME, so no balena CLI token is found.
    pub home: PathBuf,
}

static API: OnceLock<Api> = OnceLock::new();

/// A scratch directory under the target dir (kept small, removed by
/// `cargo clean`); each test process uses its own.
fn scratch() -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("balena-os-cli-os-tests");
    let dir = base.join(std::process::id().to_string());
    // Leftovers of earlier runs (this process's statics are never dropped).
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            if e.path() != dir {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Starts the demo server once per test process.
pub fn api() -> &'static Api {
    API.get_or_init(|| {
        let root = scratch();
        let data = root.join("data");
        let home = root.join("home");
        std::fs::create_dir_all(&home).expect("home dir");
        let (tx, rx) = std::sync::mpsc::channel();
        let data_dir = data.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let server = balena_os_server::Server::builder()
                    .data_dir(&data_dir)
                    .demo(true)
                    .build()
                    .await
                    .expect("start the demo server");
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("addr");
                tx.send(addr).expect("send addr");
                server
                    .serve(listener, std::future::pending::<()>())
                    .await
                    .expect("serve");
            });
        });
        let addr = rx
            .recv_timeout(std::time::Duration::from_secs(300))
            .expect("the demo server did not start");
        let demo_key = std::fs::read_to_string(data.join(balena_os_server::DEMO_KEY_FILE))
            .expect("demo key file")
            .trim()
            .to_owned();
        Api {
            url: format!("http://{addr}"),
            demo_key,
            home,
        }
    })
}

/// The `balena-os` binary with a clean environment pointing at `url`.
pub fn cli_at(url: &str) -> Command {
    let mut c = Command::cargo_bin("balena-os").expect("balena-os binary");
    let home = &api_home();
    c.env("BALENA_API_URL", url)
        .env("HOME", home)
        .env_remove("BALENA_API_KEY")
        .env_remove("BALENARC_DATA_DIRECTORY")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .stdin(Stdio::null());
    c
}

fn api_home() -> PathBuf {
    match API.get() {
        Some(a) => a.home.clone(),
        None => {
            // Commands that never reach a server still need a HOME without a token.
            let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join("balena-os-cli-empty-home");
            std::fs::create_dir_all(&p).expect("home");
            p
        }
    }
}

/// The binary pointed at the demo server.
pub fn cli() -> Command {
    cli_at(&api().url)
}

/// Runs a command and returns its output.
pub fn run(mut c: Command) -> Output {
    c.output().expect("run balena-os")
}

/// Runs `balena-os ARGS` against the demo server.
pub fn bos(args: &[&str]) -> Output {
    let mut c = cli();
    c.args(args);
    run(c)
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The exit status (panics on death by signal).
pub fn code(o: &Output) -> i32 {
    o.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {o:?}"))
}

/// Asserts success and parses stdout as exactly one JSON document.
pub fn json_ok(o: &Output) -> Value {
    assert_eq!(code(o), 0, "stderr: {}", stderr(o));
    parse_one_json(&stdout(o))
}

/// Parses text that must hold exactly one JSON document (and a newline).
pub fn parse_one_json(text: &str) -> Value {
    assert!(
        text.ends_with('\n'),
        "JSON output ends with a newline: {text:?}"
    );
    assert_eq!(
        text.trim_end().lines().count(),
        1,
        "one compact JSON document: {text}"
    );
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Percent-encodes a query string value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A raw HTTP/1.1 GET against the demo server, returning the `d` rows.
pub fn rows(path_and_query: &str, key: Option<&str>) -> Vec<Value> {
    let base = api().url.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&base).expect("connect");
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path_and_query} HTTP/1.1\r\nHost: {base}\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).expect("read");
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{body}");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["d"].as_array().cloned().expect("d rows")
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    out
}

/// The id of a demo fleet (read with the demo key).
pub fn fleet_id(slug: &str) -> u64 {
    let rows = rows(
        &format!(
            "/v7/application?$select=id&$filter={}",
            enc(&format!("slug eq '{slug}'"))
        ),
        Some(&api().demo_key),
    );
    rows[0]["id"].as_u64().expect("fleet id")
}

/// Runs an SDK call against the demo server (the oracle for `--json`).
pub fn sdk<T, F, Fut>(f: F) -> T
where
    F: FnOnce(balena_sdk::Balena) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let balena = balena_sdk::Balena::builder()
        .api_url(api().url.clone())
        .no_proxy()
        .build()
        .expect("SDK client");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f(balena))
}

/// A loopback port that counts connection attempts and never answers, to
/// prove that a command sent nothing.
pub struct Silent {
    listener: std::net::TcpListener,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl Silent {
    /// Binds a new port.
    pub fn new() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        Silent { listener, url }
    }

    /// How many connections were made so far (they wait in the backlog).
    pub fn connections(&self) -> usize {
        self.listener.set_nonblocking(true).expect("nonblocking");
        let mut n = 0;
        while self.listener.accept().is_ok() {
            n += 1;
        }
        n
    }
}

/// Error output must be short, clear and free of panics.
pub fn assert_clean_error(o: &Output, status: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(code(o), status, "stdout: {}\nstderr: {err}", stdout(o));
    assert!(
        err.contains(needle),
        "stderr should mention {needle:?}: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("RUST_BACKTRACE"), "{err}");
}
