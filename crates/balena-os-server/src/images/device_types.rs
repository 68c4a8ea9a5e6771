//! `device-type.json` documents: what `/device-types/v1[/:slug]` serves and
//! what `/download-config` reads its options and config partition from.
//!
//! As open-balena-api does (image-server.md §1.4), the document comes from
//! the image store: the newest build folder of the device type (final
//! versions before prereleases, then by version) that has a
//! `device-type.json` and no `IGNORE` marker, with `buildId` set to the
//! folder name. Unlike open-balena-api, a device type the catalog knows but
//! the store has no image of still gets a document (404 upstream), made from
//! the catalog: the embedded device-type data for the 51 known boards, or the
//! catalog row (slug, name, architecture, aliases) with balena's defaults.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::releases::DeviceTypeRow;
use super::store::{ImageStore, StoreError};

/// The device types embedded in the binary (`data/device-types.json`).
const EMBEDDED: &str = include_str!("../../data/device-types.json");

/// The entry of the embedded catalog for `slug`, if any.
pub fn embedded_entry(slug: &str) -> Option<&'static Value> {
    static INDEX: OnceLock<HashMap<String, Value>> = OnceLock::new();
    INDEX
        .get_or_init(|| {
            let doc: Value = serde_json::from_str(EMBEDDED).unwrap_or(Value::Null);
            doc["device_types"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|e| Some((e["slug"].as_str()?.to_owned(), e.clone())))
                        .collect()
                })
                .unwrap_or_default()
        })
        .get(slug)
}

/// The configuration options every balenaOS device type offers (network
/// and the advanced update-poll interval), as device-type.json lists them.
pub fn standard_options() -> Value {
    json!([
        {"isGroup": true, "name": "network", "message": "Network", "options": [
            {"message": "Network Connection", "name": "network", "type": "list", "choices": ["ethernet", "wifi"]},
            {"message": "Wifi SSID", "name": "wifiSsid", "type": "text", "when": {"network": "wifi"}},
            {"message": "Wifi Passphrase", "name": "wifiKey", "type": "password", "when": {"network": "wifi"}}
        ]},
        {"isGroup": true, "isCollapsible": true, "collapsed": true, "name": "advanced", "message": "Advanced", "options": [
            {"message": "Check for updates every X minutes", "name": "appUpdatePollInterval", "type": "number", "min": 10, "default": 10}
        ]}
    ])
}

/// A device-type.json made from what the catalog knows: the embedded
/// entry when there is one, else the row and `aliases`.
pub fn synthesize(dt: &DeviceTypeRow, aliases: &[String]) -> Value {
    let entry = embedded_entry(&dt.slug);
    let s = |k: &str| entry.and_then(|e| e[k].as_str()).map(str::to_owned);
    let slug = dt.slug.as_str();
    let aliases: Vec<&str> = match entry.map(|e| &e["device_type_json_aliases"]) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => aliases.iter().map(String::as_str).collect(),
    };
    let aliases: Vec<&str> = aliases.into_iter().filter(|a| *a != slug).collect();
    let link = format!("https://docs.balena.io/learn/getting-started/{slug}/nodejs/");
    let flasher = entry
        .and_then(|e| e["default_image_is_flasher"].as_bool())
        .unwrap_or(false);
    let instructions = if flasher {
        json!([
            "Write the OS file you downloaded to a USB key or SD card.",
            "Insert the USB key or SD card into the device and boot from it: the installer writes balenaOS to the internal storage and shuts the device down.",
            "Remove the USB key or SD card and power the device up."
        ])
    } else {
        json!([
            "Write the OS file you downloaded to your SD card.",
            "Insert the freshly flashed SD card into the device.",
            "Connect power to the device to boot it."
        ])
    };
    let machine = s("yocto_machine").unwrap_or_else(|| slug.to_owned());
    let mut yocto = Map::new();
    yocto.insert("machine".into(), json!(machine));
    yocto.insert(
        "image".into(),
        json!(s("yocto_image").unwrap_or_else(|| if flasher {
            "balena-image-flasher".into()
        } else {
            "balena-image".into()
        })),
    );
    yocto.insert(
        "fstype".into(),
        json!(s("yocto_fstype").unwrap_or_else(|| "balenaos-img".into())),
    );
    yocto.insert(
        "deployArtifact".into(),
        json!(
            s("deploy_artifact").unwrap_or_else(|| format!("balena-image-{machine}.balenaos-img"))
        ),
    );
    if let Some(a) = s("deploy_flasher_artifact") {
        yocto.insert("deployFlasherArtifact".into(), json!(a));
    }
    if let Some(a) = s("deploy_raw_artifact") {
        yocto.insert("deployRawArtifact".into(), json!(a));
    }
    if entry.and_then(|e| e["archive"].as_bool()) == Some(true) {
        yocto.insert("archive".into(), json!(true));
    }
    yocto.insert("compressed".into(), json!(true));
    let partition = entry
        .map(|e| e["config_partition_raw"].clone())
        .filter(|p| !p.is_null())
        .unwrap_or_else(|| json!({"primary": 1}));
    let arch = entry
        .and_then(|e| e["arch_in_device_type_json"].as_str())
        .unwrap_or(&dt.arch);
    json!({
        "slug": slug,
        "version": 1,
        "aliases": aliases,
        "name": dt.name,
        "arch": arch,
        "state": s("state").unwrap_or_else(|| "RELEASED".into()),
        "instructions": instructions,
        "gettingStartedLink": {"windows": link, "osx": link, "linux": link},
        "supportsBlink": true,
        "options": standard_options(),
        "yocto": yocto,
        "configuration": {"config": {"partition": partition, "path": s("config_path").unwrap_or_else(|| "/config.json".into())}},
        "initialization": {
            "options": [{"message": "Select a drive", "type": "drive", "name": "drive"}],
            "operations": [{"command": "burn"}]
        }
    })
}

/// Whether a device-type.json describes a flasher as its default image.
pub fn default_is_flasher(doc: &Value) -> bool {
    let yocto = &doc["yocto"];
    yocto["image"]
        .as_str()
        .is_some_and(|s| s.contains("flasher"))
        || yocto["deployArtifact"]
            .as_str()
            .is_some_and(|s| s.contains("flasher"))
}

/// Build folders of `slug` in the order upstream searches them: final
/// versions first, each group newest first; unparsable names last.
pub fn order_builds(mut builds: Vec<String>) -> Vec<String> {
    builds.sort_by(|a, b| {
        let pa = balena_semver::parse(a);
        let pb = balena_semver::parse(b);
        match (pa, pb) {
            (Some(x), Some(y)) => x
                .prerelease
                .is_empty()
                .cmp(&y.prerelease.is_empty())
                .reverse()
                .then_with(|| balena_semver::rcompare(a, b)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.cmp(b),
        }
    });
    builds
}

/// The newest complete build folder of `slug` holding a device-type.json:
/// `(build id, document)`.
pub async fn from_store(
    store: &ImageStore,
    slug: &str,
) -> Result<Option<(String, Map<String, Value>)>, StoreError> {
    let builds = order_builds(store.list_dirs(&[slug]).await?);
    for build in builds {
        if store.exists(&[slug, &build, "IGNORE"]).await? {
            continue;
        }
        let Some(bytes) = store.read(&[slug, &build, "device-type.json"]).await? else {
            continue;
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(doc)) => return Ok(Some((build, doc))),
            _ => {
                tracing::warn!(
                    slug,
                    build,
                    "skipping a build folder whose device-type.json is not a JSON object"
                );
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(slug: &str) -> DeviceTypeRow {
        DeviceTypeRow {
            id: 1,
            slug: slug.into(),
            name: "Name".into(),
            is_private: false,
            arch: "amd64".into(),
        }
    }

    #[test]
    fn synthesized_documents() {
        let rpi = synthesize(&row("raspberrypi4-64"), &[]);
        assert_eq!(rpi["aliases"], json!([]));
        assert_eq!(rpi["arch"], "aarch64");
        let rpi3 = synthesize(&row("raspberrypi3"), &[]);
        assert_eq!(
            rpi3["configuration"]["config"]["partition"],
            json!({"primary": 1})
        );
        assert_eq!(rpi3["yocto"]["machine"], "raspberrypi3");
        assert!(!default_is_flasher(&rpi3));
        let nuc = synthesize(&row("intel-nuc"), &[]);
        assert!(default_is_flasher(&nuc));
        assert_eq!(nuc["aliases"], json!(["nuc"]));
        let nano = synthesize(&row("jetson-nano"), &[]);
        assert_eq!(nano["configuration"]["config"]["partition"], json!(12));
        let custom = synthesize(&row("my-board"), &["board".to_owned()]);
        assert_eq!(custom["aliases"], json!(["board"]));
        assert_eq!(
            custom["yocto"]["deployArtifact"],
            "balena-image-my-board.balenaos-img"
        );
        let keys: Vec<&String> = custom.as_object().expect("object").keys().collect();
        assert_eq!(
            keys[..6],
            ["slug", "version", "aliases", "name", "arch", "state"]
        );
    }

    #[test]
    fn build_order() {
        let b = order_builds(vec![
            "2.19.0+rev1.prod".into(),
            "6.1.0-beta.1".into(),
            "junk".into(),
            "6.0.13".into(),
            "2.19.0+rev1.dev".into(),
        ]);
        assert_eq!(b[0], "6.0.13");
        assert_eq!(b[3], "6.1.0-beta.1");
        assert_eq!(b[4], "junk");
    }
}
