//! Reading and configuring images stored as compressed parts.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::config::Configuration;
use crate::configure::{BootPartition, compute_patches};
use crate::error::{Error, Result};
use crate::io::ReadAt;
use crate::manifest::{PartInfo, PartsLayout, is_safe_part_name};
use crate::overlay::Patches;

/// zlib's default level, what upstream parts use.
pub const DEFLATE_LEVEL: u32 = 6;
const IO_BLOCK: usize = 256 * 1024;

/// Where compressed part files live. Implement this for object storage;
/// [`DirPartStore`] serves a local folder.
pub trait PartStore: Send + Sync {
    /// Opens part `filename` for sequential reading starting `offset`
    /// bytes into its *compressed* data.
    fn open_part(&self, filename: &str, offset: u64) -> io::Result<Box<dyn Read + Send>>;
}

impl<T: PartStore + ?Sized> PartStore for &T {
    fn open_part(&self, filename: &str, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        (**self).open_part(filename, offset)
    }
}

impl<T: PartStore + ?Sized> PartStore for Arc<T> {
    fn open_part(&self, filename: &str, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        (**self).open_part(filename, offset)
    }
}

/// Part files in a local folder (e.g. `<release>/compressed/`).
#[derive(Debug, Clone)]
pub struct DirPartStore {
    dir: PathBuf,
}

impl DirPartStore {
    /// A store reading `dir/<filename>`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirPartStore { dir: dir.into() }
    }
    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl PartStore for DirPartStore {
    fn open_part(&self, filename: &str, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        if !is_safe_part_name(filename) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "unsafe part file name",
            ));
        }
        let mut f = File::open(self.dir.join(filename))?;
        if offset > 0 {
            f.seek(SeekFrom::Start(offset))?;
        }
        Ok(Box::new(f))
    }
}

fn corrupt(part: &str, reason: impl Into<String>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        Error::CorruptPart {
            part: part.to_string(),
            reason: reason.into(),
        },
    )
}

/// Streaming inflater of one part: yields exactly `len` bytes or an error.
pub(crate) struct PartDecoder {
    name: String,
    reader: Box<dyn Read + Send>,
    inflate: Decompress,
    inbuf: Box<[u8]>,
    in_pos: usize,
    in_len: usize,
    produced: u64,
    len: u64,
}

impl PartDecoder {
    pub(crate) fn open<S: PartStore + ?Sized>(store: &S, part: &PartInfo) -> io::Result<Self> {
        Ok(PartDecoder {
            name: part.filename.clone(),
            reader: store.open_part(&part.filename, 0)?,
            inflate: Decompress::new(false),
            inbuf: vec![0u8; 64 * 1024].into_boxed_slice(),
            in_pos: 0,
            in_len: 0,
            produced: 0,
            len: part.len,
        })
    }

    /// Bytes produced so far.
    pub(crate) fn position(&self) -> u64 {
        self.produced
    }

    /// Fills `out` (up to the remaining length); returns bytes written.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let want = ((self.len - self.produced).min(out.len() as u64)) as usize;
        if want == 0 {
            return Ok(0);
        }
        let mut done = 0;
        let mut stalls = 0;
        while done < want {
            if self.in_pos == self.in_len {
                self.in_len = self.reader.read(&mut self.inbuf)?;
                self.in_pos = 0;
                if self.in_len == 0 {
                    return Err(corrupt(
                        &self.name,
                        format!(
                            "compressed data ends after {} of {} bytes",
                            self.produced + done as u64,
                            self.len
                        ),
                    ));
                }
            }
            let before_in = self.inflate.total_in();
            let before_out = self.inflate.total_out();
            let status = self
                .inflate
                .decompress(
                    &self.inbuf[self.in_pos..self.in_len],
                    &mut out[done..want],
                    FlushDecompress::None,
                )
                .map_err(|e| corrupt(&self.name, e.to_string()))?;
            let used = (self.inflate.total_in() - before_in) as usize;
            let made = (self.inflate.total_out() - before_out) as usize;
            self.in_pos += used;
            done += made;
            if status == Status::StreamEnd && done < want {
                return Err(corrupt(
                    &self.name,
                    "deflate stream ends before the part length",
                ));
            }
            if used == 0 && made == 0 {
                stalls += 1;
                if stalls > 2 && self.in_pos < self.in_len {
                    return Err(corrupt(&self.name, "inflate makes no progress"));
                }
            } else {
                stalls = 0;
            }
        }
        self.produced += done as u64;
        Ok(done)
    }

    fn skip_to(&mut self, target: u64) -> io::Result<()> {
        let mut scratch = vec![0u8; 64 * 1024];
        while self.produced < target {
            let n = ((target - self.produced).min(scratch.len() as u64)) as usize;
            self.read(&mut scratch[..n])?;
        }
        Ok(())
    }
}

/// Deflates one part: raw DEFLATE at level 6, ended by a sync flush and no
/// final block (`00 00 ff ff` is the last thing written).
pub struct PartEncoder {
    compress: Compress,
    crc: crc32fast::Hasher,
    len: u64,
    out: Vec<u8>,
}

impl Default for PartEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl PartEncoder {
    /// A new encoder at [`DEFLATE_LEVEL`].
    pub fn new() -> Self {
        PartEncoder {
            compress: Compress::new(Compression::new(DEFLATE_LEVEL), false),
            crc: crc32fast::Hasher::new(),
            len: 0,
            out: Vec::new(),
        }
    }

    /// Feeds uncompressed bytes.
    pub fn write(&mut self, mut data: &[u8]) {
        self.crc.update(data);
        self.len += data.len() as u64;
        while !data.is_empty() {
            self.out.reserve(data.len() / 2 + 1024);
            let before = self.compress.total_in();
            // Writing into spare capacity never fails for a valid stream.
            let _ = self
                .compress
                .compress_vec(data, &mut self.out, FlushCompress::None);
            let used = (self.compress.total_in() - before) as usize;
            data = &data[used..];
        }
    }

    /// Takes the compressed bytes produced so far (for streaming output).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Sync-flushes and returns (compressed bytes, crc, uncompressed len).
    pub fn finish(mut self) -> (Vec<u8>, u32, u64) {
        loop {
            self.out.reserve(4096);
            let _ = self
                .compress
                .compress_vec(&[], &mut self.out, FlushCompress::Sync);
            // zlib stops early only when the output buffer is full; a
            // repeated sync flush without input adds nothing.
            if self.out.len() < self.out.capacity() {
                break;
            }
        }
        (self.out, self.crc.finalize(), self.len)
    }
}

/// Deflates a buffer as one part; returns (compressed, crc).
///
/// ```
/// let (z, crc) = balena_image::parts::deflate_part(b"hello hello hello");
/// assert!(z.ends_with(&[0, 0, 0xff, 0xff]));
/// assert_eq!(crc, crc32fast::hash(b"hello hello hello"));
/// ```
pub fn deflate_part(data: &[u8]) -> (Vec<u8>, u32) {
    let mut e = PartEncoder::new();
    e.write(data);
    let (z, crc, _) = e.finish();
    (z, crc)
}

/// An image stored as compressed parts, readable at any offset
/// ([`ReadAt`]): reads inflate the part that holds the offset, continuing a
/// cached decoder when reading forward. With fine parts (1 MiB chunks, as
/// [`crate::import`] writes them) a random read costs at most one chunk of
/// inflation; with upstream's one-part-per-partition layout a backwards
/// read restarts that part.
pub struct PartsImage<S> {
    layout: PartsLayout,
    store: S,
    decoders: Mutex<HashMap<usize, PartDecoder>>,
}

const MAX_DECODERS: usize = 4;

impl<S: PartStore> PartsImage<S> {
    /// A readable view of `layout` stored in `store`.
    pub fn new(layout: PartsLayout, store: S) -> Self {
        PartsImage {
            layout,
            store,
            decoders: Mutex::new(HashMap::new()),
        }
    }

    /// The layout.
    pub fn layout(&self) -> &PartsLayout {
        &self.layout
    }
}

impl<S: PartStore> ReadAt for PartsImage<S> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let Some(i) = self.layout.part_at(offset) else {
            return Ok(0);
        };
        let part = &self.layout.parts()[i];
        let within = offset - part.offset;
        let mut decoders = self.decoders.lock().unwrap_or_else(|p| p.into_inner());
        let reuse = decoders.get(&i).is_some_and(|d| d.position() <= within);
        if !reuse {
            if decoders.len() >= MAX_DECODERS {
                decoders.clear();
            }
            decoders.insert(i, PartDecoder::open(&self.store, part)?);
        }
        let d = decoders
            .get_mut(&i)
            .ok_or_else(|| io::Error::other("decoder vanished"))?;
        d.skip_to(within)?;
        let n = ((part.len - within).min(buf.len() as u64)) as usize;
        d.read(&mut buf[..n])
    }
    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.layout.len())
    }
}

/// Where the compressed bytes of a part come from in a download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartData {
    /// The stored part file, unchanged.
    Stored,
    /// A re-deflated replacement held in memory.
    Replaced(Arc<Vec<u8>>),
}

/// A part of a (possibly configured) image: its info (crc / zLen updated
/// for replacements) and where its bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRef {
    /// Part info; `crc` and `z_len` describe the data actually served.
    pub info: PartInfo,
    /// Stored or replaced bytes.
    pub data: PartData,
}

/// The parts of an image after configuration: mostly stored parts, plus
/// in-memory replacements for the parts whose bytes changed.
#[derive(Debug, Clone)]
pub struct ConfiguredParts {
    /// Parts in image order.
    pub parts: Vec<PartRef>,
    /// The boot partition written (None when not configured).
    pub boot: Option<BootPartition>,
    /// The image bytes that changed.
    pub patches: Arc<Patches>,
}

impl ConfiguredParts {
    /// The parts of an image served as stored (no configuration).
    pub fn unconfigured(layout: &PartsLayout) -> Self {
        ConfiguredParts {
            parts: layout
                .parts()
                .iter()
                .map(|p| PartRef {
                    info: p.clone(),
                    data: PartData::Stored,
                })
                .collect(),
            boot: None,
            patches: Arc::new(Patches::default()),
        }
    }

    /// Uncompressed image length.
    pub fn len(&self) -> u64 {
        self.parts.iter().map(|p| p.info.len).sum()
    }

    /// Whether the image is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Σ zLen of what will be served.
    pub fn compressed_len(&self) -> u64 {
        self.parts.iter().map(|p| p.info.z_len).sum()
    }

    /// How many parts were re-deflated.
    pub fn replaced_count(&self) -> usize {
        self.parts
            .iter()
            .filter(|p| matches!(p.data, PartData::Replaced(_)))
            .count()
    }

    /// CRC-32 of the whole uncompressed image, combined from part CRCs.
    pub fn crc(&self) -> u32 {
        let mut h = crc32fast::Hasher::new();
        for p in &self.parts {
            h.combine(&crc32fast::Hasher::new_with_initial_len(
                p.info.crc, p.info.len,
            ));
        }
        h.finalize()
    }
}

/// Re-deflates one stored part with `patches` applied, checking the stored
/// data against the manifest CRC on the way. Memory: the compressed output
/// plus fixed buffers.
pub fn redeflate_part<S: PartStore + ?Sized>(
    store: &S,
    part: &PartInfo,
    patches: &Patches,
) -> Result<PartRef> {
    let mut dec = PartDecoder::open(store, part)?;
    let mut enc = PartEncoder::new();
    let mut orig_crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; IO_BLOCK];
    let mut pos = part.offset;
    loop {
        let n = dec.read(&mut buf)?;
        if n == 0 {
            break;
        }
        orig_crc.update(&buf[..n]);
        patches.apply(pos, &mut buf[..n]);
        enc.write(&buf[..n]);
        pos += n as u64;
    }
    if orig_crc.finalize() != part.crc {
        return Err(Error::CorruptPart {
            part: part.filename.clone(),
            reason: "CRC-32 of the inflated data does not match the manifest".into(),
        });
    }
    let (z, crc, len) = enc.finish();
    let mut info = part.clone();
    info.crc = crc;
    info.len = len;
    info.z_len = z.len() as u64;
    Ok(PartRef {
        info,
        data: PartData::Replaced(Arc::new(z)),
    })
}

/// Configures an image stored as parts: inflates what the FAT code reads
/// (through [`PartsImage`]), applies the configuration in an overlay, and
/// re-deflates only the parts whose bytes changed. Everything else stays a
/// reference to the stored part.
///
/// ```
/// use balena_image::{configure_parts, import::{import_image, ImportOptions}, Configuration, DirPartStore, ImageManifest};
/// let dir = tempfile::tempdir().unwrap();
/// let img = dir.path().join("rpi.img");
/// balena_image::demo::DemoSpec::new("raspberrypi3").build().unwrap().write_to_path(&img).unwrap();
/// let out = dir.path().join("release");
/// import_image(&img, &out, &ImportOptions::default()).unwrap();
/// let manifest = ImageManifest::from_slice(&std::fs::read(out.join("image.json")).unwrap()).unwrap();
/// let layout = manifest.layout("resin.img").unwrap();
/// let cfg = Configuration::from_json_str(r#"{"deviceType":"raspberrypi3","applicationId":7}"#).unwrap();
/// let parts = configure_parts(&layout, &DirPartStore::new(out.join("compressed")), &cfg).unwrap();
/// assert!(parts.replaced_count() >= 1 && parts.replaced_count() < layout.parts().len());
/// ```
pub fn configure_parts<S: PartStore>(
    layout: &PartsLayout,
    store: &S,
    cfg: &Configuration,
) -> Result<ConfiguredParts> {
    let image = PartsImage::new(layout.clone(), store);
    let report = compute_patches(&image, cfg)?;
    let mut parts = Vec::with_capacity(layout.parts().len());
    for p in layout.parts() {
        if report.patches.touches(p.offset, p.end()) {
            parts.push(redeflate_part(store, p, &report.patches)?);
        } else {
            parts.push(PartRef {
                info: p.clone(),
                data: PartData::Stored,
            });
        }
    }
    Ok(ConfiguredParts {
        parts,
        boot: Some(report.boot),
        patches: report.patches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct MemStore(HashMap<String, Vec<u8>>);
    impl PartStore for MemStore {
        fn open_part(&self, f: &str, off: u64) -> io::Result<Box<dyn Read + Send>> {
            let d = self
                .0
                .get(f)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            Ok(Box::new(io::Cursor::new(d[off as usize..].to_vec())))
        }
    }

    #[test]
    fn parts_concatenate_into_one_stream() {
        let a: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let b = vec![0u8; 70_000];
        let (za, _) = deflate_part(&a);
        let (zb, _) = deflate_part(&b);
        let mut all = za.clone();
        all.extend_from_slice(&zb);
        all.extend_from_slice(&[3, 0]);
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(&all[..])
            .read_to_end(&mut out)
            .unwrap();
        let mut expect = a.clone();
        expect.extend_from_slice(&b);
        assert_eq!(out, expect);
    }

    #[test]
    fn parts_image_reads_anywhere() {
        let a: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 253) as u8).collect();
        let (z0, c0) = deflate_part(&a[..100_000]);
        let (z1, c1) = deflate_part(&a[100_000..]);
        let store = MemStore(HashMap::from([
            ("p0".to_string(), z0.clone()),
            ("p1".to_string(), z1.clone()),
        ]));
        let layout = PartsLayout::from_parts(vec![
            PartInfo {
                filename: "p0".into(),
                crc: c0,
                len: 100_000,
                z_len: z0.len() as u64,
                offset: 0,
                partition: None,
            },
            PartInfo {
                filename: "p1".into(),
                crc: c1,
                len: 200_000,
                z_len: z1.len() as u64,
                offset: 100_000,
                partition: Some(1),
            },
        ])
        .unwrap();
        let img = PartsImage::new(layout, store);
        for off in [250_000u64, 5, 99_990, 150_000, 120_000] {
            let mut buf = vec![0u8; 20];
            img.read_exact_at(off, &mut buf).unwrap();
            assert_eq!(buf, a[off as usize..off as usize + 20]);
        }
    }

    #[test]
    fn truncated_part_is_an_error() {
        let a = vec![1u8; 50_000];
        let (z, c) = deflate_part(&a);
        let store = MemStore(HashMap::from([(
            "p".to_string(),
            z[..z.len() / 2].to_vec(),
        )]));
        let layout = PartsLayout::from_parts(vec![PartInfo {
            filename: "p".into(),
            crc: c,
            len: 50_000,
            z_len: z.len() as u64,
            offset: 0,
            partition: None,
        }])
        .unwrap();
        let img = PartsImage::new(layout, store);
        let mut buf = vec![0u8; 50_000];
        assert!(img.read_exact_at(0, &mut buf).is_err());
    }
}
