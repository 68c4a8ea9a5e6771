//! Response bodies for downloads, produced on threads of their own (the
//! image code is synchronous `std::io`) and handed to the HTTP stack
//! through small bounded channels, so memory per download stays bounded
//! whatever the client's speed:
//!
//! * [`plan_body`]: a byte range of a `.gz`/`.zip` plan — mostly stored part
//!   bytes copied from the store, plus in-memory headers and re-deflated
//!   parts (shared, not copied).
//! * [`raw_body`]: a byte range of the raw image, inflating the parts on
//!   several threads at once (each thread takes the next part; the body
//!   takes parts in order). Parts that are the canonical deflate of zeros
//!   (what import writes for empty regions) are not inflated: they become
//!   references to a static zero buffer.
//! * [`multipart_body`]: several byte ranges as `multipart/byteranges`
//!   (RFC 9110 §14.6), each range produced by one of the above, started
//!   only when the previous range is sent.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use balena_image::assemble::{DownloadPlan, Segment};
use balena_image::parts::PartEncoder;
use balena_image::{ConfiguredParts, PartData, PartRef, PartStore};
use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};
use tokio::sync::mpsc;

/// Bytes per chunk handed to the HTTP stack.
pub const CHUNK: usize = 128 * 1024;
/// Chunks buffered per producer (or per part being inflated).
pub const QUEUE: usize = 2;
/// Chunk buffers kept for reuse (at most `POOL * CHUNK` bytes idle).
const POOL: usize = 128;
/// Input buffer of an inflater.
const INPUT: usize = 64 * 1024;

static ZEROS: [u8; CHUNK] = [0u8; CHUNK];

/// Raw image bodies currently inflating (to share the cores between them).
static ACTIVE_RAW: AtomicUsize = AtomicUsize::new(0);

type Tx = mpsc::Sender<io::Result<Bytes>>;
type Rx = mpsc::Receiver<io::Result<Bytes>>;

/// Chunk buffers, reused instead of allocated per chunk: the HTTP stack
/// frees chunks on other threads than the producers allocate them, which
/// otherwise spreads them over the allocator's arenas.
static BUFFERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A chunk buffer that goes back to the pool when its `Bytes` are dropped.
struct Pooled(Vec<u8>);

impl Pooled {
    fn take() -> Pooled {
        let v = BUFFERS
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_else(|| Vec::with_capacity(CHUNK));
        Pooled(v)
    }

    fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut v = std::mem::take(&mut self.0);
        if v.capacity() != CHUNK {
            return;
        }
        v.clear();
        if let Ok(mut p) = BUFFERS.lock()
            && p.len() < POOL
        {
            p.push(v);
        }
    }
}

struct ArcBytes(Arc<Vec<u8>>);
impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn shared(data: &Arc<Vec<u8>>, start: u64, len: u64) -> Bytes {
    let s = usize::try_from(start).unwrap_or(usize::MAX).min(data.len());
    let e = usize::try_from(start.saturating_add(len))
        .unwrap_or(usize::MAX)
        .min(data.len());
    Bytes::from_owner(ArcBytes(data.clone())).slice(s..e)
}

fn receiver_body(rx: Rx) -> Body {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Body::from_stream(stream)
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map(|_| ())
}

/// Reads exactly `n` bytes (or to EOF) without zero-filling the buffer
/// first when the reader supports it (files do).
fn read_chunk(r: &mut (dyn Read + Send), n: usize) -> io::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut v)?;
    Ok(v)
}

/// [`read_chunk`] into a pooled buffer (`n` ≤ [`CHUNK`]).
fn read_pooled(r: &mut (dyn Read + Send), n: usize) -> io::Result<Pooled> {
    let mut p = Pooled::take();
    r.take(n.min(CHUNK) as u64).read_to_end(&mut p.0)?;
    Ok(p)
}

fn produce_plan(segments: Vec<Segment>, store: &dyn PartStore, tx: &Tx) -> io::Result<()> {
    for seg in segments {
        match seg {
            Segment::Inline(b) => {
                if tx.blocking_send(Ok(Bytes::copy_from_slice(&b))).is_err() {
                    return Ok(());
                }
            }
            Segment::Replaced { data, offset, len } => {
                let mut at = offset;
                let end = offset + len;
                while at < end {
                    let n = (end - at).min(CHUNK as u64);
                    if tx.blocking_send(Ok(shared(&data, at, n))).is_err() {
                        return Ok(());
                    }
                    at += n;
                }
            }
            Segment::Stored {
                filename,
                offset,
                len,
            } => {
                let mut r = store.open_part(&filename, offset)?;
                let mut left = len;
                while left > 0 {
                    let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
                    let v = read_pooled(r.as_mut(), want)?;
                    if v.0.is_empty() {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("part {filename} is shorter than its manifest says"),
                        ));
                    }
                    left -= v.0.len() as u64;
                    if tx.blocking_send(Ok(v.into_bytes())).is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Bytes `[start, end)` of a plan as a body. `guard` is dropped when the
/// body is finished or abandoned.
pub fn plan_body<G: Send + 'static>(
    plan: &DownloadPlan,
    store: Arc<dyn PartStore>,
    start: u64,
    end: u64,
    guard: G,
) -> io::Result<Body> {
    let segments = plan.slice(start, end);
    let (tx, rx) = mpsc::channel(QUEUE);
    spawn("image-plan", move || {
        let _guard = guard;
        if let Err(e) = produce_plan(segments, store.as_ref(), &tx) {
            tracing::warn!(error = %crate::ErrorChain(&e), "download aborted");
            let _ = tx.blocking_send(Err(e));
        }
    })?;
    Ok(receiver_body(rx))
}

/// The canonical deflate of `len` zero bytes (as import writes empty
/// regions), cached per length.
fn zero_part(len: u64) -> Option<Arc<Vec<u8>>> {
    const MAX_LEN: u64 = 256 << 20;
    static CACHE: OnceLock<Mutex<HashMap<u64, Arc<Vec<u8>>>>> = OnceLock::new();
    if len == 0 || len > MAX_LEN {
        return None;
    }
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(z) = cache.lock().ok().and_then(|c| c.get(&len).cloned()) {
        return Some(z);
    }
    let mut enc = PartEncoder::new();
    let mut left = len;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        enc.write(&ZEROS[..n]);
        left -= n as u64;
    }
    let (z, _, _) = enc.finish();
    let z = Arc::new(z);
    if let Ok(mut c) = cache.lock() {
        if c.len() >= 64 {
            c.clear();
        }
        c.insert(len, z.clone());
    }
    Some(z)
}

/// Where an inflater reads a part from.
enum Source {
    Reader(Box<dyn Read + Send>),
    Memory(Arc<Vec<u8>>, usize),
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Reader(r) => r.read(buf),
            Source::Memory(d, pos) => {
                let rest = &d[(*pos).min(d.len())..];
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                *pos += n;
                Ok(n)
            }
        }
    }
}

fn corrupt(part: &str, reason: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("corrupt compressed part {part}: {reason}"),
    )
}

/// What an inflating worker sends to the body.
enum Msg {
    /// Bytes of the current part.
    Data(Bytes),
    /// The current part is complete.
    PartDone,
    /// Inflating failed; the body ends with this error.
    Failed(io::Error),
}

/// A worker's reusable inflate state.
struct Inflater {
    decompress: Decompress,
    input: Vec<u8>,
}

impl Inflater {
    fn new() -> Self {
        Inflater {
            decompress: Decompress::new(false),
            input: vec![0u8; INPUT],
        }
    }
}

/// Sends bytes `[from, to)` (relative to the part) of one part. Returns
/// false when the body was dropped.
fn inflate_part(
    part: &PartRef,
    store: &dyn PartStore,
    from: u64,
    to: u64,
    inf: &mut Inflater,
    tx: &mpsc::Sender<Msg>,
    stop: &AtomicBool,
) -> io::Result<bool> {
    let info = &part.info;
    let mut source = match &part.data {
        PartData::Replaced(d) => Source::Memory(d.clone(), 0),
        PartData::Stored => {
            let mut r = store.open_part(&info.filename, 0)?;
            if info.z_len <= 1 << 20 && info.z_len.saturating_mul(256) <= info.len {
                // Small for its length: maybe an all-zero region.
                let data = read_chunk(r.as_mut(), usize::try_from(info.z_len).unwrap_or(0))?;
                if zero_part(info.len).is_some_and(|z| *z == data) {
                    let mut at = from;
                    while at < to {
                        let n = (to - at).min(CHUNK as u64) as usize;
                        if tx
                            .blocking_send(Msg::Data(Bytes::from_static(&ZEROS[..n])))
                            .is_err()
                        {
                            return Ok(false);
                        }
                        at += n as u64;
                    }
                    return Ok(true);
                }
                Source::Memory(Arc::new(data), 0)
            } else {
                Source::Reader(r)
            }
        }
    };
    let whole = from == 0 && to == info.len;
    let mut crc = crc32fast::Hasher::new();
    let inflate = &mut inf.decompress;
    inflate.reset(false);
    let input = &mut inf.input;
    let (mut in_pos, mut in_len) = (0usize, 0usize);
    let mut produced = 0u64;
    let mut stalls = 0;
    while produced < to {
        if stop.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let want = (info.len - produced).min(CHUNK as u64) as usize;
        let mut pooled = Pooled::take();
        let block = &mut pooled.0;
        while block.len() < want {
            if in_pos == in_len {
                in_len = source.read(input)?;
                in_pos = 0;
                if in_len == 0 {
                    return Err(corrupt(
                        &info.filename,
                        format!(
                            "data ends after {} of {} bytes",
                            produced + block.len() as u64,
                            info.len
                        ),
                    ));
                }
            }
            let before_in = inflate.total_in();
            let before_out = block.len();
            let status = inflate
                .decompress_vec(&input[in_pos..in_len], block, FlushDecompress::None)
                .map_err(|e| corrupt(&info.filename, e))?;
            let used = (inflate.total_in() - before_in) as usize;
            in_pos += used;
            let made = block.len() - before_out;
            if status == Status::StreamEnd && block.len() < want {
                return Err(corrupt(&info.filename, "deflate stream ends early"));
            }
            if used == 0 && made == 0 {
                stalls += 1;
                if stalls > 2 && in_pos < in_len {
                    return Err(corrupt(&info.filename, "inflate makes no progress"));
                }
            } else {
                stalls = 0;
            }
        }
        if whole {
            crc.update(block);
        }
        let block_start = produced;
        produced += block.len() as u64;
        let s = from.max(block_start);
        let e = to.min(produced);
        if s < e {
            let bytes = pooled
                .into_bytes()
                .slice((s - block_start) as usize..(e - block_start) as usize);
            if tx.blocking_send(Msg::Data(bytes)).is_err() {
                return Ok(false);
            }
        }
    }
    if whole && crc.finalize() != info.crc {
        return Err(corrupt(
            &info.filename,
            "CRC-32 of the inflated data does not match",
        ));
    }
    Ok(true)
}

struct RawGuard;
impl Drop for RawGuard {
    fn drop(&mut self) {
        ACTIVE_RAW.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Bytes `[start, end)` of the raw (uncompressed) image as a body,
/// inflated on up to `max_threads` threads (fewer when other raw
/// downloads are running). Worker `w` of `T` inflates parts `w`, `w + T`,
/// … in order through its own channel; the body reads the workers in turn,
/// so at most `T` parts are in flight. `guard` is dropped when the body is
/// finished or abandoned.
pub fn raw_body<G: Send + Sync + 'static>(
    parts: Arc<ConfiguredParts>,
    store: Arc<dyn PartStore>,
    start: u64,
    end: u64,
    max_threads: usize,
    guard: G,
) -> io::Result<Body> {
    // Parts overlapping the range, with the range inside each.
    let mut offset = 0u64;
    let mut jobs: Vec<(usize, u64, u64)> = Vec::new();
    for (i, p) in parts.parts.iter().enumerate() {
        let (ps, pe) = (offset, offset + p.info.len);
        offset = pe;
        if pe <= start || ps >= end || p.info.len == 0 {
            continue;
        }
        jobs.push((i, start.max(ps) - ps, end.min(pe) - ps));
    }
    let active = ACTIVE_RAW.fetch_add(1, Ordering::AcqRel) + 1;
    let raw_guard = RawGuard;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if active > cores {
        1
    } else {
        max_threads.max(1)
    }
    .min(jobs.len().max(1));
    let jobs = Arc::new(jobs);
    let shared = Arc::new((AtomicBool::new(false), guard, raw_guard));
    let mut receivers = Vec::with_capacity(threads);
    for w in 0..threads {
        let (tx, rx) = mpsc::channel::<Msg>(QUEUE);
        receivers.push(rx);
        let (jobs, shared, parts, store) =
            (jobs.clone(), shared.clone(), parts.clone(), store.clone());
        spawn("image-inflate", move || {
            let stop = &shared.0;
            let mut inf = Inflater::new();
            for &(i, from, to) in jobs.iter().skip(w).step_by(threads) {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                match inflate_part(
                    &parts.parts[i],
                    store.as_ref(),
                    from,
                    to,
                    &mut inf,
                    &tx,
                    stop,
                ) {
                    Ok(true) => {
                        if tx.blocking_send(Msg::PartDone).is_err() {
                            stop.store(true, Ordering::Relaxed);
                            return;
                        }
                    }
                    Ok(false) => {
                        stop.store(true, Ordering::Relaxed);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %crate::ErrorChain(&e), "raw download aborted");
                        stop.store(true, Ordering::Relaxed);
                        let _ = tx.blocking_send(Msg::Failed(e));
                        return;
                    }
                }
            }
        })?;
    }
    let total = jobs.len();
    let stream = futures_util::stream::unfold(
        (receivers, 0usize, false),
        move |(mut receivers, mut job, done)| async move {
            if done {
                return None;
            }
            loop {
                if job >= total {
                    return None;
                }
                let n = receivers.len();
                let rx = receivers.get_mut(job % n)?;
                match rx.recv().await {
                    Some(Msg::Data(b)) => return Some((Ok(b), (receivers, job, false))),
                    Some(Msg::PartDone) => job += 1,
                    Some(Msg::Failed(e)) => return Some((Err(e), (receivers, job, true))),
                    None => {
                        let e = io::Error::other("the image stopped before its end");
                        return Some((Err(e), (receivers, job, true)));
                    }
                }
            }
        },
    );
    Ok(Body::from_stream(stream))
}

/// Where a download's bytes come from: starts a body for any byte range.
#[derive(Debug, Clone)]
pub enum Producer {
    /// A `.gz` or `.zip` plan (also a gzip-encoded `.img`).
    Plan(Arc<DownloadPlan>),
    /// The raw image, inflated on up to `threads` threads.
    Raw {
        /// The (possibly configured) parts.
        parts: Arc<ConfiguredParts>,
        /// Most inflating threads.
        threads: usize,
    },
}

impl Producer {
    /// Bytes `[start, end)` as a body (see [`plan_body`], [`raw_body`]).
    pub fn body<G: Send + Sync + 'static>(
        &self,
        store: Arc<dyn PartStore>,
        start: u64,
        end: u64,
        guard: G,
    ) -> io::Result<Body> {
        match self {
            Producer::Plan(plan) => plan_body(plan, store, start, end, guard),
            Producer::Raw { parts, threads } => {
                raw_body(parts.clone(), store, start, end, *threads, guard)
            }
        }
    }
}

/// The layout of a `multipart/byteranges` body: its parts' headers and
/// ranges, in order, and its exact length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    pieces: Vec<Piece>,
    /// The body's length in bytes (for `Content-Length`).
    pub len: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Bytes),
    Range(u64, u64),
}

impl Multipart {
    /// The layout for `ranges` (`[start, end)`, non-empty) of a
    /// representation of `total` bytes whose type is `content_type`,
    /// delimited by `boundary`:
    ///
    /// ```text
    /// --BOUNDARY␍␊Content-Type: TYPE␍␊Content-Range: bytes S-E/TOTAL␍␊␍␊DATA
    /// ␍␊--BOUNDARY␍␊… (one such part per range)
    /// ␍␊--BOUNDARY--␍␊
    /// ```
    ///
    /// `len` counts every byte of that, so it is the exact `Content-Length`.
    pub fn new(ranges: &[(u64, u64)], total: u64, content_type: &str, boundary: &str) -> Self {
        let mut pieces = Vec::with_capacity(2 * ranges.len() + 1);
        let mut len = 0u64;
        for (i, &(s, e)) in ranges.iter().enumerate() {
            let text = format!(
                "{}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {s}-{}/{total}\r\n\r\n",
                if i == 0 { "" } else { "\r\n" },
                e.saturating_sub(1),
            );
            len += text.len() as u64 + e.saturating_sub(s);
            pieces.push(Piece::Text(Bytes::from(text)));
            pieces.push(Piece::Range(s, e));
        }
        let end = format!("\r\n--{boundary}--\r\n");
        len += end.len() as u64;
        pieces.push(Piece::Text(Bytes::from(end)));
        Multipart { pieces, len }
    }
}

struct MultipartState<G> {
    pieces: VecDeque<Piece>,
    current: Option<axum::body::BodyDataStream>,
    producer: Producer,
    store: Arc<dyn PartStore>,
    _guard: G,
}

/// A `multipart/byteranges` body laid out by `layout`. Each range's body
/// is started by `producer` only once the bytes before it were taken, so
/// at most one range is being produced at a time and memory stays that of
/// one single-range download. `guard` is dropped when the body is
/// finished or abandoned.
pub fn multipart_body<G: Send + 'static>(
    producer: Producer,
    store: Arc<dyn PartStore>,
    layout: Multipart,
    guard: G,
) -> Body {
    use futures_util::StreamExt;
    let state = MultipartState {
        pieces: layout.pieces.into(),
        current: None,
        producer,
        store,
        _guard: guard,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(current) = &mut st.current {
                match current.next().await {
                    Some(Ok(bytes)) => return Some((Ok(bytes), st)),
                    Some(Err(e)) => {
                        // End the body after the error: the client sees a
                        // short transfer, never a complete-looking one.
                        st.current = None;
                        st.pieces.clear();
                        return Some((Err(io::Error::other(e)), st));
                    }
                    None => st.current = None,
                }
            }
            match st.pieces.pop_front()? {
                Piece::Text(bytes) => return Some((Ok(bytes), st)),
                Piece::Range(s, e) => match st.producer.body(st.store.clone(), s, e, ()) {
                    Ok(body) => st.current = Some(body.into_data_stream()),
                    Err(e) => {
                        st.pieces.clear();
                        return Some((Err(e), st));
                    }
                },
            }
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use balena_image::manifest::PartInfo;
    use balena_image::parts::deflate_part;

    struct Mem(HashMap<String, Vec<u8>>);
    impl PartStore for Mem {
        fn open_part(&self, f: &str, off: u64) -> io::Result<Box<dyn Read + Send>> {
            let d = self
                .0
                .get(f)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            Ok(Box::new(io::Cursor::new(d[off as usize..].to_vec())))
        }
    }

    fn image() -> (Vec<u8>, Arc<ConfiguredParts>, Arc<dyn PartStore>) {
        let a: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let z = vec![0u8; 600_000];
        let c: Vec<u8> = (0..300_000u32).map(|i| (i % 13) as u8).collect();
        let mut files = HashMap::new();
        let mut infos = Vec::new();
        let mut offset = 0;
        for (name, data) in [("a", &a), ("z", &z), ("c", &c)] {
            let (comp, crc) = if name == "z" {
                (
                    zero_part(data.len() as u64).expect("zero").to_vec(),
                    crc32fast::hash(data),
                )
            } else {
                deflate_part(data)
            };
            infos.push(PartRef {
                info: PartInfo {
                    filename: name.into(),
                    crc,
                    len: data.len() as u64,
                    z_len: comp.len() as u64,
                    offset,
                    partition: None,
                },
                data: PartData::Stored,
            });
            offset += data.len() as u64;
            files.insert(name.to_owned(), comp);
        }
        let mut raw = a.clone();
        raw.extend_from_slice(&z);
        raw.extend_from_slice(&c);
        let parts = ConfiguredParts {
            parts: infos,
            boot: None,
            patches: Arc::default(),
        };
        (raw, Arc::new(parts), Arc::new(Mem(files)))
    }

    async fn collect(body: Body) -> Result<Vec<u8>, String> {
        axum::body::to_bytes(body, usize::MAX)
            .await
            .map(|b| b.to_vec())
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn raw_ranges_match_the_image() {
        let (raw, parts, store) = image();
        let n = raw.len() as u64;
        for (s, e) in [
            (0, n),
            (5, 17),
            (699_990, 700_010),
            (1_299_999, n),
            (0, 1),
            (n - 1, n),
        ] {
            for threads in [1, 3] {
                let body = raw_body(parts.clone(), store.clone(), s, e, threads, ()).expect("body");
                let got = collect(body).await.expect("bytes");
                assert_eq!(got, raw[s as usize..e as usize], "{s}..{e} on {threads}");
            }
        }
    }

    /// Splits a multipart body laid out by [`Multipart::new`] with
    /// boundary `B` into (content-range, data) pairs.
    fn split_parts(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
        let delim = format!("\r\n--{boundary}");
        let mut text = b"\r\n".to_vec();
        text.extend_from_slice(body);
        let mut out = Vec::new();
        let mut rest = &text[..];
        loop {
            let at = rest
                .windows(delim.len())
                .position(|w| w == delim.as_bytes())
                .expect("delimiter");
            rest = &rest[at + delim.len()..];
            if rest.starts_with(b"--\r\n") {
                assert_eq!(rest.len(), 4, "nothing after the close delimiter");
                return out;
            }
            let head_end = rest
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("part headers");
            let head = String::from_utf8(rest[..head_end].to_vec()).expect("ascii");
            let range = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Range: "))
                .expect("content-range")
                .to_owned();
            rest = &rest[head_end + 4..];
            let next = rest
                .windows(delim.len())
                .position(|w| w == delim.as_bytes())
                .expect("next delimiter");
            out.push((range, rest[..next].to_vec()));
            rest = &rest[next..];
        }
    }

    #[tokio::test]
    async fn multipart_ranges_match_the_image() {
        let (raw, parts, store) = image();
        let n = raw.len() as u64;
        let plan = Arc::new(DownloadPlan::gzip(&parts));
        let mut gz = Vec::new();
        plan.write_to(store.as_ref(), &mut gz).expect("write");
        let ranges = [(0, 10), (699_990, 700_010), (n - 5, n), (20, 30)];
        for (producer, full) in [
            (
                Producer::Raw {
                    parts: parts.clone(),
                    threads: 2,
                },
                &raw,
            ),
            (Producer::Plan(plan.clone()), &gz),
        ] {
            let total = full.len() as u64;
            let ranges: Vec<(u64, u64)> = ranges
                .iter()
                .map(|&(s, e): &(u64, u64)| (s.min(total - 1), e.min(total)))
                .collect();
            let layout = Multipart::new(&ranges, total, "application/octet-stream", "XyZ");
            let len = layout.len;
            let body = multipart_body(producer, store.clone(), layout, ());
            let got = collect(body).await.expect("bytes");
            assert_eq!(got.len() as u64, len, "Content-Length is exact");
            let split = split_parts(&got, "XyZ");
            assert_eq!(split.len(), ranges.len());
            for ((range, data), (s, e)) in split.iter().zip(&ranges) {
                assert_eq!(range, &format!("bytes {s}-{}/{total}", e - 1));
                assert_eq!(data[..], full[*s as usize..*e as usize]);
            }
        }
    }

    #[tokio::test]
    async fn corrupt_parts_fail_the_body() {
        let (_, parts, _) = image();
        let mut files = HashMap::new();
        for p in &parts.parts {
            files.insert(p.info.filename.clone(), vec![0xffu8; p.info.z_len as usize]);
        }
        let body =
            raw_body(parts.clone(), Arc::new(Mem(files)), 0, parts.len(), 2, ()).expect("body");
        assert!(collect(body).await.is_err());
    }

    #[tokio::test]
    async fn plan_ranges_match_the_plan() {
        let (_, parts, store) = image();
        let plan = DownloadPlan::gzip(&parts);
        let mut full = Vec::new();
        plan.write_to(store.as_ref(), &mut full).expect("write");
        let n = plan.len();
        for (s, e) in [(0, n), (3, 12), (10, n - 3), (n - 8, n)] {
            let body = plan_body(&plan, store.clone(), s, e, ()).expect("body");
            assert_eq!(
                collect(body).await.expect("bytes"),
                full[s as usize..e as usize]
            );
        }
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&full[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        assert_eq!(out.len() as u64, parts.len());
    }
}
