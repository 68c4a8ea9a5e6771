//! Where release folders live: a local directory (the default,
//! `<data>/images`) or an S3-compatible bucket, both laid out like balena's
//! image bucket (image-server.md §1.5):
//!
//! ```text
//! <root>/<slug>/<buildId>/device-type.json
//! <root>/<slug>/<buildId>/image.json            + compressed/part-N.deflate
//! <root>/<slug>/<buildId>/image-flasher.json    + compressed-flasher/…
//! <root>/<slug>/<buildId>/image-raw.json        + compressed-raw/…
//! <root>/<slug>/<buildId>/VERSION, VERSION_HOSTOS, IGNORE (upload in progress)
//! ```
//!
//! Small files are read asynchronously. Part files are read through
//! [`PartStore`], the synchronous interface the image code uses on blocking
//! threads: plain files locally, streamed ranged GETs on a bucket.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use balena_image::{DirPartStore, PartStore};

use crate::error_chain::chain;
use balena_image::manifest::is_safe_part_name;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::path::{Path as ObjectPath, PathPart};
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};

use crate::catalog::import::BucketSource;

/// Largest metadata file (`image.json`, `device-type.json`, …) read into
/// memory.
pub const MAX_METADATA_BYTES: usize = 8 << 20;

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A path segment is not safe to use (`..`, a slash, a control
    /// character…).
    #[error("unsafe path segment {0:?}")]
    UnsafeSegment(String),
    /// A local file operation failed (the cause is the `source()`).
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The bucket failed.
    #[error("image bucket: {0}")]
    Bucket(String),
    /// A metadata file is larger than [`MAX_METADATA_BYTES`].
    #[error("{0} is larger than 8 MiB")]
    TooLarge(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

/// Checks one path segment (a slug, a build id, a file name).
pub fn check_segment(s: &str) -> Result<(), StoreError> {
    let ok = !s.is_empty()
        && s.len() <= 255
        && s != "."
        && s != ".."
        && !s.starts_with('.')
        && s.chars()
            .all(|c| !c.is_control() && c != '/' && c != '\\' && c != '%');
    if ok {
        Ok(())
    } else {
        Err(StoreError::UnsafeSegment(s.chars().take(80).collect()))
    }
}

#[derive(Debug, Clone)]
enum Backend {
    Local(PathBuf),
    Object {
        store: Arc<dyn ObjectStore>,
        prefix: ObjectPath,
    },
}

/// The image store: release folders by device type slug and build id.
#[derive(Debug, Clone)]
pub struct ImageStore {
    backend: Backend,
}

impl ImageStore {
    /// A store in a local directory (created on first write).
    pub fn local(root: impl Into<PathBuf>) -> Self {
        ImageStore {
            backend: Backend::Local(root.into()),
        }
    }

    /// A store in a bucket (or a local directory) as `admin import` reads
    /// one.
    pub fn from_source(source: &BucketSource) -> Result<Self, StoreError> {
        match source {
            BucketSource::Local(dir) => Ok(Self::local(dir.clone())),
            BucketSource::S3 { .. } => {
                let (store, prefix) = source.open().map_err(|e| StoreError::Bucket(chain(&e)))?;
                Ok(ImageStore {
                    backend: Backend::Object { store, prefix },
                })
            }
        }
    }

    /// A store over any object store, under `prefix`.
    pub fn object(store: Arc<dyn ObjectStore>, prefix: ObjectPath) -> Self {
        ImageStore {
            backend: Backend::Object { store, prefix },
        }
    }

    /// The local root directory, for a local store.
    pub fn local_root(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Local(p) => Some(p),
            Backend::Object { .. } => None,
        }
    }

    /// A short description for logs and errors.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Local(p) => p.display().to_string(),
            Backend::Object { store, prefix } => format!("{store}/{prefix}"),
        }
    }

    fn local_path(root: &Path, segments: &[&str]) -> Result<PathBuf, StoreError> {
        let mut p = root.to_path_buf();
        for s in segments {
            check_segment(s)?;
            p.push(s);
        }
        Ok(p)
    }

    fn object_path(prefix: &ObjectPath, segments: &[&str]) -> Result<ObjectPath, StoreError> {
        let mut p = prefix.clone();
        for s in segments {
            check_segment(s)?;
            p = p.join(PathPart::from(*s));
        }
        Ok(p)
    }

    /// Reads a small file; `None` when it does not exist.
    pub async fn read(&self, segments: &[&str]) -> Result<Option<Bytes>, StoreError> {
        match &self.backend {
            Backend::Local(root) => {
                let path = Self::local_path(root, segments)?;
                let what = path.display().to_string();
                let result = tokio::task::spawn_blocking(move || -> io::Result<Option<Vec<u8>>> {
                    let f = match File::open(&path) {
                        Ok(f) => f,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                        Err(e) => return Err(e),
                    };
                    if !f.metadata()?.is_file() {
                        return Ok(None);
                    }
                    let mut buf = Vec::new();
                    f.take(MAX_METADATA_BYTES as u64 + 1)
                        .read_to_end(&mut buf)?;
                    Ok(Some(buf))
                })
                .await
                .map_err(|e| StoreError::Io {
                    context: format!("reading {what}"),
                    source: io::Error::other(e),
                })?
                .map_err(io_err(format!("reading {what}")))?;
                match result {
                    Some(b) if b.len() > MAX_METADATA_BYTES => Err(StoreError::TooLarge(what)),
                    other => Ok(other.map(Bytes::from)),
                }
            }
            Backend::Object { store, prefix } => {
                let path = Self::object_path(prefix, segments)?;
                match store.get(&path).await {
                    Ok(r) => {
                        if r.meta.size > MAX_METADATA_BYTES as u64 {
                            return Err(StoreError::TooLarge(path.to_string()));
                        }
                        let b = r.bytes().await.map_err(|e| {
                            StoreError::Bucket(format!("reading {path}: {}", chain(&e)))
                        })?;
                        Ok(Some(b))
                    }
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(StoreError::Bucket(format!("reading {path}: {}", chain(&e)))),
                }
            }
        }
    }

    /// Whether a file exists.
    pub async fn exists(&self, segments: &[&str]) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Local(root) => {
                let path = Self::local_path(root, segments)?;
                Ok(tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()))
            }
            Backend::Object { store, prefix } => {
                let path = Self::object_path(prefix, segments)?;
                match store.head(&path).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(StoreError::Bucket(format!(
                        "checking {path}: {}",
                        chain(&e)
                    ))),
                }
            }
        }
    }

    /// The names of the folders directly under `segments` (the build ids of
    /// a device type).
    pub async fn list_dirs(&self, segments: &[&str]) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Backend::Local(root) => {
                let path = Self::local_path(root, segments)?;
                let what = path.display().to_string();
                tokio::task::spawn_blocking(move || -> io::Result<Vec<String>> {
                    let rd = match fs::read_dir(&path) {
                        Ok(rd) => rd,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                        Err(e) => return Err(e),
                    };
                    let mut out = Vec::new();
                    for e in rd {
                        let e = e?;
                        if e.file_type()?.is_dir()
                            && let Some(name) = e.file_name().to_str()
                            && check_segment(name).is_ok()
                        {
                            out.push(name.to_owned());
                        }
                    }
                    out.sort();
                    Ok(out)
                })
                .await
                .map_err(|e| StoreError::Io {
                    context: format!("listing {what}"),
                    source: io::Error::other(e),
                })?
                .map_err(io_err(format!("listing {what}")))
            }
            Backend::Object { store, prefix } => {
                let path = Self::object_path(prefix, segments)?;
                let list = store
                    .list_with_delimiter(Some(&path))
                    .await
                    .map_err(|e| StoreError::Bucket(format!("listing {path}: {}", chain(&e))))?;
                let mut out: Vec<String> = list
                    .common_prefixes
                    .iter()
                    .filter_map(|p| p.filename().map(str::to_owned))
                    .filter(|n| check_segment(n).is_ok())
                    .collect();
                out.sort();
                Ok(out)
            }
        }
    }

    /// The part files of a release folder's parts directory, for the image
    /// code (synchronous; use on blocking threads).
    pub fn part_store(&self, segments: &[&str]) -> Result<Arc<dyn PartStore>, StoreError> {
        match &self.backend {
            Backend::Local(root) => {
                let dir = Self::local_path(root, segments)?;
                Ok(Arc::new(DirPartStore::new(dir)))
            }
            Backend::Object { store, prefix } => Ok(Arc::new(ObjectParts {
                store: store.clone(),
                dir: Self::object_path(prefix, segments)?,
                runtime: tokio::runtime::Handle::try_current()
                    .map_err(|e| StoreError::Bucket(format!("no async runtime: {}", chain(&e))))?,
            })),
        }
    }

    /// Publishes a release folder prepared in `local_dir` as
    /// `<slug>/<build>`: for a local store a rename into place (the folder
    /// must not exist yet); for a bucket an upload that writes `IGNORE`
    /// first and deletes it last, so readers never see a half-uploaded
    /// release.
    pub async fn publish(
        &self,
        local_dir: &Path,
        slug: &str,
        build: &str,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Local(root) => {
                let target = Self::local_path(root, &[slug, build])?;
                let parent = Self::local_path(root, &[slug])?;
                tokio::fs::create_dir_all(&parent)
                    .await
                    .map_err(io_err(format!("creating {}", parent.display())))?;
                tokio::fs::rename(local_dir, &target)
                    .await
                    .map_err(io_err(format!(
                        "moving {} to {}",
                        local_dir.display(),
                        target.display()
                    )))
            }
            Backend::Object { store, prefix } => {
                let base = Self::object_path(prefix, &[slug, build])?;
                let ignore = base.clone().join("IGNORE");
                store
                    .put(&ignore, Bytes::new().into())
                    .await
                    .map_err(|e| StoreError::Bucket(format!("writing {ignore}: {}", chain(&e))))?;
                let files =
                    walk(local_dir).map_err(io_err(format!("listing {}", local_dir.display())))?;
                for rel in files {
                    if rel == ["IGNORE"] {
                        continue;
                    }
                    let mut target = base.clone();
                    for seg in &rel {
                        check_segment(seg)?;
                        target = target.join(PathPart::from(seg.as_str()));
                    }
                    let mut src = local_dir.to_path_buf();
                    src.extend(&rel);
                    upload_file(store.as_ref(), &src, &target).await?;
                }
                store
                    .delete(&ignore)
                    .await
                    .map_err(|e| StoreError::Bucket(format!("deleting {ignore}: {}", chain(&e))))
            }
        }
    }

    /// Writes a small file (creating folders as needed).
    pub async fn write_small(&self, segments: &[&str], data: &[u8]) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Local(root) => {
                let path = Self::local_path(root, segments)?;
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(io_err(format!("creating {}", parent.display())))?;
                }
                tokio::fs::write(&path, data)
                    .await
                    .map_err(io_err(format!("writing {}", path.display())))
            }
            Backend::Object { store, prefix } => {
                let path = Self::object_path(prefix, segments)?;
                store
                    .put(&path, Bytes::copy_from_slice(data).into())
                    .await
                    .map(|_| ())
                    .map_err(|e| StoreError::Bucket(format!("writing {path}: {}", chain(&e))))
            }
        }
    }

    /// Whether a release folder exists at all (even an unfinished one).
    pub async fn has_release_folder(&self, slug: &str, build: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Local(root) => {
                let path = Self::local_path(root, &[slug, build])?;
                Ok(tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_dir()))
            }
            Backend::Object { store, prefix } => {
                let path = Self::object_path(prefix, &[slug, build])?;
                let mut list = store.list(Some(&path));
                match list.next().await {
                    Some(Ok(_)) => Ok(true),
                    None => Ok(false),
                    Some(Err(e)) => {
                        Err(StoreError::Bucket(format!("listing {path}: {}", chain(&e))))
                    }
                }
            }
        }
    }
}

/// Files under `dir`, as path segments relative to it.
fn walk(dir: &Path) -> io::Result<Vec<Vec<String>>> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), Vec::<String>::new())];
    while let Some((d, rel)) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            let name = e
                .file_name()
                .into_string()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "non-UTF-8 file name"))?;
            let mut r = rel.clone();
            r.push(name);
            if e.file_type()?.is_dir() {
                stack.push((e.path(), r));
            } else {
                out.push(r);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Uploads one file, in parts when it is large.
async fn upload_file(
    store: &dyn ObjectStore,
    src: &Path,
    target: &ObjectPath,
) -> Result<(), StoreError> {
    const SMALL: u64 = 16 << 20;
    let bucket =
        |e: object_store::Error| StoreError::Bucket(format!("uploading {target}: {}", chain(&e)));
    let len = tokio::fs::metadata(src)
        .await
        .map_err(io_err(format!("reading {}", src.display())))?
        .len();
    if len <= SMALL {
        let data = tokio::fs::read(src)
            .await
            .map_err(io_err(format!("reading {}", src.display())))?;
        store.put(target, data.into()).await.map_err(bucket)?;
        return Ok(());
    }
    let upload = store.put_multipart(target).await.map_err(bucket)?;
    let mut w = WriteMultipart::new_with_chunk_size(upload, 8 << 20);
    let mut f = tokio::fs::File::open(src)
        .await
        .map_err(io_err(format!("reading {}", src.display())))?;
    let mut buf = vec![0u8; 4 << 20];
    loop {
        use tokio::io::AsyncReadExt;
        let n = f
            .read(&mut buf)
            .await
            .map_err(io_err(format!("reading {}", src.display())))?;
        if n == 0 {
            break;
        }
        w.wait_for_capacity(4).await.map_err(bucket)?;
        w.write(&buf[..n]);
    }
    w.finish().await.map_err(bucket)?;
    Ok(())
}

/// Part files in a bucket folder, read with streamed (ranged) GETs.
#[derive(Debug)]
struct ObjectParts {
    store: Arc<dyn ObjectStore>,
    dir: ObjectPath,
    runtime: tokio::runtime::Handle,
}

impl PartStore for ObjectParts {
    fn open_part(&self, filename: &str, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        if !is_safe_part_name(filename) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "unsafe part file name",
            ));
        }
        let path = self.dir.clone().join(filename);
        let options = GetOptions {
            range: (offset > 0).then_some(GetRange::Offset(offset)),
            ..GetOptions::default()
        };
        let store = self.store.clone();
        let result = self
            .runtime
            .block_on(async move { store.get_opts(&path, options).await })
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
                other => io::Error::other(other),
            })?;
        Ok(Box::new(StreamReader {
            runtime: self.runtime.clone(),
            stream: result.into_stream(),
            current: Bytes::new(),
        }))
    }
}

/// A synchronous reader over an object's byte stream.
struct StreamReader {
    runtime: tokio::runtime::Handle,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    current: Bytes,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.runtime.block_on(self.stream.next()) {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_checked() {
        for bad in ["", ".", "..", "a/b", "a\\b", ".hidden", "a\0b", "x%2F"] {
            assert!(check_segment(bad).is_err(), "{bad:?}");
        }
        for good in ["raspberrypi3", "2.19.0+rev1.prod", "6.8.1", "image.json"] {
            assert!(check_segment(good).is_ok(), "{good:?}");
        }
    }

    #[tokio::test]
    async fn local_store_reads_and_lists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ImageStore::local(dir.path());
        assert_eq!(store.read(&["x", "y"]).await.expect("read"), None);
        fs::create_dir_all(dir.path().join("rpi/6.0.1")).expect("mkdir");
        fs::create_dir_all(dir.path().join("rpi/2.0.0+rev1.prod")).expect("mkdir");
        fs::write(dir.path().join("rpi/6.0.1/VERSION"), "v1").expect("write");
        assert_eq!(
            store
                .read(&["rpi", "6.0.1", "VERSION"])
                .await
                .expect("read"),
            Some(Bytes::from_static(b"v1"))
        );
        assert!(
            store
                .exists(&["rpi", "6.0.1", "VERSION"])
                .await
                .expect("exists")
        );
        assert!(!store.exists(&["rpi", "6.0.1"]).await.expect("exists"));
        assert_eq!(
            store.list_dirs(&["rpi"]).await.expect("list"),
            vec!["2.0.0+rev1.prod".to_owned(), "6.0.1".to_owned()]
        );
        assert!(store.read(&["..", "etc"]).await.is_err());
    }
}
