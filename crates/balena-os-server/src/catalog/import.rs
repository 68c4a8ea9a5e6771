//! Importing a balena image bucket.
//!
//! balenaCloud keeps OS images as `<prefix>/<slug>/<buildId>/` folders
//! holding `device-type.json`, `VERSION_HOSTOS`, `image.json` and
//! `compressed/part-N.deflate` (image-server.md §1.5), with an `IGNORE`
//! marker while an upload is unfinished. An import reads such a tree from a
//! local folder or an S3-compatible bucket and creates:
//!
//! - the device types, from `device-type.json` (`slug`, `name`, `arch`,
//!   `aliases`), with their CPU architectures and aliases;
//! - one public host app `balena_os/<slug>` per device type (ESR builds,
//!   major version ≥ 2000, go to `balena_os/<slug>-esr`, tagged
//!   `release-policy=esr`);
//! - one final, successful release per build folder, its version fields
//!   parsed from `VERSION_HOSTOS` (or the folder name) with balena-semver and
//!   its variant from the folder name's `.dev`/`.prod` suffix.
//!
//! Folders marked `IGNORE` are skipped. Anything else that is malformed
//! fails the whole import, naming the folder, and writes nothing: the bucket
//! is read completely before the catalog is written in one transaction.
//! Re-importing creates only what is new (a release is identified by its
//! application and a commit derived from `<slug>/<buildId>`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    Batch, Catalog, CatalogError, NewApplication, NewDeviceType, NewRelease, ReleaseVersion,
    WriteReport, check_slug, device_type_contract, hex,
};
use crate::catalog::demo::OS_ORGANIZATION;
use crate::error_chain::chain;

/// Largest `device-type.json` or `VERSION_HOSTOS` read (bytes).
pub const MAX_METADATA_FILE: u64 = 1024 * 1024;

/// Where a bucket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketSource {
    /// A local folder laid out like the bucket's prefix (it holds the
    /// `<slug>/` folders).
    Local(PathBuf),
    /// An S3-compatible bucket.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix holding the `<slug>/` folders (e.g. `images`).
        prefix: String,
        /// Endpoint URL for S3-compatible services (MinIO, moto, …);
        /// AWS when `None`.
        endpoint: Option<String>,
        /// Region (`us-east-1` when `None`).
        region: Option<String>,
        /// Access key; anonymous requests when `None`.
        access_key_id: Option<String>,
        /// Secret key.
        secret_access_key: Option<String>,
        /// Allow plain `http://` endpoints.
        allow_http: bool,
    },
}

impl BucketSource {
    /// `s3://bucket[/prefix]` (settings from the standard `AWS_*`
    /// environment variables: `AWS_ENDPOINT_URL`/`AWS_ENDPOINT`,
    /// `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_ALLOW_HTTP`), or a local directory.
    pub fn parse(source: &str) -> Result<BucketSource, CatalogError> {
        if let Some(rest) = source.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(super::invalid("bucket URL", source, "s3://BUCKET[/PREFIX]"));
            }
            let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            Ok(BucketSource::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
                endpoint: env("AWS_ENDPOINT_URL").or_else(|| env("AWS_ENDPOINT")),
                region: env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")),
                access_key_id: env("AWS_ACCESS_KEY_ID"),
                secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
                allow_http: env("AWS_ALLOW_HTTP").is_some_and(|v| v == "true" || v == "1"),
            })
        } else if source.contains("://") {
            Err(super::invalid(
                "bucket",
                source,
                "a local directory or s3://BUCKET[/PREFIX]",
            ))
        } else {
            Ok(BucketSource::Local(PathBuf::from(source)))
        }
    }

    /// The object store and the prefix inside it.
    pub fn open(&self) -> Result<(Arc<dyn ObjectStore>, ObjectPath), CatalogError> {
        let bucket_err = |e: object_store::Error| CatalogError::Bucket(chain(&e));
        match self {
            BucketSource::Local(dir) => {
                if !dir.is_dir() {
                    return Err(CatalogError::Bucket(format!(
                        "{} is not a directory",
                        dir.display()
                    )));
                }
                let store = LocalFileSystem::new_with_prefix(dir).map_err(bucket_err)?;
                Ok((Arc::new(store), ObjectPath::default()))
            }
            BucketSource::S3 {
                bucket,
                prefix,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                allow_http,
            } => {
                let mut b = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region.clone().unwrap_or_else(|| "us-east-1".into()))
                    .with_allow_http(*allow_http);
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e);
                }
                match (access_key_id, secret_access_key) {
                    (Some(k), Some(s)) => {
                        b = b.with_access_key_id(k).with_secret_access_key(s);
                    }
                    _ => b = b.with_skip_signature(true),
                }
                let store = b.build().map_err(bucket_err)?;
                Ok((Arc::new(store), ObjectPath::from(prefix.as_str())))
            }
        }
    }
}

/// The files of one build folder.
#[derive(Debug, Default)]
struct BuildFolder {
    files: BTreeMap<String, (ObjectPath, u64)>,
    newest: i64,
    has_image_dir: bool,
}

fn folder_err(folder: &str, msg: impl std::fmt::Display) -> CatalogError {
    CatalogError::Document(format!("build folder {folder}: {msg}"))
}

async fn read_small(
    store: &dyn ObjectStore,
    folder: &str,
    name: &str,
    (path, size): &(ObjectPath, u64),
) -> Result<String, CatalogError> {
    if *size > MAX_METADATA_FILE {
        return Err(folder_err(folder, format!("{name} is larger than 1 MiB")));
    }
    let bytes = store
        .get(path)
        .await
        .map_err(|e| CatalogError::Bucket(format!("reading {path}: {}", chain(&e))))?
        .bytes()
        .await
        .map_err(|e| CatalogError::Bucket(format!("reading {path}: {}", chain(&e))))?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| folder_err(folder, format!("{name} is not UTF-8")))
}

/// Reads the bucket under `prefix` into a batch of catalog writes.
pub async fn read_bucket(
    store: &dyn ObjectStore,
    prefix: &ObjectPath,
) -> Result<(Batch, Vec<String>), CatalogError> {
    let prefix_parts: Vec<String> = prefix.parts().map(|p| p.as_ref().to_owned()).collect();
    let mut builds: BTreeMap<(String, String), BuildFolder> = BTreeMap::new();
    let mut listing = store.list(Some(prefix));
    while let Some(meta) = listing
        .try_next()
        .await
        .map_err(|e| CatalogError::Bucket(format!("listing {prefix}: {}", chain(&e))))?
    {
        let parts: Vec<String> = meta
            .location
            .parts()
            .map(|p| p.as_ref().to_owned())
            .collect();
        let Some(rel) = parts.get(prefix_parts.len()..) else {
            continue;
        };
        // <slug>/<buildId>/<file…>; anything shallower (e.g. <slug>/latest) is not a build.
        if rel.len() < 3 {
            continue;
        }
        let entry = builds.entry((rel[0].clone(), rel[1].clone())).or_default();
        entry.newest = entry.newest.max(meta.last_modified.timestamp_millis());
        if rel.len() == 3 {
            entry
                .files
                .insert(rel[2].clone(), (meta.location.clone(), meta.size));
        } else if rel[2] == "image" || rel[2].starts_with("compressed") {
            entry.has_image_dir = true;
        }
    }

    let mut skipped = Vec::new();
    let mut device_types: BTreeMap<String, (NewDeviceType, i64)> = BTreeMap::new();
    let mut releases: BTreeMap<(String, bool), Vec<NewRelease>> = BTreeMap::new();
    for ((slug, build), folder) in &builds {
        let name = format!("{slug}/{build}");
        if folder.files.contains_key("IGNORE") {
            skipped.push(format!("{name}: unfinished upload (IGNORE marker)"));
            continue;
        }
        let dtj = folder
            .files
            .get("device-type.json")
            .ok_or_else(|| folder_err(&name, "no device-type.json"))?;
        if !folder.files.contains_key("image.json") && !folder.has_image_dir {
            return Err(folder_err(
                &name,
                "no image (neither image.json nor image/)",
            ));
        }
        let text = read_small(store, &name, "device-type.json", dtj).await?;
        let doc: Value = serde_json::from_str(&text)
            .map_err(|e| folder_err(&name, format!("device-type.json: {e}")))?;
        let dt = device_type_from_json(&doc).map_err(|m| folder_err(&name, m))?;
        if dt.slug != *slug {
            return Err(folder_err(
                &name,
                format!("device-type.json is for '{}', not '{slug}'", dt.slug),
            ));
        }
        let variant = build
            .rsplit_once('.')
            .map(|(_, v)| v.to_ascii_lowercase())
            .filter(|v| v == "dev" || v == "prod")
            .unwrap_or_default();
        let mut version = match folder.files.get("VERSION_HOSTOS") {
            Some(file) => {
                let text = read_small(store, &name, "VERSION_HOSTOS", file).await?;
                ReleaseVersion::from_build_id(text.trim()).ok_or_else(|| {
                    folder_err(
                        &name,
                        format!("VERSION_HOSTOS '{}' is not a version", text.trim()),
                    )
                })?
            }
            None => ReleaseVersion::from_build_id(build)
                .ok_or_else(|| folder_err(&name, "the folder name is not a version"))?,
        };
        if !variant.is_empty() {
            version.variant = variant;
        }
        let esr = version.major >= 2000;
        let commit = hex(&Sha256::digest(format!("{slug}/{build}").as_bytes()))[..32].to_owned();
        releases
            .entry((slug.clone(), esr))
            .or_default()
            .push(NewRelease::success(commit, version, folder.newest));
        // The newest build's device-type.json describes the device type.
        match device_types.get(slug) {
            Some((_, at)) if *at >= folder.newest => {}
            _ => {
                device_types.insert(slug.clone(), (dt, folder.newest));
            }
        }
    }

    let mut batch = Batch {
        organizations: vec![(OS_ORGANIZATION.into(), OS_ORGANIZATION.into())],
        device_types: device_types.values().map(|(d, _)| d.clone()).collect(),
        applications: Vec::new(),
    };
    for ((slug, esr), list) in releases {
        let app_name = if esr {
            format!("{slug}-esr")
        } else {
            slug.clone()
        };
        let created = list.iter().map(|r| r.created_at).min();
        let tags = if esr {
            vec![("release-policy".to_owned(), "esr".to_owned())]
        } else {
            Vec::new()
        };
        batch.applications.push((
            NewApplication {
                organization: OS_ORGANIZATION.into(),
                app_name,
                device_type: slug,
                is_host: true,
                is_public: true,
                tags,
                uuid: None,
                created_at: created,
            },
            list,
        ));
    }
    Ok((batch, skipped))
}

/// The device type a `device-type.json` describes.
pub fn device_type_from_json(doc: &Value) -> Result<NewDeviceType, String> {
    let text = |k: &str| -> Result<String, String> {
        doc.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("device-type.json has no '{k}'"))
    };
    let slug = text("slug")?;
    let name = text("name")?;
    let arch = text("arch")?;
    check_slug("device type slug", &slug, 100).map_err(|e| e.to_string())?;
    check_slug("cpu architecture", &arch, 50).map_err(|e| e.to_string())?;
    let aliases: Vec<String> = match doc.get("aliases") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or("aliases must be strings")
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("'aliases' must be a list".into()),
    };
    let aliases: Vec<String> = aliases.into_iter().filter(|a| *a != slug).collect();
    let mut data = json!({});
    for key in ["media", "storage", "connectivity", "led", "hdmi"] {
        if let Some(v) = doc.get(key) {
            data[key] = v.clone();
        }
    }
    let contract = device_type_contract(&slug, &name, &arch, &aliases, data);
    Ok(NewDeviceType {
        slug,
        name,
        arch,
        aliases,
        contract,
        logo: None,
        is_private: doc.get("private").and_then(Value::as_bool).unwrap_or(false),
    })
}

impl Catalog {
    /// Imports an image bucket (see the [module documentation](self)).
    pub async fn import_bucket(&self, source: &BucketSource) -> Result<WriteReport, CatalogError> {
        let (store, prefix) = source.open()?;
        self.import_store(store.as_ref(), &prefix).await
    }

    /// Imports the bucket tree under `prefix` of `store`.
    pub async fn import_store(
        &self,
        store: &dyn ObjectStore,
        prefix: &ObjectPath,
    ) -> Result<WriteReport, CatalogError> {
        let (batch, skipped) = read_bucket(store, prefix).await?;
        let mut report = self.write_batch(&batch).await?;
        report.skipped = skipped;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources() {
        assert_eq!(
            BucketSource::parse("/srv/images").ok(),
            Some(BucketSource::Local("/srv/images".into()))
        );
        match BucketSource::parse("s3://balena-img/images/") {
            Ok(BucketSource::S3 { bucket, prefix, .. }) => {
                assert_eq!((bucket.as_str(), prefix.as_str()), ("balena-img", "images"));
            }
            other => panic!("{other:?}"),
        }
        assert!(BucketSource::parse("s3://").is_err());
        assert!(BucketSource::parse("gs://bucket").is_err());
    }

    #[test]
    fn reads_device_type_json() {
        let dt = device_type_from_json(&json!({
            "slug": "raspberrypi4-64", "name": "Raspberry Pi 4 (using 64bit OS)",
            "arch": "aarch64", "aliases": ["rpi4-64", "raspberrypi4-64"]
        }))
        .expect("valid");
        assert_eq!(dt.aliases, vec!["rpi4-64".to_owned()]);
        assert_eq!(dt.contract["data"]["arch"], "aarch64");
        assert!(device_type_from_json(&json!({"slug": "x"})).is_err());
        assert!(
            device_type_from_json(&json!({"slug": "Bad Slug", "name": "n", "arch": "a"})).is_err()
        );
        assert!(
            device_type_from_json(&json!({"slug": "s", "name": "n", "arch": "a", "aliases": "x"}))
                .is_err()
        );
    }
}
