//! The image endpoints: `/download`, `/download-config`,
//! `/device-types/v1[/:slug]` and download sizes.
//!
//! Images are stored in balena's bucket layout (see [`store`]) in the data
//! directory (`<data>/images`) or an S3-compatible bucket, as compressed
//! parts. A download is assembled from the parts on the fly, never
//! decompressed or recompressed as a whole:
//!
//! * `.gz` and `.zip`: the stored deflate parts are sent as they are, between
//!   a header and a trailer computed up front (so `Content-Length` is known);
//!   configuring the image re-deflates only the parts the configuration
//!   touched (with this project's import: one or two 1 MiB chunks of the
//!   boot partition);
//! * `.img`: sent gzip-encoded (`Content-Encoding: gzip`, the same bytes as
//!   `.gz`) to clients that accept gzip, as balena's image maker does; to
//!   the others inflated on the fly on several threads.
//!
//! Every download has an exact `Content-Length`, a strong `ETag` (a hash of
//! the stored image and the configuration, which are deterministic: a
//! configured download derives its provisioning key from the request, see
//! [`keys`]) and honours `Range`/`If-Range`.
//!
//! The demo catalog's MBR, GPT and flasher device types get real demo images
//! (see [`demo`]), generated when a release is first asked for.

pub mod config_json;
pub mod demo;
pub mod device_types;
mod handlers;
pub mod import;
pub mod keys;
pub mod params;
pub mod range;
pub mod releases;
pub mod store;
mod stream;

use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use balena_image::import::Artifact;
use balena_image::{Configuration, ConfiguredParts, ImageManifest, PartStore, PartsLayout};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::auth::Actor;
use crate::catalog::import::BucketSource;
use crate::catalog::{CatalogError, hex};
use crate::db::{Db, DbError};
use crate::http::ApiError;

pub use config_json::Endpoints;
pub use handlers::router;
use releases::{DeviceTypeRow, ReleaseRow, Resolved, VersionQuery};
use store::{ImageStore, StoreError};

/// File (in the data directory) holding the secret provisioning keys of
/// configured downloads are derived from.
pub const SECRET_FILE: &str = "images-secret";
/// Folder (in the data directory) of the default image store.
pub const IMAGES_DIR: &str = "images";
/// Downloads served at once by default; more are answered 503.
pub const DEFAULT_MAX_DOWNLOADS: usize = 256;
/// How long manifests and device-type.json documents are reused.
pub const METADATA_TTL: Duration = Duration::from_secs(30);
/// Bytes of re-deflated parts kept for reuse (resumed and repeated
/// configured downloads).
pub const CONFIGURED_CACHE_BYTES: usize = 32 << 20;

/// How the image endpoints are set up.
#[derive(Debug, Clone, Default)]
pub struct ImagesConfig {
    /// Where images are: a local folder or `s3://…` (default
    /// `<data>/images`).
    pub store: Option<BucketSource>,
    /// Endpoints written into config.json.
    pub endpoints: Endpoints,
    /// Downloads served at once (default [`DEFAULT_MAX_DOWNLOADS`]).
    pub max_downloads: Option<usize>,
    /// Threads inflating one raw `.img` download (default: all cores).
    pub inflate_threads: Option<usize>,
    /// The secret configured downloads derive their keys from (default: the
    /// `images-secret` file in the data directory, made on first start).
    /// Servers sharing a database should share it.
    pub key_secret: Option<String>,
    /// When the demo catalog is loaded, generate the newest demo images at
    /// once in the background (the others are made when first asked for).
    pub warm_demo: bool,
}

/// Why the image service could not start or answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImagesError {
    /// The image store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A catalog write failed or was refused.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The image code failed (bad image, corrupt part…).
    #[error(transparent)]
    Image(#[from] balena_image::Error),
    /// A local file operation failed (the cause is the `source()`).
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Something stored is malformed, or an argument is invalid.
    #[error("{0}")]
    Invalid(String),
}

impl From<ImagesError> for ApiError {
    fn from(e: ImagesError) -> Self {
        tracing::error!(error = %crate::ErrorChain(&e), "image endpoint failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }
}

/// A small map whose entries expire.
#[derive(Debug)]
struct TtlCache<K, V> {
    map: Mutex<HashMap<K, (Instant, V)>>,
    ttl: Duration,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    fn new(ttl: Duration, capacity: usize) -> Self {
        TtlCache {
            map: Mutex::new(HashMap::new()),
            ttl,
            capacity,
        }
    }

    fn get(&self, k: &K) -> Option<V> {
        let map = self.map.lock().ok()?;
        map.get(k)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    fn insert(&self, k: K, v: V) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= self.capacity {
                map.retain(|_, (at, _)| at.elapsed() < self.ttl);
                if map.len() >= self.capacity {
                    map.clear();
                }
            }
            map.insert(k, (Instant::now(), v));
        }
    }

    fn clear(&self) {
        if let Ok(mut map) = self.map.lock() {
            map.clear();
        }
    }
}

/// Configured parts kept for reuse, bounded by the bytes they hold.
#[derive(Debug, Default)]
struct ConfiguredCache {
    entries: Mutex<Vec<(String, Arc<ConfiguredParts>, usize)>>,
}

impl ConfiguredCache {
    fn get(&self, key: &str) -> Option<Arc<ConfiguredParts>> {
        let mut e = self.entries.lock().ok()?;
        let i = e.iter().position(|(k, _, _)| k == key)?;
        let hit = e.remove(i);
        let parts = hit.1.clone();
        e.push(hit);
        Some(parts)
    }

    fn insert(&self, key: String, parts: Arc<ConfiguredParts>) {
        let size: usize = parts
            .parts
            .iter()
            .map(|p| match &p.data {
                balena_image::PartData::Replaced(d) => d.len(),
                balena_image::PartData::Stored => 0,
            })
            .sum::<usize>()
            + 1024;
        if size > CONFIGURED_CACHE_BYTES / 4 {
            return;
        }
        if let Ok(mut e) = self.entries.lock() {
            e.retain(|(k, _, _)| *k != key);
            e.push((key, parts, size));
            let mut total: usize = e.iter().map(|(_, _, s)| s).sum();
            while total > CONFIGURED_CACHE_BYTES || e.len() > 512 {
                let (_, _, s) = e.remove(0);
                total -= s;
            }
        }
    }
}

/// One stored image of a release, ready to serve.
#[derive(Clone)]
pub struct ReleaseImage {
    /// Device type slug.
    pub slug: String,
    /// Release folder name.
    pub build: String,
    /// Which artifact (`image.json`, `image-flasher.json`, `image-raw.json`).
    pub artifact: Artifact,
    /// The image key in the manifest (`resin.img`).
    pub image_key: String,
    /// The parts.
    pub layout: PartsLayout,
    /// SHA-256 (hex) of the manifest: identifies the stored bytes.
    pub digest: String,
    /// Reads the part files.
    pub parts: Arc<dyn PartStore>,
    /// `VERSION_HOSTOS`, if stored.
    pub version_hostos: Option<String>,
    /// `VERSION` (the supervisor version), if stored.
    pub supervisor: Option<String>,
    /// The folder's `device-type.json`, if stored.
    pub device_type_json: Option<Value>,
}

impl std::fmt::Debug for ReleaseImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseImage")
            .field("slug", &self.slug)
            .field("build", &self.build)
            .field("artifact", &self.artifact)
            .field("len", &self.layout.len())
            .finish_non_exhaustive()
    }
}

/// How the key of a fleet config is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// A new random key (`/download-config`).
    Random,
    /// Derived from the request (configured downloads: same request, same
    /// bytes).
    Derived,
}

/// The image endpoints' shared state.
pub struct ImageService {
    store: ImageStore,
    endpoints: Endpoints,
    keys: keys::KeyMaker,
    downloads: Arc<tokio::sync::Semaphore>,
    configuring: tokio::sync::Semaphore,
    inflate_threads: usize,
    warm_demo: bool,
    images: TtlCache<(String, String, &'static str), Option<Arc<ReleaseImage>>>,
    device_type_docs: TtlCache<String, Arc<Value>>,
    configured: ConfiguredCache,
    demo: demo::DemoImages,
}

impl std::fmt::Debug for ImageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageService")
            .field("store", &self.store.describe())
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImagesError {
    let context = context.into();
    move |source| ImagesError::Io { context, source }
}

/// Reads the key secret from `path`, creating it (mode 0600) if missing.
fn load_or_create_secret(path: &Path) -> Result<String, ImagesError> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(format!("reading {}", path.display()))(e)),
    }
    let secret = format!(
        "{}{}",
        crate::auth::generate_key(),
        crate::auth::generate_key()
    );
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{secret}\n"))
        .map_err(io_err(format!("writing {}", tmp.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(format!("protecting {}", tmp.display())))?;
    }
    std::fs::rename(&tmp, path).map_err(io_err(format!("writing {}", path.display())))?;
    Ok(secret)
}

impl ImageService {
    /// Sets up the image endpoints for a server whose data directory is
    /// `data_dir`.
    pub fn open(data_dir: &Path, config: ImagesConfig) -> Result<Self, ImagesError> {
        let store = match &config.store {
            Some(source) => ImageStore::from_source(source)?,
            None => ImageStore::local(data_dir.join(IMAGES_DIR)),
        };
        let secret = match &config.key_secret {
            Some(s) if !s.is_empty() => s.clone(),
            _ => {
                std::fs::create_dir_all(data_dir)
                    .map_err(io_err(format!("creating {}", data_dir.display())))?;
                load_or_create_secret(&data_dir.join(SECRET_FILE))?
            }
        };
        Ok(Self::with_store(store, config, secret.as_bytes()))
    }

    /// Sets up the image endpoints over `store` (tests, embedding).
    pub fn with_store(store: ImageStore, config: ImagesConfig, secret: &[u8]) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ImageService {
            demo: demo::DemoImages::new(store.clone()),
            store,
            endpoints: config.endpoints,
            keys: keys::KeyMaker::new(secret),
            configuring: tokio::sync::Semaphore::new(2 * cores),
            downloads: Arc::new(tokio::sync::Semaphore::new(
                config.max_downloads.unwrap_or(DEFAULT_MAX_DOWNLOADS).max(1),
            )),
            inflate_threads: config.inflate_threads.unwrap_or(cores).max(1),
            warm_demo: config.warm_demo,
            images: TtlCache::new(METADATA_TTL, 4096),
            device_type_docs: TtlCache::new(METADATA_TTL, 1024),
            configured: ConfiguredCache::default(),
        }
    }

    /// The image store.
    pub fn store(&self) -> &ImageStore {
        &self.store
    }

    /// The endpoint settings.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The demo image generator.
    pub fn demo(&self) -> &demo::DemoImages {
        &self.demo
    }

    /// Marks the demo device types for demo images (first start with the
    /// demo catalog) and, if configured, generates their newest images in
    /// the background.
    pub async fn start_demo(self: &Arc<Self>, db: Db) -> Result<(), ImagesError> {
        self.demo.install().await?;
        if self.warm_demo {
            let svc = self.clone();
            tokio::spawn(async move { svc.warm_demo(&db).await });
        }
        Ok(())
    }

    /// Generates the newest release image of each demo device type.
    pub async fn warm_demo(&self, db: &Db) {
        let admin = Actor::Admin { user: 0 };
        for slug in demo::DEMO_DEVICE_TYPES {
            let result = async {
                let Some(dt) = self.device_type(db, &admin, slug).await? else {
                    return Ok::<_, ImagesError>(());
                };
                if let Some(r) = self.resolve(db, &dt, "latest").await? {
                    self.release_image(db, &dt, &r.release, None).await?;
                }
                Ok(())
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(slug, error = %crate::ErrorChain(&e), "could not generate a demo image");
            }
        }
    }

    /// Forgets cached manifests and documents (after an import in this
    /// process).
    pub fn clear_caches(&self) {
        self.images.clear();
        self.device_type_docs.clear();
    }

    /// The device type `name` (slug or alias) if `actor` may see it.
    pub async fn device_type(
        &self,
        db: &Db,
        actor: &Actor,
        name: &str,
    ) -> Result<Option<DeviceTypeRow>, ImagesError> {
        Ok(releases::find_device_type(db, name)
            .await?
            .filter(|dt| dt.visible_to(actor)))
    }

    /// The device-type.json of a device type (from its newest stored build,
    /// else made from the catalog).
    pub async fn device_type_json(
        &self,
        db: &Db,
        dt: &DeviceTypeRow,
    ) -> Result<Arc<Value>, ImagesError> {
        if let Some(v) = self.device_type_docs.get(&dt.slug) {
            return Ok(v);
        }
        let doc = match device_types::from_store(&self.store, &dt.slug).await? {
            Some((build, mut doc)) => {
                doc.insert("buildId".into(), Value::String(build));
                Value::Object(doc)
            }
            None => {
                let aliases = releases::aliases(db, dt).await?;
                device_types::synthesize(dt, &aliases)
            }
        };
        let doc = Arc::new(doc);
        self.device_type_docs.insert(dt.slug.clone(), doc.clone());
        Ok(doc)
    }

    /// The release a version string designates (`None`: no such release,
    /// or not a version).
    pub async fn resolve(
        &self,
        db: &Db,
        dt: &DeviceTypeRow,
        version: &str,
    ) -> Result<Option<Resolved>, ImagesError> {
        let Some(query) = VersionQuery::parse(version) else {
            return Ok(None);
        };
        Ok(releases::resolve(db, dt.id, &query).await?)
    }

    async fn load_image(
        &self,
        slug: &str,
        build: &str,
        artifact: Artifact,
    ) -> Result<Option<Arc<ReleaseImage>>, ImagesError> {
        let key = (slug.to_owned(), build.to_owned(), artifact.manifest_name());
        if let Some(hit) = self.images.get(&key) {
            return Ok(hit);
        }
        let image = self.read_image(slug, build, artifact).await?.map(Arc::new);
        // Only found images are remembered: a release imported meanwhile
        // (by another process) is served at once.
        if image.is_some() {
            self.images.insert(key, image.clone());
        }
        Ok(image)
    }

    async fn read_image(
        &self,
        slug: &str,
        build: &str,
        artifact: Artifact,
    ) -> Result<Option<ReleaseImage>, ImagesError> {
        let s = &self.store;
        if s.exists(&[slug, build, "IGNORE"]).await? {
            return Ok(None);
        }
        let Some(bytes) = s.read(&[slug, build, artifact.manifest_name()]).await? else {
            return Ok(None);
        };
        let manifest = ImageManifest::from_slice(&bytes).map_err(|e| {
            ImagesError::Invalid(format!(
                "{slug}/{build}/{}: {}",
                artifact.manifest_name(),
                crate::error_chain::chain(&e)
            ))
        })?;
        let (image_key, entry) = manifest
            .images
            .first()
            .ok_or_else(|| ImagesError::Invalid(format!("{slug}/{build}: empty manifest")))?;
        let layout = PartsLayout::new(&entry.parts).map_err(|e| {
            ImagesError::Invalid(format!("{slug}/{build}: {}", crate::error_chain::chain(&e)))
        })?;
        let text = |b: Option<bytes::Bytes>| {
            b.and_then(|b| String::from_utf8(b.to_vec()).ok())
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty() && t.len() < 200 && !t.contains(char::is_control))
        };
        let version_hostos = text(s.read(&[slug, build, "VERSION_HOSTOS"]).await?);
        let supervisor = text(s.read(&[slug, build, "VERSION"]).await?);
        let device_type_json = s
            .read(&[slug, build, "device-type.json"])
            .await?
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .filter(Value::is_object);
        Ok(Some(ReleaseImage {
            slug: slug.to_owned(),
            build: build.to_owned(),
            artifact,
            image_key: image_key.clone(),
            layout,
            digest: hex(&Sha256::digest(&bytes)),
            parts: s.part_store(&[slug, build, artifact.parts_dir()])?,
            version_hostos,
            supervisor,
            device_type_json,
        }))
    }

    /// The stored image of `release` for an image type (`None` = the
    /// default image; `flasher`/`raw` select `image-flasher.json` /
    /// `image-raw.json`, or the default image when it is of that kind).
    /// Demo device types get their image generated on first use.
    pub async fn release_image(
        &self,
        db: &Db,
        dt: &DeviceTypeRow,
        release: &ReleaseRow,
        image_type: Option<ImageType>,
    ) -> Result<Option<Arc<ReleaseImage>>, ImagesError> {
        let build = release.build_id();
        let mut found = self.pick_artifact(db, dt, &build, image_type).await?;
        if found.is_none() && self.demo.is_demo(&dt.slug).await? {
            let doc = self.device_type_json(db, dt).await?;
            // A `.dev`/`.prod` release is that build; a unified release (or
            // a variant the demo does not know) gets a unified image.
            let variant = balena_image::demo::DemoVariant::from_release_variant(&release.variant)
                .unwrap_or_default();
            if self
                .demo
                .generate(&dt.slug, &build, &release.os_version(), variant, &doc)
                .await?
            {
                self.images.clear();
                self.device_type_docs.clear();
                found = self.pick_artifact(db, dt, &build, image_type).await?;
            }
        }
        Ok(found)
    }

    async fn pick_artifact(
        &self,
        db: &Db,
        dt: &DeviceTypeRow,
        build: &str,
        image_type: Option<ImageType>,
    ) -> Result<Option<Arc<ReleaseImage>>, ImagesError> {
        let slug = &dt.slug;
        let (specific, default_kind) = match image_type {
            None => return self.load_image(slug, build, Artifact::Default).await,
            Some(ImageType::Flasher) => (Artifact::Flasher, true),
            Some(ImageType::Raw) => (Artifact::Raw, false),
        };
        if let Some(img) = self.load_image(slug, build, specific).await? {
            return Ok(Some(img));
        }
        let Some(default) = self.load_image(slug, build, Artifact::Default).await? else {
            return Ok(None);
        };
        let is_flasher = match &default.device_type_json {
            Some(doc) => device_types::default_is_flasher(doc),
            None => device_types::default_is_flasher(&*self.device_type_json(db, dt).await?),
        };
        Ok((is_flasher == default_kind).then_some(default))
    }

    /// Builds a fleet's config.json (the `/download-config` pipeline): the
    /// fleet must be visible to `actor`, a user; the key is stored.
    pub async fn fleet_config(
        &self,
        db: &Db,
        actor: &Actor,
        req: &config_json::ConfigRequest,
        request_api: &str,
        mode: KeyMode,
    ) -> Result<Map<String, Value>, ApiError> {
        let user = match actor {
            Actor::User { user, .. } | Actor::Admin { user } => *user,
            Actor::Anonymous => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized: an API key is needed to make a fleet's config.json",
                ));
            }
        };
        let not_found = || {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("Application not found: {}", req.app_id),
            )
        };
        let fleet = releases::find_fleet(db, req.app_id)
            .await
            .map_err(ImagesError::from)?
            .filter(|f| f.visible_to(actor))
            .ok_or_else(not_found)?;
        let dt_name = req
            .device_type
            .clone()
            .unwrap_or_else(|| fleet.device_type.clone());
        let dt = self
            .device_type(db, actor, &dt_name)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("Unknown device type {dt_name}"),
                )
            })?;
        let doc = self.device_type_json(db, &dt).await?;
        let kind = config_json::key_kind(&req.version)?;
        let key = match mode {
            KeyMode::Random => crate::auth::generate_key(),
            KeyMode::Derived => {
                let mut canonical: Vec<(&String, &Value)> = req.params.map().iter().collect();
                canonical.sort_by(|a, b| a.0.cmp(b.0));
                let canonical = serde_json::to_string(&canonical).unwrap_or_default();
                self.keys.derive(&[
                    "configured download",
                    &user.to_string(),
                    &fleet.id.to_string(),
                    &dt.slug,
                    &canonical,
                ])
            }
        };
        let info = keys::KeyInfo {
            name: Some(
                req.key_name
                    .clone()
                    .unwrap_or_else(|| config_json::DEFAULT_KEY_NAME.to_owned()),
            ),
            description: Some(
                req.key_description
                    .clone()
                    .unwrap_or_else(|| config_json::DEFAULT_KEY_DESCRIPTION.to_owned()),
            ),
            expiry: req.key_expiry,
        };
        match kind {
            config_json::KeyKind::Provisioning => {
                keys::store_provisioning_key(db, fleet.id, Some(user), &key, &info).await
            }
            config_json::KeyKind::LegacyUser => keys::store_user_key(db, user, &key, &info).await,
        }
        .map_err(ImagesError::from)?;
        let endpoints = self.endpoints.resolve(request_api);
        config_json::build(
            req,
            &config_json::ConfigContext {
                device_type: &dt.slug,
                device_type_json: &doc,
                user_id: Some(user),
                api_key: &key,
                endpoints: &endpoints,
                settings: &self.endpoints,
            },
        )
    }

    /// Configures an image (cached by image and configuration).
    pub async fn configure(
        &self,
        image: &Arc<ReleaseImage>,
        cfg: Configuration,
        cache_key: String,
    ) -> Result<Arc<ConfiguredParts>, ApiError> {
        if let Some(hit) = self.configured.get(&cache_key) {
            return Ok(hit);
        }
        // Configuring re-deflates parts: at most two per core at once, the
        // others wait their turn.
        let _turn = self
            .configuring
            .acquire()
            .await
            .map_err(|_| ImagesError::Invalid("the configuration queue is closed".into()))?;
        if let Some(hit) = self.configured.get(&cache_key) {
            return Ok(hit);
        }
        let img = image.clone();
        let parts = tokio::task::spawn_blocking(move || {
            balena_image::configure_parts(&img.layout, &img.parts, &cfg)
        })
        .await
        .map_err(|e| ImagesError::Invalid(format!("configuration task failed: {e}")))?
        .map_err(|e| match e {
            balena_image::Error::InvalidConfig { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, crate::error_chain::chain(&e))
            }
            other => ApiError::from(ImagesError::from(other)),
        })?;
        let parts = Arc::new(parts);
        self.configured.insert(cache_key, parts.clone());
        Ok(parts)
    }
}

/// `imageType` of a download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    /// The image written directly to the boot medium.
    Raw,
    /// The installer image that writes balenaOS to internal storage.
    Flasher,
}

impl ImageType {
    /// `raw` or `flasher`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageType::Raw => "raw",
            ImageType::Flasher => "flasher",
        }
    }
}

/// Where a server's images are by default.
pub fn default_store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(IMAGES_DIR)
}
