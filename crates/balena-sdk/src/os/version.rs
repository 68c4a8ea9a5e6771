//! `OsVersion` and the pure transformation from host-app rows to version
//! lists (sdk-wire.md §5.2).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::types::{OsLine, OsType};

/// A release tag (`release_tag` rows expanded with the release).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseTag {
    /// The tag name (`version`, `variant`, `meta-balena-base`, …).
    pub tag_key: String,
    /// The tag value.
    pub value: String,
    /// Any other field the API returned for the tag (with custom `$select`s).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One balenaOS release of a device type, as the JS SDK's `OsVersion`:
/// every field the API returned plus the computed `osType`, `line`,
/// `strippedVersion` and `basedOnVersion`. Serialises to the same JSON the
/// JavaScript SDK returns (`line` is omitted when it has no value, as
/// `JSON.stringify` drops `undefined`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OsVersion {
    /// The release id.
    pub id: i64,
    /// Known issues of this release, if any.
    pub known_issue_list: Option<String>,
    /// The full version (`2.88.4+rev1.prod`, `6.0.10+rev1`). For legacy
    /// releases it is rebuilt from the `version`/`variant` tags (`2.0.6.prod`).
    pub raw_version: String,
    /// `prod`, `dev`, an empty string for unified releases, or the legacy tag value.
    pub variant: Option<String>,
    /// The release phase (`next`, `current`, `sunset`, `end-of-life`) if set.
    pub phase: Option<String>,
    /// The release's tags.
    #[serde(default)]
    pub release_tag: Vec<ReleaseTag>,
    /// Fields the caller added with pine `$select` (e.g. `is_final`, `created_at`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The host app's release policy.
    #[serde(rename = "osType")]
    pub os_type: OsType,
    /// The support line, when one can be derived.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<OsLine>,
    /// `raw_version` without the variant build identifier (`2.88.4+rev1`).
    #[serde(rename = "strippedVersion")]
    pub stripped_version: String,
    /// The `meta-balena-base` tag, else `stripped_version`.
    #[serde(rename = "basedOnVersion")]
    pub based_on_version: String,
}

/// A host application row as returned by the host-app query.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HostApp {
    #[serde(default)]
    pub application_tag: Vec<AppTag>,
    #[serde(default, rename = "is_for__device_type")]
    pub device_types: Vec<DeviceTypeRef>,
    #[serde(default, rename = "owns__release")]
    pub releases: Vec<Map<String, Value>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AppTag {
    pub tag_key: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DeviceTypeRef {
    pub slug: String,
}

fn tag<'a>(tags: &'a [ReleaseTag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.tag_key == key)
        .map(|t| t.value.as_str())
}

fn app_tag<'a>(tags: &'a [AppTag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.tag_key == key)
        .map(|t| t.value.as_str())
}

fn identifier_text(id: &balena_semver::Identifier) -> String {
    match id {
        balena_semver::Identifier::Numeric(n) => n.to_string(),
        balena_semver::Identifier::Alpha(s) => s.clone(),
    }
}

/// `raw_version` with the build identifiers equal to `variant` removed.
fn stripped_version(parsed: &balena_semver::ParsedVersion, variant: Option<&str>) -> String {
    let mut out = format!("{}.{}.{}", parsed.major, parsed.minor, parsed.patch);
    if !parsed.prerelease.is_empty() {
        let pre: Vec<String> = parsed.prerelease.iter().map(identifier_text).collect();
        out.push('-');
        out.push_str(&pre.join("."));
    }
    let build: Vec<&str> = parsed
        .build
        .iter()
        .map(String::as_str)
        .filter(|b| Some(*b) != variant)
        .collect();
    if !build.is_empty() {
        out.push('+');
        out.push_str(&build.join("."));
    }
    out
}

/// Error while turning a release row into an `OsVersion`: the path of the
/// offending field and what was wrong.
#[derive(Debug)]
pub(crate) struct RowError {
    pub path: String,
    pub message: String,
}

fn take_string(
    row: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, RowError> {
    match row.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(RowError {
            path: format!("{path}.{key}"),
            message: format!(
                "expected a string, got {}",
                crate::request::json_type(&other)
            ),
        }),
    }
}

/// Builds one `OsVersion`; `Ok(None)` for a legacy release without a
/// `version` tag (the official SDK drops those).
fn to_os_version(
    mut row: Map<String, Value>,
    app_tags: &[AppTag],
    os_type: &OsType,
    path: &str,
) -> Result<Option<OsVersion>, RowError> {
    let id = match row.remove("id") {
        Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64().unwrap_or_default(),
        other => {
            return Err(RowError {
                path: format!("{path}.id"),
                message: format!(
                    "expected an integer, got {}",
                    other.as_ref().map_or("nothing", crate::request::json_type)
                ),
            });
        }
    };
    let raw_version = take_string(&mut row, "raw_version", path)?.ok_or_else(|| RowError {
        path: format!("{path}.raw_version"),
        message: "missing".into(),
    })?;
    let known_issue_list = take_string(&mut row, "known_issue_list", path)?;
    let mut variant = take_string(&mut row, "variant", path)?;
    let phase = take_string(&mut row, "phase", path)?;
    let release_tag: Vec<ReleaseTag> = match row.remove("release_tag") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_path_to_error::deserialize(v).map_err(|e| RowError {
            path: format!("{path}.release_tag.{}", e.path()),
            message: e.inner().to_string(),
        })?,
    };

    let parsed = if raw_version.starts_with("0.0.0") {
        None
    } else {
        balena_semver::parse(&raw_version)
    };
    let (raw_version, stripped) = match parsed {
        Some(p) => {
            let s = stripped_version(&p, variant.as_deref());
            (raw_version, s)
        }
        None => {
            // Legacy release: version and variant come from release tags.
            if let Some(v) = tag(&release_tag, "variant") {
                variant = Some(match v {
                    "production" => "prod".to_owned(),
                    "development" => "dev".to_owned(),
                    other => other.to_owned(),
                });
            }
            let Some(version) = tag(&release_tag, "version") else {
                return Ok(None);
            };
            let raw = match variant.as_deref() {
                Some(v) if !v.is_empty() => format!("{version}.{v}"),
                _ => version.to_owned(),
            };
            (raw, version.to_owned())
        }
    };
    let based_on =
        tag(&release_tag, "meta-balena-base").map_or_else(|| stripped.clone(), str::to_owned);
    let line = match phase.as_deref() {
        None => {
            let in_line = |key: &str| {
                app_tag(app_tags, key).is_some_and(|prefix| {
                    balena_semver::satisfies(&stripped, &format!("^{prefix}"))
                })
            };
            if in_line("esr-next") {
                Some(OsLine::Next)
            } else if in_line("esr-current") {
                Some(OsLine::Current)
            } else if in_line("esr-sunset") {
                Some(OsLine::Sunset)
            } else if os_type.as_str().to_lowercase() == "esr" {
                Some(OsLine::Outdated)
            } else {
                None
            }
        }
        Some("end-of-life") => Some(OsLine::Outdated),
        Some(other) => Some(OsLine::from_phase(other)),
    };
    Ok(Some(OsVersion {
        id,
        known_issue_list,
        raw_version,
        variant,
        phase,
        release_tag,
        extra: row,
        os_type: os_type.clone(),
        line,
        stripped_version: stripped,
        based_on_version: based_on,
    }))
}

/// Decodes the rows of a host-app query ([`crate::os::queries::host_apps_request`])
/// into version lists per device type slug: every release becomes an
/// [`OsVersion`] with its computed fields, each list sorted newest first.
/// Errors name the offending field (`d[0].owns__release[3].id`).
pub fn decode_host_apps(
    request: &crate::request::ApiRequest,
    rows: Vec<Value>,
) -> crate::Result<BTreeMap<String, Vec<OsVersion>>> {
    transform_host_apps(rows).map_err(|e| crate::Error::Decode {
        request: request.describe(),
        path: e.path,
        message: e.message,
    })
}

/// Groups host apps by device type, transforms their releases and sorts
/// each list newest first (balena-semver order, stable).
pub(crate) fn transform_host_apps(
    rows: Vec<Value>,
) -> Result<BTreeMap<String, Vec<OsVersion>>, RowError> {
    let mut out: BTreeMap<String, Vec<OsVersion>> = BTreeMap::new();
    for (i, row) in rows.into_iter().enumerate() {
        let path = format!("d[{i}]");
        let app: HostApp = serde_path_to_error::deserialize(row).map_err(|e| RowError {
            path: format!("{path}.{}", e.path()),
            message: e.inner().to_string(),
        })?;
        let Some(dt) = app.device_types.first() else {
            continue;
        };
        let os_type =
            OsType::from_tag(app_tag(&app.application_tag, "release-policy").unwrap_or("default"));
        let list = out.entry(dt.slug.clone()).or_default();
        for (j, rel) in app.releases.into_iter().enumerate() {
            let rpath = format!("{path}.owns__release[{j}]");
            if let Some(v) = to_os_version(rel, &app.application_tag, &os_type, &rpath)? {
                list.push(v);
            }
        }
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| balena_semver::rcompare(&a.raw_version, &b.raw_version));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rel(id: i64, raw: &str, variant: &str, phase: Value, tags: Value) -> Value {
        json!({"id": id, "known_issue_list": null, "raw_version": raw, "variant": variant, "phase": phase, "release_tag": tags})
    }

    #[test]
    fn computes_fields_like_the_js_sdk() {
        let rows = vec![
            json!({
                "application_tag": [],
                "is_for__device_type": [{"slug": "raspberrypi3"}],
                "owns__release": [
                    rel(103, "2.88.4+rev1.prod", "prod", Value::Null, json!([])),
                    rel(106, "2.50.1+rev1.prod", "", Value::Null, json!([])),
                    rel(105, "2.80.3+rev1.prod", "prod", json!("end-of-life"), json!([])),
                    rel(110, "0.0.0", "", Value::Null, json!([{"tag_key": "version", "value": "2.0.6"}, {"tag_key": "variant", "value": "production"}])),
                    rel(111, "0.0.0", "", Value::Null, json!([{"tag_key": "variant", "value": "development"}])),
                    rel(114, "6.0.13+rev2", "", Value::Null, json!([{"tag_key": "meta-balena-base", "value": "6.0.12"}])),
                ]
            }),
            json!({
                "application_tag": [{"tag_key": "release-policy", "value": "esr"}, {"tag_key": "esr-next", "value": "2024.7"}],
                "is_for__device_type": [{"slug": "raspberrypi3"}],
                "owns__release": [rel(201, "2024.7.0+rev1.prod", "prod", Value::Null, json!([])), rel(204, "2023.10.2+rev1.prod", "prod", Value::Null, json!([]))]
            }),
            json!({"application_tag": [], "is_for__device_type": [], "owns__release": []}),
        ];
        let map = transform_host_apps(rows).unwrap();
        let list = &map["raspberrypi3"];
        let raws: Vec<&str> = list.iter().map(|v| v.raw_version.as_str()).collect();
        assert_eq!(
            raws,
            [
                "2024.7.0+rev1.prod",
                "2023.10.2+rev1.prod",
                "6.0.13+rev2",
                "2.88.4+rev1.prod",
                "2.80.3+rev1.prod",
                "2.50.1+rev1.prod",
                "2.0.6.prod"
            ]
        );
        let by_id = |id| list.iter().find(|v| v.id == id).unwrap();
        assert_eq!(by_id(103).stripped_version, "2.88.4+rev1");
        assert_eq!(by_id(106).stripped_version, "2.50.1+rev1.prod");
        assert_eq!(by_id(105).line, Some(OsLine::Outdated));
        assert_eq!(by_id(103).line, None);
        assert_eq!(by_id(110).variant.as_deref(), Some("prod"));
        assert_eq!(by_id(110).stripped_version, "2.0.6");
        assert_eq!(by_id(114).based_on_version, "6.0.12");
        assert_eq!(by_id(201).line, Some(OsLine::Next));
        assert_eq!(by_id(204).line, Some(OsLine::Outdated));
        assert_eq!(by_id(201).os_type, OsType::Esr);
        let json = serde_json::to_value(by_id(103)).unwrap();
        assert!(json.get("line").is_none());
        assert_eq!(json["osType"], "default");
        assert_eq!(json["strippedVersion"], "2.88.4+rev1");
    }

    #[test]
    fn bad_rows_name_their_path() {
        let rows = vec![
            json!({"is_for__device_type": [{"slug": "x"}], "owns__release": [{"id": "one", "raw_version": "1.0.0"}]}),
        ];
        let e = transform_host_apps(rows).unwrap_err();
        assert_eq!(e.path, "d[0].owns__release[0].id");
    }
}
