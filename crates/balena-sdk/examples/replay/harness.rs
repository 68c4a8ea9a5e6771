//! Replays node-sdk-wire conformance cases against the Rust SDK.
//!
//! For each case: a loopback server answers with the recorded
//! `canned_responses`, the case's `method` + `args` are mapped generically to
//! the Rust call, and the harness checks that the same requests are sent
//! (method, host, path, decoded query — the raw URL byte for byte for pine
//! requests —, JSON body, `Authorization`) in the same order, and that the
//! result (or the typed error) matches. Where this SDK deliberately fixes
//! upstream behaviour, a rule in [`DEVIATIONS`] rewrites the expectation;
//! rules recognise behaviours in the data, never case ids.

use std::collections::BTreeMap;
use std::time::Duration;

use balena_sdk::request::{ApiRequest, Method, RequestKind, ResponseBody};
use balena_sdk::{
    AvailableOsVersionsOptions, Balena, ConfigOptions, DownloadOptions, Error, IdOrSlug, Network,
    OsType, PineOptions, SupportedOsUpdateVersionsOptions,
};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::server::{Canned, ReplayServer, Served};

/// Credentials used by the node-sdk-wire fixtures (tools/node-sdk-wire/fixtures-data.js).
pub mod tokens {
    pub const API_KEY: &str = "abcdefABCDEF0123456789apikey";
    pub const API_KEY_2: &str = "secondApiKey0000000000000000";
    pub const FRESH_JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6MSwiYWN0b3IiOjExLCJqd3Rfc2VjcmV0IjoieCIsImV4cCI6NDEwMjQ0NDgwMH0.c2lnbmF0dXJl";
    pub const OLD_JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6MSwiYWN0b3IiOjExLCJqd3Rfc2VjcmV0IjoieCIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwfQ.c2lnbmF0dXJl";
    pub const EXPIRED_JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6MSwiYWN0b3IiOjExLCJpYXQiOjE2MDAwMDAwMDAsImV4cCI6MTYwMDAwMDEwMH0.c2lnbmF0dXJl";

    /// Tokens named in sequence action labels.
    pub fn by_label(label: &str) -> Option<&'static str> {
        match label.trim() {
            "expired JWT" => Some(EXPIRED_JWT),
            "second key" => Some(API_KEY_2),
            "API key" | "first key" => Some(API_KEY),
            "fresh JWT" | "JWT" => Some(FRESH_JWT),
            "old JWT" => Some(OLD_JWT),
            _ => None,
        }
    }
}

/// Length of the fixtures' fake image.
pub const FIXTURE_IMAGE_LEN: usize = 65536;

/// The fixtures' fake image (or a prefix of its pattern).
pub fn image_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + 7) & 0xff) as u8).collect()
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A deliberate difference from the JS SDK, with the reason.
pub struct Deviation {
    pub name: &'static str,
    pub reason: &'static str,
}

/// Every rule the harness applies (see docs/compatibility.md, `## balena-sdk`).
pub const DEVIATIONS: &[Deviation] = &[
    Deviation {
        name: "download-validates-version-first",
        reason: "os.download rejects an invalid version before any request (upstream resolves the device type first)",
    },
    Deviation {
        name: "stream-error-body-parsed",
        reason: "download errors extract the message from a JSON body like every other request (upstream keeps the raw text)",
    },
    Deviation {
        name: "object-error-body-as-json",
        reason: "an error body without message/error fields is reported as its JSON text, not \"[object Object]\"",
    },
    Deviation {
        name: "progress-counts-wire-bytes",
        reason: "download progress counts bytes received on the wire, so `received` never overshoots `total` for gzip-encoded bodies",
    },
    Deviation {
        name: "deflate-decoded",
        reason: "a `Content-Encoding: deflate` body is decoded, as the advertised Accept-Encoding promises",
    },
    Deviation {
        name: "failures-not-cached",
        reason: "a failed call is never served from the cache; an immediate retry sends a new request",
    },
    Deviation {
        name: "structured-cache-keys",
        reason: "cache keys are structured, so a device type string containing a comma is not confused with a list",
    },
    Deviation {
        name: "download-size-404-is-image-not-found",
        reason: "getDownloadSize maps a 404 to OsImageNotFound like download does (upstream leaves a BalenaRequestError)",
    },
    Deviation {
        name: "missing-download-size-is-error",
        reason: "a download-size answer without `size` is a decode error, not `undefined`",
    },
    Deviation {
        name: "api-key-option-honoured",
        reason: "an API key given to the builder is used (getSdk({apiKey}) is silently ignored upstream)",
    },
    Deviation {
        name: "null-download-options-omitted",
        reason: "download options are typed; an option set to null is left out instead of being sent as an empty `key=`",
    },
    Deviation {
        name: "results-are-copies",
        reason: "cached results are handed out as independent copies; 'the same object' is checked as equal values",
    },
];

// ---------------------------------------------------------------- expectations

#[derive(Debug, Clone)]
enum ExpReq {
    /// A recorded request.
    Exact(Value),
    /// A request we expect where upstream sent none: method, path and a
    /// substring of the decoded `$filter`.
    Loose {
        method: String,
        path: String,
        filter_contains: String,
    },
}

#[derive(Debug, Clone)]
struct ExpStep {
    call: Call,
    result: Option<Value>,
    error: Option<Value>,
    undefined_paths: Vec<String>,
    requests: Vec<ExpReq>,
    /// Requests in this step may arrive in any order.
    unordered: bool,
}

#[derive(Debug, Clone)]
enum Call {
    Method { method: String, args: Vec<Value> },
    Action(String),
}

impl Call {
    fn same_call(&self, other: &Call) -> bool {
        match (self, other) {
            (Call::Method { method: a, args: x }, Call::Method { method: b, args: y }) => {
                a == b && x == y
            }
            _ => false,
        }
    }
}

struct Expectation {
    auth: String,
    api_url: String,
    steps: Vec<ExpStep>,
    /// Canned answers with the recorded request each one answered.
    canned: Vec<(Value, Option<Value>)>,
    extra_canned: Vec<Canned>,
    applied: Vec<&'static str>,
}

fn build_expectation(case: &Value) -> Result<Expectation, String> {
    let sdk = &case["sdk"];
    let method = case["method"].as_str().ok_or("case without method")?;
    let requests = case["requests"].as_array().cloned().unwrap_or_default();
    let mut steps = Vec::new();
    if method == "sequence" {
        let args = case["args"].as_array().ok_or("sequence without args")?;
        let outcomes = case["steps"].as_array().ok_or("sequence without steps")?;
        for (i, (a, o)) in args.iter().zip(outcomes).enumerate() {
            let call = match a.get("action").and_then(Value::as_str) {
                Some(label) => Call::Action(label.to_owned()),
                None => Call::Method {
                    method: a["method"].as_str().unwrap_or_default().to_owned(),
                    args: a["args"].as_array().cloned().unwrap_or_default(),
                },
            };
            let (result, error) = match &call {
                // An action's recorded result is the helper's own summary.
                Call::Action(_) => (o.get("result").cloned(), None),
                Call::Method { .. } => (o.get("result").cloned(), o.get("error").cloned()),
            };
            let reqs = requests
                .iter()
                .filter(|r| r["step"].as_u64() == Some(i as u64))
                .cloned()
                .map(ExpReq::Exact)
                .collect();
            steps.push(ExpStep {
                unordered: matches!(&call, Call::Action(l) if l.starts_with("Promise.all")),
                call,
                result: if o.get("result_is_undefined") == Some(&Value::Bool(true)) {
                    None
                } else {
                    result
                },
                error,
                undefined_paths: str_list(&o["result_undefined_paths"]),
                requests: reqs,
            });
        }
    } else {
        steps.push(ExpStep {
            call: Call::Method {
                method: method.to_owned(),
                args: case["args"].as_array().cloned().unwrap_or_default(),
            },
            result: if case.get("result_is_undefined") == Some(&Value::Bool(true)) {
                None
            } else {
                case.get("result").cloned()
            },
            error: case.get("error").cloned(),
            undefined_paths: str_list(&case["result_undefined_paths"]),
            requests: requests.into_iter().map(ExpReq::Exact).collect(),
            unordered: false,
        });
    }
    let mut exp = Expectation {
        auth: sdk["auth"].as_str().unwrap_or("apiKey").to_owned(),
        api_url: sdk["apiUrl"]
            .as_str()
            .unwrap_or("http://127.0.0.1:PORT")
            .to_owned(),
        steps,
        canned: {
            let answers = case["canned_responses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let recorded = case["requests"].as_array().cloned().unwrap_or_default();
            answers
                .into_iter()
                .enumerate()
                .map(|(i, a)| (a, recorded.get(i).cloned()))
                .collect()
        },
        extra_canned: Vec::new(),
        applied: Vec::new(),
    };
    apply_deviations(&mut exp);
    Ok(exp)
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn is_download(call: &Call) -> bool {
    matches!(call, Call::Method { method, .. } if method == "os.download")
}

fn req_index_of(exp: &Expectation, step: usize, r: usize) -> usize {
    exp.steps[..step]
        .iter()
        .map(|s| s.requests.len())
        .sum::<usize>()
        + r
}

fn apply_deviations(exp: &mut Expectation) {
    // download-validates-version-first: no request before the version error.
    for si in 0..exp.steps.len() {
        let s = &exp.steps[si];
        let msg = s
            .error
            .as_ref()
            .and_then(|e| e["message"].as_str())
            .unwrap_or_default();
        if is_download(&s.call)
            && (msg.starts_with("Invalid version:") || msg.starts_with("Invalid semver version:"))
        {
            let n = s.requests.len();
            let first = req_index_of(exp, si, 0);
            exp.canned.drain(first..(first + n).min(exp.canned.len()));
            exp.steps[si].requests.clear();
            exp.applied.push("download-validates-version-first");
        }
    }
    for s in &mut exp.steps {
        let Some(err) = &mut s.error else { continue };
        if err["name"] != "BalenaRequestError" {
            continue;
        }
        // stream-error-body-parsed: our download errors parse JSON bodies.
        if is_download(&s.call)
            && let Some(text) = err["body"].as_str()
            && let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(text)
        {
            err["body"] = Value::String(balena_sdk::request::error_message(&ResponseBody::Json(v)));
            exp.applied.push("stream-error-body-parsed");
        }
        // object-error-body-as-json
        if err["body"].is_object() {
            err["body"] = Value::String(err["body"].to_string());
            exp.applied.push("object-error-body-as-json");
        }
    }
    // failures-not-cached: a step that got a cached rejection re-sends the
    // request; the later identical call that did send it is then cached.
    for k in 0..exp.steps.len() {
        let s = &exp.steps[k];
        if s.error.is_none() || !s.requests.is_empty() {
            continue;
        }
        let earlier_failed = exp.steps[..k]
            .iter()
            .any(|j| j.call.same_call(&s.call) && j.error.is_some() && !j.requests.is_empty());
        if !earlier_failed {
            continue;
        }
        let later = (k + 1..exp.steps.len())
            .find(|&m| exp.steps[m].call.same_call(&s.call) && !exp.steps[m].requests.is_empty());
        if let Some(m) = later {
            let moved = std::mem::take(&mut exp.steps[m].requests);
            exp.steps[k].requests = moved;
            exp.steps[k].result = exp.steps[m].result.clone();
            exp.steps[k].error = exp.steps[m].error.clone();
            exp.steps[k].undefined_paths = exp.steps[m].undefined_paths.clone();
            exp.applied.push("failures-not-cached");
        }
    }
    // structured-cache-keys: a comma-joined device type string is its own key.
    for s in &mut exp.steps {
        let Call::Method { method, args } = &s.call else {
            continue;
        };
        let lists = method == "os.getAvailableOsVersions" || method == "os.getAllOsVersions";
        if let (true, Some(dt)) = (lists, args.first().and_then(Value::as_str))
            && dt.contains(',')
            && s.requests.is_empty()
            && s.error.is_none()
        {
            s.requests.push(ExpReq::Loose {
                method: "GET".into(),
                path: "/v7/application".into(),
                filter_contains: format!("in ('{}')", dt.replace('\'', "''")),
            });
            exp.extra_canned.push(Canned {
                key: None,
                status: 200,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: br#"{"d":[]}"#.to_vec(),
            });
            exp.applied.push("structured-cache-keys");
        }
    }
    for s in &mut exp.steps {
        let Call::Method { method, args } = &s.call else {
            continue;
        };
        // download-size-404-is-image-not-found
        if method == "os.getDownloadSize"
            && let Some(err) = &mut s.error
            && err["name"] == "BalenaRequestError"
            && err["statusCode"] == 404
        {
            let dt = args.first().and_then(Value::as_str).unwrap_or_default();
            let v = args.get(1).and_then(Value::as_str).unwrap_or("latest");
            *err = json!({
                "name": "OSImageNotFound",
                "message": format!("No image found for device type {dt} and version {v}"),
            });
            exp.applied.push("download-size-404-is-image-not-found");
        }
        // missing-download-size-is-error
        if method == "os.getDownloadSize" && s.result.is_none() && s.error.is_none() {
            s.error = Some(json!({"name": "Error", "message": "decode error"}));
            exp.applied.push("missing-download-size-is-error");
        }
        // null-download-options-omitted
        if method == "os.download"
            && let Some(obj) = args.first().and_then(Value::as_object)
        {
            let nulls: Vec<String> = obj
                .iter()
                .filter(|(_, v)| v.is_null())
                .map(|(k, _)| k.clone())
                .collect();
            if !nulls.is_empty() {
                for r in &mut s.requests {
                    if let ExpReq::Exact(req) = r
                        && req["path"] == "/download"
                        && let Some(q) = req["query"].as_object_mut()
                    {
                        for k in &nulls {
                            q.remove(k);
                        }
                    }
                }
                exp.applied.push("null-download-options-omitted");
            }
        }
    }
    // Rules checked in the result comparison (compare_download, run_action):
    // record where they apply.
    let encodings: Vec<String> = exp
        .canned
        .iter()
        .filter(|(c, _)| c["body"]["binary"] == true)
        .filter_map(|(c, _)| {
            let h = c["headers"].as_object()?;
            let enc = h
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-encoding"))?
                .1
                .as_str()?
                .to_owned();
            let has_len = h.keys().any(|k| k.eq_ignore_ascii_case("content-length"));
            Some(format!("{enc}{}", if has_len { "+length" } else { "" }))
        })
        .collect();
    if encodings.iter().any(|e| e == "gzip+length") {
        exp.applied.push("progress-counts-wire-bytes");
    }
    if encodings.iter().any(|e| e.starts_with("deflate")) {
        exp.applied.push("deflate-decoded");
    }
    if exp.steps.iter().any(|s| {
        s.unordered
            && s.result
                .as_ref()
                .is_some_and(|r| r.to_string().contains("same_"))
    }) {
        exp.applied.push("results-are-copies");
    }
    // api-key-option-honoured
    if exp.auth == "sdkApiKeyOption" {
        for s in &mut exp.steps {
            for r in &mut s.requests {
                if let ExpReq::Exact(req) = r
                    && req["host"]
                        .as_str()
                        .is_some_and(|h| h.starts_with("127.0.0.1"))
                {
                    req["headers"]["authorization"] =
                        Value::String(format!("Bearer {}", tokens::API_KEY));
                }
            }
        }
        exp.applied.push("api-key-option-honoured");
    }
}

// ---------------------------------------------------------------- canned answers

fn scrub_ports(text: &str, srv: &ReplayServer) -> String {
    text.replace(
        &format!("127.0.0.1:{}", srv.primary.port()),
        "127.0.0.1:PORT",
    )
    .replace(
        &format!("127.0.0.2:{}", srv.secondary.port()),
        "127.0.0.2:PORT",
    )
}

fn fill_ports(text: &str, srv: &ReplayServer) -> String {
    text.replace(
        "127.0.0.1:PORT",
        &format!("127.0.0.1:{}", srv.primary.port()),
    )
    .replace(
        "127.0.0.2:PORT",
        &format!("127.0.0.2:{}", srv.secondary.port()),
    )
}

/// Served lengths of compressed canned bodies: recorded length → actual.
type LengthMap = Vec<(u64, u64)>;

fn canned_response(
    resp: &Value,
    req: Option<&Value>,
    srv: &ReplayServer,
    lengths: &mut LengthMap,
) -> Result<Canned, String> {
    let status = resp["status"]
        .as_u64()
        .ok_or("canned response without status")? as u16;
    let mut headers: Vec<(String, String)> = resp["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), fill_ports(v.as_str().unwrap_or_default(), srv)))
                .collect()
        })
        .unwrap_or_default();
    let ct = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone());
    let body = &resp["body"];
    let bytes = if body.get("binary") == Some(&Value::Bool(true)) {
        let enc = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-encoding"))
            .map(|(_, v)| v.as_str());
        let compressed = body["gzip"] == true || body["note"] == "deflate" || enc.is_some();
        // Compressed bodies are the fixtures' 64 KiB image, compressed.
        let uncompressed = match body["uncompressed_length"].as_u64() {
            Some(n) => n,
            None if compressed => FIXTURE_IMAGE_LEN as u64,
            None => body["length"].as_u64().unwrap_or(0),
        } as usize;
        let raw = image_bytes(uncompressed);
        use std::io::Write;
        let data = if body["gzip"] == true || enc == Some("gzip") {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&raw).map_err(|e| e.to_string())?;
            e.finish().map_err(|e| e.to_string())?
        } else if body["note"] == "deflate" || enc == Some("deflate") {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&raw).map_err(|e| e.to_string())?;
            e.finish().map_err(|e| e.to_string())?
        } else {
            raw
        };
        if let Some(recorded) = body["length"].as_u64() {
            lengths.push((recorded, data.len() as u64));
        }
        for (k, v) in &mut headers {
            if k.eq_ignore_ascii_case("content-length")
                || k.eq_ignore_ascii_case("x-transfer-length")
            {
                *v = data.len().to_string();
            }
        }
        data
    } else {
        let data = match (ct.as_deref(), body) {
            (Some(c), v) if c.contains("application/json") => {
                fill_ports(&v.to_string(), srv).into_bytes()
            }
            (_, Value::String(s)) => fill_ports(s, srv).into_bytes(),
            (_, Value::Null) => Vec::new(),
            (_, v) => fill_ports(&v.to_string(), srv).into_bytes(),
        };
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        {
            headers.push(("Content-Length".into(), data.len().to_string()));
        }
        data
    };
    let key = req.map(|r| {
        let host = r["host"]
            .as_str()
            .unwrap_or_default()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        (
            r["method"].as_str().unwrap_or_default().to_owned(),
            host,
            r["raw_url"].as_str().unwrap_or_default().to_owned(),
        )
    });
    Ok(Canned {
        key,
        status,
        headers,
        body: bytes,
    })
}

// ---------------------------------------------------------------- dispatch

/// What a call produced.
enum Outcome {
    Value(Value),
    Failed(Error),
}

fn arg_err(msg: impl Into<String>) -> String {
    msg.into()
}

fn opt_pine(v: Option<&Value>) -> Result<Option<PineOptions>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(o) => PineOptions::from_json(o.clone())
            .map(Some)
            .map_err(|e| format!("pine options: {e}")),
    }
}

fn id_or_slug(v: &Value) -> Result<IdOrSlug, String> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .map(IdOrSlug::Id)
            .ok_or_else(|| arg_err(format!("id {n} is not a non-negative integer"))),
        Value::String(s) => Ok(IdOrSlug::Slug(s.clone())),
        other => Err(arg_err(format!("expected an id or a slug, got {other}"))),
    }
}

fn string_arg(args: &[Value], i: usize, default: Option<&str>) -> Result<String, String> {
    match (args.get(i), default) {
        (Some(Value::String(s)), _) => Ok(s.clone()),
        (None | Some(Value::Null), Some(d)) => Ok(d.to_owned()),
        (other, _) => Err(arg_err(format!(
            "argument {i}: expected a string, got {other:?}"
        ))),
    }
}

fn network_from(obj: &Map<String, Value>) -> Result<Option<Network>, String> {
    let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    match obj.get("network").and_then(Value::as_str) {
        None if obj.get("wifiSsid").is_some() || obj.get("wifiKey").is_some() => {
            Err("wifi settings without network: 'wifi'".into())
        }
        None => Ok(None),
        Some("ethernet") if obj.get("wifiSsid").is_some() || obj.get("wifiKey").is_some() => {
            Err("wifi settings with network: 'ethernet'".into())
        }
        Some("ethernet") => Ok(Some(Network::Ethernet)),
        Some("wifi") => Ok(Some(Network::Wifi {
            ssid: s("wifiSsid"),
            key: s("wifiKey"),
        })),
        Some(other) => Err(format!("unknown network {other:?}")),
    }
}

fn download_options(v: &Value) -> Result<DownloadOptions, String> {
    let obj = v.as_object().ok_or("download options must be an object")?;
    let mut o = DownloadOptions::new(
        obj.get("deviceType")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    for (k, val) in obj {
        if val.is_null() {
            continue;
        }
        let bad = || format!("download option {k}: unexpected value {val}");
        match k.as_str() {
            "deviceType" | "network" | "wifiKey" | "wifiSsid" => {}
            "version" => {
                o.version = Some(val.as_str().ok_or_else(bad)?.to_owned()).filter(|v| v != "latest")
            }
            "developmentMode" => o.development_mode = Some(val.as_bool().ok_or_else(bad)?),
            "appId" => o.app_id = Some(val.as_u64().ok_or_else(bad)?),
            "fileType" => {
                o.file_type = Some(
                    val.as_str()
                        .ok_or_else(bad)?
                        .parse()
                        .map_err(|e: Error| e.to_string())?,
                )
            }
            "imageType" => {
                o.image_type = Some(
                    val.as_str()
                        .ok_or_else(bad)?
                        .parse()
                        .map_err(|e: Error| e.to_string())?,
                )
            }
            "appUpdatePollInterval" => {
                o.app_update_poll_interval = Some(val.as_u64().ok_or_else(bad)?)
            }
            other => return Err(format!("download option {other} has no Rust equivalent")),
        }
    }
    o.network = network_from(obj)?;
    Ok(o)
}

fn config_options(v: &Value) -> Result<ConfigOptions, String> {
    let obj = v.as_object().ok_or("getConfig options must be an object")?;
    let mut o = ConfigOptions::new(
        obj.get("version")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    if let Some(n) = network_from(obj)? {
        o.network = n;
    }
    let ip = |val: &Value| -> Result<std::net::IpAddr, String> {
        val.as_str()
            .ok_or("expected a string")?
            .parse()
            .map_err(|e| format!("{e}"))
    };
    for (k, val) in obj {
        let bad = || format!("getConfig option {k}: unexpected value {val}");
        match k.as_str() {
            "version" | "network" | "wifiKey" | "wifiSsid" => {}
            "appUpdatePollInterval" => {
                o.app_update_poll_interval = Some(val.as_u64().ok_or_else(bad)?)
            }
            "provisioningKeyName" => {
                o.provisioning_key_name = Some(val.as_str().ok_or_else(bad)?.to_owned())
            }
            "provisioningKeyExpiryDate" => {
                o.provisioning_key_expiry_date = Some(val.as_str().ok_or_else(bad)?.to_owned())
            }
            "provisioningKeyDescription" => {
                o.provisioning_key_description = Some(val.as_str().ok_or_else(bad)?.to_owned())
            }
            "developmentMode" => o.development_mode = Some(val.as_bool().ok_or_else(bad)?),
            "ip" => o.ip = Some(ip(val)?),
            "gateway" => o.gateway = Some(ip(val)?),
            "netmask" => o.netmask = Some(ip(val)?),
            "deviceType" => o.device_type = Some(val.as_str().ok_or_else(bad)?.to_owned()),
            other => {
                o.extra.insert(other.to_owned(), val.clone());
            }
        }
    }
    Ok(o)
}

async fn consume_download(mut dl: balena_sdk::OsDownload) -> Result<Value, Error> {
    let mut data = Vec::new();
    while let Some(chunk) = dl.next().await {
        data.extend_from_slice(&chunk?);
    }
    let p = dl.progress();
    let event = if p.total.is_some() {
        json!({"total": p.total, "received": p.received, "percentage": p.percentage.map(|x| x.round() as u64)})
    } else {
        Value::Null
    };
    Ok(json!({
        "kind": "stream",
        "mime": dl.metadata().content_type,
        "response_status": dl.metadata().status,
        "bytes": data.len(),
        "sha256": sha256_hex(&data),
        "equals_uncompressed_image": data == image_bytes(FIXTURE_IMAGE_LEN),
        "progress_events": [event],
    }))
}

fn out<T: serde::Serialize>(r: Result<T, Error>) -> Result<Outcome, String> {
    match r {
        Ok(v) => serde_json::to_value(v)
            .map(Outcome::Value)
            .map_err(|e| e.to_string()),
        Err(e) => Ok(Outcome::Failed(e)),
    }
}

/// Maps a JS-shaped call onto the Rust SDK.
async fn dispatch(client: &Balena, method: &str, args: &[Value]) -> Result<Outcome, String> {
    let os = client.os();
    match method {
        "os.getAllOsVersions" | "os.getAvailableOsVersions" => {
            let pine = opt_pine(args.get(1))?;
            let available = method == "os.getAvailableOsVersions";
            let include_draft =
                args.get(2).and_then(|o| o.get("includeDraft")) == Some(&Value::Bool(true));
            let mut opts = AvailableOsVersionsOptions::new().include_draft(include_draft);
            opts.pine = pine.clone();
            match args.first() {
                Some(Value::String(dt)) if available => {
                    out(os.get_available_os_versions(dt, &opts).await)
                }
                Some(Value::String(dt)) => out(os.get_all_os_versions(dt, pine.as_ref()).await),
                Some(Value::Array(list)) => {
                    let dts: Vec<String> = list
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_owned)
                                .ok_or("device types must be strings")
                        })
                        .collect::<Result<_, _>>()?;
                    if available {
                        out(os.get_available_os_versions_for(&dts, &opts).await)
                    } else {
                        out(os.get_all_os_versions_for(&dts, pine.as_ref()).await)
                    }
                }
                other => Err(format!("device types: unexpected {other:?}")),
            }
        }
        "os.getMaxSatisfyingVersion" => {
            let dt = string_arg(args, 0, None)?;
            let range = string_arg(args, 1, Some("latest"))?;
            let os_type = match args.get(2) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.parse::<OsType>().map_err(|e| e.to_string())?),
                Some(other) => return Err(format!("osType: unexpected {other}")),
            };
            out(os
                .get_max_satisfying_version(&dt, &range, os_type.as_ref())
                .await)
        }
        "os.getDownloadSize" => out(os
            .get_download_size(
                &string_arg(args, 0, None)?,
                &string_arg(args, 1, Some("latest"))?,
            )
            .await),
        "os.download" => {
            let opts = download_options(args.first().ok_or("download needs options")?)?;
            match os.download(&opts).await {
                Ok(dl) => match consume_download(dl).await {
                    Ok(v) => Ok(Outcome::Value(v)),
                    Err(e) => Ok(Outcome::Failed(e)),
                },
                Err(e) => Ok(Outcome::Failed(e)),
            }
        }
        "os.getConfig" => {
            let app = id_or_slug(args.first().ok_or("getConfig needs an application")?)?;
            let opts = config_options(args.get(1).unwrap_or(&Value::Null))?;
            out(os.get_config(app, &opts).await)
        }
        "os.isSupportedOsUpdate" | "os.getOsUpdateType" => {
            let (dt, cur, tgt) = (
                string_arg(args, 0, None)?,
                string_arg(args, 1, None)?,
                string_arg(args, 2, None)?,
            );
            if method == "os.isSupportedOsUpdate" {
                out(os.is_supported_os_update(&dt, &cur, &tgt).await)
            } else {
                out(os.get_os_update_type(&dt, &cur, &tgt).await)
            }
        }
        "os.getSupportedOsUpdateVersions" => {
            let (dt, cur) = (string_arg(args, 0, None)?, string_arg(args, 1, None)?);
            let mut opts = SupportedOsUpdateVersionsOptions::new();
            if let Some(o) = args.get(2).and_then(Value::as_object) {
                if let Some(t) = o.get("osType").and_then(Value::as_str) {
                    opts = opts.os_type(t.parse().map_err(|e: Error| e.to_string())?);
                }
                opts = opts.include_draft(o.get("includeDraft") == Some(&Value::Bool(true)));
            }
            out(os.get_supported_os_update_versions(&dt, &cur, &opts).await)
        }
        "os.isArchitectureCompatibleWith" => Ok(Outcome::Value(Value::Bool(
            os.is_architecture_compatible_with(
                &string_arg(args, 0, None)?,
                &string_arg(args, 1, None)?,
            ),
        ))),
        "os.getSupervisorReleasesForCpuArchitecture" => {
            let arch = id_or_slug(args.first().ok_or("needs an architecture")?)?;
            let pine = opt_pine(args.get(1))?;
            out(os
                .get_supervisor_releases_for_cpu_architecture(arch, pine.as_ref())
                .await)
        }
        "deviceType.get" => {
            let id = id_or_slug(args.first().ok_or("needs a device type")?)?;
            let pine = opt_pine(args.get(1))?;
            out(client.device_types().get(id, pine.as_ref()).await)
        }
        "application.get" => {
            let id = id_or_slug(args.first().ok_or("needs an application")?)?;
            let pine = opt_pine(args.get(1))?;
            out(client.applications().get(id, pine.as_ref()).await)
        }
        "request.send" => {
            let o = args
                .first()
                .and_then(Value::as_object)
                .ok_or("request.send needs options")?;
            let m = match o.get("method").and_then(Value::as_str).unwrap_or("GET") {
                "GET" => Method::Get,
                "POST" => Method::Post,
                "PATCH" => Method::Patch,
                "DELETE" => Method::Delete,
                other => return Err(format!("method {other}")),
            };
            let url = o
                .get("url")
                .and_then(Value::as_str)
                .ok_or("request.send needs a url")?;
            let kind = if url.starts_with("/v7/") {
                RequestKind::Pine
            } else {
                RequestKind::Rest
            };
            let mut req = ApiRequest {
                method: m,
                path_and_query: url.to_owned(),
                body: o.get("body").cloned(),
                kind,
                send_token: true,
            };
            if o.get("sendToken") == Some(&Value::Bool(false)) {
                req.send_token = false;
            }
            if let Some(k) = o.get("apiKey").and_then(Value::as_str) {
                req = req.with_api_key_query(k);
            }
            match client.send(&req).await {
                Ok(r) => {
                    let body = match r.body {
                        ResponseBody::Json(v) => v,
                        ResponseBody::Text(t) => Value::String(t),
                    };
                    Ok(Outcome::Value(
                        json!({"statusCode": r.status, "body": body}),
                    ))
                }
                Err(e) => Ok(Outcome::Failed(e)),
            }
        }
        other => Err(format!("no Rust equivalent for {other}")),
    }
}

/// Runs a sequence action; returns its summary value.
async fn run_action(
    client: &Balena,
    label: &str,
    expected: Option<&Value>,
) -> Result<Value, String> {
    let l = label.trim();
    if let Some(inner) = l
        .strip_prefix("auth.")
        .unwrap_or(l)
        .strip_prefix("loginWithToken(")
        .and_then(|s| s.strip_suffix(')'))
    {
        let token = tokens::by_label(inner).ok_or_else(|| format!("unknown token {inner:?}"))?;
        // Upstream's summary is {error: <class>, message}; the class is what
        // is compared (messages are worded differently here).
        return Ok(match client.login_with_token(token) {
            Ok(()) => Value::Null,
            Err(e) => json!({"error": e.upstream_name()}),
        });
    }
    if l.strip_prefix("auth.").unwrap_or(l) == "logout()" {
        client.logout();
        return Ok(Value::Null);
    }
    if let Some(rest) = l.strip_prefix("wait ") {
        let ms: u64 = rest
            .split("ms")
            .next()
            .unwrap_or_default()
            .trim()
            .parse()
            .map_err(|_| format!("bad wait {l:?}"))?;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        return Ok(Value::Null);
    }
    if let Some(rest) = l.strip_prefix("Promise.all of ") {
        // "2x getAvailableOsVersions(intel-nuc) + 2x getDownloadSize(nuc, 6.0.10+rev1)"
        let mut calls = Vec::new();
        for part in rest.split(" + ") {
            let (n, call) = part
                .trim()
                .split_once("x ")
                .ok_or_else(|| format!("bad call {part:?}"))?;
            let n: usize = n.parse().map_err(|_| format!("bad count in {part:?}"))?;
            let (name, args) = call
                .split_once('(')
                .ok_or_else(|| format!("bad call {call:?}"))?;
            let args: Vec<Value> = args
                .trim_end_matches(')')
                .split(',')
                .map(|a| Value::String(a.trim().to_owned()))
                .collect();
            for _ in 0..n {
                calls.push((format!("os.{name}"), args.clone()));
            }
        }
        let futures = calls.iter().map(|(m, a)| dispatch(client, m, a));
        let outcomes = futures_util::future::join_all(futures).await;
        let mut lists: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut numbers = Vec::new();
        for ((m, a), o) in calls.iter().zip(outcomes) {
            match o? {
                Outcome::Value(v @ Value::Number(_)) => numbers.push(v),
                Outcome::Value(v) => lists.entry(format!("{m}{a:?}")).or_default().push(v),
                Outcome::Failed(e) => return Err(format!("{m}: {e}")),
            }
        }
        // Summarise in the recorded shape: identical calls returned equal
        // values ("the same object" upstream), and the numeric results.
        let same = lists.values().all(|vs| vs.windows(2).all(|w| w[0] == w[1]));
        let mut summary = Map::new();
        if let Some(Value::Object(exp)) = expected {
            for (k, v) in exp {
                if v.is_boolean() {
                    summary.insert(k.clone(), Value::Bool(same));
                } else if v.is_array() {
                    summary.insert(k.clone(), Value::Array(numbers.clone()));
                }
            }
        }
        return Ok(Value::Object(summary));
    }
    Err(format!("unknown action {label:?}"))
}

// ---------------------------------------------------------------- comparison

fn snake(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

/// Checks a Rust error against a recorded JS error.
fn match_error(js: &Value, e: &Error) -> Result<(), String> {
    let name = js["name"].as_str().unwrap_or_default();
    let msg = js["message"].as_str().unwrap_or_default();
    let ok = match (name, e) {
        (
            "BalenaRequestError",
            Error::RequestFailed {
                status, message, ..
            },
        ) => {
            js["statusCode"].as_u64() == Some(u64::from(*status))
                && js["body"].as_str() == Some(message.as_str())
        }
        ("BalenaNotLoggedIn", Error::Unauthorized { .. }) => true,
        ("BalenaExpiredToken", Error::ExpiredToken { .. }) => true,
        ("BalenaInvalidDeviceType", Error::InvalidDeviceType { device_type }) => {
            js["type"].as_str() == Some(device_type)
        }
        ("BalenaApplicationNotFound", Error::ApplicationNotFound { application }) => {
            js["application"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| js["application"].as_u64().map(|n| n.to_string()))
                == Some(application.clone())
        }
        ("BalenaAmbiguousApplication", Error::AmbiguousApplication { .. }) => true,
        ("BalenaInvalidParameterError", Error::InvalidParameter { name, value, .. }) => {
            js["parameterName"].as_str().map(snake).as_deref() == Some(*name)
                && js["suppliedValue"].as_str() == Some(value)
        }
        (
            "OSImageNotFound",
            Error::OsImageNotFound {
                device_type,
                version,
                image_type,
            },
        ) => {
            let upstream = match image_type {
                Some(t) => format!(
                    "No image found for device type {device_type}, version {version}, and image type {t}"
                ),
                None => {
                    format!("No image found for device type {device_type} and version {version}")
                }
            };
            upstream == msg
        }
        ("HUPActionError", Error::OsUpdate { source, .. }) => source.to_string() == msg,
        ("Error", Error::InvalidVersion { version, .. }) => {
            msg.strip_prefix("Invalid version: ")
                .or_else(|| msg.strip_prefix("Invalid semver version: "))
                == Some(version)
        }
        ("Error", Error::MissingParameter { name, .. }) => {
            msg.starts_with("An OS version is required") && *name == "version"
        }
        ("Error", Error::InvalidParameter { name, .. }) => {
            msg.starts_with("Filter arrays must have at least 1 element") && *name == "device_types"
        }
        ("Error", Error::UnexpectedResponse { .. }) => {
            msg.starts_with("Response was not a JSON object")
                || msg.starts_with("Invalid response received")
                || msg.starts_with("Returned multiple results")
        }
        ("Error", Error::Decode { .. }) => msg == "decode error",
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected {name} ({msg}), got {} ({e})",
            e.upstream_name()
        ))
    }
}

fn remove_path(v: &mut Value, path: &str) {
    // paths look like `[3].line` or `.raspberrypi3[2].line`
    let mut cur = v;
    let mut tokens = Vec::new();
    let mut buf = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !buf.is_empty() {
                    tokens.push(std::mem::take(&mut buf));
                }
            }
            '[' => {
                if !buf.is_empty() {
                    tokens.push(std::mem::take(&mut buf));
                }
                let idx: String = chars.by_ref().take_while(|&c| c != ']').collect();
                tokens.push(format!("#{idx}"));
            }
            c => buf.push(c),
        }
    }
    if !buf.is_empty() {
        tokens.push(buf);
    }
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    for t in parents {
        cur = match t.strip_prefix('#') {
            Some(i) => match cur.get_mut(i.parse::<usize>().unwrap_or(usize::MAX)) {
                Some(x) => x,
                None => return,
            },
            None => match cur.get_mut(t.as_str()) {
                Some(x) => x,
                None => return,
            },
        };
    }
    if let Some(obj) = cur.as_object_mut()
        && obj.get(last.as_str()).is_some_and(Value::is_null)
    {
        obj.remove(last.as_str());
    }
}

fn compare_download(
    exp: &Value,
    got: &Value,
    lengths: &LengthMap,
    canned: &[(Value, Option<Value>)],
) -> Result<(), String> {
    let mut exp = exp.clone();
    let last_binary = canned
        .iter()
        .map(|(c, _)| c)
        .rev()
        .find(|c| c["body"]["binary"] == true);
    let enc = last_binary.and_then(|c| {
        c["headers"]
            .as_object()
            .and_then(|h| {
                h.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-encoding"))
            })
            .map(|(_, v)| v.clone())
    });
    // deflate-decoded
    if enc.as_ref().and_then(Value::as_str) == Some("deflate") {
        let img = image_bytes(FIXTURE_IMAGE_LEN);
        exp["bytes"] = json!(img.len());
        exp["sha256"] = json!(sha256_hex(&img));
        exp["equals_uncompressed_image"] = json!(true);
    }
    // progress-counts-wire-bytes, with the served compressed lengths.
    if let Some(ev) = exp["progress_events"]
        .as_array_mut()
        .and_then(|a| a.last_mut())
        && ev.is_object()
    {
        let map = |n: &Value| {
            lengths
                .iter()
                .find(|(r, _)| Some(*r) == n.as_u64())
                .map(|(_, s)| json!(s))
                .unwrap_or(n.clone())
        };
        let total = map(&ev["total"]);
        let received = map(&ev["received"]);
        ev["total"] = total.clone();
        ev["received"] = if enc.is_some() { total } else { received };
        ev["percentage"] = json!(100);
    }
    if let Some(a) = exp["progress_events"].as_array_mut() {
        let last = a.last().cloned();
        a.clear();
        a.extend(last);
    }
    if exp == *got {
        Ok(())
    } else {
        Err(format!(
            "download result differs:\n  expected {exp}\n  got      {got}"
        ))
    }
}

fn compare_request(exp: &ExpReq, got: &Served, srv: &ReplayServer) -> Result<(), String> {
    let host = scrub_ports(
        &format!(
            "{}:{}",
            got.host,
            if got.host == "127.0.0.1" {
                srv.primary.port()
            } else {
                srv.secondary.port()
            }
        ),
        srv,
    );
    let (path, query) = got.target.split_once('?').unwrap_or((&got.target, ""));
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let got_query: Vec<(String, String)> = if query.is_empty() {
        Vec::new()
    } else {
        query
            .split('&')
            .map(|p| {
                p.split_once('=')
                    .map_or((decode(p), String::new()), |(k, v)| (decode(k), decode(v)))
            })
            .collect()
    };
    match exp {
        ExpReq::Loose {
            method,
            path: p,
            filter_contains,
        } => {
            let filter = got_query
                .iter()
                .find(|(k, _)| k == "$filter")
                .map(|(_, v)| v.as_str())
                .unwrap_or_default();
            if &got.method == method && path == p && filter.contains(filter_contains.as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "expected {method} {p} with $filter containing {filter_contains:?}, got {} {}",
                    got.method, got.target
                ))
            }
        }
        ExpReq::Exact(r) => {
            let mut problems = Vec::new();
            if r["method"].as_str() != Some(got.method.as_str()) {
                problems.push(format!("method {} != {}", r["method"], got.method));
            }
            if r["host"].as_str() != Some(host.as_str()) {
                problems.push(format!("host {} != {host}", r["host"]));
            }
            if r["path"].as_str() != Some(decode(path).as_str()) {
                problems.push(format!("path {} != {}", r["path"], decode(path)));
            }
            let pine = path.starts_with("/v7/");
            let exp_raw = r["raw_url"].as_str().unwrap_or_default();
            if pine && exp_raw != got.target {
                problems.push(format!(
                    "raw url\n    expected {exp_raw}\n    got      {}",
                    got.target
                ));
            }
            let exp_query: BTreeMap<String, String> = r["query"]
                .as_object()
                .map(|q| {
                    q.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let got_map: BTreeMap<String, String> = got_query.iter().cloned().collect();
            if exp_query != got_map {
                problems.push(format!("query {exp_query:?} != {got_map:?}"));
            }
            let exp_body = &r["body"];
            let got_body: Value = if got.body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&got.body).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&got.body).into_owned())
                })
            };
            if *exp_body != got_body {
                problems.push(format!("body {exp_body} != {got_body}"));
            }
            let exp_auth = r["headers"]["authorization"].as_str();
            if exp_auth != got.header("authorization") {
                problems.push(format!(
                    "authorization {exp_auth:?} != {:?}",
                    got.header("authorization")
                ));
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} {}: {}",
                    r["method"].as_str().unwrap_or_default(),
                    r["path"].as_str().unwrap_or_default(),
                    problems.join("; ")
                ))
            }
        }
    }
}

fn compare_requests(step: &ExpStep, got: &[Served], srv: &ReplayServer) -> Vec<String> {
    let mut problems = Vec::new();
    if step.requests.len() != got.len() {
        problems.push(format!(
            "expected {} request(s), got {}: {:?}",
            step.requests.len(),
            got.len(),
            got.iter()
                .map(|g| format!("{} {}", g.method, g.target))
                .collect::<Vec<_>>()
        ));
        return problems;
    }
    if step.unordered {
        let mut used = vec![false; got.len()];
        for e in &step.requests {
            match (0..got.len()).find(|&i| !used[i] && compare_request(e, &got[i], srv).is_ok()) {
                Some(i) => used[i] = true,
                None => problems.push(format!("no matching request for {e:?}")),
            }
        }
    } else {
        for (e, g) in step.requests.iter().zip(got) {
            if let Err(p) = compare_request(e, g, srv) {
                problems.push(p);
            }
        }
    }
    problems
}

/// The outcome of one case.
pub struct CaseReport {
    pub id: String,
    pub failures: Vec<String>,
    pub deviations: Vec<&'static str>,
}

/// Replays one case on `srv`.
pub async fn run_case(case: &Value, srv: &ReplayServer) -> CaseReport {
    let id = case["id"].as_str().unwrap_or("<no id>").to_owned();
    let mut report = CaseReport {
        id,
        failures: Vec::new(),
        deviations: Vec::new(),
    };
    let exp = match build_expectation(case) {
        Ok(e) => e,
        Err(e) => {
            report.failures.push(e);
            return report;
        }
    };
    report.deviations = exp.applied.clone();
    let mut dedup = report.deviations.clone();
    dedup.dedup();
    report.deviations = dedup;

    // Canned answers, paired with the recorded requests they answered.
    let mut lengths = LengthMap::new();
    let mut queue = Vec::new();
    for (i, (c, req)) in exp.canned.iter().enumerate() {
        match canned_response(c, req.as_ref(), srv, &mut lengths) {
            Ok(x) => queue.push(x),
            Err(e) => report.failures.push(format!("canned response {i}: {e}")),
        }
    }
    queue.extend(exp.extra_canned.iter().cloned());
    srv.load(queue);

    let api_url = fill_ports(&exp.api_url, srv);
    let mut builder = Balena::builder().api_url(api_url).no_proxy();
    builder = match exp.auth.as_str() {
        "apiKey" => builder.token(tokens::API_KEY),
        "jwt" => builder.token(tokens::FRESH_JWT),
        "jwtOld" => builder.token(tokens::OLD_JWT),
        "sdkApiKeyOption" => builder.api_key(tokens::API_KEY),
        "none" => builder,
        other => {
            report.failures.push(format!("unknown auth kind {other}"));
            return report;
        }
    };
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            report.failures.push(format!("client: {e}"));
            return report;
        }
    };

    for (si, step) in exp.steps.iter().enumerate() {
        let before = srv.log_len();
        let label = format!("step {si}");
        let outcome = match &step.call {
            Call::Action(l) => run_action(&client, l, step.result.as_ref())
                .await
                .map(Outcome::Value),
            Call::Method { method, args } => dispatch(&client, method, args).await,
        };
        let got_reqs: Vec<Served> = srv.log()[before..].to_vec();
        for p in compare_requests(step, &got_reqs, srv) {
            report.failures.push(format!("{label}: {p}"));
        }
        match outcome {
            Err(e) => report
                .failures
                .push(format!("{label}: cannot map the call: {e}")),
            Ok(Outcome::Failed(e)) => match &step.error {
                Some(js) => {
                    if let Err(p) = match_error(js, &e) {
                        report.failures.push(format!("{label}: {p}"));
                    }
                }
                None => report.failures.push(format!(
                    "{label}: unexpected error {} ({e})",
                    e.upstream_name()
                )),
            },
            Ok(Outcome::Value(v)) => {
                if let Some(js) = &step.error {
                    report
                        .failures
                        .push(format!("{label}: expected error {}, got {v}", js["name"]));
                    continue;
                }
                let mut v: Value =
                    serde_json::from_str(&scrub_ports(&v.to_string(), srv)).unwrap_or(v);
                let expected = step.result.clone().unwrap_or(Value::Null);
                if let Call::Method { method, .. } = &step.call
                    && method == "os.download"
                {
                    if let Err(p) = compare_download(&expected, &v, &lengths, &exp.canned) {
                        report.failures.push(format!("{label}: {p}"));
                    }
                    continue;
                }
                for p in &step.undefined_paths {
                    remove_path(&mut v, p);
                }
                let mut expected = expected;
                if let (Call::Action(_), Some(obj)) = (&step.call, expected.as_object_mut())
                    && obj.contains_key("error")
                {
                    obj.remove("message");
                }
                if v != expected {
                    report.failures.push(format!(
                        "{label}: result differs:\n  expected {expected}\n  got      {v}"
                    ));
                }
            }
        }
    }
    report
}

/// Replays every case of a conformance file.
pub async fn run_file(path: &std::path::Path) -> Result<Vec<CaseReport>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let cases: Vec<Value> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let srv = ReplayServer::start()
        .await
        .map_err(|e| format!("cannot start the replay server: {e}"))?;
    let mut out = Vec::new();
    for case in &cases {
        out.push(run_case(case, &srv).await);
    }
    Ok(out)
}
