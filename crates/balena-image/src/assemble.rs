//! Planning `.gz` and `.zip` downloads from compressed parts.
//!
//! A [`DownloadPlan`] is the exact byte layout of the output, known before
//! the first byte is sent: fixed headers and trailers ([`Segment::Inline`]),
//! stored part files ([`Segment::Stored`], served by reference, never
//! re-compressed) and re-deflated replacement parts
//! ([`Segment::Replaced`]). Its length is the `Content-Length`; any byte
//! range can be served with [`DownloadPlan::slice`] /
//! [`DownloadPlan::reader`], which is how a server honours HTTP Range
//! requests.
//!
//! Formats (balena-compatible):
//! * gzip: `1f 8b 08 00 00000000 00 ff` + parts + `03 00` + CRC-32 + ISIZE,
//!   i.e. Σ zLen + 20 bytes.
//! * zip: one deflate entry per image, general-purpose flag bit 3 with a
//!   data descriptor after the data, DOS time 1980-01-01 00:00, unix mode
//!   0644. An entry whose size, compressed size or local-header offset
//!   reaches 0xFFFFFFFF (or every entry, with [`ZipOptions::force_zip64`])
//!   is a ZIP64 entry: a ZIP64 extra field in its local header (so
//!   streaming readers expect a 24-byte descriptor) and in its central
//!   record, and a 24-byte data descriptor; the archive then ends with the
//!   ZIP64 end-of-central-directory record and locator.
//!
//! Zip sizes: local header 30 + name (+ 20 ZIP64 extra), data Σ zLen + 2,
//! descriptor 16 (24), central record 46 + name (+ 28 ZIP64 extra), end
//! records 22 (+ 76).

use std::io::{self, Read, Write};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::parts::{ConfiguredParts, PartData, PartStore};

/// The gzip header balena's image maker writes (no name, mtime 0, OS 255).
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff];
/// A final, empty fixed-Huffman deflate block: ends the concatenated parts.
pub const DEFLATE_END: [u8; 2] = [0x03, 0x00];

/// One contiguous piece of a download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal bytes (headers, trailers, directory records).
    Inline(Arc<[u8]>),
    /// `len` bytes of stored part file `filename` starting at `offset`.
    Stored {
        /// Part file name.
        filename: String,
        /// Offset inside the part file.
        offset: u64,
        /// Number of bytes.
        len: u64,
    },
    /// `len` bytes of an in-memory replacement part starting at `offset`.
    Replaced {
        /// The re-deflated part.
        data: Arc<Vec<u8>>,
        /// Offset inside it.
        offset: u64,
        /// Number of bytes.
        len: u64,
    },
}

impl Segment {
    /// Number of bytes this segment contributes.
    pub fn len(&self) -> u64 {
        match self {
            Segment::Inline(b) => b.len() as u64,
            Segment::Stored { len, .. } | Segment::Replaced { len, .. } => *len,
        }
    }

    /// Whether the segment is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn sub(&self, from: u64, to: u64) -> Segment {
        match self {
            Segment::Inline(b) => Segment::Inline(Arc::from(&b[from as usize..to as usize])),
            Segment::Stored {
                filename, offset, ..
            } => Segment::Stored {
                filename: filename.clone(),
                offset: offset + from,
                len: to - from,
            },
            Segment::Replaced { data, offset, .. } => Segment::Replaced {
                data: data.clone(),
                offset: offset + from,
                len: to - from,
            },
        }
    }
}

/// The byte layout of a download: segments and their start offsets.
#[derive(Debug, Clone, Default)]
pub struct DownloadPlan {
    segments: Vec<Segment>,
    starts: Vec<u64>,
    len: u64,
}

impl DownloadPlan {
    fn push(&mut self, s: Segment) {
        if s.is_empty() {
            return;
        }
        self.starts.push(self.len);
        self.len += s.len();
        self.segments.push(s);
    }

    fn inline(&mut self, b: Vec<u8>) {
        self.push(Segment::Inline(Arc::from(b)));
    }

    fn parts(&mut self, parts: &ConfiguredParts) {
        for p in &parts.parts {
            match &p.data {
                PartData::Stored => self.push(Segment::Stored {
                    filename: p.info.filename.clone(),
                    offset: 0,
                    len: p.info.z_len,
                }),
                PartData::Replaced(d) => self.push(Segment::Replaced {
                    data: d.clone(),
                    offset: 0,
                    len: d.len() as u64,
                }),
            }
        }
    }

    /// Total length of the download in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the plan is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All segments in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The segments covering bytes `[start, end)` (clamped), trimmed to
    /// that range.
    pub fn slice(&self, start: u64, end: u64) -> Vec<Segment> {
        let end = end.min(self.len);
        let mut out = Vec::new();
        if start >= end {
            return out;
        }
        let mut i = self
            .starts
            .partition_point(|&s| s <= start)
            .saturating_sub(1);
        while i < self.segments.len() && self.starts[i] < end {
            let s0 = self.starts[i];
            let seg = &self.segments[i];
            let from = start.saturating_sub(s0);
            let to = (end - s0).min(seg.len());
            if from < to {
                out.push(seg.sub(from, to));
            }
            i += 1;
        }
        out
    }

    /// A reader producing bytes `[start, end)` of the download, reading
    /// stored parts from `store` lazily (one part open at a time).
    pub fn reader<S: PartStore>(&self, store: S, start: u64, end: u64) -> PlanReader<S> {
        PlanReader {
            store,
            segments: self.slice(start, end).into(),
            current: None,
        }
    }

    /// Writes the whole download to `w`; returns the bytes written.
    pub fn write_to<S: PartStore, W: Write>(&self, store: S, w: &mut W) -> Result<u64> {
        let mut r = self.reader(store, 0, self.len);
        let n = io::copy(&mut r, w)?;
        if n != self.len {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("wrote {n} of {} planned bytes", self.len),
            )));
        }
        Ok(n)
    }

    /// Plans a `.gz` file of the image: Σ zLen + 20 bytes.
    ///
    /// ```
    /// use balena_image::{assemble::DownloadPlan, ConfiguredParts, PartsLayout, PartEntry};
    /// let layout = PartsLayout::new(&[PartEntry { filename: "part-0.deflate".into(), crc: 0, len: 0, z_len: 5, partition_index: None, offset: None }]).unwrap();
    /// let plan = DownloadPlan::gzip(&ConfiguredParts::unconfigured(&layout));
    /// assert_eq!(plan.len(), 25);
    /// ```
    pub fn gzip(parts: &ConfiguredParts) -> Self {
        let mut p = DownloadPlan::default();
        p.inline(GZIP_HEADER.to_vec());
        p.parts(parts);
        let mut trailer = DEFLATE_END.to_vec();
        trailer.extend_from_slice(&parts.crc().to_le_bytes());
        trailer.extend_from_slice(&(parts.len() as u32).to_le_bytes());
        p.inline(trailer);
        p
    }

    /// Plans a `.zip` file with one deflate entry per (name, image).
    pub fn zip(entries: &[(&str, &ConfiguredParts)], opts: ZipOptions) -> Result<Self> {
        if entries.is_empty() || entries.len() > 0xFFFF {
            return Err(Error::InvalidArgument(
                "a zip needs 1 to 65535 entries".into(),
            ));
        }
        let mut p = DownloadPlan::default();
        let mut central = Vec::new();
        let mut any64 = opts.force_zip64;
        for (name, parts) in entries {
            if name.is_empty()
                || name.len() > 0xFFFF
                || name.contains('\\')
                || name.starts_with('/')
            {
                return Err(Error::InvalidArgument(format!(
                    "bad zip entry name {name:?}"
                )));
            }
            let offset = p.len;
            let usize_ = parts.len();
            let csize = parts.compressed_len() + DEFLATE_END.len() as u64;
            let crc = parts.crc();
            let zip64 = opts.force_zip64
                || usize_ >= 0xFFFF_FFFF
                || csize >= 0xFFFF_FFFF
                || offset >= 0xFFFF_FFFF;
            any64 |= zip64;
            let version: u16 = if zip64 { 45 } else { 20 };
            // Local file header. CRC and sizes are deferred to the data
            // descriptor (flag bit 3), so they are zero here. A ZIP64 entry
            // also carries a ZIP64 extra field (APPNOTE 4.5.3: both sizes,
            // zero because of the descriptor) with the 32-bit size fields
            // set to 0xFFFFFFFF to point at it: that extra is how a
            // streaming reader knows the descriptor's sizes are 8 bytes.
            let local_extra: u16 = if zip64 { ZIP64_LOCAL_EXTRA_LEN } else { 0 };
            let mut h = Vec::with_capacity(30 + name.len() + usize::from(local_extra));
            h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            h.extend_from_slice(&version.to_le_bytes());
            h.extend_from_slice(&0x0008u16.to_le_bytes());
            h.extend_from_slice(&8u16.to_le_bytes());
            h.extend_from_slice(&DOS_TIME.to_le_bytes());
            h.extend_from_slice(&DOS_DATE.to_le_bytes());
            h.extend_from_slice(&0u32.to_le_bytes()); // CRC-32: in the descriptor
            let local_size = if zip64 { 0xFFFF_FFFFu32 } else { 0 };
            h.extend_from_slice(&local_size.to_le_bytes()); // compressed size
            h.extend_from_slice(&local_size.to_le_bytes()); // uncompressed size
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&local_extra.to_le_bytes());
            h.extend_from_slice(name.as_bytes());
            if zip64 {
                h.extend_from_slice(&ZIP64_EXTRA_ID.to_le_bytes());
                h.extend_from_slice(&16u16.to_le_bytes());
                h.extend_from_slice(&0u64.to_le_bytes()); // original size
                h.extend_from_slice(&0u64.to_le_bytes()); // compressed size
            }
            p.inline(h);
            p.parts(parts);
            let mut d = DEFLATE_END.to_vec();
            d.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
            d.extend_from_slice(&crc.to_le_bytes());
            if zip64 {
                d.extend_from_slice(&csize.to_le_bytes());
                d.extend_from_slice(&usize_.to_le_bytes());
            } else {
                d.extend_from_slice(&(csize as u32).to_le_bytes());
                d.extend_from_slice(&(usize_ as u32).to_le_bytes());
            }
            p.inline(d);
            // Central directory record.
            let c = &mut central;
            c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            c.extend_from_slice(&(0x0300u16 | version).to_le_bytes());
            c.extend_from_slice(&version.to_le_bytes());
            c.extend_from_slice(&0x0008u16.to_le_bytes());
            c.extend_from_slice(&8u16.to_le_bytes());
            c.extend_from_slice(&DOS_TIME.to_le_bytes());
            c.extend_from_slice(&DOS_DATE.to_le_bytes());
            c.extend_from_slice(&crc.to_le_bytes());
            let small = |v: u64| if zip64 { 0xFFFF_FFFFu32 } else { v as u32 };
            c.extend_from_slice(&small(csize).to_le_bytes());
            c.extend_from_slice(&small(usize_).to_le_bytes());
            c.extend_from_slice(&(name.len() as u16).to_le_bytes());
            c.extend_from_slice(&(if zip64 { 28u16 } else { 0 }).to_le_bytes());
            c.extend_from_slice(&0u16.to_le_bytes()); // comment
            c.extend_from_slice(&0u16.to_le_bytes()); // disk
            c.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
            c.extend_from_slice(&((0o100644u32) << 16).to_le_bytes());
            c.extend_from_slice(&small(offset).to_le_bytes());
            c.extend_from_slice(name.as_bytes());
            if zip64 {
                c.extend_from_slice(&ZIP64_EXTRA_ID.to_le_bytes());
                c.extend_from_slice(&24u16.to_le_bytes());
                c.extend_from_slice(&usize_.to_le_bytes());
                c.extend_from_slice(&csize.to_le_bytes());
                c.extend_from_slice(&offset.to_le_bytes());
            }
        }
        let cd_offset = p.len;
        let cd_size = central.len() as u64;
        let n = entries.len() as u64;
        any64 |= cd_offset >= 0xFFFF_FFFF;
        let mut tail = central;
        if any64 {
            let z64_at = cd_offset + cd_size;
            tail.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            tail.extend_from_slice(&44u64.to_le_bytes());
            tail.extend_from_slice(&(0x0300u16 | 45).to_le_bytes());
            tail.extend_from_slice(&45u16.to_le_bytes());
            tail.extend_from_slice(&0u32.to_le_bytes());
            tail.extend_from_slice(&0u32.to_le_bytes());
            tail.extend_from_slice(&n.to_le_bytes());
            tail.extend_from_slice(&n.to_le_bytes());
            tail.extend_from_slice(&cd_size.to_le_bytes());
            tail.extend_from_slice(&cd_offset.to_le_bytes());
            tail.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            tail.extend_from_slice(&0u32.to_le_bytes());
            tail.extend_from_slice(&z64_at.to_le_bytes());
            tail.extend_from_slice(&1u32.to_le_bytes());
        }
        tail.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        tail.extend_from_slice(&0u16.to_le_bytes());
        tail.extend_from_slice(&0u16.to_le_bytes());
        let n16 = if any64 { 0xFFFF } else { n as u16 };
        tail.extend_from_slice(&n16.to_le_bytes());
        tail.extend_from_slice(&n16.to_le_bytes());
        let small = |v: u64| if any64 { 0xFFFF_FFFFu32 } else { v as u32 };
        tail.extend_from_slice(&small(cd_size).to_le_bytes());
        tail.extend_from_slice(&small(cd_offset).to_le_bytes());
        tail.extend_from_slice(&0u16.to_le_bytes());
        p.inline(tail);
        Ok(p)
    }
}

/// Header ID of the ZIP64 extended information extra field.
const ZIP64_EXTRA_ID: u16 = 0x0001;
/// The ZIP64 extra field of a local header: ID, length, original size,
/// compressed size.
const ZIP64_LOCAL_EXTRA_LEN: u16 = 2 + 2 + 8 + 8;

/// 00:00:00 in DOS format.
const DOS_TIME: u16 = 0;
/// 1980-01-01 in DOS format.
const DOS_DATE: u16 = (1 << 5) | 1;

/// Options for [`DownloadPlan::zip`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ZipOptions {
    /// Write ZIP64 records even when sizes fit in 32 bits.
    pub force_zip64: bool,
}

/// Streams the bytes of a (sliced) plan.
pub struct PlanReader<S> {
    store: S,
    segments: std::collections::VecDeque<Segment>,
    current: Option<(Box<dyn Read + Send>, u64)>,
}

impl<S: PartStore> Read for PlanReader<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some((r, left)) = &mut self.current {
                if *left == 0 {
                    self.current = None;
                    continue;
                }
                let max = (*left).min(buf.len() as u64) as usize;
                let n = r.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "stored part is shorter than its zLen",
                    ));
                }
                *left -= n as u64;
                return Ok(n);
            }
            let Some(seg) = self.segments.pop_front() else {
                return Ok(0);
            };
            match seg {
                Segment::Inline(b) => {
                    let n = b.len().min(buf.len());
                    buf[..n].copy_from_slice(&b[..n]);
                    if n < b.len() {
                        self.segments
                            .push_front(Segment::Inline(Arc::from(&b[n..])));
                    }
                    return Ok(n);
                }
                Segment::Replaced { data, offset, len } => {
                    let n = (len.min(buf.len() as u64)) as usize;
                    let o = offset as usize;
                    buf[..n].copy_from_slice(&data[o..o + n]);
                    if (n as u64) < len {
                        self.segments.push_front(Segment::Replaced {
                            data,
                            offset: offset + n as u64,
                            len: len - n as u64,
                        });
                    }
                    return Ok(n);
                }
                Segment::Stored {
                    filename,
                    offset,
                    len,
                } => {
                    let r = self.store.open_part(&filename, offset)?;
                    self.current = Some((r, len));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{PartEntry, PartsLayout};

    fn parts(len: u64, z_len: u64) -> ConfiguredParts {
        let layout = PartsLayout::new(&[PartEntry {
            filename: "part-0.deflate".into(),
            crc: 0,
            len,
            z_len,
            partition_index: None,
            offset: None,
        }])
        .unwrap();
        ConfiguredParts::unconfigured(&layout)
    }

    fn local_header(plan: &DownloadPlan) -> Vec<u8> {
        match &plan.segments()[0] {
            Segment::Inline(b) => b.to_vec(),
            other => panic!("plan starts with {other:?}"),
        }
    }

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn small_entry_local_header_has_no_extra() {
        let p = parts(1000, 10);
        let plan = DownloadPlan::zip(&[("a.img", &p)], ZipOptions::default()).unwrap();
        let h = local_header(&plan);
        assert_eq!(h.len(), 30 + 5);
        assert_eq!(u16_at(&h, 4), 20);
        assert_eq!(u32_at(&h, 18), 0);
        assert_eq!(u32_at(&h, 22), 0);
        assert_eq!(u16_at(&h, 28), 0);
        // 35 + data (10 + 2) + descriptor 16 + central 46 + 5 + EOCD 22
        assert_eq!(plan.len(), 35 + 12 + 16 + 51 + 22);
    }

    #[test]
    fn zip64_entry_local_header_carries_the_zip64_extra() {
        let p = parts(1000, 10);
        let plan = DownloadPlan::zip(&[("a.img", &p)], ZipOptions { force_zip64: true }).unwrap();
        let h = local_header(&plan);
        assert_eq!(h.len(), 30 + 5 + 20);
        assert_eq!(u16_at(&h, 4), 45);
        assert_eq!(u16_at(&h, 6) & 8, 8);
        assert_eq!(u32_at(&h, 14), 0, "CRC is in the descriptor");
        assert_eq!(u32_at(&h, 18), 0xFFFF_FFFF);
        assert_eq!(u32_at(&h, 22), 0xFFFF_FFFF);
        assert_eq!(u16_at(&h, 28), 20);
        assert_eq!(&h[30..35], b"a.img");
        assert_eq!(u16_at(&h, 35), 0x0001);
        assert_eq!(u16_at(&h, 37), 16);
        assert!(h[39..55].iter().all(|&b| b == 0));
        // 55 + data 12 + descriptor 24 + central 46 + 5 + 28 + EOCD 22 + 76
        assert_eq!(plan.len(), 55 + 12 + 24 + 79 + 98);
    }

    #[test]
    fn large_entry_switches_to_zip64_by_itself() {
        let p = parts(5 << 30, 5 << 20);
        let plan = DownloadPlan::zip(&[("a.img", &p)], ZipOptions::default()).unwrap();
        let h = local_header(&plan);
        assert_eq!(u16_at(&h, 4), 45);
        assert_eq!(u16_at(&h, 28), 20);
        let just_under = parts(0xFFFF_FFFE, 5 << 20);
        let plan = DownloadPlan::zip(&[("a.img", &just_under)], ZipOptions::default()).unwrap();
        assert_eq!(u16_at(&local_header(&plan), 4), 20);
    }
}
