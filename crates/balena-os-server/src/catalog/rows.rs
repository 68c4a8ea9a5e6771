//! Loading a dump of `/v7` rows, as another balena API printed them.
//!
//! The input is an object mapping resource names to arrays of rows in the
//! shape `/v7/<resource>` returns (`{"__id": N}` references, ISO dates, JSON
//! documents embedded), plus optionally `user` rows
//! (`{id, username, email}`) and `organization_membership` rows. This is
//! the format of `open-balena-api-seed.json`'s `rows`, so an open-balena
//! catalog can be moved here, and tests can load the exact rows the real API
//! answered from. Ids are kept. API keys are never part of a dump (their
//! secrets are not recoverable); make new ones.
//!
//! Release fields balena computes (`is_final`, `semver`, `raw_version`,
//! `version`) are recomputed from the stored columns, not copied.

use sea_query::Value;
use serde_json::{Map, Value as Json};

use super::{CatalogError, ReleaseVersion, insert_row, update_row};
use crate::db::Tx;
use crate::schema::{self, ColumnType, FieldKind, Resource};
use crate::time::parse_iso;

/// Rows loaded per resource.
pub type LoadReport = Vec<(String, usize)>;

/// The order rows must be inserted in so that references resolve.
const ORDER: &[&str] = &[
    "organization",
    "user",
    "organization_membership",
    "cpu_architecture",
    "device_type",
    "device_type_alias",
    "application",
    "application_tag",
    "release",
    "release_tag",
];

/// Release columns computed from the others; recomputed, never loaded.
const COMPUTED: &[&str] = &["is_final", "semver", "raw_version", "version"];

fn doc_err(resource: &str, index: usize, msg: impl std::fmt::Display) -> CatalogError {
    CatalogError::Document(format!("{resource} row {index}: {msg}"))
}

fn reference(v: &Json) -> Option<Option<i64>> {
    match v {
        Json::Null => Some(None),
        Json::Number(n) => n.as_i64().map(Some),
        Json::Object(o) => o.get("__id").and_then(Json::as_i64).map(Some),
        Json::Array(a) if a.len() == 1 => a[0].get("id").and_then(Json::as_i64).map(Some),
        _ => None,
    }
}

fn convert(ty: ColumnType, v: &Json) -> Result<Value, String> {
    Ok(match (ty, v) {
        (ColumnType::Integer, Json::Null) => Value::BigInt(None),
        (ColumnType::Integer, Json::Number(n)) => {
            Value::BigInt(Some(n.as_i64().ok_or("integer out of range")?))
        }
        (ColumnType::Text, Json::Null) => Value::String(None),
        (ColumnType::Text, Json::String(s)) => Value::String(Some(s.clone())),
        (ColumnType::Boolean, Json::Bool(b)) => Value::Bool(Some(*b)),
        (ColumnType::Boolean, Json::Null) => Value::Bool(None),
        (ColumnType::DateTime, Json::Null) => Value::BigInt(None),
        (ColumnType::DateTime, Json::String(s)) => {
            Value::BigInt(Some(parse_iso(s).map_err(|e| e.to_string())?))
        }
        (ColumnType::Json, Json::Null) => Value::String(None),
        (ColumnType::Json, doc) => Value::String(Some(doc.to_string())),
        (ColumnType::Reference(_), r) => {
            Value::BigInt(reference(r).ok_or("expected {\"__id\": N} or null")?)
        }
        (_, other) => return Err(format!("unexpected value {other}")),
    })
}

fn defaults(resource: &str, field: &str) -> Option<Value> {
    match (resource, field) {
        ("device_type", "is_private") => Some(Value::Bool(Some(false))),
        ("application", "is_archived") => Some(Value::Bool(Some(false))),
        ("application", "should_track_latest_release") => Some(Value::Bool(Some(true))),
        ("application", "is_of__class") => Some(Value::String(Some("fleet".into()))),
        _ => None,
    }
}

async fn load_resource(
    tx: &mut Tx,
    r: &Resource,
    rows: &[Json],
) -> Result<Vec<(i64, i64)>, CatalogError> {
    let mut running = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let obj = row
            .as_object()
            .ok_or_else(|| doc_err(r.name, i, "not an object"))?;
        let mut values: Vec<(&'static str, Value)> = Vec::new();
        for field in r.fields {
            if r.name == "release" && COMPUTED.contains(&field.name) {
                continue;
            }
            let FieldKind::Column { ty, nullable } = field.kind else {
                continue;
            };
            // A host app's current release is set once releases exist.
            if field.name == "should_be_running__release" {
                if let Some(Some(rel)) = obj.get(field.name).and_then(reference) {
                    running.push((0, rel));
                }
                continue;
            }
            let value = match obj.get(field.name) {
                Some(v) => convert(ty, v)
                    .map_err(|e| doc_err(r.name, i, format!("{}: {e}", field.name)))?,
                None => match defaults(r.name, field.name) {
                    Some(d) => d,
                    None if nullable => convert(ty, &Json::Null).unwrap_or(Value::BigInt(None)),
                    None => return Err(doc_err(r.name, i, format!("missing {}", field.name))),
                },
            };
            values.push((field.name, value));
        }
        if r.name == "release" {
            let computed = release_computed(obj).map_err(|e| doc_err(r.name, i, e))?;
            values.extend(computed);
        }
        let id = insert_row(tx, r.name, values).await?;
        if let Some(last) = running.last_mut()
            && last.0 == 0
        {
            last.0 = id;
        }
    }
    Ok(running)
}

fn release_computed(obj: &Map<String, Json>) -> Result<Vec<(&'static str, Value)>, String> {
    let num = |k: &str| -> Result<u64, String> {
        obj.get(k)
            .and_then(Json::as_u64)
            .ok_or_else(|| format!("{k} must be a non-negative integer"))
    };
    let text = |k: &str| obj.get(k).and_then(Json::as_str).unwrap_or("").to_owned();
    let version = ReleaseVersion {
        major: num("semver_major")?,
        minor: num("semver_minor")?,
        patch: num("semver_patch")?,
        prerelease: text("semver_prerelease"),
        build: text("semver_build"),
        variant: text("variant"),
        revision: match obj.get("revision") {
            None | Some(Json::Null) => None,
            Some(_) => Some(num("revision")?),
        },
    };
    version.validate().map_err(|e| e.to_string())?;
    let created = obj
        .get("created_at")
        .and_then(Json::as_str)
        .ok_or("missing created_at")
        .and_then(|s| parse_iso(s).map_err(|_| "bad created_at"))?;
    Ok(vec![
        ("is_final", version.is_final().into()),
        ("semver", version.semver().into()),
        ("raw_version", version.raw_version(created).into()),
    ])
}

async fn load_users(tx: &mut Tx, rows: &[Json]) -> Result<(), CatalogError> {
    for (i, row) in rows.iter().enumerate() {
        let id = row
            .get("id")
            .and_then(Json::as_i64)
            .ok_or_else(|| doc_err("user", i, "missing id"))?;
        let username = row
            .get("username")
            .and_then(Json::as_str)
            .ok_or_else(|| doc_err("user", i, "missing username"))?;
        let email = row.get("email").and_then(Json::as_str).map(str::to_owned);
        let created = row
            .get("created_at")
            .and_then(Json::as_str)
            .and_then(|s| parse_iso(s).ok())
            .unwrap_or_else(crate::time::now_millis);
        insert_row(
            tx,
            "user",
            vec![
                ("id", id.into()),
                ("created_at", created.into()),
                ("username", username.into()),
                ("email", email.into()),
                ("is_superuser", false.into()),
            ],
        )
        .await?;
    }
    Ok(())
}

async fn load_memberships(tx: &mut Tx, rows: &[Json]) -> Result<(), CatalogError> {
    for (i, row) in rows.iter().enumerate() {
        let get = |k: &str| {
            row.get(k)
                .and_then(reference)
                .flatten()
                .ok_or_else(|| doc_err("organization_membership", i, format!("missing {k}")))
        };
        let created = row
            .get("created_at")
            .and_then(Json::as_str)
            .and_then(|s| parse_iso(s).ok())
            .unwrap_or_else(crate::time::now_millis);
        let mut values = vec![
            ("created_at", created.into()),
            ("user", get("user")?.into()),
            (
                "is_member_of__organization",
                get("is_member_of__organization")?.into(),
            ),
        ];
        if let Some(id) = row.get("id").and_then(Json::as_i64) {
            values.insert(0, ("id", id.into()));
        }
        insert_row(tx, "organization_membership", values).await?;
    }
    Ok(())
}

/// Loads a row dump (see the module documentation) inside `tx`. Unknown
/// resource names are an error; missing ones are skipped.
pub async fn load(tx: &mut Tx, dump: &Map<String, Json>) -> Result<LoadReport, CatalogError> {
    for key in dump.keys() {
        if !ORDER.contains(&key.as_str()) && key != "api_key" {
            return Err(CatalogError::Document(format!(
                "unknown resource '{key}' in the row dump"
            )));
        }
    }
    let mut report = Vec::new();
    let mut running: Vec<(i64, i64)> = Vec::new();
    for name in ORDER {
        let Some(rows) = dump.get(*name) else {
            continue;
        };
        let rows = rows
            .as_array()
            .ok_or_else(|| CatalogError::Document(format!("'{name}' must be an array of rows")))?;
        match *name {
            "user" => load_users(tx, rows).await?,
            "organization_membership" => load_memberships(tx, rows).await?,
            other => {
                let r = schema::resource(other)
                    .ok_or_else(|| CatalogError::Document(format!("unknown resource {other}")))?;
                running.extend(load_resource(tx, r, rows).await?);
            }
        }
        report.push(((*name).to_owned(), rows.len()));
    }
    for (app, release) in running {
        update_row(
            tx,
            "application",
            app,
            vec![("should_be_running__release", release.into())],
        )
        .await?;
    }
    for table in ORDER {
        tx.sync_id_sequence(table).await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_values_by_column_type() {
        assert_eq!(
            convert(ColumnType::Reference("x"), &json!({"__id": 4})),
            Ok(Value::BigInt(Some(4)))
        );
        assert_eq!(
            convert(ColumnType::DateTime, &json!("2026-11-29T09:31:06.304Z")),
            Ok(Value::BigInt(Some(1_795_944_666_304)))
        );
        assert_eq!(
            convert(ColumnType::Json, &json!({})),
            Ok(Value::String(Some("{}".into())))
        );
        assert!(convert(ColumnType::Boolean, &json!("yes")).is_err());
        assert!(convert(ColumnType::Integer, &json!(1.5)).is_err());
    }
}
