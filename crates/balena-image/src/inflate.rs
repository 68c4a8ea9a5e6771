//! Inflating compressed parts back into a raw image, on all cores.
//!
//! Parts are independent deflate streams, so workers inflate several parts
//! at once while the caller's thread writes them out in order. Memory is
//! bounded: each worker buffers at most [`BLOCKS_PER_PART`] blocks of
//! [`BLOCK`] bytes ahead of the writer.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::error::{Error, Result};
use crate::manifest::PartInfo;
use crate::parts::{ConfiguredParts, PartData, PartDecoder, PartStore};

/// One part's sender, taken by the worker that inflates the part.
type Slot = std::sync::Mutex<Option<SyncSender<Result<Vec<u8>>>>>;

/// Size of one inflated block handed from a worker to the writer.
pub const BLOCK: usize = 1 << 20;
/// Blocks a worker may run ahead of the writer, per part.
pub const BLOCKS_PER_PART: usize = 16;

struct ArcReader {
    data: Arc<Vec<u8>>,
    pos: usize,
}

impl Read for ArcReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.data[self.pos.min(self.data.len())..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

struct MemStore(Arc<Vec<u8>>);
impl PartStore for MemStore {
    fn open_part(&self, _: &str, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(ArcReader {
            data: self.0.clone(),
            pos: offset as usize,
        }))
    }
}

fn inflate_one<S: PartStore + ?Sized>(
    store: &S,
    part: &crate::parts::PartRef,
    tx: &SyncSender<Result<Vec<u8>>>,
    stop: &AtomicBool,
) -> Result<()> {
    let info: &PartInfo = &part.info;
    let mut dec = match &part.data {
        PartData::Stored => PartDecoder::open(store, info)?,
        PartData::Replaced(d) => PartDecoder::open(&MemStore(d.clone()), info)?,
    };
    let mut crc = crc32fast::Hasher::new();
    let mut left = info.len;
    while left > 0 {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut buf = vec![0u8; (left.min(BLOCK as u64)) as usize];
        let mut filled = 0;
        while filled < buf.len() {
            let n = dec.read(&mut buf[filled..])?;
            if n == 0 {
                return Err(Error::CorruptPart {
                    part: info.filename.clone(),
                    reason: "inflated data shorter than len".into(),
                });
            }
            filled += n;
        }
        crc.update(&buf);
        left -= buf.len() as u64;
        if tx.send(Ok(buf)).is_err() {
            return Ok(());
        }
    }
    if crc.finalize() != info.crc {
        return Err(Error::CorruptPart {
            part: info.filename.clone(),
            reason: "CRC-32 mismatch".into(),
        });
    }
    Ok(())
}

/// Inflates all parts in order into `w` using `threads` workers (0 = all
/// cores), verifying each part's length and CRC-32. Returns the number of
/// bytes written (the image length).
pub fn inflate_to_writer<S: PartStore, W: Write>(
    parts: &ConfiguredParts,
    store: &S,
    w: &mut W,
    threads: usize,
) -> Result<u64> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
    .min(parts.parts.len().max(1));
    let n = parts.parts.len();
    let mut txs = Vec::with_capacity(n);
    let mut rxs: Vec<Receiver<Result<Vec<u8>>>> = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = sync_channel(BLOCKS_PER_PART);
        txs.push(Some(tx));
        rxs.push(rx);
    }
    let txs: Vec<Slot> = txs.into_iter().map(std::sync::Mutex::new).collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n || stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let tx = txs[i].lock().unwrap_or_else(|p| p.into_inner()).take();
                    let Some(tx) = tx else { continue };
                    if let Err(e) = inflate_one(store, &parts.parts[i], &tx, &stop) {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        }
        let mut written = 0u64;
        let result = (|| {
            for rx in &rxs {
                for block in rx.iter() {
                    let block = block?;
                    w.write_all(&block)?;
                    written += block.len() as u64;
                }
            }
            w.flush()?;
            Ok(written)
        })();
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        drop(rxs);
        result
    })
}

/// A `Read` over the raw image, inflated on background threads.
pub struct RawImageReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

struct ChannelWriter(SyncSender<io::Result<Vec<u8>>>);
impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .send(Ok(buf.to_vec()))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "reader dropped"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl RawImageReader {
    /// Starts inflating `parts` from `store` on `threads` workers (0 = all
    /// cores). Errors surface as `io::Error`s from `read`.
    pub fn spawn<S: PartStore + 'static>(parts: ConfiguredParts, store: S, threads: usize) -> Self {
        let (tx, rx) = sync_channel(4);
        std::thread::spawn(move || {
            let mut w = ChannelWriter(tx.clone());
            if let Err(e) = inflate_to_writer(&parts, &store, &mut w, threads) {
                let _ = tx.send(Err(io::Error::other(e)));
            }
        });
        RawImageReader {
            rx,
            buf: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl Read for RawImageReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
