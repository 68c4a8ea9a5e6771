//! Pure request builders for the OS model (sdk-wire.md §5.1, §7): each
//! returns the [`ApiRequest`] the client sends, so the wire format can be
//! inspected and tested without a network.

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::models::{IdOrSlug, merge, pine_path};
use crate::os::options::{ConfigOptions, DownloadOptions};
use crate::request::{ApiRequest, Method, RequestKind, encode_query};
use crate::types::{Network, PineOptions};

/// Which releases a host-app query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseFilter {
    /// Final, not invalidated, successfully built (getAvailableOsVersions).
    Supported,
    /// Like `Supported` but drafts too (`includeDraft`).
    IncludeDraft,
    /// Everything, failed builds included (getAllOsVersions).
    All,
}

/// The release options every host-app query starts from.
fn release_defaults() -> Value {
    json!({
        "$select": ["id", "known_issue_list", "raw_version", "variant", "phase"],
        "$expand": {"release_tag": {"$select": ["tag_key", "value"]}}
    })
}

fn convenience_filter(kind: ReleaseFilter) -> Option<Value> {
    match kind {
        ReleaseFilter::Supported => {
            Some(json!({"is_final": true, "is_invalidated": false, "status": "success"}))
        }
        ReleaseFilter::IncludeDraft => Some(json!({"is_invalidated": false, "status": "success"})),
        ReleaseFilter::All => None,
    }
}

/// The single host-app query behind getAllOsVersions/getAvailableOsVersions:
/// the device types go into an `$in` filter in the given order, the
/// caller's pine options are merged into the `owns__release` expand.
///
/// ```
/// use balena_sdk::os::queries::{host_apps_request, ReleaseFilter};
/// let r = host_apps_request(&["raspberrypi3".into()], ReleaseFilter::All, None).unwrap();
/// assert!(r.path_and_query.starts_with("/v7/application?$select=is_for__device_type&$expand="));
/// ```
pub fn host_apps_request(
    device_types: &[String],
    kind: ReleaseFilter,
    caller: Option<&PineOptions>,
) -> Result<ApiRequest> {
    if device_types.is_empty() {
        return Err(Error::InvalidParameter {
            name: "device_types",
            value: "[]".into(),
            reason: "at least one device type is needed".into(),
        });
    }
    let caller = caller.map(PineOptions::to_json);
    let mut release = merge(&release_defaults(), caller.as_ref())?;
    if let Some(filter) = convenience_filter(kind) {
        release = merge(&release, Some(&json!({ "$filter": filter })))?;
    }
    let options = json!({
        "$select": "is_for__device_type",
        "$expand": {
            "application_tag": {"$select": ["tag_key", "value"]},
            "is_for__device_type": {"$select": "slug"},
            "owns__release": release
        },
        "$filter": {
            "is_host": true,
            "is_for__device_type": {"$any": {
                "$alias": "dt",
                "$expr": {"dt": {"slug": {"$in": device_types}}}
            }}
        }
    });
    Ok(ApiRequest::pine(pine_path("application", None, &options)?))
}

/// The supervisor-release query of getSupervisorReleasesForCpuArchitecture.
pub fn supervisor_releases_request(
    arch: &IdOrSlug,
    caller: Option<&PineOptions>,
) -> Result<ApiRequest> {
    arch.validate("cpu_architecture")?;
    let arch_filter = match arch {
        IdOrSlug::Id(id) => json!({"is_of__cpu_architecture": id}),
        IdOrSlug::Slug(slug) => json!({"is_of__cpu_architecture": {"$any": {
            "$alias": "c",
            "$expr": {"c": {"slug": slug}}
        }}}),
    };
    let defaults = json!({
        "$select": ["id", "raw_version", "known_issue_list"],
        "$filter": {
            "status": "success",
            "is_final": true,
            "is_invalidated": false,
            "semver_major": {"$gt": 0},
            "belongs_to__application": {"$any": {
                "$alias": "a",
                "$expr": {"$and": [
                    {"a": {"slug": {"$startswith": "balena_os/"}}},
                    {"a": {"slug": {"$endswith": "-supervisor"}}},
                    {"a": {
                        "is_public": true,
                        "is_host": false,
                        "is_for__device_type": {"$any": {"$alias": "dt", "$expr": {"dt": arch_filter}}}
                    }}
                ]}
            }}
        },
        "$orderby": ["semver_major desc", "semver_minor desc", "semver_patch desc", "revision desc"]
    });
    let caller = caller.map(PineOptions::to_json);
    let options = merge(&defaults, caller.as_ref())?;
    Ok(ApiRequest::pine(pine_path("release", None, &options)?))
}

/// Checks a string that goes into a URL path segment as-is.
pub(crate) fn check_path_segment(name: &'static str, value: &str) -> Result<()> {
    crate::types::check_text(name, value)?;
    let bad = value
        .chars()
        .any(|c| matches!(c, '/' | '\\' | '?' | '#' | '%'))
        || value == "."
        || value == "..";
    if bad {
        return Err(Error::InvalidParameter {
            name,
            value: value.to_owned(),
            reason: "it cannot contain '/', '\\', '?', '#' or '%', or be '.' or '..'".into(),
        });
    }
    Ok(())
}

/// `GET /device-types/v1/<slug>/images/<version>/download-size`; the
/// version goes into the path unchanged (`+` stays raw).
pub fn download_size_request(slug: &str, version: &str) -> Result<ApiRequest> {
    check_path_segment("device_type", slug)?;
    check_path_segment("version", version)?;
    Ok(ApiRequest::rest(
        Method::Get,
        format!("/device-types/v1/{slug}/images/{version}/download-size"),
        None,
    ))
}

/// Normalises an explicit download version like the JS SDK: strip one
/// leading `v`, then require a valid balena-semver version that starts with
/// a digit. Returns the version to send.
pub fn normalize_download_version(version: &str) -> Result<String> {
    if version.is_empty() {
        return Err(Error::InvalidVersion {
            version: String::new(),
            reason: "a version cannot be empty",
        });
    }
    let v = version.strip_prefix('v').unwrap_or(version);
    let starts_with_digit = v.chars().next().is_some_and(|c| c.is_ascii_digit());
    if !starts_with_digit || balena_semver::valid(v).is_none() {
        return Err(Error::InvalidVersion {
            version: version.to_owned(),
            reason: "expected a balenaOS version such as 2.88.4+rev1.prod or 6.0.10+rev1 (ranges are not accepted)",
        });
    }
    Ok(v.to_owned())
}

/// `GET /download?<options>&deviceType=<as given>&version=<resolved>`.
pub fn download_request(options: &DownloadOptions, version: &str) -> ApiRequest {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(d) = options.development_mode {
        pairs.push(("developmentMode", d.to_string()));
    }
    if let Some(id) = options.app_id {
        pairs.push(("appId", id.to_string()));
    }
    if let Some(f) = options.file_type {
        pairs.push(("fileType", f.as_str().to_owned()));
    }
    if let Some(t) = options.image_type {
        pairs.push(("imageType", t.as_str().to_owned()));
    }
    if let Some(i) = options.app_update_poll_interval {
        pairs.push(("appUpdatePollInterval", i.to_string()));
    }
    if let Some(n) = &options.network {
        pairs.push(("network", n.kind().to_owned()));
        if let Network::Wifi { ssid, key } = n {
            if let Some(k) = key {
                pairs.push(("wifiKey", k.clone()));
            }
            if let Some(s) = ssid {
                pairs.push(("wifiSsid", s.clone()));
            }
        }
    }
    pairs.push(("deviceType", options.device_type.clone()));
    pairs.push(("version", version.to_owned()));
    ApiRequest {
        method: Method::Get,
        path_and_query: format!("/download?{}", encode_query(pairs)),
        body: None,
        kind: RequestKind::Stream,
        send_token: true,
    }
}

/// `POST /download-config` with the caller's options and the resolved
/// application id (which always wins over an `appId` in the extra keys).
pub fn download_config_request(app_id: u64, options: &ConfigOptions) -> ApiRequest {
    let mut body = Map::new();
    body.insert("version".into(), Value::from(options.version.clone()));
    body.insert("network".into(), Value::from(options.network.kind()));
    if let Some(i) = options.app_update_poll_interval {
        body.insert("appUpdatePollInterval".into(), Value::from(i));
    }
    let opt_str = |body: &mut Map<String, Value>, k: &str, v: &Option<String>| {
        if let Some(v) = v {
            body.insert(k.to_owned(), Value::from(v.clone()));
        }
    };
    opt_str(
        &mut body,
        "provisioningKeyName",
        &options.provisioning_key_name,
    );
    opt_str(
        &mut body,
        "provisioningKeyExpiryDate",
        &options.provisioning_key_expiry_date,
    );
    opt_str(
        &mut body,
        "provisioningKeyDescription",
        &options.provisioning_key_description,
    );
    if let Some(d) = options.development_mode {
        body.insert("developmentMode".into(), Value::from(d));
    }
    if let Network::Wifi { ssid, key } = &options.network {
        opt_str(&mut body, "wifiKey", key);
        opt_str(&mut body, "wifiSsid", ssid);
    }
    for (k, v) in [
        ("ip", options.ip),
        ("gateway", options.gateway),
        ("netmask", options.netmask),
    ] {
        if let Some(addr) = v {
            body.insert(k.to_owned(), Value::from(addr.to_string()));
        }
    }
    opt_str(&mut body, "deviceType", &options.device_type);
    for (k, v) in &options.extra {
        if !body.contains_key(k) {
            body.insert(k.clone(), v.clone());
        }
    }
    body.insert("appId".into(), Value::from(app_id));
    ApiRequest::rest(
        Method::Post,
        "/download-config".into(),
        Some(Value::Object(body)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{FileType, ImageType};

    #[test]
    fn download_versions() {
        assert_eq!(
            normalize_download_version("v2.88.4+rev1.prod").unwrap(),
            "2.88.4+rev1.prod"
        );
        assert!(normalize_download_version("").is_err());
        assert!(normalize_download_version("V2.88.4").is_err());
        assert!(normalize_download_version(" 2.88.4").is_err());
        assert!(normalize_download_version("^2.88.0").is_err());
    }

    #[test]
    fn download_query_is_qs_encoded() {
        let mut o = DownloadOptions::new("raspberrypi3");
        o.development_mode = Some(true);
        o.app_id = Some(123);
        o.file_type = Some(FileType::Zip);
        o.image_type = Some(ImageType::Flasher);
        o.app_update_poll_interval = Some(10);
        o.network = Some(Network::Wifi {
            ssid: Some("My Wifi/ÄÖ".into()),
            key: Some("s3cr3t pass&=+/".into()),
        });
        let r = download_request(&o, "2.88.4+rev1.prod");
        assert_eq!(
            r.path_and_query,
            "/download?developmentMode=true&appId=123&fileType=.zip&imageType=flasher&appUpdatePollInterval=10&network=wifi&wifiKey=s3cr3t%20pass%26%3D%2B%2F&wifiSsid=My%20Wifi%2F%C3%84%C3%96&deviceType=raspberrypi3&version=2.88.4%2Brev1.prod"
        );
    }

    #[test]
    fn path_segments_are_guarded() {
        assert!(download_size_request("intel-nuc", "6.0.10+rev1").is_ok());
        assert!(download_size_request("intel-nuc", "../x").is_err());
        assert!(download_size_request("intel-nuc", "..").is_err());
        assert!(download_size_request("intel-nuc", "a?b").is_err());
    }

    #[test]
    fn config_body_keeps_resolved_app_id() {
        let mut o = ConfigOptions::new("2.88.4+rev1.prod");
        o.extra.insert("appId".into(), Value::from(999));
        let r = download_config_request(123, &o);
        let body = r.body.unwrap();
        assert_eq!(body["appId"], 123);
        assert_eq!(body["network"], "ethernet");
    }
}
