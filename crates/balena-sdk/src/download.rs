//! Image downloads: a decoded byte stream with metadata and progress, and
//! a careful `download_to_file` (temp file, resume, integrity checks,
//! atomic rename).

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};
use futures_util::{Stream, StreamExt};
use reqwest::header::{
    ACCEPT_ENCODING, ACCEPT_RANGES, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_RANGE, CONTENT_TYPE, ETAG, HeaderMap, HeaderName, HeaderValue, IF_RANGE, LAST_MODIFIED,
    RANGE,
};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::error::{Error, Result};
use crate::os::OsModel;
use crate::os::options::DownloadOptions;
use crate::request::ApiRequest;
use crate::types::FileType;

/// Downloads accept the encodings the stream decodes (as the JS SDK asks).
pub(crate) fn accept_encoding() -> (HeaderName, HeaderValue) {
    (ACCEPT_ENCODING, HeaderValue::from_static("gzip, deflate"))
}

/// How many times `download_to_file` resumes an interrupted transfer.
pub const MAX_RESUMES: u32 = 5;
const X_TRANSFER_LENGTH: HeaderName = HeaderName::from_static("x-transfer-length");
const WRITE_BUFFER: usize = 1 << 20;

/// Progress of a download. `received` counts bytes as they arrive on the
/// wire (compressed bytes for a gzip `Content-Encoding`), so it is
/// comparable with `total`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DownloadProgress {
    /// Expected bytes on the wire (`Content-Length`, else `X-Transfer-Length`).
    pub total: Option<u64>,
    /// Bytes received so far.
    pub received: u64,
    /// `received / total` in percent, when the total is known.
    pub percentage: Option<f64>,
}

impl DownloadProgress {
    fn new(total: Option<u64>, received: u64) -> Self {
        let percentage = total.map(|t| {
            if t == 0 {
                100.0
            } else {
                received as f64 * 100.0 / t as f64
            }
        });
        DownloadProgress {
            total,
            received,
            percentage,
        }
    }
}

/// What the server said about the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadMetadata {
    /// HTTP status of the (final) response.
    pub status: u16,
    /// `Content-Type` (the JS SDK's `stream.mime`).
    pub content_type: Option<String>,
    /// `Content-Length`.
    pub content_length: Option<u64>,
    /// Expected bytes on the wire: `Content-Length`, else `X-Transfer-Length`.
    pub total: Option<u64>,
    /// `Content-Encoding` (gzip and deflate are decoded by the stream).
    pub content_encoding: Option<String>,
    /// File name from `Content-Disposition`, reduced to a bare name.
    pub file_name: Option<String>,
    /// `ETag`.
    pub etag: Option<String>,
    /// `Last-Modified`.
    pub last_modified: Option<String>,
    /// True when the server announced `Accept-Ranges: bytes`.
    pub accepts_ranges: bool,
}

fn header_str(h: &HeaderMap, name: HeaderName) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
}

impl DownloadMetadata {
    /// Reads the metadata from response headers.
    pub fn from_headers(status: u16, h: &HeaderMap) -> Self {
        let content_length = header_str(h, CONTENT_LENGTH).and_then(|v| v.parse().ok());
        let transfer_length = header_str(h, X_TRANSFER_LENGTH).and_then(|v| v.parse().ok());
        DownloadMetadata {
            status,
            content_type: header_str(h, CONTENT_TYPE),
            content_length,
            total: content_length.or(transfer_length),
            content_encoding: header_str(h, CONTENT_ENCODING).map(|e| e.to_ascii_lowercase()),
            file_name: header_str(h, CONTENT_DISPOSITION)
                .and_then(|v| content_disposition_file_name(&v)),
            etag: header_str(h, ETAG),
            last_modified: header_str(h, LAST_MODIFIED),
            accepts_ranges: header_str(h, ACCEPT_RANGES)
                .is_some_and(|v| v.eq_ignore_ascii_case("bytes")),
        }
    }
}

/// Extracts the file name of a `Content-Disposition` header (`filename*`
/// preferred, then `filename`), without any directory part.
///
/// ```
/// use balena_sdk::download::content_disposition_file_name as f;
/// assert_eq!(f(r#"attachment; filename="balena.img.gz""#).as_deref(), Some("balena.img.gz"));
/// assert_eq!(f("attachment; filename*=UTF-8''my%20image.zip").as_deref(), Some("my image.zip"));
/// assert_eq!(f(r#"attachment; filename="../../etc/passwd""#).as_deref(), Some("passwd"));
/// ```
pub fn content_disposition_file_name(value: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for part in value.split(';').map(str::trim) {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "filename*" => {
                let v = v.trim();
                let encoded = v.splitn(3, '\'').nth(2).unwrap_or(v);
                extended = Some(
                    percent_encoding::percent_decode_str(encoded)
                        .decode_utf8_lossy()
                        .into_owned(),
                );
            }
            "filename" => {
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .unwrap_or(v);
                plain = Some(v.replace("\\\"", "\""));
            }
            _ => {}
        }
    }
    let name = extended.or(plain)?;
    let base = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    (!base.is_empty() && base != "." && base != ".." && !base.chars().any(char::is_control))
        .then_some(base)
}

/// A streaming gzip decoder that checks every member's CRC32 and ISIZE.
pub(crate) struct GzipDecoder {
    state: GzState,
    pending: Vec<u8>,
    inflate: Decompress,
    crc: crc32fast::Hasher,
    size: u32,
    members: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GzState {
    Header,
    Body,
    Trailer,
    BetweenMembers,
}

/// Parses a gzip member header; `Ok(None)` when more bytes are needed.
fn gzip_header_len(b: &[u8]) -> std::result::Result<Option<usize>, String> {
    if b.len() < 10 {
        if b.len() >= 2 && b[..2] != [0x1f, 0x8b] {
            return Err("not gzip data (bad magic bytes)".into());
        }
        return Ok(None);
    }
    if b[..2] != [0x1f, 0x8b] {
        return Err("not gzip data (bad magic bytes)".into());
    }
    if b[2] != 8 {
        return Err(format!("unsupported gzip compression method {}", b[2]));
    }
    let flags = b[3];
    let mut pos = 10usize;
    if flags & 0x04 != 0 {
        if b.len() < pos + 2 {
            return Ok(None);
        }
        let xlen = usize::from(u16::from_le_bytes([b[pos], b[pos + 1]]));
        pos += 2 + xlen;
        if b.len() < pos {
            return Ok(None);
        }
    }
    for flag in [0x08u8, 0x10] {
        if flags & flag != 0 {
            match b[pos..].iter().position(|&c| c == 0) {
                Some(n) => pos += n + 1,
                None => return Ok(None),
            }
        }
    }
    if flags & 0x02 != 0 {
        pos += 2;
        if b.len() < pos {
            return Ok(None);
        }
    }
    Ok(Some(pos))
}

/// Inflates as much of `input` as possible into `out`; returns the bytes
/// consumed and whether the deflate stream ended.
fn inflate_into(
    d: &mut Decompress,
    mut input: &[u8],
    out: &mut Vec<u8>,
) -> std::result::Result<(usize, bool), String> {
    let mut consumed = 0usize;
    loop {
        if out.capacity() - out.len() < 32 * 1024 {
            out.reserve(64 * 1024);
        }
        let (in0, out0) = (d.total_in(), out.len());
        let spare = out.capacity() - out.len();
        let status = d
            .decompress_vec(input, out, FlushDecompress::None)
            .map_err(|e| format!("corrupt deflate data: {e}"))?;
        let used = (d.total_in() - in0) as usize;
        let produced = out.len() - out0;
        consumed += used;
        input = &input[used..];
        if status == Status::StreamEnd {
            return Ok((consumed, true));
        }
        if produced == spare {
            continue; // output was full: more may be pending
        }
        if input.is_empty() || (used == 0 && produced == 0) {
            return Ok((consumed, false));
        }
    }
}

impl GzipDecoder {
    pub(crate) fn new() -> Self {
        GzipDecoder {
            state: GzState::Header,
            pending: Vec::new(),
            inflate: Decompress::new(false),
            crc: crc32fast::Hasher::new(),
            size: 0,
            members: 0,
        }
    }

    /// Decodes `input`, appending the output to `out`.
    pub(crate) fn feed(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), String> {
        while !input.is_empty() {
            match self.state {
                GzState::BetweenMembers => {
                    if input.iter().all(|&b| b == 0) {
                        return Ok(()); // zero padding after the last member
                    }
                    self.state = GzState::Header;
                }
                GzState::Header => {
                    let take = input.len().min(64 * 1024);
                    self.pending.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if let Some(n) = gzip_header_len(&self.pending)? {
                        let rest = self.pending.split_off(n);
                        self.pending.clear();
                        self.state = GzState::Body;
                        self.feed(&rest, out)?;
                    } else if self.pending.len() > 1 << 20 {
                        return Err("gzip header is implausibly long".into());
                    }
                }
                GzState::Body => {
                    let start = out.len();
                    let (used, ended) = inflate_into(&mut self.inflate, input, out)?;
                    self.crc.update(&out[start..]);
                    self.size = self.size.wrapping_add((out.len() - start) as u32);
                    input = &input[used..];
                    if ended {
                        self.state = GzState::Trailer;
                    } else if used == 0 {
                        return Err("deflate decoder made no progress".into());
                    }
                }
                GzState::Trailer => {
                    let need = 8 - self.pending.len();
                    let take = need.min(input.len());
                    self.pending.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if self.pending.len() == 8 {
                        let crc = u32::from_le_bytes([
                            self.pending[0],
                            self.pending[1],
                            self.pending[2],
                            self.pending[3],
                        ]);
                        let isize = u32::from_le_bytes([
                            self.pending[4],
                            self.pending[5],
                            self.pending[6],
                            self.pending[7],
                        ]);
                        let actual =
                            std::mem::replace(&mut self.crc, crc32fast::Hasher::new()).finalize();
                        if crc != actual {
                            return Err(format!(
                                "gzip CRC32 mismatch (trailer {crc:08x}, data {actual:08x})"
                            ));
                        }
                        if isize != self.size {
                            return Err(format!(
                                "gzip ISIZE mismatch (trailer {isize}, data {})",
                                self.size
                            ));
                        }
                        self.pending.clear();
                        self.size = 0;
                        self.inflate.reset(false);
                        self.members += 1;
                        self.state = GzState::BetweenMembers;
                    }
                }
            }
        }
        Ok(())
    }

    /// Succeeds only after at least one complete, verified member.
    pub(crate) fn finish(&self) -> std::result::Result<(), String> {
        match self.state {
            GzState::BetweenMembers if self.members > 0 => Ok(()),
            GzState::Header if self.members > 0 && self.pending.is_empty() => Ok(()),
            GzState::Header => Err("gzip data ends inside a header".into()),
            GzState::Body => Err("gzip data is truncated (deflate stream not finished)".into()),
            GzState::Trailer => {
                Err("gzip data is truncated (incomplete CRC32/ISIZE trailer)".into())
            }
            GzState::BetweenMembers => Err("no gzip data".into()),
        }
    }
}

/// Decodes a `Content-Encoding`.
enum ContentDecoder {
    Identity,
    Gzip(Box<GzipDecoder>),
    /// `deflate`: zlib-wrapped (RFC 9110) or, from some servers, raw.
    Deflate {
        inflate: Option<Box<Decompress>>,
        sniff: Vec<u8>,
        ended: bool,
    },
}

impl ContentDecoder {
    fn for_encoding(encoding: Option<&str>) -> std::result::Result<Self, String> {
        match encoding.map(str::trim) {
            None | Some("") | Some("identity") => Ok(ContentDecoder::Identity),
            Some("gzip") | Some("x-gzip") => Ok(ContentDecoder::Gzip(Box::new(GzipDecoder::new()))),
            Some("deflate") => Ok(ContentDecoder::Deflate {
                inflate: None,
                sniff: Vec::new(),
                ended: false,
            }),
            Some(other) => Err(format!("unsupported Content-Encoding {other:?}")),
        }
    }

    fn decode(&mut self, chunk: Bytes) -> std::result::Result<Bytes, String> {
        match self {
            ContentDecoder::Identity => Ok(chunk),
            ContentDecoder::Gzip(g) => {
                let mut out = Vec::new();
                g.feed(&chunk, &mut out)?;
                Ok(Bytes::from(out))
            }
            ContentDecoder::Deflate {
                inflate,
                sniff,
                ended,
            } => {
                let mut input: Vec<u8> = std::mem::take(sniff);
                input.extend_from_slice(&chunk);
                if inflate.is_none() {
                    if input.len() < 2 {
                        *sniff = input;
                        return Ok(Bytes::new());
                    }
                    let zlib = input[0] & 0x0f == 8
                        && (u16::from(input[0]) << 8 | u16::from(input[1])) % 31 == 0;
                    *inflate = Some(Box::new(Decompress::new(zlib)));
                }
                if *ended {
                    return Ok(Bytes::new());
                }
                let mut out = Vec::new();
                let d = inflate
                    .as_mut()
                    .map(|b| &mut **b)
                    .ok_or("deflate decoder missing")?;
                let (_, end) = inflate_into(d, &input, &mut out)?;
                *ended = end;
                Ok(Bytes::from(out))
            }
        }
    }

    fn finish(&self) -> std::result::Result<(), String> {
        match self {
            ContentDecoder::Identity => Ok(()),
            ContentDecoder::Gzip(g) => g.finish(),
            ContentDecoder::Deflate { ended: true, .. } => Ok(()),
            ContentDecoder::Deflate { .. } => Err("deflate data is truncated".into()),
        }
    }
}

type BodyStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// An image being downloaded: a [`Stream`] of decoded image bytes, with
/// the response metadata and the progress so far. The stream ends with an
/// [`Error::Integrity`] when the body is shorter than announced or a
/// compressed encoding is truncated or corrupt.
pub struct OsDownload {
    request: String,
    meta: DownloadMetadata,
    body: BodyStream,
    decoder: ContentDecoder,
    received: u64,
    done: bool,
}

impl std::fmt::Debug for OsDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OsDownload")
            .field("request", &self.request)
            .field("meta", &self.meta)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl OsDownload {
    pub(crate) fn new(request: String, resp: reqwest::Response) -> Self {
        let meta = DownloadMetadata::from_headers(resp.status().as_u16(), resp.headers());
        // Unknown encodings (never asked for) are passed through untouched.
        let decoder = ContentDecoder::for_encoding(meta.content_encoding.as_deref())
            .unwrap_or(ContentDecoder::Identity);
        OsDownload {
            request,
            meta,
            body: Box::pin(resp.bytes_stream()),
            decoder,
            received: 0,
            done: false,
        }
    }

    /// The response metadata.
    pub fn metadata(&self) -> &DownloadMetadata {
        &self.meta
    }

    /// Progress so far.
    pub fn progress(&self) -> DownloadProgress {
        DownloadProgress::new(self.meta.total, self.received)
    }

    /// The next piece of the image, `Ok(None)` at its end: the [`Stream`]
    /// as an inherent method (like `reqwest::Response::chunk`), for callers
    /// that do not use `futures`. After an error, or at the end, it keeps
    /// answering `Ok(None)`.
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// use balena_sdk::DownloadOptions;
    /// let mut image = balena.os().download(&DownloadOptions::new("raspberrypi4-64")).await?;
    /// let mut total = 0;
    /// while let Some(piece) = image.chunk().await? {
    ///     total += piece.len();
    /// }
    /// println!("{total} bytes, {:?} on the wire", image.progress().received);
    /// # Ok(()) }
    /// ```
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .transpose()
    }

    fn integrity(&self, reason: String) -> Error {
        Error::Integrity {
            what: self.request.clone(),
            reason,
        }
    }
}

impl Stream for OsDownload {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match self.body.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    self.received += chunk.len() as u64;
                    match self.decoder.decode(chunk) {
                        Ok(out) if out.is_empty() => continue,
                        Ok(out) => return Poll::Ready(Some(Ok(out))),
                        Err(reason) => {
                            self.done = true;
                            return Poll::Ready(Some(Err(self.integrity(reason))));
                        }
                    }
                }
                Poll::Ready(Some(Err(source))) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(Error::Transport {
                        request: self.request.clone(),
                        source,
                    })));
                }
                Poll::Ready(None) => {
                    self.done = true;
                    if let Some(len) = self.meta.content_length
                        && len != self.received
                    {
                        let reason = format!("received {} of {len} bytes", self.received);
                        return Poll::Ready(Some(Err(self.integrity(reason))));
                    }
                    if let Err(reason) = self.decoder.finish() {
                        return Poll::Ready(Some(Err(self.integrity(reason))));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }
}

/// How a finished download was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verification {
    /// Length (and any `Content-Encoding` trailer) only.
    Length,
    /// Also a complete gzip file: every member's CRC32 and ISIZE.
    Gzip,
    /// Also a readable zip central directory.
    Zip,
}

/// The outcome of [`crate::OsModel::download_to_file`].
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadReport {
    /// Where the image now is.
    pub path: PathBuf,
    /// Bytes written to the file.
    pub bytes_written: u64,
    /// Bytes received on the wire (over all attempts that were kept).
    pub wire_bytes: u64,
    /// How many times the transfer was resumed.
    pub resumes: u32,
    /// Metadata of the first response.
    pub metadata: DownloadMetadata,
    /// Which checks were made.
    pub verification: Verification,
}

fn verification_for(options: &DownloadOptions, meta: &DownloadMetadata) -> Verification {
    match options.file_type {
        Some(FileType::Gz) => return Verification::Gzip,
        Some(FileType::Zip) => return Verification::Zip,
        Some(FileType::Img) => return Verification::Length,
        None => {}
    }
    let name = meta
        .file_name
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let ct = meta
        .content_type
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if name.ends_with(".gz")
        || ct.starts_with("application/gzip")
        || ct.starts_with("application/x-gzip")
    {
        Verification::Gzip
    } else if name.ends_with(".zip") || ct.starts_with("application/zip") {
        Verification::Zip
    } else {
        Verification::Length
    }
}

/// Parses `Content-Range: bytes a-b/total` into `(a, total)`.
fn content_range(h: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let v = header_str(h, CONTENT_RANGE)?;
    let rest = v.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

struct Sink {
    path: PathBuf,
    file: tokio::io::BufWriter<tokio::fs::File>,
    decoder: ContentDecoder,
    verifier: Option<GzipDecoder>,
    scratch: Vec<u8>,
    wire: u64,
    written: u64,
}

impl Sink {
    fn io(&self, action: &'static str, source: std::io::Error) -> Error {
        Error::Io {
            action,
            path: self.path.clone(),
            source,
        }
    }

    async fn restart(
        &mut self,
        encoding: Option<&str>,
        verify_gzip: bool,
        what: &str,
    ) -> Result<()> {
        self.file
            .flush()
            .await
            .map_err(|e| self.io("flushing", e))?;
        self.file
            .get_mut()
            .set_len(0)
            .await
            .map_err(|e| self.io("truncating", e))?;
        self.file
            .get_mut()
            .seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(|e| self.io("rewinding", e))?;
        self.decoder =
            ContentDecoder::for_encoding(encoding).map_err(|reason| Error::Integrity {
                what: what.to_owned(),
                reason,
            })?;
        self.verifier = verify_gzip.then(GzipDecoder::new);
        self.wire = 0;
        self.written = 0;
        Ok(())
    }

    async fn write(&mut self, chunk: Bytes, what: &str) -> Result<()> {
        self.wire += chunk.len() as u64;
        let out = self
            .decoder
            .decode(chunk)
            .map_err(|reason| Error::Integrity {
                what: what.to_owned(),
                reason,
            })?;
        if let Some(v) = &mut self.verifier {
            self.scratch.clear();
            v.feed(&out, &mut self.scratch)
                .map_err(|reason| Error::Integrity {
                    what: what.to_owned(),
                    reason,
                })?;
        }
        self.file
            .write_all(&out)
            .await
            .map_err(|e| self.io("writing", e))?;
        self.written += out.len() as u64;
        Ok(())
    }
}

/// Checks a download destination: it must name a file (not a directory)
/// in an existing directory. Returns the directory and the file name.
pub(crate) fn check_target(path: &Path) -> Result<(PathBuf, String)> {
    let invalid = |reason: &str| Error::InvalidParameter {
        name: "path",
        value: path.display().to_string(),
        reason: reason.to_owned(),
    };
    let Some(file_name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Err(invalid("it must name a file"));
    };
    if path.is_dir() {
        return Err(invalid("it is a directory"));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(invalid("its directory does not exist"));
    }
    Ok((dir, file_name))
}

pub(crate) async fn download_to_file<F>(
    os: &OsModel<'_>,
    options: &DownloadOptions,
    version: &str,
    req: &ApiRequest,
    path: &Path,
    mut on_progress: F,
) -> Result<DownloadReport>
where
    F: FnMut(DownloadProgress) + Send,
{
    let what = req.describe();
    let (dir, file_name) = check_target(path)?;
    let io = |action, source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let prefix = format!(".{file_name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".part");
    // tempfile creates files readable by the owner only, and the final
    // rename keeps that mode. A downloaded image is not a secret: give it
    // the mode curl, wget and the balena CLI give theirs (0644 under the
    // usual umask).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let tmp = builder
        .tempfile_in(&dir)
        .map_err(|e| io("creating a temporary file for", e))?;
    let std_file = tmp.as_file().try_clone().map_err(|e| io("opening", e))?;

    let client = os.client();
    let (first, _) = client.execute_stream(req, &[accept_encoding()]).await?;
    let status = first.status().as_u16();
    if status >= 400 {
        return Err(os.download_error(options, version, req, first).await);
    }
    if status != 200 {
        return Err(Error::UnexpectedResponse {
            request: what,
            reason: format!("expected HTTP 200, got {status}"),
        });
    }
    let meta = DownloadMetadata::from_headers(status, first.headers());
    let verification = verification_for(options, &meta);
    let mut full_length = meta.content_length;
    let validator = meta
        .etag
        .clone()
        .filter(|e| !e.starts_with("W/"))
        .or_else(|| meta.last_modified.clone());
    let can_resume = meta.accepts_ranges && validator.is_some();

    let mut sink = Sink {
        path: tmp.path().to_path_buf(),
        file: tokio::io::BufWriter::with_capacity(
            WRITE_BUFFER,
            tokio::fs::File::from_std(std_file),
        ),
        decoder: ContentDecoder::for_encoding(meta.content_encoding.as_deref()).map_err(
            |reason| Error::Integrity {
                what: what.clone(),
                reason,
            },
        )?,
        verifier: (verification == Verification::Gzip).then(GzipDecoder::new),
        scratch: Vec::new(),
        wire: 0,
        written: 0,
    };
    let mut resumes = 0u32;
    let mut body: BodyStream = Box::pin(first.bytes_stream());
    loop {
        let failure = loop {
            match body.next().await {
                Some(Ok(chunk)) => {
                    sink.write(chunk, &what).await?;
                    on_progress(DownloadProgress::new(full_length.or(meta.total), sink.wire));
                }
                Some(Err(e)) => break Some(e),
                None => break None,
            }
        };
        let Some(source) = failure else { break };
        if !can_resume || resumes >= MAX_RESUMES {
            return Err(Error::Transport {
                request: what,
                source,
            });
        }
        resumes += 1;
        tracing::warn!(request = %what, offset = sink.wire, attempt = resumes, error = %source, "download interrupted, resuming");
        tokio::time::sleep(Duration::from_millis(200 * u64::from(resumes))).await;
        let range = HeaderValue::from_str(&format!("bytes={}-", sink.wire)).map_err(|_| {
            Error::Integrity {
                what: what.clone(),
                reason: "cannot build a Range header".into(),
            }
        })?;
        let mut headers = vec![accept_encoding(), (RANGE, range)];
        if let Some(v) = validator
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.push((IF_RANGE, v));
        }
        let (resp, _) = client.execute_stream(req, &headers).await?;
        match resp.status().as_u16() {
            206 => match content_range(resp.headers()) {
                Some((start, total)) if start == sink.wire => {
                    if let Some(t) = total {
                        full_length = Some(t);
                    }
                }
                _ => {
                    return Err(Error::UnexpectedResponse {
                        request: what,
                        reason: format!(
                            "resume at byte {} got a mismatching Content-Range",
                            sink.wire
                        ),
                    });
                }
            },
            200 => {
                // The image changed (If-Range failed) or ranges are ignored: start over.
                let m = DownloadMetadata::from_headers(200, resp.headers());
                full_length = m.content_length;
                sink.restart(
                    m.content_encoding.as_deref(),
                    verification == Verification::Gzip,
                    &what,
                )
                .await?;
            }
            s if s >= 400 => return Err(os.download_error(options, version, req, resp).await),
            s => {
                return Err(Error::UnexpectedResponse {
                    request: what,
                    reason: format!("resume answered HTTP {s}"),
                });
            }
        }
        body = Box::pin(resp.bytes_stream());
    }

    let integrity = |reason: String| Error::Integrity {
        what: what.clone(),
        reason,
    };
    if let Some(len) = full_length
        && len != sink.wire
    {
        return Err(integrity(format!("received {} of {len} bytes", sink.wire)));
    }
    sink.decoder.finish().map_err(integrity)?;
    if let Some(v) = &sink.verifier {
        v.finish().map_err(integrity)?;
    }
    sink.file
        .flush()
        .await
        .map_err(|e| sink.io("flushing", e))?;
    sink.file
        .get_mut()
        .sync_all()
        .await
        .map_err(|e| sink.io("syncing", e))?;
    let (written, wire) = (sink.written, sink.wire);
    drop(sink);

    if verification == Verification::Zip {
        let check = tmp.as_file().try_clone().map_err(|e| io("opening", e))?;
        let result =
            tokio::task::spawn_blocking(move || zip::ZipArchive::new(check).map(|a| a.len()))
                .await
                .map_err(|e| integrity(format!("zip check did not finish: {e}")))?;
        result.map_err(|e| integrity(format!("not a readable zip archive: {e}")))?;
    }
    tmp.persist(path)
        .map_err(|e| io("renaming the finished download to", e.error))?;
    Ok(DownloadReport {
        path: path.to_path_buf(),
        bytes_written: written,
        wire_bytes: wire,
        resumes,
        metadata: meta,
        verification,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn data() -> Vec<u8> {
        (0..200_000u32)
            .map(|i| (i * 31 + 7) as u8 ^ (i / 1000) as u8)
            .collect()
    }

    #[test]
    fn gzip_streaming_in_any_chunking() {
        let d = data();
        let gz = gzip(&d);
        for chunk in [1usize, 7, 10, 4096, gz.len()] {
            let mut dec = GzipDecoder::new();
            let mut out = Vec::new();
            for c in gz.chunks(chunk) {
                dec.feed(c, &mut out).unwrap();
            }
            dec.finish().unwrap();
            assert_eq!(out, d, "chunk size {chunk}");
        }
        // two members
        let mut two = gzip(b"hello ");
        two.extend(gzip(b"world"));
        let mut dec = GzipDecoder::new();
        let mut out = Vec::new();
        dec.feed(&two, &mut out).unwrap();
        dec.finish().unwrap();
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn gzip_detects_damage() {
        let d = data();
        let gz = gzip(&d);
        let mut dec = GzipDecoder::new();
        let mut out = Vec::new();
        dec.feed(&gz[..gz.len() - 3], &mut out).unwrap();
        assert!(dec.finish().unwrap_err().contains("trailer"));

        let mut bad = gz.clone();
        let n = bad.len();
        bad[n - 8] ^= 0xff;
        let mut dec = GzipDecoder::new();
        assert!(
            dec.feed(&bad, &mut Vec::new())
                .unwrap_err()
                .contains("CRC32")
        );

        let mut dec = GzipDecoder::new();
        assert!(
            dec.feed(b"PK\x03\x04 definitely not gzip", &mut Vec::new())
                .is_err()
        );
        assert!(GzipDecoder::new().finish().is_err());
    }

    #[test]
    fn damaged_gzip_never_panics() {
        let gz = gzip(b"balenaOS image bytes, repeated: balenaOS image bytes");
        let mut seed = 0x2545_f491_u32;
        for pos in 0..gz.len() {
            for bit in 0..8 {
                let mut bad = gz.clone();
                bad[pos] ^= 1 << bit;
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let chunk = 1 + (seed as usize >> 16) % 9;
                let mut dec = GzipDecoder::new();
                let mut out = Vec::new();
                let fed = bad.chunks(chunk).try_for_each(|c| dec.feed(c, &mut out));
                // Header bytes such as MTIME or OS may change harmlessly;
                // anything else must be reported, never panic.
                if fed.is_ok() && dec.finish().is_ok() {
                    assert_eq!(out, b"balenaOS image bytes, repeated: balenaOS image bytes");
                }
            }
        }
    }

    #[test]
    fn deflate_encoding_zlib_and_raw() {
        let d = data();
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&d).unwrap();
        let zlib = z.finish().unwrap();
        let mut dec = ContentDecoder::for_encoding(Some("deflate")).unwrap();
        let mut out = Vec::new();
        for c in zlib.chunks(1000) {
            out.extend_from_slice(&dec.decode(Bytes::copy_from_slice(c)).unwrap());
        }
        dec.finish().unwrap();
        assert_eq!(out, d);

        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        raw.write_all(&d).unwrap();
        let raw = raw.finish().unwrap();
        let mut dec = ContentDecoder::for_encoding(Some("deflate")).unwrap();
        let out = dec.decode(Bytes::from(raw)).unwrap();
        dec.finish().unwrap();
        assert_eq!(out.as_ref(), &d[..]);
        assert!(ContentDecoder::for_encoding(Some("br")).is_err());
    }

    #[test]
    fn headers_and_ranges() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_RANGE, HeaderValue::from_static("bytes 100-199/200"));
        assert_eq!(content_range(&h), Some((100, Some(200))));
        h.insert(CONTENT_RANGE, HeaderValue::from_static("bytes 100-199/*"));
        assert_eq!(content_range(&h), Some((100, None)));
        let mut h = HeaderMap::new();
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("10"));
        h.insert(X_TRANSFER_LENGTH, HeaderValue::from_static("99"));
        h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        let m = DownloadMetadata::from_headers(200, &h);
        assert_eq!(
            (m.content_length, m.total, m.accepts_ranges),
            (Some(10), Some(10), true)
        );
        assert_eq!(DownloadProgress::new(Some(200), 50).percentage, Some(25.0));
        assert_eq!(DownloadProgress::new(None, 50).percentage, None);
    }
}
