//! Copy-on-write page overlay over a read-only base, and the patch set it
//! produces.
//!
//! All three ways of configuring an image (in place, overlay stream,
//! compressed parts) run the *same* FAT code against an [`Overlay`]; they
//! differ only in what the base is and what is done with the resulting
//! [`Patches`]. That is why their outputs are byte-identical by
//! construction.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use crate::io::ReadAt;

/// Overlay page size. Pages are aligned to absolute image offsets.
pub(crate) const PAGE: u64 = 4096;
/// Clean (read-only) pages cached before the cache is dropped and refilled.
const MAX_CLEAN_PAGES: usize = 16 * 1024; // 64 MiB

/// The bytes that differ between a configured image and its base: sorted,
/// non-overlapping, non-adjacent runs of (absolute offset, new bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patches {
    runs: Vec<(u64, Vec<u8>)>,
}

impl Patches {
    /// No change at all.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The runs, sorted by offset.
    pub fn runs(&self) -> &[(u64, Vec<u8>)] {
        &self.runs
    }

    /// Number of changed bytes.
    pub fn changed_bytes(&self) -> u64 {
        self.runs.iter().map(|(_, b)| b.len() as u64).sum()
    }

    /// Whether any changed byte falls inside `[start, end)`.
    pub fn touches(&self, start: u64, end: u64) -> bool {
        let i = self
            .runs
            .partition_point(|(o, b)| o + b.len() as u64 <= start);
        self.runs.get(i).is_some_and(|(o, _)| *o < end)
    }

    /// Overwrites the parts of `buf` (which holds base bytes starting at
    /// absolute offset `at`) that the patches change.
    pub fn apply(&self, at: u64, buf: &mut [u8]) {
        let end = at + buf.len() as u64;
        let mut i = self.runs.partition_point(|(o, b)| o + b.len() as u64 <= at);
        while let Some((o, bytes)) = self.runs.get(i) {
            if *o >= end {
                break;
            }
            let run_end = o + bytes.len() as u64;
            let s = (*o).max(at);
            let e = run_end.min(end);
            buf[(s - at) as usize..(e - at) as usize]
                .copy_from_slice(&bytes[(s - o) as usize..(e - o) as usize]);
            i += 1;
        }
    }

    fn push(&mut self, off: u64, bytes: &[u8]) {
        if let Some((o, b)) = self.runs.last_mut()
            && *o + b.len() as u64 == off
        {
            b.extend_from_slice(bytes);
            return;
        }
        self.runs.push((off, bytes.to_vec()));
    }
}

struct DirtyPage {
    original: Box<[u8]>,
    data: Box<[u8]>,
}

/// A copy-on-write view of a base image: reads come from the base unless a
/// page was written; writes never reach the base.
///
/// Pages read are cached (bounded), so file-system code doing many tiny
/// reads stays fast on any base.
pub struct Overlay<B> {
    base: B,
    len: u64,
    clean: RefCell<HashMap<u64, Box<[u8]>>>,
    dirty: BTreeMap<u64, DirtyPage>,
}

impl<B: ReadAt> Overlay<B> {
    /// Creates an overlay over `base`.
    pub fn new(base: B) -> io::Result<Self> {
        let len = base.len_bytes()?;
        Ok(Overlay {
            base,
            len,
            clean: RefCell::new(HashMap::new()),
            dirty: BTreeMap::new(),
        })
    }

    /// The base this overlay reads from.
    pub fn base(&self) -> &B {
        &self.base
    }

    fn page_len(&self, page: u64) -> usize {
        (self.len - page * PAGE).min(PAGE) as usize
    }

    fn load(&self, page: u64) -> io::Result<Box<[u8]>> {
        if let Some(p) = self.clean.borrow().get(&page) {
            return Ok(p.clone());
        }
        let mut buf = vec![0u8; self.page_len(page)].into_boxed_slice();
        self.base.read_exact_at(page * PAGE, &mut buf)?;
        let mut clean = self.clean.borrow_mut();
        if clean.len() >= MAX_CLEAN_PAGES {
            clean.clear();
        }
        clean.insert(page, buf.clone());
        Ok(buf)
    }

    fn with_page<T>(&self, page: u64, f: impl FnOnce(&[u8]) -> T) -> io::Result<T> {
        if let Some(d) = self.dirty.get(&page) {
            return Ok(f(&d.data));
        }
        if let Some(p) = self.clean.borrow().get(&page) {
            return Ok(f(p));
        }
        let p = self.load(page)?;
        Ok(f(&p))
    }

    /// Writes `data` at absolute offset `at` into the overlay.
    pub fn write_at(&mut self, mut at: u64, mut data: &[u8]) -> io::Result<()> {
        let end = at
            .checked_add(data.len() as u64)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "write past end of image")
            })?;
        let _ = end;
        while !data.is_empty() {
            let page = at / PAGE;
            let in_page = (at % PAGE) as usize;
            let n = data.len().min(self.page_len(page) - in_page);
            if !self.dirty.contains_key(&page) {
                let original = self.load(page)?;
                let data_copy = original.clone();
                self.dirty.insert(
                    page,
                    DirtyPage {
                        original,
                        data: data_copy,
                    },
                );
            }
            if let Some(d) = self.dirty.get_mut(&page) {
                d.data[in_page..in_page + n].copy_from_slice(&data[..n]);
            }
            at += n as u64;
            data = &data[n..];
        }
        Ok(())
    }

    /// The bytes that now differ from the base (writes that put back the
    /// same bytes are not changes).
    pub fn patches(&self) -> Patches {
        let mut p = Patches::default();
        for (page, d) in &self.dirty {
            let base = page * PAGE;
            let mut i = 0;
            let n = d.data.len();
            while i < n {
                if d.data[i] == d.original[i] {
                    i += 1;
                    continue;
                }
                let s = i;
                while i < n && d.data[i] != d.original[i] {
                    i += 1;
                }
                p.push(base + s as u64, &d.data[s..i]);
            }
        }
        p
    }

    /// A `Read + Write + Seek` window `[start, start + len)` of the overlay
    /// (what `fatfs` mounts).
    pub fn window(&mut self, start: u64, len: u64) -> io::Result<Window<'_, B>> {
        if start.checked_add(len).is_none_or(|e| e > self.len) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "window extends past the end of the image",
            ));
        }
        Ok(Window {
            overlay: self,
            start,
            len,
            pos: 0,
        })
    }
}

impl<B: ReadAt> ReadAt for Overlay<B> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let page = offset / PAGE;
        let in_page = (offset % PAGE) as usize;
        self.with_page(page, |p| {
            let n = buf.len().min(p.len() - in_page);
            buf[..n].copy_from_slice(&p[in_page..in_page + n]);
            n
        })
    }
    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.len)
    }
}

/// A seekable window of an [`Overlay`], readable and writable.
pub struct Window<'a, B> {
    overlay: &'a mut Overlay<B>,
    start: u64,
    len: u64,
    pos: u64,
}

impl<B: ReadAt> Read for Window<'_, B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len {
            return Ok(0);
        }
        let max = ((self.len - self.pos).min(buf.len() as u64)) as usize;
        let n = self
            .overlay
            .read_at(self.start + self.pos, &mut buf[..max])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<B: ReadAt> Write for Window<'_, B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pos >= self.len && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past end of volume",
            ));
        }
        let n = ((self.len - self.pos).min(buf.len() as u64)) as usize;
        self.overlay.write_at(self.start + self.pos, &buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<B> Seek for Window<'_, B> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
        };
        match new {
            Some(p) if p <= self.len => {
                self.pos = p;
                Ok(p)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek outside the volume",
            )),
        }
    }
}

/// A configured image that was never copied: the base plus [`Patches`].
///
/// It implements [`ReadAt`] (any byte range, for HTTP Range requests) and
/// hands out `Read + Seek` streams.
///
/// ```
/// use balena_image::{configure_overlay, Configuration, ReadAt};
/// let base = balena_image::demo::DemoSpec::new("raspberrypi3").build().unwrap().to_vec().unwrap();
/// let cfg = Configuration::from_json_str(r#"{"deviceType":"raspberrypi3","applicationId":1}"#).unwrap();
/// let img = configure_overlay(&base, &cfg).unwrap();
/// assert_eq!(img.len_bytes().unwrap(), base.len() as u64);
/// let mut out = Vec::new();
/// std::io::Read::read_to_end(&mut img.reader(), &mut out).unwrap();
/// assert_ne!(out, base);
/// ```
#[derive(Debug, Clone)]
pub struct ConfiguredImage<B> {
    base: B,
    len: u64,
    patches: Arc<Patches>,
}

impl<B: ReadAt> ConfiguredImage<B> {
    /// Combines a base and patches computed for it.
    pub fn new(base: B, patches: Arc<Patches>) -> io::Result<Self> {
        let len = base.len_bytes()?;
        Ok(ConfiguredImage { base, len, patches })
    }

    /// The patches applied over the base.
    pub fn patches(&self) -> &Arc<Patches> {
        &self.patches
    }

    /// A `Read + Seek` stream over the whole configured image.
    pub fn reader(&self) -> RangeReader<&Self> {
        RangeReader::new(self, 0, self.len)
    }

    /// A `Read + Seek` stream over bytes `[start, end)` of the configured
    /// image (clamped to its length).
    pub fn range(&self, start: u64, end: u64) -> RangeReader<&Self> {
        let end = end.min(self.len);
        RangeReader::new(self, start.min(end), end)
    }
}

impl<B: ReadAt> ReadAt for ConfiguredImage<B> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.base.read_at(offset, buf)?;
        self.patches.apply(offset, &mut buf[..n]);
        Ok(n)
    }
    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.len)
    }
}

/// `Read + Seek` over `[start, end)` of any [`ReadAt`].
#[derive(Debug, Clone)]
pub struct RangeReader<R> {
    inner: R,
    start: u64,
    end: u64,
    pos: u64,
}

impl<R: ReadAt> RangeReader<R> {
    /// A reader over `[start, end)` of `inner`.
    pub fn new(inner: R, start: u64, end: u64) -> Self {
        RangeReader {
            inner,
            start,
            end: end.max(start),
            pos: start,
        }
    }
}

impl<R: ReadAt> Read for RangeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.end {
            return Ok(0);
        }
        let max = ((self.end - self.pos).min(buf.len() as u64)) as usize;
        let n = self.inner.read_at(self.pos, &mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "base ended early",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R> Seek for RangeReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let len = self.end - self.start;
        let rel = self.pos - self.start;
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => rel.checked_add_signed(d),
            SeekFrom::End(d) => len.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?;
        self.pos = self.start + new.min(len);
        Ok(new.min(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewriting_same_bytes_is_not_a_change() {
        let base = vec![7u8; 10000];
        let mut o = Overlay::new(&base).unwrap();
        o.write_at(5000, &[7, 7, 7]).unwrap();
        assert!(o.patches().is_empty());
        o.write_at(4095, &[1, 2]).unwrap();
        let p = o.patches();
        assert_eq!(p.runs(), &[(4095, vec![1, 2])]);
        let mut buf = vec![7u8; 10];
        p.apply(4090, &mut buf);
        assert_eq!(buf, [7, 7, 7, 7, 7, 1, 2, 7, 7, 7]);
        assert!(p.touches(4096, 4097));
        assert!(!p.touches(4097, 9000));
    }

    #[test]
    fn writes_past_end_fail() {
        let base = vec![0u8; 100];
        let mut o = Overlay::new(&base).unwrap();
        assert!(o.write_at(99, &[1, 2]).is_err());
        assert!(o.window(50, 51).is_err());
    }
}
