//! HTTP byte ranges (RFC 9110 §14): one `Range` per request, `If-Range`
//! with a strong entity tag.

/// What to send for a `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// The whole representation (no header, a malformed one, several
    /// ranges, or an `If-Range` that does not match).
    Full,
    /// Bytes `[start, end)`.
    Partial(u64, u64),
    /// No byte of the range exists: 416.
    Unsatisfiable,
}

/// Interprets a `Range` header for a representation of `len` bytes.
///
/// ```
/// use balena_os_server::images::range::{parse_range, RangeRequest};
/// assert_eq!(parse_range(Some("bytes=0-9"), 100), RangeRequest::Partial(0, 10));
/// assert_eq!(parse_range(Some("bytes=90-"), 100), RangeRequest::Partial(90, 100));
/// assert_eq!(parse_range(Some("bytes=-10"), 100), RangeRequest::Partial(90, 100));
/// assert_eq!(parse_range(Some("bytes=95-200"), 100), RangeRequest::Partial(95, 100));
/// assert_eq!(parse_range(Some("bytes=100-"), 100), RangeRequest::Unsatisfiable);
/// assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), RangeRequest::Full);
/// assert_eq!(parse_range(Some("items=0-1"), 100), RangeRequest::Full);
/// ```
pub fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(h) = header else {
        return RangeRequest::Full;
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return RangeRequest::Full;
    };
    let spec = spec.trim();
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeRequest::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if a.is_empty() {
        // Suffix: the last n bytes.
        let Some(n) = num(b) else {
            return RangeRequest::Full;
        };
        if n == 0 || len == 0 {
            return RangeRequest::Unsatisfiable;
        }
        return RangeRequest::Partial(len.saturating_sub(n), len);
    }
    let Some(start) = num(a) else {
        return RangeRequest::Full;
    };
    let end = if b.is_empty() {
        len
    } else {
        match num(b) {
            Some(last) if last >= start => last.saturating_add(1).min(len),
            _ => return RangeRequest::Full,
        }
    };
    if start >= len {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial(start, end)
}

/// Whether an `If-Range` value allows the range: only a strong entity tag
/// equal to `etag` does (dates never match: there is no `Last-Modified`).
///
/// ```
/// use balena_os_server::images::range::if_range_allows;
/// assert!(if_range_allows(None, "\"a\""));
/// assert!(if_range_allows(Some("\"a\""), "\"a\""));
/// assert!(!if_range_allows(Some("W/\"a\""), "\"a\""));
/// assert!(!if_range_allows(Some("\"b\""), "\"a\""));
/// assert!(!if_range_allows(Some("Tue, 15 Nov 1994 08:12:31 GMT"), "\"a\""));
/// ```
pub fn if_range_allows(if_range: Option<&str>, etag: &str) -> bool {
    match if_range {
        None => true,
        Some(v) => v.trim() == etag,
    }
}

/// Whether an `If-None-Match` value names `etag` (weak comparison).
///
/// ```
/// use balena_os_server::images::range::none_match;
/// assert!(none_match("\"x\", W/\"a\"", "\"a\""));
/// assert!(none_match("*", "\"a\""));
/// assert!(!none_match("\"b\"", "\"a\""));
/// ```
pub fn none_match(header: &str, etag: &str) -> bool {
    header.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag
    })
}
