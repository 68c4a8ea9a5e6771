//! HTTP byte ranges (RFC 9110 §14): one range or several
//! (`multipart/byteranges`), `If-Range` with a strong entity tag.

/// Most ranges answered in one `multipart/byteranges` response; a request
/// for more gets the whole representation (RFC 9110 §14.2 lets a server
/// ignore `Range`).
pub const MAX_RANGES: usize = 16;

/// What to send for a `Range` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// The whole representation (no header, a malformed one, more than
    /// [`MAX_RANGES`] ranges, or an `If-Range` that does not match).
    Full,
    /// Bytes `[start, end)`: one range (or several that coalesced into one).
    Partial(u64, u64),
    /// Several ranges `[start, end)`, in the order asked, each satisfiable,
    /// none overlapping or touching another (those are coalesced).
    Multi(Vec<(u64, u64)>),
    /// No byte of any range exists: 416.
    Unsatisfiable,
}

/// One `range-spec` of a `Range: bytes=` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-last` or `first-` (`last` is `None`).
    Int(u64, Option<u64>),
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

fn number(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn parse_spec(spec: &str) -> Option<Spec> {
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return number(b).map(Spec::Suffix);
    }
    let first = number(a)?;
    if b.is_empty() {
        return Some(Spec::Int(first, None));
    }
    // RFC 9110 §14.1.2: a last position below the first is invalid.
    number(b)
        .filter(|last| *last >= first)
        .map(|last| Spec::Int(first, Some(last)))
}

/// The bytes `[start, end)` a valid spec selects, if any exist.
fn resolve(spec: Spec, len: u64) -> Option<(u64, u64)> {
    match spec {
        Spec::Suffix(n) => (n > 0 && len > 0).then(|| (len.saturating_sub(n), len)),
        Spec::Int(first, last) => {
            let end = last.map_or(len, |l| l.saturating_add(1).min(len));
            (first < len).then_some((first, end))
        }
    }
}

/// Merges ranges that overlap or touch into the earliest kept one they
/// meet, keeping the order in which they were asked (RFC 9110 §14.2,
/// §15.3.7.2). The result has no two ranges that meet.
fn coalesce(ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (mut s, mut e) in ranges {
        // Where the growing range sits once it absorbed a kept one.
        let mut at: Option<usize> = None;
        while let Some(i) = out
            .iter()
            .enumerate()
            .position(|(i, &(a, b))| Some(i) != at && s <= b && a <= e)
        {
            let (a, b) = out[i];
            s = s.min(a);
            e = e.max(b);
            let k = match at {
                None => i,
                Some(k) => {
                    out.remove(i.max(k));
                    i.min(k)
                }
            };
            out[k] = (s, e);
            at = Some(k);
        }
        if at.is_none() {
            out.push((s, e));
        }
    }
    out
}

/// Interprets a `Range` header for a representation of `len` bytes.
///
/// A header that does not parse is ignored (the whole representation),
/// as are more than [`MAX_RANGES`] ranges. Ranges that select no byte are
/// dropped; if none is left the answer is 416. Ranges that overlap or
/// touch are coalesced; what remains is one range or several.
///
/// ```
/// use balena_os_server::images::range::{parse_range, RangeRequest};
/// assert_eq!(parse_range(Some("bytes=0-9"), 100), RangeRequest::Partial(0, 10));
/// assert_eq!(parse_range(Some("bytes=90-"), 100), RangeRequest::Partial(90, 100));
/// assert_eq!(parse_range(Some("bytes=-10"), 100), RangeRequest::Partial(90, 100));
/// assert_eq!(parse_range(Some("bytes=95-200"), 100), RangeRequest::Partial(95, 100));
/// assert_eq!(parse_range(Some("bytes=100-"), 100), RangeRequest::Unsatisfiable);
/// assert_eq!(
///     parse_range(Some("bytes=0-1, 5-6"), 100),
///     RangeRequest::Multi(vec![(0, 2), (5, 7)])
/// );
/// // Overlapping or touching ranges are merged; unsatisfiable ones dropped.
/// assert_eq!(parse_range(Some("bytes=0-4,3-9,200-"), 100), RangeRequest::Partial(0, 10));
/// assert_eq!(parse_range(Some("bytes=200-,300-"), 100), RangeRequest::Unsatisfiable);
/// assert_eq!(parse_range(Some("items=0-1"), 100), RangeRequest::Full);
/// ```
pub fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(h) = header else {
        return RangeRequest::Full;
    };
    let Some(set) = h.trim().strip_prefix("bytes=") else {
        return RangeRequest::Full;
    };
    let mut specs = Vec::new();
    // A list may hold empty elements (RFC 9110 §5.6.1); they are skipped.
    for element in set.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if specs.len() == MAX_RANGES {
            return RangeRequest::Full;
        }
        match parse_spec(element) {
            Some(spec) => specs.push(spec),
            None => return RangeRequest::Full,
        }
    }
    if specs.is_empty() {
        return RangeRequest::Full;
    }
    let ranges: Vec<(u64, u64)> = specs.into_iter().filter_map(|s| resolve(s, len)).collect();
    let mut ranges = coalesce(ranges);
    match ranges.len() {
        0 => RangeRequest::Unsatisfiable,
        1 => {
            let (s, e) = ranges.remove(0);
            RangeRequest::Partial(s, e)
        }
        _ => RangeRequest::Multi(ranges),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_ranges() {
        let len = 1000;
        assert_eq!(
            parse_range(Some("bytes=0-9,20-29"), len),
            RangeRequest::Multi(vec![(0, 10), (20, 30)])
        );
        // Order as asked, suffixes and open ends included.
        assert_eq!(
            parse_range(Some("bytes=-5, 100-199 ,0-0"), len),
            RangeRequest::Multi(vec![(995, 1000), (100, 200), (0, 1)])
        );
        // Empty list elements are skipped.
        assert_eq!(
            parse_range(Some("bytes=,0-1,,5-6,"), len),
            RangeRequest::Multi(vec![(0, 2), (5, 7)])
        );
        // An unsatisfiable one among satisfiable ones is dropped.
        assert_eq!(
            parse_range(Some("bytes=0-1,5000-6000,5-6"), len),
            RangeRequest::Multi(vec![(0, 2), (5, 7)])
        );
        assert_eq!(
            parse_range(Some("bytes=5000-6000,-0"), len),
            RangeRequest::Unsatisfiable
        );
        // One malformed element makes the header invalid: ignored.
        assert_eq!(parse_range(Some("bytes=0-1,x-2"), len), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=0-1,9-5"), len), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=,"), len), RangeRequest::Full);
        // Sixteen ranges are answered, seventeen are not.
        let many = |n: u64| {
            let list: Vec<String> = (0..n)
                .map(|i| format!("{}-{}", i * 10, i * 10 + 1))
                .collect();
            format!("bytes={}", list.join(","))
        };
        match parse_range(Some(&many(16)), len) {
            RangeRequest::Multi(r) => assert_eq!(r.len(), 16),
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_range(Some(&many(17)), len), RangeRequest::Full);
    }

    #[test]
    fn overlapping_ranges_coalesce() {
        let len = 1000;
        assert_eq!(
            parse_range(Some("bytes=0-9,10-19"), len),
            RangeRequest::Partial(0, 20)
        );
        assert_eq!(
            parse_range(Some("bytes=50-59,0-9,5-52"), len),
            RangeRequest::Partial(0, 60)
        );
        // The merge of a later range reaches back to join two kept ones.
        assert_eq!(
            parse_range(Some("bytes=0-9,100-109,5-104,500-"), len),
            RangeRequest::Multi(vec![(0, 110), (500, 1000)])
        );
        assert_eq!(
            parse_range(Some("bytes=100-109,0-9,8-101"), len),
            RangeRequest::Partial(0, 110)
        );
        assert_eq!(
            coalesce(vec![(0, 5), (10, 15), (20, 25), (4, 21)]),
            vec![(0, 25)]
        );
        assert_eq!(
            coalesce(vec![(20, 25), (0, 5), (10, 15), (14, 20)]),
            vec![(10, 25), (0, 5)]
        );
    }
}
