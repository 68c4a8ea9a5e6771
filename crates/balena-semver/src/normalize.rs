//! balena-semver's input normalisation (spec Part A.2).
//!
//! Every step reproduces one regular-expression `replace` of the upstream
//! library, including which occurrence is rewritten (the leftmost match) and
//! the ASCII-only case folding of JavaScript's non-Unicode `/i` flag. The
//! steps are written as direct scans instead of regular expressions so that
//! the hot comparison path does not allocate when nothing changes.

use std::borrow::Cow;

use crate::js::{self, is_js_whitespace, is_word_byte};

/// Normalise a version string the way balena-semver does before handing it
/// to node-semver.
pub(crate) fn normalize(input: &str) -> Cow<'_, str> {
    let mut s = Cow::Borrowed(js::trim(input));
    underscore_build(&mut s);
    dot_rev(&mut s);
    dot_variant(&mut s);
    parenthesised(&mut s, b"-.", b'+');
    parenthesised(&mut s, b"-+.", b'.');
    leading_zeros(&mut s);
    remove_os_name(&mut s);
    trailing_parenthesised(&mut s);
    if s.starts_with('v') {
        match s {
            Cow::Borrowed(b) => s = Cow::Borrowed(&b[1..]),
            Cow::Owned(ref mut o) => {
                o.remove(0);
            }
        }
    }
    s
}

/// Replace the single ASCII byte at `at` (a char boundary) with `with`.
fn set_byte(s: &mut Cow<'_, str>, at: usize, with: char) {
    let owned = s.to_mut();
    owned.replace_range(at..at + 1, with.encode_utf8(&mut [0; 4]));
}

/// If `bytes[..end]` ends with `D.D.D` (three non-empty ASCII digit runs
/// separated by dots), return true.
fn ends_with_triple(bytes: &[u8], end: usize) -> bool {
    let mut i = end;
    for part in 0..3 {
        let run_end = i;
        while i > 0 && bytes[i - 1].is_ascii_digit() {
            i -= 1;
        }
        if i == run_end {
            return false;
        }
        if part < 2 {
            if i == 0 || bytes[i - 1] != b'.' {
                return false;
            }
            i -= 1;
        }
    }
    true
}

/// Step 2: `/([0-9]+\.[0-9]+\.[0-9]+)_(\w+)/` → `$1+$2`.
fn underscore_build(s: &mut Cow<'_, str>) {
    let bytes = s.as_bytes();
    if !bytes.contains(&b'_') {
        return;
    }
    let hit = (0..bytes.len()).find(|&k| {
        bytes[k] == b'_'
            && bytes.get(k + 1).is_some_and(|&b| is_word_byte(b))
            && ends_with_triple(bytes, k)
    });
    if let Some(k) = hit {
        set_byte(s, k, '+');
    }
}

/// Step 3: `/(\.[0-9]+)\.rev/` → `$1+rev`.
fn dot_rev(s: &mut Cow<'_, str>) {
    let bytes = s.as_bytes();
    if !has_pair(bytes, b'r', b'e') {
        return;
    }
    let mut hit = None;
    for i in 0..bytes.len() {
        if bytes[i] != b'.' {
            continue;
        }
        let mut j = i + 1;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
        if j > i + 1 && starts_with_bytes(bytes, j, b".rev") {
            hit = Some(j);
            break;
        }
    }
    if let Some(j) = hit {
        set_byte(s, j, '+');
    }
}

/// Is `a` directly followed by `b` somewhere in `bytes`? (A cheap filter;
/// `str::contains` sets up a full substring searcher.)
fn has_pair(bytes: &[u8], a: u8, b: u8) -> bool {
    bytes.windows(2).any(|w| w[0] == a && w[1] == b)
}

/// Does `bytes[at..]` start with `word`?
fn starts_with_bytes(bytes: &[u8], at: usize, word: &[u8]) -> bool {
    bytes.len() >= at + word.len() && word.iter().enumerate().all(|(i, &c)| bytes[at + i] == c)
}

/// Does `bytes[at..]` start with `word`, ignoring ASCII case?
fn starts_with_ci(bytes: &[u8], at: usize, word: &[u8]) -> bool {
    bytes.len() >= at + word.len()
        && word
            .iter()
            .enumerate()
            .all(|(i, &c)| bytes[at + i].eq_ignore_ascii_case(&c))
}

/// Step 4: `/([0-9]+\.[0-9]+\.[0-9]+)\.(dev|prod)\b/i` → `$1+$2`.
fn dot_variant(s: &mut Cow<'_, str>) {
    let bytes = s.as_bytes();
    let hit = (0..bytes.len()).find(|&k| {
        if bytes[k] != b'.' || !ends_with_triple(bytes, k) {
            return false;
        }
        [&b"dev"[..], &b"prod"[..]].iter().any(|word| {
            starts_with_ci(bytes, k + 1, word)
                && !bytes
                    .get(k + 1 + word.len())
                    .is_some_and(|&b| is_word_byte(b))
        })
    });
    if let Some(k) = hit {
        set_byte(s, k, '+');
    }
}

/// Steps 5 and 6:
/// `/([0-9]+\.[0-9]+\.[0-9]+(?:[SEP][0-9a-z]+)*) \(([0-9a-z]+)\)/i` →
/// `$1<join>$2`, with `SEP` = `-.` (step 5, join `+`) or `-+.` (step 6,
/// join `.`).
fn parenthesised(s: &mut Cow<'_, str>, seps: &[u8], join: u8) {
    let bytes = s.as_bytes();
    if !has_pair(bytes, b' ', b'(') {
        return;
    }
    let is_sep = |b: u8| seps.contains(&b);
    let is_seg = |b: u8| is_sep(b) || b.is_ascii_alphanumeric();
    let mut hit = None;
    for p in 0..bytes.len() {
        if bytes[p] != b' ' || bytes.get(p + 1) != Some(&b'(') {
            continue;
        }
        // The parenthesised word.
        let word_start = p + 2;
        let mut word_end = word_start;
        while word_end < bytes.len() && bytes[word_end].is_ascii_alphanumeric() {
            word_end += 1;
        }
        if word_end == word_start || bytes.get(word_end) != Some(&b')') {
            continue;
        }
        // The segment of [SEP alnum] bytes that ends at the space.
        let mut seg_start = p;
        while seg_start > 0 && is_seg(bytes[seg_start - 1]) {
            seg_start -= 1;
        }
        // `(?:[SEP][0-9a-z]+)*` must run from the end of the triple to `p`:
        // every separator in that tail is followed by an alphanumeric.
        // `last_bad` is the last separator in the segment that is not.
        let last_bad = (seg_start..p)
            .rev()
            .find(|&i| is_sep(bytes[i]) && !(i + 1 < p && bytes[i + 1].is_ascii_alphanumeric()));
        let tail_ok = |q: usize| q == p || (is_sep(bytes[q]) && last_bad.is_none_or(|b| q > b));
        let found = (seg_start..p).any(|i| {
            let run_start = i == seg_start || !bytes[i - 1].is_ascii_digit();
            run_start && bytes[i].is_ascii_digit() && triple_end(bytes, i, p).is_some_and(tail_ok)
        });
        if found {
            hit = Some((p, word_start, word_end));
            break;
        }
    }
    if let Some((p, word_start, word_end)) = hit {
        let mut out = String::with_capacity(s.len());
        out.push_str(&s[..p]);
        out.push(join as char);
        out.push_str(&s[word_start..word_end]);
        out.push_str(&s[word_end + 1..]);
        *s = Cow::Owned(out);
    }
}

/// Parse `D.D.D` (greedy ASCII digit runs) at `start`, not reading at or past
/// `limit`; return the end of the third run.
fn triple_end(bytes: &[u8], start: usize, limit: usize) -> Option<usize> {
    let mut i = start;
    for part in 0..3 {
        let run_start = i;
        while i < limit && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == run_start {
            return None;
        }
        if part < 2 {
            if i >= limit || bytes[i] != b'.' {
                return None;
            }
            i += 1;
        }
    }
    Some(i)
}

/// Step 7: `/([^0-9])0+([1-9]+)/` → `$1$2`: delete the first run of zeros
/// that follows a non-digit and precedes a digit 1–9.
fn leading_zeros(s: &mut Cow<'_, str>) {
    let bytes = s.as_bytes();
    let mut i = 1;
    let mut hit = None;
    while i < bytes.len() {
        if bytes[i] == b'0' && !bytes[i - 1].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i] == b'0' {
                i += 1;
            }
            if i < bytes.len() && matches!(bytes[i], b'1'..=b'9') {
                hit = Some((start, i));
                break;
            }
        } else {
            i += 1;
        }
    }
    if let Some((start, end)) = hit {
        s.to_mut().replace_range(start..end, "");
    }
}

/// Length of the JavaScript-whitespace run at the start of `s`, in bytes.
fn js_ws_prefix_len(s: &str) -> usize {
    s.char_indices()
        .find(|&(_, c)| !is_js_whitespace(c))
        .map_or(s.len(), |(i, _)| i)
}

/// If `s` starts with `/(resin|balena)\s*os\s*/i`, the match length.
fn os_name_at(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let name = if starts_with_ci(bytes, 0, b"resin") {
        5
    } else if starts_with_ci(bytes, 0, b"balena") {
        6
    } else {
        return None;
    };
    let mut i = name + js_ws_prefix_len(&s[name..]);
    if !starts_with_ci(bytes, i, b"os") {
        return None;
    }
    i += 2;
    i += js_ws_prefix_len(&s[i..]);
    Some(i)
}

/// Step 8: remove every `/(resin|balena)\s*os\s*/gi`.
fn remove_os_name(s: &mut Cow<'_, str>) {
    let bytes = s.as_bytes();
    let first = (0..bytes.len())
        .find(|&i| matches!(bytes[i], b'r' | b'R' | b'b' | b'B') && os_name_at(&s[i..]).is_some());
    let Some(first) = first else {
        return;
    };
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..first]);
    let mut i = first;
    while i < s.len() {
        if let Some(len) = os_name_at(&s[i..]) {
            i += len;
            continue;
        }
        // Copy one character (every match starts on an ASCII byte).
        let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&s[i..i + ch_len]);
        i += ch_len;
    }
    *s = Cow::Owned(out);
}

/// Step 9: remove a trailing `/\s+\(\w+\)$/`.
fn trailing_parenthesised(s: &mut Cow<'_, str>) {
    let bytes = s.as_bytes();
    if bytes.last() != Some(&b')') {
        return;
    }
    let close = bytes.len() - 1;
    let mut open = close;
    while open > 0 && is_word_byte(bytes[open - 1]) {
        open -= 1;
    }
    if open == close || open == 0 || bytes[open - 1] != b'(' {
        return;
    }
    let paren = open - 1;
    let before = &s[..paren];
    let kept = before.trim_end_matches(is_js_whitespace);
    if kept.len() == before.len() {
        return;
    }
    let keep = kept.len();
    match s {
        Cow::Borrowed(b) => *s = Cow::Borrowed(&b[..keep]),
        Cow::Owned(o) => o.truncate(keep),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[track_caller]
    fn n(input: &str, expected: &str) {
        assert_eq!(normalize(input), expected, "normalize({input:?})");
    }

    #[test]
    fn spec_examples() {
        n("6.0.1_logstream", "6.0.1+logstream");
        n("7.0.1_logstream_test", "7.0.1+logstream_test");
        n("2.0.0.rev1", "2.0.0+rev1");
        n("2.0.0-rc.1.rev1", "2.0.0-rc.1+rev1");
        n("2.0.0-rc1.rev1", "2.0.0-rc1.rev1");
        n("2.88.4.prod", "2.88.4+prod");
        n("2.88.4.PROD", "2.88.4+PROD");
        n("2.88.4.prod-x", "2.88.4+prod-x");
        n("2.88.4.production", "2.88.4.production");
        n("2.0.1 (prod)", "2.0.1+prod");
        n("2.3.0-a.b.c (prod)", "2.3.0-a.b.c+prod");
        n("2.0.0+build.1.2.3 (dev)", "2.0.0+build.1.2.3+dev");
        n("2.0.0+rev3 (dev)", "2.0.0+rev3.dev");
        n("1.01.1", "1.1.1");
        n("2019.04.0", "2019.4.0");
        n("1.02.03", "1.2.03");
        n("01.01.01", "01.1.01");
        n("2.0.0+rev00", "2.0.0+rev00");
        n("Linux 14.04", "Linux 14.4");
        n("2.88.4 balenaOS", "2.88.4 ");
        n("foo balenaOS 2.88.4", "foo 2.88.4");
        n("Reſin OS 2.0.0", "Reſin OS 2.0.0");
        n("2.88.4  (prod)", "2.88.4");
        n("2.88.4 (foo_bar)", "2.88.4");
        n("2.88.4 (foo-bar)", "2.88.4 (foo-bar)");
        n("vv2.88.4", "v2.88.4");
        n("v 2.88.4", " 2.88.4");
        n("  Resin OS 1.16.0", "1.16.0");
        n("\u{85}2.0.0", "\u{85}2.0.0");
        n("balenaOS\u{85}2.0.0", "\u{85}2.0.0");
        n("2.0.0\u{a0}balenaOS", "2.0.0\u{a0}");
        n("Resin OS 1.8.0 (fido)", "1.8.0+fido");
        n("2.88.4+rev1 (dev)", "2.88.4+rev1.dev");
    }
}
