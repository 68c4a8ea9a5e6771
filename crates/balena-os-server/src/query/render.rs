//! Writing an [`Answer`] as balena's API does: `{"d": [...]}`.
//!
//! Expanded navigations come first in each object (in `$expand` order, always
//! as arrays, or a number for `nav/$count`), then the selected fields in
//! order, with explicit `null`s. References are `{"__id": N}`, dates
//! ISO-8601 with milliseconds and `Z`, JSON documents embedded as JSON.

use std::io::Write;

use super::exec::{Answer, Expansion, Inner, Row};
use super::translate::{Output, Plan};
use crate::catalog::ReleaseVersion;
use crate::db::Cell;
use crate::schema::ColumnType;
use crate::time::write_millis;

/// The JSON body for `answer`, which `plan` produced.
pub fn render(plan: &Plan, answer: &Answer) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"{\"d\":");
    match &answer.inner {
        Inner::Count(n) => {
            let _ = write!(out, "{n}");
        }
        Inner::Rows(rows) => {
            out.push(b'[');
            for (i, row) in rows.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_row(&mut out, plan, row);
            }
            out.push(b']');
        }
    }
    out.push(b'}');
    out
}

fn write_key(out: &mut Vec<u8>, first: &mut bool, key: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.push(b'"');
    // Keys come from the static schema: plain identifiers.
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_row(out: &mut Vec<u8>, plan: &Plan, row: &Row) {
    out.push(b'{');
    let mut first = true;
    for (exp, expansion) in plan.expands.iter().zip(&row.expansions) {
        write_key(out, &mut first, exp.name);
        match expansion {
            Expansion::Count(n) => {
                let _ = write!(out, "{n}");
            }
            Expansion::Rows(children) => {
                out.push(b'[');
                for (i, child) in children.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_row(out, &exp.plan, child);
                }
                out.push(b']');
            }
        }
    }
    for output in &plan.outputs {
        match output {
            Output::Column { name, index, ty } => {
                write_key(out, &mut first, name);
                write_cell(out, *ty, &row.cells[*index]);
            }
            Output::Version { inputs } => {
                write_key(out, &mut first, "version");
                write_version(out, inputs, &row.cells);
            }
        }
    }
    out.push(b'}');
}

fn write_cell(out: &mut Vec<u8>, ty: ColumnType, cell: &Cell) {
    match (ty, cell) {
        (_, Cell::Null) => out.extend_from_slice(b"null"),
        (ColumnType::DateTime, Cell::Int(ms)) => {
            let mut s = String::with_capacity(24);
            write_millis(&mut s, *ms);
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        }
        (ColumnType::Reference(_), Cell::Int(id)) => {
            let _ = write!(out, "{{\"__id\":{id}}}");
        }
        (_, Cell::Int(i)) => {
            let _ = write!(out, "{i}");
        }
        (_, Cell::Bool(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        (ColumnType::Json, Cell::Text(doc)) => {
            // Written by this server as serialised JSON; re-check so that a
            // hand-edited database cannot break the answer's syntax.
            if serde_json::from_str::<serde::de::IgnoredAny>(doc).is_ok() {
                out.extend_from_slice(doc.as_bytes());
            } else {
                out.extend_from_slice(b"null");
            }
        }
        (_, Cell::Text(s)) => write_str(out, s),
    }
}

/// `version`: `{raw, build, major, minor, patch, version, prerelease}` with
/// build identifiers as strings, stored prerelease identifiers as strings and
/// a draft's creation time as a number, as balena's model prints it.
fn write_version(out: &mut Vec<u8>, inputs: &[usize], cells: &[Cell]) {
    let get = |i: usize| {
        inputs
            .get(i)
            .and_then(|&c| cells.get(c))
            .unwrap_or(&Cell::Null)
    };
    let int = |i: usize| get(i).as_int();
    let text = |i: usize| get(i).as_text().unwrap_or("").to_owned();
    // Order of RELEASE_VERSION_INPUTS: raw_version, semver_major,
    // semver_minor, semver_patch, semver_prerelease, semver_build, variant,
    // revision, created_at.
    let v = ReleaseVersion {
        major: int(1).and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        minor: int(2).and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        patch: int(3).and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        prerelease: text(4),
        build: text(5),
        variant: text(6),
        revision: int(7).and_then(|n| u64::try_from(n).ok()),
    };
    let created = int(8).unwrap_or(0);
    let stored_pre: Vec<&str> = if v.prerelease.is_empty() {
        Vec::new()
    } else {
        v.prerelease.split('.').collect()
    };
    let mut plain = format!("{}.{}.{}", v.major, v.minor, v.patch);
    let pre = v.raw_prerelease(created);
    if !pre.is_empty() {
        plain.push('-');
        plain.push_str(&pre.join("."));
    }
    out.extend_from_slice(b"{\"raw\":");
    write_str(out, &text(0));
    out.extend_from_slice(b",\"build\":[");
    for (i, b) in v.raw_build().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, b);
    }
    let _ = write!(
        out,
        "],\"major\":{},\"minor\":{},\"patch\":{},\"version\":",
        v.major, v.minor, v.patch
    );
    write_str(out, &plain);
    out.extend_from_slice(b",\"prerelease\":[");
    for (i, p) in stored_pre.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, p);
    }
    if v.revision.is_none() {
        if !stored_pre.is_empty() {
            out.push(b',');
        }
        let _ = write!(out, "{created}");
    }
    out.extend_from_slice(b"]}");
}
