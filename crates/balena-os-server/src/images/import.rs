//! Importing an image file for a device type and version
//! (`balena-os admin import-image`): the image (raw, `.img.gz` or `.zip`)
//! is split into compressed parts in the image store's layout and the
//! release is created in the catalog (in the host app `balena_os/<slug>`,
//! or `balena_os/<slug>-esr` for ESR versions), so that it can be listed,
//! sized and downloaded at once.

use std::path::{Path, PathBuf};

use balena_image::import::{Artifact, ImportOptions, import_image};
use sha2::{Digest, Sha256};

use super::device_types::synthesize;
use super::releases::{DeviceTypeRow, aliases, find_device_type};
use super::store::{ImageStore, check_segment};
use super::{ImageType, ImagesError};
use crate::catalog::demo::OS_ORGANIZATION;
use crate::catalog::import::device_type_from_json;
use crate::catalog::{
    Batch, Catalog, NewApplication, NewRelease, ReleaseVersion, WriteReport, hex,
};
use crate::time::now_millis;

/// What to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRequest {
    /// The image file: raw, gzip or zip.
    pub input: PathBuf,
    /// Device type slug or alias; when the catalog does not know it, the
    /// image's `device-type.json` (or `device_type_json`) creates it.
    pub device_type: String,
    /// The balenaOS version, e.g. `6.0.13` or `2.19.0+rev1.prod`.
    pub version: String,
    /// Import as the flasher or raw variant (`image-flasher.json` /
    /// `image-raw.json`) instead of the default image.
    pub image_type: Option<ImageType>,
    /// A device-type.json file to use instead of the image's own.
    pub device_type_json: Option<PathBuf>,
    /// Replace an image that was imported already.
    pub force: bool,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// Canonical device type slug.
    pub device_type: String,
    /// Release folder (build id) in the image store.
    pub build: String,
    /// The manifest written.
    pub manifest: String,
    /// The release's raw_version.
    pub raw_version: String,
    /// Uncompressed image length.
    pub image_bytes: u64,
    /// Σ compressed parts (the download size).
    pub compressed_bytes: u64,
    /// Number of parts.
    pub parts: usize,
    /// Catalog rows created.
    pub catalog: WriteReport,
}

fn invalid(msg: impl Into<String>) -> ImagesError {
    ImagesError::Invalid(msg.into())
}

/// Imports an image (see the [module documentation](self)).
pub async fn import(
    catalog: &Catalog,
    store: &ImageStore,
    req: &ImportRequest,
) -> Result<ImportReport, ImagesError> {
    let stripped = req.version.strip_prefix('v').unwrap_or(&req.version);
    let version = ReleaseVersion::from_build_id(stripped)
        .filter(|_| stripped.starts_with(|c: char| c.is_ascii_digit()))
        .ok_or_else(|| invalid(format!("'{}' is not a balenaOS version", req.version)))?;
    let build = if version.variant.is_empty() {
        version.semver()
    } else {
        format!("{}.{}", version.semver(), version.variant)
    };
    let os_version = version.raw_version(0);
    let os_version = os_version
        .strip_suffix(&format!("+{}", version.variant))
        .or_else(|| os_version.strip_suffix(&format!(".{}", version.variant)))
        .filter(|_| !version.variant.is_empty())
        .unwrap_or(&os_version)
        .to_owned();
    check_segment(&build)?;
    if !req.input.is_file() {
        return Err(invalid(format!("{} is not a file", req.input.display())));
    }
    let artifact = match req.image_type {
        None => Artifact::Default,
        Some(ImageType::Flasher) => Artifact::Flasher,
        Some(ImageType::Raw) => Artifact::Raw,
    };

    let db = catalog.db();
    let known = find_device_type(db, &req.device_type).await?;
    let explicit_doc = match &req.device_type_json {
        Some(p) => Some(std::fs::read(p).map_err(|e| ImagesError::Io {
            context: format!("reading {}", p.display()),
            source: e,
        })?),
        None => None,
    };
    let slug = match &known {
        Some(dt) => dt.slug.clone(),
        None => req.device_type.clone(),
    };
    check_segment(&slug)?;
    if store
        .exists(&[&slug, &build, artifact.manifest_name()])
        .await?
        && !req.force
    {
        return Err(invalid(format!(
            "{slug}/{build} already has {} (use --force to replace it)",
            artifact.manifest_name()
        )));
    }
    // The device-type.json written with the release: an explicit one, else
    // the image's own, else (for a known device type) the catalog's.
    let fallback_doc = match &known {
        Some(dt) if explicit_doc.is_none() => {
            let a = aliases(db, dt).await?;
            Some(
                serde_json::to_vec_pretty(&synthesize(dt, &a))
                    .map_err(|e| invalid(e.to_string()))?,
            )
        }
        _ => None,
    };

    // Split the image into parts: straight into the folder for a local
    // store (the IGNORE marker hides it until it is complete), through a
    // temporary folder for a bucket.
    let (work, temp) = match store.local_root() {
        Some(root) => (root.join(&slug).join(&build), None),
        None => {
            let t = tempfile::tempdir().map_err(|e| ImagesError::Io {
                context: "creating a temporary folder".into(),
                source: e,
            })?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let report = {
        let (input, work, explicit_doc, fallback_doc, os_version) = (
            req.input.clone(),
            work.clone(),
            explicit_doc.clone(),
            fallback_doc,
            os_version.clone(),
        );
        tokio::task::spawn_blocking(move || -> Result<_, ImagesError> {
            let mut opts = ImportOptions {
                artifact,
                device_type_json: explicit_doc,
                os_version: Some(os_version),
                ..ImportOptions::default()
            };
            match import_image(&input, &work, &opts) {
                Ok(r) if r.device_type_json.is_some() || fallback_doc.is_none() => Ok(r),
                Ok(_) => {
                    // No device-type.json in the image: write the catalog's.
                    opts.device_type_json = fallback_doc;
                    Ok(import_image(&input, &work, &opts)?)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
        .map_err(|e| invalid(format!("import task failed: {e}")))??
    };
    let doc: Option<serde_json::Value> = report
        .device_type_json
        .as_ref()
        .and_then(|d| serde_json::from_slice(d).ok());
    if let Some(d) = &doc
        && let Some(s) = d["slug"].as_str()
        && known.is_none()
        && s != slug
    {
        if temp.is_none() {
            // Written by this import for a device type the catalog lacks.
            let _ = std::fs::remove_dir_all(&work);
        }
        return Err(invalid(format!(
            "the image's device-type.json is for '{s}', not '{slug}'"
        )));
    }
    if let Some(t) = &temp {
        store.publish(t.path(), &slug, &build).await?;
    }

    // The catalog: the device type if new, the host app and the release.
    let mut batch = Batch {
        organizations: vec![(OS_ORGANIZATION.into(), OS_ORGANIZATION.into())],
        device_types: Vec::new(),
        applications: Vec::new(),
    };
    if known.is_none() {
        let d = doc.ok_or_else(|| {
            invalid(format!(
                "the catalog has no device type '{slug}' and the image holds no device-type.json (give one with --device-type-json)"
            ))
        })?;
        batch
            .device_types
            .push(device_type_from_json(&d).map_err(invalid)?);
    }
    let esr = version.major >= 2000;
    let commit = hex(&Sha256::digest(format!("{slug}/{build}").as_bytes()))[..32].to_owned();
    let raw_version = version.raw_version(0);
    batch.applications.push((
        NewApplication {
            organization: OS_ORGANIZATION.into(),
            app_name: if esr {
                format!("{slug}-esr")
            } else {
                slug.clone()
            },
            device_type: slug.clone(),
            is_host: true,
            is_public: true,
            tags: if esr {
                vec![("release-policy".into(), "esr".into())]
            } else {
                Vec::new()
            },
            uuid: None,
            created_at: None,
        },
        vec![NewRelease::success(commit, version, now_millis())],
    ));
    let written = catalog.write_batch(&batch).await?;
    Ok(ImportReport {
        device_type: slug,
        build,
        manifest: artifact.manifest_name().to_owned(),
        raw_version,
        image_bytes: report.layout.len(),
        compressed_bytes: report.layout.compressed_len(),
        parts: report.layout.parts().len(),
        catalog: written,
    })
}

/// The device type row for a slug after an import (for callers that go on
/// to serve it).
pub async fn device_type_after_import(
    catalog: &Catalog,
    slug: &str,
) -> Result<Option<DeviceTypeRow>, ImagesError> {
    Ok(find_device_type(catalog.db(), slug).await?)
}

/// Where a local store keeps a release's files (for tools and tests).
pub fn local_release_dir(root: &Path, slug: &str, build: &str) -> PathBuf {
    root.join(slug).join(build)
}
