//! Runner for the recorded `semver-*.json` test vectors
//! (`shared/vectors/README.md`), shared by the `vectors` example and the
//! integration tests. Enabled by the `vectors` feature.
//!
//! The kind of a file is detected from the shape of its cases (with
//! `meta.file` as a tie-breaker), not from the file name.
//!
//! ```no_run
//! let report = balena_semver::vectors::run_file("../shared/vectors/semver-compare.json".as_ref())?;
//! assert_eq!(report.failed(), 0, "{:#?}", report.failures);
//! # Ok::<(), balena_semver::vectors::VectorError>(())
//! ```

use std::cmp::Ordering;
use std::path::Path;

use serde_json::{Value, json};

use crate::nullable;

/// The kinds of semver vector file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `semver-parse`: normalize, valid, parse, prerelease, major, revision.
    Parse,
    /// `semver-compare`: compare and its derivatives, with the stage.
    Compare,
    /// `semver-sort`: stable sorts by compare and rcompare.
    Sort,
    /// `semver-satisfies`.
    Satisfies,
    /// `semver-max-satisfying`.
    MaxSatisfying,
    /// `semver-ranges`: normalised and desugared ranges.
    Ranges,
    /// `semver-inc`.
    Inc,
}

/// Errors reading a vector file.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{path} is not JSON")]
    Json {
        /// The file.
        path: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// The file is not a semver vector file this runner knows.
    #[error("{path}: not a balena-semver vector file ({why})")]
    UnknownKind {
        /// The file.
        path: String,
        /// What was wrong.
        why: String,
    },
}

/// The outcome of running one file.
#[derive(Debug, Clone)]
pub struct Report {
    /// The detected kind.
    pub kind: Kind,
    /// Number of cases that passed.
    pub passed: usize,
    /// One line per failing case: inputs, expected, got.
    pub failures: Vec<String>,
}

impl Report {
    /// Number of failing cases.
    pub fn failed(&self) -> usize {
        self.failures.len()
    }
}

/// Read and evaluate every case of a vector file.
pub fn run_file(path: &Path) -> Result<Report, VectorError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| VectorError::Io {
        path: name.clone(),
        source,
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|source| VectorError::Json {
        path: name.clone(),
        source,
    })?;
    run_document(&doc).map_err(|why| VectorError::UnknownKind { path: name, why })
}

/// Evaluate every case of an already-parsed vector document.
pub fn run_document(doc: &Value) -> Result<Report, String> {
    let cases = doc
        .get("cases")
        .and_then(Value::as_array)
        .ok_or("no `cases` array")?;
    let kind = detect(doc, cases)?;
    let mut report = Report {
        kind,
        passed: 0,
        failures: Vec::new(),
    };
    for (i, case) in cases.iter().enumerate() {
        match check(kind, case) {
            Ok(()) => report.passed += 1,
            Err(msg) => report.failures.push(format!("case {i}: {msg}")),
        }
    }
    Ok(report)
}

/// Decide the kind from the case fields.
pub fn detect(doc: &Value, cases: &[Value]) -> Result<Kind, String> {
    let Some(first) = cases.first().and_then(Value::as_object) else {
        // An empty file: fall back on its declared name.
        let file = doc
            .pointer("/meta/file")
            .and_then(Value::as_str)
            .unwrap_or("");
        return kind_from_name(file).ok_or_else(|| "no cases and no known meta.file".to_owned());
    };
    let has = |k: &str| first.contains_key(k);
    let kind = if has("normalized") && has("parse") {
        Kind::Parse
    } else if has("a") && has("b") && has("compare") {
        Kind::Compare
    } else if has("ascending") && has("descending") {
        Kind::Sort
    } else if has("versions") && has("result") {
        Kind::MaxSatisfying
    } else if has("version") && has("range") && has("satisfies") {
        Kind::Satisfies
    } else if has("range") && has("desugared") {
        Kind::Ranges
    } else if has("input") && has("release") {
        Kind::Inc
    } else {
        return Err(format!(
            "unrecognised case shape with fields {:?}",
            first.keys().collect::<Vec<_>>()
        ));
    };
    Ok(kind)
}

fn kind_from_name(file: &str) -> Option<Kind> {
    Some(match file {
        "semver-parse" => Kind::Parse,
        "semver-compare" => Kind::Compare,
        "semver-sort" => Kind::Sort,
        "semver-satisfies" => Kind::Satisfies,
        "semver-max-satisfying" => Kind::MaxSatisfying,
        "semver-ranges" => Kind::Ranges,
        "semver-inc" => Kind::Inc,
        _ => return None,
    })
}

fn opt_str<'a>(case: &'a Value, key: &str) -> Result<Option<&'a str>, String> {
    match case.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("field {key:?} is not a string or null: {other}")),
    }
}

fn ord_num(o: Ordering) -> i64 {
    match o {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

/// JSON equality where numbers compare by value (so `1e20` equals
/// `100000000000000000000`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_u64(), y.as_u64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn expect(field: &str, expected: &Value, got: &Value, inputs: &str) -> Result<(), String> {
    if same(expected, got) {
        Ok(())
    } else {
        Err(format!("{inputs}: {field} expected {expected} got {got}"))
    }
}

fn field<'a>(case: &'a Value, key: &str) -> Result<&'a Value, String> {
    case.get(key)
        .ok_or_else(|| format!("missing field {key:?}"))
}

fn check(kind: Kind, case: &Value) -> Result<(), String> {
    match kind {
        Kind::Parse => check_parse(case),
        Kind::Compare => check_compare(case),
        Kind::Sort => check_sort(case),
        Kind::Satisfies => check_satisfies(case),
        Kind::MaxSatisfying => check_max_satisfying(case),
        Kind::Ranges => check_ranges(case),
        Kind::Inc => check_inc(case),
    }
}

fn check_parse(case: &Value) -> Result<(), String> {
    let input = opt_str(case, "input")?;
    let inputs = format!("input={}", json!(input));
    let parsed = nullable::parse(input);
    expect(
        "normalized",
        field(case, "normalized")?,
        &json!(nullable::normalize(input)),
        &inputs,
    )?;
    expect(
        "valid",
        field(case, "valid")?,
        &json!(nullable::valid(input)),
        &inputs,
    )?;
    let parse_json = parsed.as_ref().map(|p| {
        json!({
            "raw": p.raw, "major": p.major, "minor": p.minor, "patch": p.patch,
            "prerelease": p.prerelease, "build": p.build, "version": p.version,
        })
    });
    expect("parse", field(case, "parse")?, &json!(parse_json), &inputs)?;
    expect(
        "prerelease",
        field(case, "prerelease")?,
        &json!(nullable::prerelease(input)),
        &inputs,
    )?;
    expect(
        "major",
        field(case, "major")?,
        &json!(nullable::major(input)),
        &inputs,
    )?;
    expect(
        "revision",
        field(case, "revision")?,
        &json!(nullable::get_revision(parsed.as_ref())),
        &inputs,
    )
}

fn check_compare(case: &Value) -> Result<(), String> {
    let a = opt_str(case, "a")?;
    let b = opt_str(case, "b")?;
    let inputs = format!("a={} b={}", json!(a), json!(b));
    let (ord, stage) = nullable::explain(a, b);
    expect(
        "compare",
        field(case, "compare")?,
        &json!(ord_num(ord)),
        &inputs,
    )?;
    if let Some(expected) = case.get("stage") {
        expect("stage", expected, &json!(stage.as_str()), &inputs)?;
    }
    // The derived functions, as the README defines them.
    let c = ord_num(ord);
    let derived = [
        (
            "rcompare",
            json!(ord_num(nullable::rcompare(a, b))),
            json!(-c),
        ),
        ("gt", json!(nullable::gt(a, b)), json!(c > 0)),
        ("gte", json!(nullable::gte(a, b)), json!(c >= 0)),
        ("lt", json!(nullable::lt(a, b)), json!(c < 0)),
        ("lte", json!(nullable::lte(a, b)), json!(c <= 0)),
    ];
    for (name, got, want) in derived {
        expect(name, &want, &got, &inputs)?;
    }
    Ok(())
}

fn str_list(v: &Value, key: &str) -> Result<Vec<Option<String>>, String> {
    v.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("missing array {key:?}"))?
        .iter()
        .map(|x| match x {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            other => Err(format!("{key:?} holds a non-string {other}")),
        })
        .collect()
}

fn check_sort(case: &Value) -> Result<(), String> {
    let input = str_list(case, "input")?;
    let name = case.get("name").and_then(Value::as_str).unwrap_or("?");
    let inputs = format!("sort {name:?}");
    let mut asc = input.clone();
    asc.sort_by(|a, b| nullable::compare(a.as_deref(), b.as_deref()));
    let mut desc = input;
    desc.sort_by(|a, b| nullable::rcompare(a.as_deref(), b.as_deref()));
    expect("ascending", field(case, "ascending")?, &json!(asc), &inputs)?;
    expect(
        "descending",
        field(case, "descending")?,
        &json!(desc),
        &inputs,
    )
}

fn check_satisfies(case: &Value) -> Result<(), String> {
    let version = opt_str(case, "version")?;
    let range = opt_str(case, "range")?;
    let inputs = format!("version={} range={}", json!(version), json!(range));
    expect(
        "satisfies",
        field(case, "satisfies")?,
        &json!(nullable::satisfies(version, range)),
        &inputs,
    )
}

fn check_max_satisfying(case: &Value) -> Result<(), String> {
    let versions = str_list(case, "versions")?;
    let range = opt_str(case, "range")?;
    let list = case.get("list").and_then(Value::as_str).unwrap_or("?");
    let inputs = format!("range={} list={list:?}", json!(range));
    let index =
        nullable::max_satisfying_index(&versions, range).map_err(|e| format!("{inputs}: {e}"))?;
    let result = index.and_then(|i| versions[i].clone());
    expect("result", field(case, "result")?, &json!(result), &inputs)?;
    if let Some(expected) = case.get("index") {
        // Upstream reports -1 (or null) when nothing matched.
        let got = match index {
            Some(i) => json!(i),
            None if expected.is_null() => Value::Null,
            None => json!(-1),
        };
        expect("index", expected, &got, &inputs)?;
    }
    Ok(())
}

fn check_ranges(case: &Value) -> Result<(), String> {
    let range = opt_str(case, "range")?;
    let inputs = format!("range={}", json!(range));
    let normalized = nullable::normalize(range);
    expect(
        "normalized",
        field(case, "normalized")?,
        &json!(normalized),
        &inputs,
    )?;
    expect(
        "desugared",
        field(case, "desugared")?,
        &json!(range.and_then(crate::valid_range)),
        &inputs,
    )?;
    expect(
        "desugaredNormalized",
        field(case, "desugaredNormalized")?,
        &json!(normalized.as_deref().and_then(crate::valid_range)),
        &inputs,
    )
}

fn check_inc(case: &Value) -> Result<(), String> {
    let input = opt_str(case, "input")?;
    let release = opt_str(case, "release")?;
    let inputs = format!("input={} release={}", json!(input), json!(release));
    expect(
        "result",
        field(case, "result")?,
        &json!(nullable::inc(input, release)),
        &inputs,
    )
}

#[cfg(test)]
mod error_tests {
    use super::VectorError;
    use std::error::Error as _;

    /// The cause is reported through `source()`, not repeated in the message.
    #[test]
    fn causes_are_shown_once() {
        let errors = [
            VectorError::Io {
                path: "v.json".into(),
                source: std::io::Error::other("disk on fire"),
            },
            VectorError::Json {
                path: "v.json".into(),
                source: serde_json::from_str::<serde_json::Value>("{").unwrap_err(),
            },
        ];
        for e in &errors {
            let source = e.source().expect("a cause").to_string();
            assert!(!e.to_string().contains(&source), "{e} repeats {source}");
        }
    }
}
