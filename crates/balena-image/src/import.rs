//! Importing a raw image (or `.img.gz` / `.zip`) into balena's release
//! folder layout:
//!
//! ```text
//! <out>/IGNORE                 written first, removed last
//! <out>/compressed/part-N.deflate
//! <out>/image.json             (image-flasher.json / image-raw.json)
//! <out>/device-type.json
//! <out>/VERSION_HOSTOS
//! ```
//!
//! Parts follow the image: a gap part before each partition, the
//! partitions, a trailing gap. Unlike upstream (one part per partition),
//! the boot partition is cut into [`ImportOptions::boot_chunk`] chunks (1
//! MiB) so a configured download re-deflates only the chunks the
//! configuration touched, and other regions into [`ImportOptions::chunk`]
//! chunks (16 MiB) so import and inflation run in parallel. Setting both
//! to 0 writes upstream's coarse layout. Parts are compressed on all cores.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::ConfigPartition;
use crate::configure::{BootPartition, find_boot_partition_in, os_version_from_os_release};
use crate::error::{Error, Result};
use crate::fat::FatVolume;
use crate::io::ReadAt;
use crate::manifest::{
    DEFAULT_IMAGE_KEY, ImageEntry, ImageManifest, PartEntry, PartInfo, PartsLayout,
};
use crate::partition::read_partition_table;
use crate::parts::PartEncoder;

/// Which artifact of a release is being imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Artifact {
    /// `image.json` + `compressed/` (what a plain download serves).
    #[default]
    Default,
    /// `image-flasher.json` + `compressed-flasher/`.
    Flasher,
    /// `image-raw.json` + `compressed-raw/`.
    Raw,
}

impl Artifact {
    /// Manifest file name.
    pub fn manifest_name(self) -> &'static str {
        match self {
            Artifact::Default => "image.json",
            Artifact::Flasher => "image-flasher.json",
            Artifact::Raw => "image-raw.json",
        }
    }
    /// Parts folder name.
    pub fn parts_dir(self) -> &'static str {
        match self {
            Artifact::Default => "compressed",
            Artifact::Flasher => "compressed-flasher",
            Artifact::Raw => "compressed-raw",
        }
    }
}

/// Options for [`import_image`].
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Which artifact (manifest and parts folder names).
    pub artifact: Artifact,
    /// Chunk size inside the boot partition (0 = one part).
    pub boot_chunk: u64,
    /// Chunk size elsewhere (0 = one part per partition / gap).
    pub chunk: u64,
    /// Compression threads (0 = all cores).
    pub threads: usize,
    /// `device-type.json` to write; read from the boot partition if `None`.
    pub device_type_json: Option<Vec<u8>>,
    /// OS version for `VERSION_HOSTOS`; read from `/os-release` on the boot
    /// partition if `None`.
    pub os_version: Option<String>,
    /// Image key inside the manifest.
    pub image_key: String,
    /// Where the boot partition is when no partition is labelled
    /// `resin-boot`/`flash-boot`/`balena-boot` and none holds
    /// `/device-type.json` (the device type's
    /// `configuration.config.partition`). If `None`, it is taken from
    /// [`ImportOptions::device_type_json`] when that has one. It decides
    /// which partition is cut into [`ImportOptions::boot_chunk`] chunks and
    /// where `/os-release` is read.
    pub partition_hint: Option<ConfigPartition>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            artifact: Artifact::Default,
            boot_chunk: 1 << 20,
            chunk: 16 << 20,
            threads: 0,
            device_type_json: None,
            os_version: None,
            image_key: DEFAULT_IMAGE_KEY.to_string(),
            partition_hint: None,
        }
    }
}

impl ImportOptions {
    /// Upstream's coarse layout: one part per partition and per gap.
    pub fn coarse() -> Self {
        ImportOptions {
            boot_chunk: 0,
            chunk: 0,
            ..Default::default()
        }
    }
}

/// What an import produced.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// The manifest written.
    pub manifest: ImageManifest,
    /// The positioned parts.
    pub layout: PartsLayout,
    /// The boot partition found (if any).
    pub boot: Option<BootPartition>,
    /// `device-type.json` written, if any.
    pub device_type_json: Option<Vec<u8>>,
    /// OS version written to `VERSION_HOSTOS`, if any.
    pub os_version: Option<String>,
}

/// A planned part: region of the image and partition number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedPart {
    /// Offset in the image.
    pub offset: u64,
    /// Length.
    pub len: u64,
    /// Partition number, if the region is (part of) a partition.
    pub partition: Option<u32>,
}

fn push_chunks(
    out: &mut Vec<PlannedPart>,
    offset: u64,
    len: u64,
    chunk: u64,
    partition: Option<u32>,
) {
    if len == 0 {
        return;
    }
    if chunk == 0 {
        out.push(PlannedPart {
            offset,
            len,
            partition,
        });
        return;
    }
    let mut at = offset;
    while at < offset + len {
        let n = chunk.min(offset + len - at);
        out.push(PlannedPart {
            offset: at,
            len: n,
            partition,
        });
        at += n;
    }
}

/// Plans the parts of an image: gaps, partitions (boot partition in
/// `boot_chunk` chunks, others in `chunk` chunks), trailing gap.
pub fn plan_parts<R: ReadAt + ?Sized>(
    src: &R,
    boot_chunk: u64,
    chunk: u64,
) -> Result<(Vec<PlannedPart>, Option<BootPartition>)> {
    plan_parts_with_hint(src, boot_chunk, chunk, None)
}

/// [`plan_parts`], falling back to `hint` (the device type's
/// `configuration.config.partition`) when no partition is recognised as
/// the boot partition by label or `/device-type.json`.
pub fn plan_parts_with_hint<R: ReadAt + ?Sized>(
    src: &R,
    boot_chunk: u64,
    chunk: u64,
    hint: Option<ConfigPartition>,
) -> Result<(Vec<PlannedPart>, Option<BootPartition>)> {
    let len = src.len_bytes()?;
    let table = read_partition_table(src)?;
    table.check_layout(len)?;
    let boot = find_boot_partition_in(src, &table, hint).ok();
    let mut out = Vec::new();
    let mut at = 0u64;
    if table.partitions.is_empty() {
        push_chunks(
            &mut out,
            0,
            len,
            if boot.is_some() { boot_chunk } else { chunk },
            None,
        );
        return Ok((out, boot));
    }
    for p in table.by_start() {
        push_chunks(&mut out, at, p.start - at, chunk, None);
        let is_boot = boot.as_ref().is_some_and(|b| b.index == Some(p.index));
        push_chunks(
            &mut out,
            p.start,
            p.len,
            if is_boot { boot_chunk } else { chunk },
            Some(p.index),
        );
        at = p.end();
    }
    push_chunks(&mut out, at, len - at, chunk, None);
    Ok((out, boot))
}

/// Deflated all-zero parts by length (they are identical for a given length).
type ZeroCache = Mutex<HashMap<u64, Arc<(Vec<u8>, u32)>>>;
/// Per-part compression results, filled in by the workers.
type PartResults = Mutex<Vec<Option<Result<(u32, u64)>>>>;

/// Parts up to this size are read whole (allowing the all-zero shortcut);
/// larger ones are streamed.
const MAX_BUFFERED: u64 = 64 << 20;
const STREAM_BLOCK: usize = 4 << 20;

fn is_zero(b: &[u8]) -> bool {
    let mut words = b.chunks_exact(16);
    let all = words.all(|c| u128::from_ne_bytes(c.try_into().unwrap_or([1; 16])) == 0);
    all && words.remainder().iter().all(|&x| x == 0)
}

fn compress_part<R: ReadAt + ?Sized>(
    src: &R,
    p: &PlannedPart,
    path: &Path,
    zero_cache: &ZeroCache,
) -> Result<(u32, u64)> {
    let mut f = File::create(path)?;
    if p.len <= MAX_BUFFERED {
        let mut buf = vec![0u8; p.len as usize];
        src.read_exact_at(p.offset, &mut buf)?;
        let (z, crc) = if is_zero(&buf) {
            let cached = zero_cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&p.len)
                .cloned();
            let entry = match cached {
                Some(c) => c,
                None => {
                    // The same bytes deflate's output for this input would be:
                    // computed once per length and reused.
                    let (z, crc) = crate::parts::deflate_part(&buf);
                    let c = Arc::new((z, crc));
                    zero_cache
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(p.len, c.clone());
                    c
                }
            };
            (entry.0.clone(), entry.1)
        } else {
            crate::parts::deflate_part(&buf)
        };
        f.write_all(&z)?;
        return Ok((crc, z.len() as u64));
    }
    let mut enc = PartEncoder::new();
    let mut buf = vec![0u8; STREAM_BLOCK];
    let mut at = p.offset;
    let end = p.offset + p.len;
    let mut z_len = 0u64;
    while at < end {
        let n = ((end - at).min(STREAM_BLOCK as u64)) as usize;
        src.read_exact_at(at, &mut buf[..n])?;
        enc.write(&buf[..n]);
        let out = enc.take_output();
        z_len += out.len() as u64;
        f.write_all(&out)?;
        at += n as u64;
    }
    let (tail, crc, _) = enc.finish();
    z_len += tail.len() as u64;
    f.write_all(&tail)?;
    Ok((crc, z_len))
}

/// Compresses the planned parts of `src` into `dir/part-N.deflate` on
/// `threads` workers, returning the positioned parts.
pub fn compress_parts<R: ReadAt + Sync + ?Sized>(
    src: &R,
    plan: &[PlannedPart],
    dir: &Path,
    threads: usize,
) -> Result<Vec<PartInfo>> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
    .min(plan.len().max(1));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: PartResults = Mutex::new((0..plan.len()).map(|_| None).collect());
    let zero_cache = Mutex::new(HashMap::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= plan.len() || failed.load(Ordering::Relaxed) {
                        return;
                    }
                    let path = dir.join(format!("part-{i}.deflate"));
                    let r = compress_part(src, &plan[i], &path, &zero_cache);
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    // Make the parts durable before the manifest can name them. Syncing at
    // the end instead of inside the workers keeps every core compressing
    // while the kernel writes back in the background.
    if results.iter().all(|r| matches!(r, Some(Ok(_)))) {
        for i in 0..plan.len() {
            File::open(dir.join(format!("part-{i}.deflate")))?.sync_data()?;
        }
    }
    let mut out = Vec::with_capacity(plan.len());
    for (i, (p, r)) in plan.iter().zip(results).enumerate() {
        let (crc, z_len) =
            r.ok_or_else(|| Error::Io(io::Error::other("a compression worker stopped early")))??;
        out.push(PartInfo {
            filename: format!("part-{i}.deflate"),
            crc,
            len: p.len,
            z_len,
            offset: p.offset,
            partition: p.partition,
        });
    }
    Ok(out)
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp-import");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    Ok(())
}

fn sync_dir(dir: &Path) {
    // Best effort: directories cannot be opened for sync on every platform.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Imports a raw image already readable at any offset.
pub fn import_from<R: ReadAt + Sync + ?Sized>(
    src: &R,
    out_dir: &Path,
    opts: &ImportOptions,
) -> Result<ImportReport> {
    if opts.image_key.is_empty() {
        return Err(Error::InvalidArgument("empty image key".into()));
    }
    let given_device_type = match &opts.device_type_json {
        Some(d) => Some(serde_json::from_slice::<serde_json::Value>(d)?),
        None => None,
    };
    let hint = opts.partition_hint.or_else(|| {
        given_device_type
            .as_ref()
            .and_then(|v| ConfigPartition::from_device_type_json(v).ok())
    });
    fs::create_dir_all(out_dir)?;
    let ignore = out_dir.join("IGNORE");
    write_atomic(&ignore, b"")?;
    sync_dir(out_dir);

    let (plan, boot) = plan_parts_with_hint(src, opts.boot_chunk, opts.chunk, hint)?;
    let parts_dir = out_dir.join(opts.artifact.parts_dir());
    fs::create_dir_all(&parts_dir)?;
    for e in fs::read_dir(&parts_dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("part-") && name.ends_with(".deflate") {
            fs::remove_file(e.path())?;
        }
    }
    let parts = compress_parts(src, &plan, &parts_dir, opts.threads)?;
    sync_dir(&parts_dir);
    let layout = PartsLayout::from_parts(parts)?;

    let vol = boot
        .as_ref()
        .and_then(|b| FatVolume::open(src, b.start, b.len).ok());
    let device_type_json = match &opts.device_type_json {
        Some(d) => Some(d.clone()),
        None => vol
            .as_ref()
            .and_then(|v| v.read_file("/device-type.json").ok()),
    };
    if let Some(d) = &device_type_json {
        serde_json::from_slice::<serde_json::Value>(d)?;
        write_atomic(&out_dir.join("device-type.json"), d)?;
    }
    let os_version = match &opts.os_version {
        Some(v) => Some(v.clone()),
        None => vol
            .as_ref()
            .and_then(|v| v.read_file("/os-release").ok())
            .and_then(|b| os_version_from_os_release(&String::from_utf8_lossy(&b))),
    };
    if let Some(v) = &os_version {
        write_atomic(&out_dir.join("VERSION_HOSTOS"), v.as_bytes())?;
    }
    let manifest = ImageManifest {
        images: vec![(
            opts.image_key.clone(),
            ImageEntry {
                parts: layout
                    .parts()
                    .iter()
                    .map(PartInfo::to_entry)
                    .collect::<Vec<PartEntry>>(),
            },
        )],
    };
    write_atomic(
        &out_dir.join(opts.artifact.manifest_name()),
        &manifest.to_vec(),
    )?;
    sync_dir(out_dir);
    fs::remove_file(&ignore)?;
    sync_dir(out_dir);
    Ok(ImportReport {
        manifest,
        layout,
        boot,
        device_type_json,
        os_version,
    })
}

/// Imports an image file into `out_dir`. The input may be a raw image, a
/// gzip file (`.img.gz`) or a zip holding the image; compressed inputs are
/// first inflated into a sparse temporary file inside `out_dir`.
///
/// An `IGNORE` file exists in `out_dir` for the whole import, so a crash
/// never leaves a half-written release that looks complete.
pub fn import_image(
    input: impl AsRef<Path>,
    out_dir: impl AsRef<Path>,
    opts: &ImportOptions,
) -> Result<ImportReport> {
    let input = input.as_ref();
    let out_dir = out_dir.as_ref();
    let mut f = File::open(input)?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut f, &mut magic)?;
    f.seek(SeekFrom::Start(0))?;
    if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        fs::create_dir_all(out_dir)?;
        write_atomic(&out_dir.join("IGNORE"), b"")?;
        let tmp = TempFile(out_dir.join(".import-raw.tmp"));
        let mut dec = flate2::read::MultiGzDecoder::new(io::BufReader::new(f));
        let raw = write_sparse(&mut dec, &tmp.0)?;
        return import_from(&raw, out_dir, opts);
    }
    if n == 4 && magic == [0x50, 0x4b, 0x03, 0x04] {
        fs::create_dir_all(out_dir)?;
        write_atomic(&out_dir.join("IGNORE"), b"")?;
        let tmp = TempFile(out_dir.join(".import-raw.tmp"));
        let mut zip = zip::ZipArchive::new(f).map_err(|e| Error::Archive(e.to_string()))?;
        let index = pick_zip_entry(&mut zip)?;
        let mut entry = zip
            .by_index(index)
            .map_err(|e| Error::Archive(e.to_string()))?;
        let raw = write_sparse(&mut entry, &tmp.0)?;
        drop(entry);
        return import_from(&raw, out_dir, opts);
    }
    import_from(&f, out_dir, opts)
}

fn pick_zip_entry<R: Read + Seek>(zip: &mut zip::ZipArchive<R>) -> Result<usize> {
    let mut files = Vec::new();
    for i in 0..zip.len() {
        let e = zip.by_index(i).map_err(|e| Error::Archive(e.to_string()))?;
        if e.is_file() {
            let name = e
                .name()
                .map_err(|e| Error::Archive(e.to_string()))?
                .to_string();
            files.push((i, name));
        }
    }
    if let [(i, _)] = files.as_slice() {
        return Ok(*i);
    }
    files
        .iter()
        .find(|(_, n)| n.ends_with(".img") || n.ends_with("-img"))
        .map(|(i, _)| *i)
        .ok_or_else(|| Error::Archive("zip holds several files and none ends in .img".into()))
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

struct TempFile(PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Copies `r` into a new file at `path`, seeking over all-zero blocks so
/// the file stays sparse; returns the file opened for reading.
fn write_sparse<R: Read>(r: &mut R, path: &Path) -> Result<File> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match r.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(k) => filled += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Archive(format!("cannot decompress input: {e}"))),
            }
        }
        if filled == 0 {
            break;
        }
        for block in buf[..filled].chunks(64 * 1024) {
            if is_zero(block) {
                f.seek(SeekFrom::Current(block.len() as i64))?;
            } else {
                f.write_all(block)?;
            }
        }
        len += filled as u64;
        if filled < buf.len() {
            break;
        }
    }
    f.set_len(len)?;
    f.flush()?;
    Ok(f)
}
