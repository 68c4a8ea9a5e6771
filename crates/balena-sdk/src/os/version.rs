//! `OsVersion` and the pure transformation from host-app rows to version
//! lists (sdk-wire.md §5.2).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::request::{ApiRequest, RawResponse, check_status, decode_pine_rows};
use crate::types::{OsLine, OsType};

/// An object key as read by the hand-written decoders below: borrowed from
/// the JSON text when it has no escapes, so known keys cost no allocation.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A release tag (`release_tag` rows expanded with the release).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseTag {
    /// The tag name (`version`, `variant`, `meta-balena-base`, …).
    pub tag_key: String,
    /// The tag value.
    pub value: String,
    /// Any other field the API returned for the tag (with custom `$select`s).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for ReleaseTag {
    /// Reads the object field by field (no `serde(flatten)` buffering):
    /// `tag_key` and `value` are required strings, everything else goes to
    /// `extra` in document order.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TagVisitor;
        impl<'de> Visitor<'de> for TagVisitor {
            type Value = ReleaseTag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a release tag object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ReleaseTag, A::Error> {
                let mut tag_key = None;
                let mut value = None;
                let mut extra = Map::new();
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    match key.as_ref() {
                        "tag_key" => tag_key = Some(map.next_value::<String>()?),
                        "value" => value = Some(map.next_value::<String>()?),
                        _ => {
                            let v = map.next_value::<Value>()?;
                            extra.insert(key.into_owned(), v);
                        }
                    }
                }
                Ok(ReleaseTag {
                    tag_key: tag_key.ok_or_else(|| de::Error::missing_field("tag_key"))?,
                    value: value.ok_or_else(|| de::Error::missing_field("value"))?,
                    extra,
                })
            }
        }
        deserializer.deserialize_map(TagVisitor)
    }
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

/// The answer to the host-app query: `{"d": [host app, …]}`.
#[derive(Debug, Deserialize)]
pub(crate) struct HostAppsAnswer {
    pub d: Vec<HostApp>,
}

/// A host application row as returned by the host-app query.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HostApp {
    #[serde(default)]
    pub application_tag: Vec<AppTag>,
    #[serde(default, rename = "is_for__device_type")]
    pub device_types: Vec<DeviceTypeRef>,
    #[serde(default, rename = "owns__release")]
    pub releases: Vec<ReleaseRow>,
}

/// One `owns__release` row, decoded straight from the JSON text: the
/// fields `OsVersion` computes from are typed, the rest (custom `$select`s)
/// kept in document order.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReleaseRow {
    pub id: Option<i64>,
    pub raw_version: Option<String>,
    pub known_issue_list: Option<String>,
    pub variant: Option<String>,
    pub phase: Option<String>,
    pub release_tag: Vec<ReleaseTag>,
    pub extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for ReleaseRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = ReleaseRow;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a release object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ReleaseRow, A::Error> {
                let mut row = ReleaseRow::default();
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    match key.as_ref() {
                        "id" => row.id = map.next_value()?,
                        "raw_version" => row.raw_version = map.next_value()?,
                        "known_issue_list" => row.known_issue_list = map.next_value()?,
                        "variant" => row.variant = map.next_value()?,
                        "phase" => row.phase = map.next_value()?,
                        "release_tag" => {
                            row.release_tag = map
                                .next_value::<Option<Vec<ReleaseTag>>>()?
                                .unwrap_or_default();
                        }
                        _ => {
                            let v = map.next_value::<Value>()?;
                            row.extra.insert(key.into_owned(), v);
                        }
                    }
                }
                Ok(row)
            }
        }
        deserializer.deserialize_map(RowVisitor)
    }
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

/// `raw_version` with the build identifiers equal to `variant` removed.
fn stripped_version(parsed: &balena_semver::ParsedVersion, variant: Option<&str>) -> String {
    // `parsed.version` is `major.minor.patch[-prerelease]`.
    let mut out = String::with_capacity(parsed.version.len() + 8);
    out.push_str(&parsed.version);
    let mut first = true;
    for b in parsed.build.iter().filter(|b| Some(b.as_str()) != variant) {
        out.push(if first { '+' } else { '.' });
        out.push_str(b);
        first = false;
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

/// Builds one `OsVersion`; `Ok(None)` for a legacy release without a
/// `version` tag (the official SDK drops those).
fn to_os_version(
    row: ReleaseRow,
    app_tags: &[AppTag],
    os_type: &OsType,
    path: impl Fn() -> String,
) -> Result<Option<OsVersion>, RowError> {
    let ReleaseRow {
        id,
        raw_version,
        known_issue_list,
        mut variant,
        phase,
        release_tag,
        extra,
    } = row;
    let Some(id) = id else {
        return Err(RowError {
            path: format!("{}.id", path()),
            message: "missing".into(),
        });
    };
    let Some(raw_version) = raw_version else {
        return Err(RowError {
            path: format!("{}.raw_version", path()),
            message: "missing".into(),
        });
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
        extra,
        os_type: os_type.clone(),
        line,
        stripped_version: stripped,
        based_on_version: based_on,
    }))
}

/// Decodes the answer to a host-app query
/// ([`crate::os::queries::host_apps_request`]) into version lists per device
/// type slug: every release becomes an [`OsVersion`] with its computed
/// fields, each list sorted newest first.
///
/// The JSON text is decoded straight into typed rows. Only when that fails
/// is the answer decoded again, slowly, to say what was wrong: the error
/// names the offending field (`d[0].owns__release[3].id`).
///
/// ```
/// use balena_sdk::os::version::decode_host_apps;
/// use balena_sdk::request::{ApiRequest, RawResponse};
/// let body = r#"{"d":[{"application_tag":[],"is_for__device_type":[{"slug":"raspberrypi3"}],
///   "owns__release":[{"id":1,"raw_version":"2.88.4+rev1.prod","variant":"prod","known_issue_list":null,"phase":null,"release_tag":[]},
///                    {"id":2,"raw_version":"6.0.13","variant":"","known_issue_list":null,"phase":"current","release_tag":[]}]}]}"#;
/// let resp = RawResponse { status: 200, content_type: Some("application/json".into()), body: body.into() };
/// let map = decode_host_apps(&ApiRequest::pine("/v7/application".into()), &resp, false).unwrap();
/// let raws: Vec<&str> = map["raspberrypi3"].iter().map(|v| v.raw_version.as_str()).collect();
/// assert_eq!(raws, ["6.0.13", "2.88.4+rev1.prod"]);
/// assert_eq!(map["raspberrypi3"][1].stripped_version, "2.88.4+rev1");
/// ```
pub fn decode_host_apps(
    request: &ApiRequest,
    resp: &RawResponse,
    authenticated: bool,
) -> crate::Result<BTreeMap<String, Vec<OsVersion>>> {
    check_status(request, resp, authenticated)?;
    let parsed = if resp.is_json() {
        serde_json::from_slice::<HostAppsAnswer>(&resp.body).ok()
    } else {
        None
    };
    let apps = match parsed {
        Some(answer) => answer.d,
        None => return Err(explain_bad_answer(request, resp, authenticated)),
    };
    transform_host_apps(apps).map_err(|e| crate::Error::Decode {
        request: request.describe(),
        path: e.path,
        message: e.message,
    })
}

/// The error for an answer the typed decoder refused: what the generic pine
/// decoder says about the envelope, else the path and message of the first
/// bad field.
fn explain_bad_answer(
    request: &ApiRequest,
    resp: &RawResponse,
    authenticated: bool,
) -> crate::Error {
    let rows = match decode_pine_rows(request, resp, authenticated) {
        Ok(rows) => rows,
        Err(e) => return e,
    };
    let mut envelope = Map::new();
    envelope.insert("d".into(), Value::Array(rows));
    match serde_path_to_error::deserialize::<_, HostAppsAnswer>(Value::Object(envelope)) {
        Err(e) => crate::Error::Decode {
            request: request.describe(),
            path: e.path().to_string(),
            message: e.inner().to_string(),
        },
        Ok(_) => crate::Error::UnexpectedResponse {
            request: request.describe(),
            reason: "the answer could not be decoded as host applications".into(),
        },
    }
}

/// Groups host apps by device type, transforms their releases and sorts
/// each list newest first (balena-semver order, stable; each version is
/// parsed once for the sort).
pub(crate) fn transform_host_apps(
    apps: Vec<HostApp>,
) -> Result<BTreeMap<String, Vec<OsVersion>>, RowError> {
    let mut out: BTreeMap<String, Vec<OsVersion>> = BTreeMap::new();
    for (i, app) in apps.into_iter().enumerate() {
        let Some(dt) = app.device_types.first() else {
            continue;
        };
        let os_type =
            OsType::from_tag(app_tag(&app.application_tag, "release-policy").unwrap_or("default"));
        let list = out.entry(dt.slug.clone()).or_default();
        list.reserve(app.releases.len());
        for (j, rel) in app.releases.into_iter().enumerate() {
            let path = || format!("d[{i}].owns__release[{j}]");
            if let Some(v) = to_os_version(rel, &app.application_tag, &os_type, path)? {
                list.push(v);
            }
        }
    }
    for list in out.values_mut() {
        balena_semver::rsort_by_key(list, |v| v.raw_version.as_str());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn transform(rows: Vec<Value>) -> Result<BTreeMap<String, Vec<OsVersion>>, RowError> {
        let apps: Vec<HostApp> = serde_json::from_value(Value::Array(rows)).unwrap();
        transform_host_apps(apps)
    }

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
        let map = transform(rows).unwrap();
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
        let req = ApiRequest::pine("/v7/application".into());
        let answer = |body: Value| RawResponse {
            status: 200,
            content_type: Some("application/json".into()),
            body: body.to_string().into(),
        };
        let bad_id = json!({"d": [{"is_for__device_type": [{"slug": "x"}], "owns__release": [{"id": "one", "raw_version": "1.0.0"}]}]});
        match decode_host_apps(&req, &answer(bad_id), false) {
            Err(crate::Error::Decode { path, .. }) => assert_eq!(path, "d[0].owns__release[0].id"),
            other => panic!("{other:?}"),
        }
        let no_version = json!({"d": [{"is_for__device_type": [{"slug": "x"}], "owns__release": [{"id": 1}, {"id": 2, "raw_version": "1.0.0"}]}]});
        match decode_host_apps(&req, &answer(no_version), false) {
            Err(crate::Error::Decode { path, message, .. }) => {
                assert_eq!(path, "d[0].owns__release[0].raw_version");
                assert_eq!(message, "missing");
            }
            other => panic!("{other:?}"),
        }
        let bad_tag = json!({"d": [{"owns__release": [{"id": 1, "raw_version": "1.0.0", "release_tag": [{"tag_key": 5, "value": "x"}]}]}]});
        match decode_host_apps(&req, &answer(bad_tag), false) {
            Err(crate::Error::Decode { path, .. }) => {
                assert_eq!(path, "d[0].owns__release[0].release_tag[0].tag_key");
            }
            other => panic!("{other:?}"),
        }
        match decode_host_apps(&req, &answer(json!({"x": []})), false) {
            Err(crate::Error::UnexpectedResponse { reason, .. }) => assert!(reason.contains("'d'")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn typed_rows_keep_extra_fields_in_order_and_escaped_keys() {
        let body = r#"{"d":[{"is_for__device_type":[{"slug":"x"}],"owns__release":[{"id":7,"is_final":true,"raw_version":"1.0.0","cre\u0061ted_at":"2024","release_tag":null,"known_issue_list":null,"zeta":1,"alpha":2}]}]}"#;
        let resp = RawResponse {
            status: 200,
            content_type: Some("application/json; charset=utf-8".into()),
            body: body.as_bytes().to_vec().into(),
        };
        let map =
            decode_host_apps(&ApiRequest::pine("/v7/application".into()), &resp, false).unwrap();
        let v = &map["x"][0];
        let keys: Vec<&str> = v.extra.keys().map(String::as_str).collect();
        assert_eq!(keys, ["is_final", "created_at", "zeta", "alpha"]);
        assert!(v.release_tag.is_empty());
        assert_eq!(v.known_issue_list, None);
    }

    #[test]
    fn sorting_matches_a_stable_sort_by_rcompare() {
        let raws = [
            "2.0.0",
            "v2.0.0",
            "2.88.4+rev1.prod",
            "garbage",
            "2.88.4+rev1.dev",
            "2.0.0.prod",
            "2022.10.1",
            "0.0.0",
        ];
        let releases: Vec<Value> = raws
            .iter()
            .enumerate()
            .map(|(i, r)| json!({"id": i, "raw_version": r, "release_tag": [{"tag_key": "version", "value": "1.0.0"}]}))
            .collect();
        let rows = vec![json!({"is_for__device_type": [{"slug": "x"}], "owns__release": releases})];
        let got: Vec<String> = transform(rows).unwrap()["x"]
            .iter()
            .map(|v| v.raw_version.clone())
            .collect();
        let mut want: Vec<String> = raws
            .iter()
            .map(|r| match balena_semver::parse(r) {
                // Unparsable and 0.0.0 releases take their version tag.
                Some(_) if !r.starts_with("0.0.0") => (*r).to_owned(),
                _ => "1.0.0".to_owned(),
            })
            .collect();
        want.sort_by(|a, b| balena_semver::rcompare(a, b));
        assert_eq!(got, want);
    }
}
