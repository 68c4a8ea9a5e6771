//! ZIP64 "when needed": the automatic switch above 4 GiB (sizes and
//! offsets), the ZIP64 extra field in local headers, and the planned length
//! equal to what is produced. Checked by a streaming reader written here
//! (reading headers in order and taking the data descriptor's size from the
//! local header, as streaming unzippers do), by libarchive's streaming
//! reader (`bsdtar -xOf -`, fed through a pipe), by Info-ZIP's `unzip -t`
//! and by Python's `zipfile`. (Info-ZIP's `funzip` cannot serve: it always
//! reads a 16-byte descriptor, so it rejects every ZIP64 entry, Python's
//! included.)

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use balena_image::assemble::{DownloadPlan, Segment, ZipOptions};
use balena_image::import::{ImportOptions, import_image};
use balena_image::parts::deflate_part;
use balena_image::{
    Configuration, ConfiguredParts, DirPartStore, PartEntry, PartStore, PartsLayout,
    configure_parts, read_partition_table,
};

use crate::util::{mimg, run, run_stdin, sparse_file, tmp};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

// ---------------------------------------------------------------------
// A streaming zip reader (test oracle).
// ---------------------------------------------------------------------

/// Counts the bytes consumed from a buffered reader.
struct Counted<R> {
    inner: R,
    pos: u64,
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.pos += n as u64;
    }
}

fn take<const N: usize>(r: &mut impl Read) -> [u8; N] {
    let mut b = [0u8; N];
    r.read_exact(&mut b).expect("zip stream ended early");
    b
}
fn u16le(r: &mut impl Read) -> u16 {
    u16::from_le_bytes(take(r))
}
fn u32le(r: &mut impl Read) -> u32 {
    u32::from_le_bytes(take(r))
}
fn u64le(r: &mut impl Read) -> u64 {
    u64::from_le_bytes(take(r))
}
fn bytes(r: &mut impl Read, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    r.read_exact(&mut v).expect("zip stream ended early");
    v
}

/// The ZIP64 extra field (0x0001) of an extra block, if present.
fn zip64_extra(extra: &[u8]) -> Option<Vec<u8>> {
    let mut at = 0;
    while at + 4 <= extra.len() {
        let id = u16::from_le_bytes([extra[at], extra[at + 1]]);
        let len = u16::from_le_bytes([extra[at + 2], extra[at + 3]]) as usize;
        let body = extra.get(at + 4..at + 4 + len).expect("extra overruns");
        if id == 0x0001 {
            return Some(body.to_vec());
        }
        at += 4 + len;
    }
    None
}

/// One entry as a streaming reader saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Streamed {
    name: String,
    offset: u64,
    zip64: bool,
    crc: u32,
    csize: u64,
    usize: u64,
}

/// What the whole archive looked like.
#[derive(Debug)]
struct Archive {
    entries: Vec<Streamed>,
    zip64_end: bool,
    len: u64,
}

/// Reads a zip strictly front to back without seeking: each local header,
/// the deflate data (inflated and CRC-checked, its end found by the
/// decoder), the data descriptor whose size (16 or 24 bytes) is decided by
/// the local header's ZIP64 extra alone, then the central directory, the
/// ZIP64 end records and the end record, all cross-checked against what
/// was streamed. Panics on any inconsistency.
fn stream_check(r: impl Read) -> Archive {
    let mut r = Counted {
        inner: BufReader::with_capacity(1 << 20, r),
        pos: 0,
    };
    let mut entries = Vec::new();
    let mut sig = u32le(&mut r);
    while sig == 0x0403_4b50 {
        let offset = r.pos - 4;
        let version = u16le(&mut r);
        let flags = u16le(&mut r);
        assert_eq!(flags & 8, 8, "no data descriptor flag");
        assert_eq!(u16le(&mut r), 8, "method is not deflate");
        let _time_date = u32le(&mut r);
        assert_eq!(u32le(&mut r), 0, "local CRC must be 0 with a descriptor");
        let csize32 = u32le(&mut r);
        let usize32 = u32le(&mut r);
        let nlen = u16le(&mut r) as usize;
        let xlen = u16le(&mut r) as usize;
        let name = String::from_utf8(bytes(&mut r, nlen)).unwrap();
        let extra = bytes(&mut r, xlen);
        let z64 = zip64_extra(&extra);
        let zip64 = z64.is_some();
        if let Some(body) = &z64 {
            // APPNOTE 4.5.3: the local extra holds both sizes, and the
            // 32-bit fields point at it.
            assert_eq!(
                body.len(),
                16,
                "{name}: local ZIP64 extra must hold both sizes"
            );
            assert_eq!((csize32, usize32), (0xFFFF_FFFF, 0xFFFF_FFFF), "{name}");
            assert!(version >= 45, "{name}: ZIP64 needs version 4.5");
        } else {
            assert_eq!((csize32, usize32), (0, 0), "{name}");
        }
        let data_start = r.pos;
        let mut crc = crc32fast::Hasher::new();
        let mut usize = 0u64;
        {
            let mut dec = flate2::bufread::DeflateDecoder::new(&mut r);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = dec.read(&mut buf).expect("deflate data");
                if n == 0 {
                    break;
                }
                crc.update(&buf[..n]);
                usize += n as u64;
            }
        }
        let csize = r.pos - data_start;
        let crc = crc.finalize();
        assert_eq!(u32le(&mut r), 0x0807_4b50, "{name}: descriptor signature");
        assert_eq!(u32le(&mut r), crc, "{name}: descriptor CRC");
        let (dc, du) = if zip64 {
            (u64le(&mut r), u64le(&mut r))
        } else {
            (u32le(&mut r) as u64, u32le(&mut r) as u64)
        };
        assert_eq!((dc, du), (csize, usize), "{name}: descriptor sizes");
        entries.push(Streamed {
            name,
            offset,
            zip64,
            crc,
            csize,
            usize,
        });
        sig = u32le(&mut r);
    }
    let cd_offset = r.pos - 4;
    let mut i = 0;
    while sig == 0x0201_4b50 {
        let e = entries.get(i).expect("more central records than entries");
        let _made = u16le(&mut r);
        let _need = u16le(&mut r);
        let _flags = u16le(&mut r);
        let _method = u16le(&mut r);
        let _time_date = u32le(&mut r);
        let crc = u32le(&mut r);
        let mut csize = u32le(&mut r) as u64;
        let mut usize = u32le(&mut r) as u64;
        let nlen = u16le(&mut r) as usize;
        let xlen = u16le(&mut r) as usize;
        let clen = u16le(&mut r) as usize;
        let _disk = u16le(&mut r);
        let _iattr = u16le(&mut r);
        let _eattr = u32le(&mut r);
        let mut off = u32le(&mut r) as u64;
        let name = String::from_utf8(bytes(&mut r, nlen)).unwrap();
        let extra = bytes(&mut r, xlen);
        let _comment = bytes(&mut r, clen);
        let z64 = zip64_extra(&extra);
        assert_eq!(
            z64.is_some(),
            e.zip64,
            "{name}: central and local disagree on ZIP64"
        );
        if let Some(body) = z64 {
            let mut b = &body[..];
            for field in [&mut usize, &mut csize, &mut off] {
                if *field == 0xFFFF_FFFF {
                    *field = u64le(&mut b);
                }
            }
            assert!(b.is_empty(), "{name}: unused bytes in central ZIP64 extra");
        }
        assert_eq!(
            (&name, crc, csize, usize, off),
            (&e.name, e.crc, e.csize, e.usize, e.offset),
            "central record differs from the streamed entry"
        );
        i += 1;
        sig = u32le(&mut r);
    }
    assert_eq!(i, entries.len(), "central directory misses entries");
    let cd_size = r.pos - 4 - cd_offset;
    let n = entries.len() as u64;
    let mut zip64_end = false;
    if sig == 0x0606_4b50 {
        zip64_end = true;
        let at = r.pos - 4;
        assert_eq!(u64le(&mut r), 44);
        let _made = u16le(&mut r);
        assert!(u16le(&mut r) >= 45);
        assert_eq!((u32le(&mut r), u32le(&mut r)), (0, 0));
        assert_eq!((u64le(&mut r), u64le(&mut r)), (n, n));
        assert_eq!((u64le(&mut r), u64le(&mut r)), (cd_size, cd_offset));
        assert_eq!(u32le(&mut r), 0x0706_4b50, "ZIP64 end locator");
        assert_eq!(u32le(&mut r), 0);
        assert_eq!(u64le(&mut r), at, "locator points at the ZIP64 end record");
        assert_eq!(u32le(&mut r), 1);
        sig = u32le(&mut r);
    }
    assert_eq!(sig, 0x0605_4b50, "end of central directory");
    assert_eq!((u16le(&mut r), u16le(&mut r)), (0, 0));
    let (n1, n2) = (u16le(&mut r), u16le(&mut r));
    let (size, off) = (u32le(&mut r), u32le(&mut r));
    assert_eq!(u16le(&mut r), 0, "comment");
    if zip64_end {
        assert_eq!(
            (n1, n2, size, off),
            (0xFFFF, 0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF)
        );
    } else {
        assert_eq!(
            (n1 as u64, n2 as u64, size as u64, off as u64),
            (n, n, cd_size, cd_offset)
        );
    }
    let len = r.pos;
    assert!(
        r.fill_buf().unwrap().is_empty(),
        "bytes after the end record"
    );
    Archive {
        entries,
        zip64_end,
        len,
    }
}

// ---------------------------------------------------------------------
// Synthetic parts: valid deflate data generated on demand, so layouts of
// several GiB need no disk.
// ---------------------------------------------------------------------

/// Parts named `stored-<len>` (a raw DEFLATE stream of `len` zero bytes in
/// stored blocks, ended by a sync flush: compressed size ≈ size) or
/// `deflated-<len>` (`len` zero bytes deflated at the default level, the
/// way import compresses them).
#[derive(Default, Clone)]
struct SyntheticStore {
    deflated: Arc<Mutex<HashMap<u64, DeflatedZeros>>>,
}

/// A deflated all-zero part and its CRC-32.
type DeflatedZeros = Arc<(Vec<u8>, u32)>;

impl SyntheticStore {
    fn deflated(&self, len: u64) -> DeflatedZeros {
        let mut m = self.deflated.lock().unwrap();
        m.entry(len)
            .or_insert_with(|| Arc::new(deflate_part(&vec![0u8; len as usize])))
            .clone()
    }

    /// A part entry of `len` zero bytes.
    fn entry(&self, kind: &str, len: u64) -> PartEntry {
        let (crc, z_len) = match kind {
            "stored" => (zeros_crc(len), stored_z_len(len)),
            _ => {
                let d = self.deflated(len);
                (d.1, d.0.len() as u64)
            }
        };
        PartEntry {
            filename: format!("{kind}-{len}"),
            crc,
            len,
            z_len,
            partition_index: None,
            offset: None,
        }
    }

    fn layout(&self, kind: &str, total: u64, part: u64) -> PartsLayout {
        let mut entries = Vec::new();
        let mut left = total;
        while left > 0 {
            let n = left.min(part);
            entries.push(self.entry(kind, n));
            left -= n;
        }
        PartsLayout::new(&entries).unwrap()
    }
}

fn stored_z_len(len: u64) -> u64 {
    len + 5 * len.div_ceil(65535) + 5
}

fn zeros_crc(len: u64) -> u32 {
    static CACHE: Mutex<Option<HashMap<u64, u32>>> = Mutex::new(None);
    let mut c = CACHE.lock().unwrap();
    *c.get_or_insert_with(HashMap::new)
        .entry(len)
        .or_insert_with(|| {
            let block = vec![0u8; MIB as usize];
            let mut h = crc32fast::Hasher::new();
            let mut left = len;
            while left > 0 {
                let n = left.min(MIB);
                h.update(&block[..n as usize]);
                left -= n;
            }
            h.finalize()
        })
}

/// Generates a stored-block DEFLATE stream of zeros.
struct StoredZeros {
    left: u64,
    header: [u8; 5],
    header_at: usize,
    data_left: u64,
    finished: bool,
}

impl Read for StoredZeros {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            if self.header_at < 5 {
                let k = (5 - self.header_at).min(buf.len() - n);
                buf[n..n + k].copy_from_slice(&self.header[self.header_at..self.header_at + k]);
                self.header_at += k;
                n += k;
            } else if self.data_left > 0 {
                let k = self.data_left.min((buf.len() - n) as u64) as usize;
                buf[n..n + k].fill(0);
                self.data_left -= k as u64;
                n += k;
            } else if self.left > 0 {
                let b = self.left.min(65535) as u16;
                let [lo, hi] = b.to_le_bytes();
                self.header = [0, lo, hi, !lo, !hi];
                self.header_at = 0;
                self.data_left = b as u64;
                self.left -= b as u64;
            } else if !self.finished {
                self.header = [0, 0, 0, 0xff, 0xff];
                self.header_at = 0;
                self.finished = true;
            } else {
                break;
            }
        }
        Ok(n)
    }
}

impl PartStore for SyntheticStore {
    fn open_part(&self, filename: &str, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        let bad = || io::Error::new(io::ErrorKind::NotFound, filename.to_string());
        let (kind, len) = filename.split_once('-').ok_or_else(bad)?;
        let len: u64 = len.parse().map_err(|_| bad())?;
        let mut r: Box<dyn Read + Send> = match kind {
            "stored" => Box::new(StoredZeros {
                left: len,
                header: [0; 5],
                header_at: 5,
                data_left: 0,
                finished: false,
            }),
            "deflated" => Box::new(io::Cursor::new(self.deflated(len).0.clone())),
            _ => return Err(bad()),
        };
        io::copy(&mut (&mut r).take(offset), &mut io::sink())?;
        Ok(r)
    }
}

/// Writes a plan into `w` through a 1 MiB buffer; returns bytes written.
fn produce(plan: &DownloadPlan, store: impl PartStore, w: &mut impl Write) -> u64 {
    let mut r = plan.reader(store, 0, plan.len());
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            return total;
        }
        w.write_all(&buf[..n]).unwrap();
        total += n as u64;
    }
}

/// Feeds a plan through an OS pipe into the streaming checker, so nothing
/// of the archive is held or stored.
fn stream_through_pipe(plan: &DownloadPlan, store: impl PartStore + 'static) -> (Archive, u64) {
    let (reader, mut writer) = io::pipe().unwrap();
    let plan = plan.clone();
    let t = std::thread::spawn(move || produce(&plan, store, &mut writer));
    let archive = stream_check(reader);
    (archive, t.join().unwrap())
}

/// The local header version of each entry, read from the plan's inline
/// segments without producing any bytes.
fn planned_local_versions(plan: &DownloadPlan) -> Vec<(u16, u16)> {
    plan.segments()
        .iter()
        .filter_map(|s| match s {
            Segment::Inline(b) if b.len() >= 30 && b[..4] == [0x50, 0x4b, 0x03, 0x04] => Some((
                u16::from_le_bytes([b[4], b[5]]),
                u16::from_le_bytes([b[28], b[29]]),
            )),
            _ => None,
        })
        .collect()
}

/// Expected zip length from the format's fixed sizes (see the crate docs).
fn expected_zip_len(entries: &[(&str, &ConfiguredParts, bool)], zip64_end: bool) -> u64 {
    let mut len = 0;
    for (name, parts, z64) in entries {
        let n = name.len() as u64;
        let (lx, dd, cx) = if *z64 { (20, 24, 28) } else { (0, 16, 0) };
        len += 30 + n + lx + parts.compressed_len() + 2 + dd + 46 + n + cx;
    }
    len + 22 + if zip64_end { 76 } else { 0 }
}

// ---------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------

/// (a) One entry of 4.5 GiB: the plan switches to ZIP64 without being told,
/// and its length equals the formula and the bytes actually produced; the
/// streaming checker and libarchive both read the 4.5 GiB back through
/// pipes.
#[test]
fn planned_image_above_4gib_switches_to_zip64() {
    let store = SyntheticStore::default();
    let layout = store.layout("deflated", 4 * GIB + GIB / 2, 16 * MIB);
    let parts = ConfiguredParts::unconfigured(&layout);
    assert!(parts.len() > u32::MAX as u64 && parts.compressed_len() < 16 * MIB);
    let plan = DownloadPlan::zip(&[("big.img", &parts)], ZipOptions::default()).unwrap();
    assert_eq!(planned_local_versions(&plan), [(45, 20)]);
    assert_eq!(
        plan.len(),
        expected_zip_len(&[("big.img", &parts, true)], true)
    );
    let (archive, produced) = stream_through_pipe(&plan, store.clone());
    assert_eq!(produced, plan.len());
    assert_eq!(archive.len, plan.len());
    assert!(archive.zip64_end);
    assert_eq!(bsdtar_extract(&plan, store), (parts.len(), parts.crc()));
    assert_eq!(
        archive.entries,
        [Streamed {
            name: "big.img".into(),
            offset: 0,
            zip64: true,
            crc: parts.crc(),
            csize: parts.compressed_len() + 2,
            usize: parts.len(),
        }]
    );
}

/// (a) Three entries whose data runs past 4 GiB: the first two fit in 32
/// bits (plain entries, 16-byte descriptors), the third starts above 4 GiB
/// and becomes ZIP64 for its offset alone; the archive gets the ZIP64 end
/// records. About 4.5 GiB are produced and streamed through a pipe, never
/// stored.
#[test]
fn offset_above_4gib_switches_the_later_entry_to_zip64() {
    let store = SyntheticStore::default();
    let a = ConfiguredParts::unconfigured(&store.layout("stored", 3 * GIB, 256 * MIB));
    let b = ConfiguredParts::unconfigured(&store.layout("stored", 3 * GIB / 2, 256 * MIB));
    let c = ConfiguredParts::unconfigured(&store.layout("deflated", 3 * MIB, MIB));
    let entries = [("a.img", &a), ("b.img", &b), ("c.img", &c)];
    let plan = DownloadPlan::zip(&entries, ZipOptions::default()).unwrap();
    assert_eq!(planned_local_versions(&plan), [(20, 0), (20, 0), (45, 20)]);
    assert_eq!(
        plan.len(),
        expected_zip_len(
            &[
                ("a.img", &a, false),
                ("b.img", &b, false),
                ("c.img", &c, true)
            ],
            true
        )
    );
    let started = Instant::now();
    let (archive, produced) = stream_through_pipe(&plan, store);
    eprintln!(
        "4.5 GiB zip streamed and checked in {:?}",
        started.elapsed()
    );
    assert_eq!(produced, plan.len());
    assert_eq!(archive.len, plan.len());
    let flags: Vec<bool> = archive.entries.iter().map(|e| e.zip64).collect();
    assert_eq!(flags, [false, false, true]);
    assert!(archive.entries[2].offset > u32::MAX as u64);
    for (e, p) in archive.entries.iter().zip([&a, &b, &c]) {
        assert_eq!((e.crc, e.usize), (p.crc(), p.len()), "{}", e.name);
    }
}

/// Below 4 GiB nothing is ZIP64 unless forced.
#[test]
fn small_zip_has_no_zip64_records() {
    let store = SyntheticStore::default();
    let parts = ConfiguredParts::unconfigured(&store.layout("deflated", 40 * MIB, 16 * MIB));
    let plan = DownloadPlan::zip(&[("s.img", &parts)], ZipOptions::default()).unwrap();
    let mut v = Vec::new();
    assert_eq!(produce(&plan, store, &mut v), plan.len());
    let archive = stream_check(&v[..]);
    assert!(!archive.zip64_end && !archive.entries[0].zip64);
    assert_eq!(
        plan.len(),
        expected_zip_len(&[("s.img", &parts, false)], false)
    );
}

fn python_testzip(path: &std::path::Path) {
    let out = run(
        "python3",
        &[
            "-c",
            "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nbad = z.testzip()\nassert bad is None, bad\nprint(','.join(str(i.file_size) for i in z.infolist()))",
            path.to_str().unwrap(),
        ],
    );
    assert!(!out.is_empty());
}

/// Streams a plan through a pipe into `bsdtar -xOf -` (libarchive's
/// streaming zip reader: it reads the local headers front to back and
/// sizes each data descriptor from the local ZIP64 extra; an entry without
/// it fails with "ZIP uncompressed data is wrong size") and returns the
/// length and CRC-32 of what it extracted. Nothing is stored.
fn bsdtar_extract(plan: &DownloadPlan, store: impl PartStore + 'static) -> (u64, u32) {
    let mut child = Command::new("bsdtar")
        .args(["-xOf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bsdtar is required for this test: apt-get install libarchive-tools");
    let mut stdin = child.stdin.take().unwrap();
    let plan = plan.clone();
    let feeder = std::thread::spawn(move || produce(&plan, store, &mut stdin));
    let mut stdout = child.stdout.take().unwrap();
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        len += n as u64;
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "bsdtar: {err}"
    );
    feeder.join().unwrap();
    (len, crc.finalize())
}

/// Forced ZIP64 on a small image (and the same image without ZIP64):
/// unzip -t, Python's zipfile and libarchive's streaming reader all accept
/// it and extract the configured image.
#[test]
fn forced_zip64_small_zip_passes_unzip_python_and_bsdtar() {
    let dir = tmp();
    let img = balena_image::demo::DemoSpec::new("raspberrypi3")
        .build()
        .unwrap();
    let path = dir.path().join("rpi.img");
    img.write_to_path(&path).unwrap();
    let raw_len = fs::metadata(&path).unwrap().len();
    let out = dir.path().join("rel");
    let rep = import_image(&path, &out, &ImportOptions::default()).unwrap();
    let store = DirPartStore::new(out.join("compressed"));
    let cfg =
        Configuration::from_json_str(r#"{"deviceType":"raspberrypi3","applicationId":3}"#).unwrap();
    let parts = configure_parts(&rep.layout, &store, &cfg).unwrap();
    for force in [true, false] {
        let plan =
            DownloadPlan::zip(&[("rpi.img", &parts)], ZipOptions { force_zip64: force }).unwrap();
        let mut v = Vec::new();
        assert_eq!(produce(&plan, store.clone(), &mut v), plan.len());
        let archive = stream_check(&v[..]);
        assert_eq!(archive.zip64_end, force);
        assert_eq!(archive.entries[0].zip64, force);
        assert_eq!(
            (archive.entries[0].crc, archive.entries[0].usize),
            (parts.crc(), raw_len)
        );
        let zp = dir.path().join(format!("rpi-{force}.zip"));
        fs::write(&zp, &v).unwrap();
        run("unzip", &["-tq", zp.to_str().unwrap()]);
        python_testzip(&zp);
        assert_eq!(bsdtar_extract(&plan, store.clone()), (raw_len, parts.crc()));
    }
}

/// (b) A real sparse image of 4.2 GiB (MBR, FAT boot partition made by
/// mkfs.vfat, a data partition crossing 4 GiB, all zeros elsewhere)
/// imported, configured and served as a zip that switches to ZIP64 by
/// itself. The archive is a few MB because import deduplicates the
/// all-zero parts; it goes through a pipe into `bsdtar`, which extracts
/// 4.2 GiB with the right CRC-32, and `unzip -t` tests it. (The streaming
/// checker and Python already read > 4 GiB ZIP64 archives in the tests
/// above; each extra pass over 4.2 GiB costs ~7 s on the shared machine.)
///
/// Ignored by default: on the shared 2-core machine (debug build) it takes
/// 45–60 s — import reads 4.2 GiB (10–20 s), `bsdtar` ~5 s, and Info-ZIP's
/// `unzip -t` alone ~30 s. Run it with
/// `cargo test -p balena-image --test it -- --ignored real_sparse`.
#[test]
#[ignore = "45-60 s: reads and inflates 4.2 GiB several times; run with --ignored"]
fn real_sparse_image_above_4gib_to_zip64_download() {
    let started = Instant::now();
    let dir = tmp();
    let path = dir.path().join("big.img");
    let len = 4 * GIB + 200 * MIB;
    sparse_file(&path, len);
    let p = path.to_str().unwrap();
    run_stdin(
        "sfdisk",
        &["-q", p],
        "label: dos\nunit: sectors\n\nstart=8192, size=81920, type=e, bootable\nstart=90112, type=83\n",
    );
    run(
        "mkfs.vfat",
        &[
            "-F",
            "16",
            "-n",
            "resin-boot",
            "--offset",
            "8192",
            p,
            "40960",
        ],
    );
    let stage = dir.path().join("os-release");
    fs::write(&stage, "NAME=\"balenaOS\"\nVERSION=\"6.8.1\"\n").unwrap();
    run(
        "mcopy",
        &[
            "-i",
            &mimg(&path, 8192 * 512),
            stage.to_str().unwrap(),
            "::os-release",
        ],
    );
    let table = read_partition_table(&fs::File::open(&path).unwrap()).unwrap();
    assert!(table.partitions[1].end() > 4 * GIB);

    let out = dir.path().join("rel");
    let t = Instant::now();
    let rep = import_image(&path, &out, &ImportOptions::default()).unwrap();
    let import_time = t.elapsed();
    assert_eq!(rep.layout.len(), len);
    assert_eq!(rep.os_version.as_deref(), Some("6.8.1"));
    let stored: u64 = fs::read_dir(out.join("compressed"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        stored < 16 * MIB,
        "zero parts should deflate tiny: {stored}"
    );

    let store = DirPartStore::new(out.join("compressed"));
    let cfg =
        Configuration::from_json_str(r#"{"deviceType":"genericx86-64-ext","applicationId":9}"#)
            .unwrap()
            .with_wifi("home", Some("password1"))
            .unwrap();
    let parts = configure_parts(&rep.layout, &store, &cfg).unwrap();
    assert_eq!(parts.len(), len);
    let plan = DownloadPlan::zip(&[("big.img", &parts)], ZipOptions::default()).unwrap();
    assert_eq!(planned_local_versions(&plan), [(45, 20)]);

    assert_eq!(bsdtar_extract(&plan, store.clone()), (len, parts.crc()));
    // unzip needs a seekable file: the archive is small enough to store.
    let zp = dir.path().join("big.zip");
    let written = produce(&plan, store, &mut fs::File::create(&zp).unwrap());
    assert_eq!(written, plan.len());
    assert_eq!(fs::metadata(&zp).unwrap().len(), plan.len());
    assert!(plan.len() < 32 * MIB, "{}", plan.len());
    run("unzip", &["-tq", zp.to_str().unwrap()]);
    eprintln!(
        "4.2 GiB sparse image: import {import_time:?}, whole test {:?}",
        started.elapsed()
    );
}
