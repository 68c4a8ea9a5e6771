//! Positional reads: the one I/O abstraction every reader in this crate uses.
//!
//! Images are read at arbitrary offsets (partition tables, EBR chains, FAT
//! sectors), often from several places at once, so the base trait is a
//! `pread`-style [`ReadAt`] taking `&self`. It is implemented for files, byte
//! slices and vectors, shared pointers, and (through [`SeekReader`]) any
//! `Read + Seek`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

/// A source of bytes that can be read at any offset without moving a cursor.
///
/// `read_at` may return fewer bytes than asked (like `Read::read`); `0` means
/// end of data.
///
/// ```
/// use balena_image::ReadAt;
/// let data = b"hello world".to_vec();
/// let mut buf = [0u8; 5];
/// data.read_exact_at(6, &mut buf).unwrap();
/// assert_eq!(&buf, b"world");
/// ```
pub trait ReadAt {
    /// Reads up to `buf.len()` bytes starting at `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// Total length of the data in bytes.
    fn len_bytes(&self) -> io::Result<u64>;

    /// Reads exactly `buf.len()` bytes at `offset`, failing with
    /// `UnexpectedEof` if the data ends first.
    fn read_exact_at(&self, mut offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(offset, buf) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("data ends before offset {offset}"),
                    ));
                }
                Ok(n) => {
                    offset += n as u64;
                    buf = &mut buf[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl ReadAt for [u8] {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.len() as u64;
        if offset >= len {
            return Ok(0);
        }
        let start = offset as usize;
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
}

impl ReadAt for Vec<u8> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.as_slice().read_at(offset, buf)
    }
    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
}

impl ReadAt for File {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_at(self, buf, offset)
        }
        #[cfg(windows)]
        {
            std::os::windows::fs::FileExt::seek_read(self, buf, offset)
        }
    }
    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_at(offset, buf)
    }
    fn len_bytes(&self) -> io::Result<u64> {
        (**self).len_bytes()
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Arc<T> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_at(offset, buf)
    }
    fn len_bytes(&self) -> io::Result<u64> {
        (**self).len_bytes()
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Box<T> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_at(offset, buf)
    }
    fn len_bytes(&self) -> io::Result<u64> {
        (**self).len_bytes()
    }
}

/// Adapts any `Read + Seek` (a cursor, a network body with seeking, ...) to
/// [`ReadAt`] by serialising access through a mutex.
///
/// ```
/// use balena_image::{ReadAt, SeekReader};
/// let r = SeekReader::new(std::io::Cursor::new(vec![1u8, 2, 3, 4])).unwrap();
/// let mut b = [0u8; 2];
/// r.read_exact_at(2, &mut b).unwrap();
/// assert_eq!(b, [3, 4]);
/// ```
#[derive(Debug)]
pub struct SeekReader<R> {
    inner: Mutex<R>,
    len: u64,
}

impl<R: Read + Seek> SeekReader<R> {
    /// Wraps `inner`, measuring its length by seeking to the end.
    pub fn new(mut inner: R) -> io::Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        Ok(SeekReader {
            inner: Mutex::new(inner),
            len,
        })
    }

    /// Returns the wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

impl<R: Read + Seek> ReadAt for SeekReader<R> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.seek(SeekFrom::Start(offset))?;
        let max = ((self.len - offset).min(buf.len() as u64)) as usize;
        inner.read(&mut buf[..max])
    }
    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.len)
    }
}

/// A [`ReadAt`] window `[start, start + len)` of another source.
#[derive(Debug, Clone)]
pub struct Slice<R> {
    inner: R,
    start: u64,
    len: u64,
}

impl<R: ReadAt> Slice<R> {
    /// Creates a window; the window may extend past the end of `inner`
    /// (reads there then report end of data).
    pub fn new(inner: R, start: u64, len: u64) -> Self {
        Slice { inner, start, len }
    }
}

impl<R: ReadAt> ReadAt for Slice<R> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let max = ((self.len - offset).min(buf.len() as u64)) as usize;
        let abs = self
            .start
            .checked_add(offset)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset overflow"))?;
        self.inner.read_at(abs, &mut buf[..max])
    }
    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.len)
    }
}

/// An endless source of zero bytes with a fixed length (used to build
/// sparse demo images and as a base for formatting).
#[derive(Debug, Clone, Copy)]
pub struct Zeros(pub u64);

impl ReadAt for Zeros {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.0 {
            return Ok(0);
        }
        let n = ((self.0 - offset).min(buf.len() as u64)) as usize;
        buf[..n].fill(0);
        Ok(n)
    }
    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.0)
    }
}
