//! Demo images: real (small) balenaOS-like images for the demo catalog's
//! device types, generated with [`balena_image::demo`] and imported into the
//! parts layout, so that every download path works out of the box.
//!
//! On the first start with `--demo`, [`DemoImages::install`] marks the demo
//! device types in the image store (a `DEMO` file in `<slug>/`) and the
//! newest release of each gets its image at once, in the background. Any
//! other release of a marked device type gets its image the first time it
//! is asked for (about half a second), then it is stored like any other.
//!
//! Each image is of its release's variant ([`DemoVariant`]): the `.dev`
//! build of a release from before unification is a development image
//! (`VARIANT_ID="dev"` in `os-release`, `"developmentMode":true` in the
//! stock `config.json`), its `.prod` build a production one, and a unified
//! release's image has no VARIANT lines.
//!
//! The device types cover every layout: `raspberrypi3` and
//! `raspberrypi4-64` (MBR, FAT32 boot, also the demo fleets' device types),
//! `generic-amd64` (GPT; a flasher by default, with a raw image as
//! `imageType=raw`) and `intel-nuc` (MBR flasher).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use balena_image::demo::{DemoSpec, DemoVariant};
use balena_image::import::{Artifact, ImportOptions, import_from};
use serde_json::Value;

use super::ImagesError;
use super::device_types::embedded_entry;
use super::store::ImageStore;

/// Device types given demo images.
pub const DEMO_DEVICE_TYPES: &[&str] = &[
    "raspberrypi3",
    "raspberrypi4-64",
    "generic-amd64",
    "intel-nuc",
];
/// The marker file in `<slug>/` of a demo device type.
pub const MARKER: &str = "DEMO";

/// Generates demo images on demand, once per release.
pub struct DemoImages {
    store: ImageStore,
    marked: Mutex<HashMap<String, bool>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for DemoImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoImages").finish_non_exhaustive()
    }
}

/// The releases of one demo release folder that are generated: the
/// default image and, where the device type has one, the raw image.
fn artifacts(slug: &str, default_is_flasher: bool) -> Vec<(Artifact, bool)> {
    let mut out = vec![(Artifact::Default, default_is_flasher)];
    let has_raw = embedded_entry(slug).is_some_and(|e| e["deploy_raw_artifact"].is_string());
    if default_is_flasher && has_raw {
        out.push((Artifact::Raw, false));
    }
    out
}

/// Builds the release folder of a demo image in `dir` (blocking): the
/// images of `variant` (the `.dev` build of a release from before
/// unification is a development image, see [`DemoVariant`]).
///
/// ```
/// use balena_image::demo::DemoVariant;
/// let dir = tempfile::tempdir().unwrap();
/// let doc = serde_json::json!({"slug": "raspberrypi3", "yocto": {"image": "balena-image"}});
/// balena_os_server::images::demo::build_release_folder(
///     dir.path(), "raspberrypi3", "6.0.13", DemoVariant::Unified, &doc,
/// ).unwrap();
/// assert!(dir.path().join("image.json").exists());
/// assert_eq!(std::fs::read_to_string(dir.path().join("VERSION_HOSTOS")).unwrap(), "6.0.13");
/// ```
pub fn build_release_folder(
    dir: &Path,
    slug: &str,
    os_version: &str,
    variant: DemoVariant,
    doc: &Value,
) -> Result<(), ImagesError> {
    let mut spec = match embedded_entry(slug) {
        Some(entry) => DemoSpec::from_catalog_entry(entry)?,
        None => DemoSpec::new(slug),
    };
    let mut doc = doc.clone();
    if let Some(m) = doc.as_object_mut() {
        m.remove("buildId");
        m.remove("logoUrl");
    }
    let default_is_flasher = super::device_types::default_is_flasher(&doc);
    spec.device_type_json = doc.clone();
    spec = spec.os_version(os_version).variant(variant);
    let doc_bytes =
        serde_json::to_vec_pretty(&doc).map_err(|e| ImagesError::Invalid(e.to_string()))?;
    for (artifact, flasher) in artifacts(slug, default_is_flasher) {
        let image = spec.clone().flasher(flasher).build()?;
        import_from(
            &image,
            dir,
            &ImportOptions {
                artifact,
                device_type_json: Some(doc_bytes.clone()),
                os_version: Some(os_version.to_owned()),
                ..ImportOptions::default()
            },
        )?;
    }
    Ok(())
}

impl DemoImages {
    /// Demo images in `store`.
    pub fn new(store: ImageStore) -> Self {
        DemoImages {
            store,
            marked: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// Marks the demo device types in the store.
    pub async fn install(&self) -> Result<(), ImagesError> {
        for slug in DEMO_DEVICE_TYPES {
            self.store
                .write_small(&[slug, MARKER], b"demo images are generated on demand\n")
                .await?;
            if let Ok(mut m) = self.marked.lock() {
                m.insert((*slug).to_owned(), true);
            }
        }
        Ok(())
    }

    /// Whether `slug` is a marked demo device type.
    pub async fn is_demo(&self, slug: &str) -> Result<bool, ImagesError> {
        if let Some(v) = self.marked.lock().ok().and_then(|m| m.get(slug).copied()) {
            return Ok(v);
        }
        let v = self.store.exists(&[slug, MARKER]).await?;
        if let Ok(mut m) = self.marked.lock() {
            if m.len() > 4096 {
                m.clear();
            }
            m.insert(slug.to_owned(), v);
        }
        Ok(v)
    }

    /// Makes the release folder `<slug>/<build>` (images of `variant`)
    /// unless it exists. Returns whether the folder exists afterwards.
    pub async fn generate(
        &self,
        slug: &str,
        build: &str,
        os_version: &str,
        variant: DemoVariant,
        doc: &Value,
    ) -> Result<bool, ImagesError> {
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .map_err(|_| ImagesError::Invalid("demo lock poisoned".into()))?;
            locks
                .entry(format!("{slug}/{build}"))
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
                .clone()
        };
        let _held = lock.lock().await;
        if self.store.has_release_folder(slug, build).await? {
            return Ok(true);
        }
        super::store::check_segment(slug)?;
        super::store::check_segment(build)?;
        let work: (PathBuf, Option<tempfile::TempDir>) = match self.store.local_root() {
            Some(root) => {
                let parent = root.join(slug);
                std::fs::create_dir_all(&parent).map_err(|e| ImagesError::Io {
                    context: format!("creating {}", parent.display()),
                    source: e,
                })?;
                let dir = tempfile::Builder::new()
                    .prefix(".demo-")
                    .tempdir_in(&parent)
                    .map_err(|e| ImagesError::Io {
                        context: format!("creating a folder in {}", parent.display()),
                        source: e,
                    })?;
                (dir.path().to_path_buf(), Some(dir))
            }
            None => {
                let dir = tempfile::tempdir().map_err(|e| ImagesError::Io {
                    context: "creating a temporary folder".into(),
                    source: e,
                })?;
                (dir.path().to_path_buf(), Some(dir))
            }
        };
        let started = std::time::Instant::now();
        {
            let (dir, slug, os_version, doc) = (
                work.0.clone(),
                slug.to_owned(),
                os_version.to_owned(),
                doc.clone(),
            );
            tokio::task::spawn_blocking(move || {
                build_release_folder(&dir, &slug, &os_version, variant, &doc)
            })
            .await
            .map_err(|e| ImagesError::Invalid(format!("demo image task failed: {e}")))??;
        }
        let published = self.store.publish(&work.0, slug, build).await;
        drop(work);
        match published {
            Ok(()) => {
                tracing::info!(
                    slug,
                    build,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "generated a demo image"
                );
                Ok(true)
            }
            Err(e) => {
                if self.store.has_release_folder(slug, build).await? {
                    Ok(true)
                } else {
                    Err(e.into())
                }
            }
        }
    }
}
