//! node-semver's version grammar (7.8.6), strict and loose, with its limits.

use std::cmp::Ordering;
use std::fmt;

use serde::{Serialize, Serializer};

use crate::js::{self, MAX_SAFE_INTEGER};

/// node-semver's `MAX_LENGTH`: longer version strings are rejected.
pub(crate) const MAX_LENGTH: usize = 256;
/// Longest run node-semver's (safe) regular expressions accept for a digit run.
const MAX_DIGITS: usize = 256;
/// Longest letter/digit/hyphen run after the first character of an identifier.
const MAX_IDENT_TAIL: usize = 250;

/// One dot-separated pre-release identifier.
///
/// An all-digit identifier whose value is below 2^53 − 1 is numeric, exactly
/// as node-semver turns it into a JavaScript number. Larger all-digit
/// identifiers stay strings ([`Identifier::Alpha`]), as upstream does.
///
/// ```
/// use balena_semver::{prerelease, Identifier};
/// assert_eq!(
///     prerelease("2.0.0-rc.1.rev1"),
///     Some(vec![Identifier::Alpha("rc".into()), Identifier::Numeric(1)])
/// );
/// assert_eq!(Identifier::Numeric(7).to_string(), "7");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// An all-digit identifier below 2^53 − 1, held as its value.
    Numeric(u64),
    /// Any other identifier (including all-digit ones of 2^53 − 1 and above).
    Alpha(String),
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identifier::Numeric(n) => write!(f, "{n}"),
            Identifier::Alpha(s) => f.write_str(s),
        }
    }
}

impl Serialize for Identifier {
    /// Numbers as JSON numbers and the rest as strings, like upstream's JSON.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Identifier::Numeric(n) => serializer.serialize_u64(*n),
            Identifier::Alpha(s) => serializer.serialize_str(s),
        }
    }
}

impl Identifier {
    /// Build an identifier the way node-semver does from a valid piece.
    pub(crate) fn from_piece(piece: &str) -> Identifier {
        if !piece.is_empty() && piece.bytes().all(|b| b.is_ascii_digit()) {
            let value = js::digits_to_f64(piece);
            if value < MAX_SAFE_INTEGER as f64 {
                // Below 2^53 the double is exact.
                return Identifier::Numeric(value as u64);
            }
        }
        Identifier::Alpha(piece.to_owned())
    }

    /// node-semver's `compareIdentifiers`: numbers below strings, numbers
    /// (and all-digit strings) by value as doubles, other strings by UTF-16
    /// code unit (they are ASCII here, so bytewise).
    pub(crate) fn compare(&self, other: &Identifier) -> Ordering {
        match (self, other) {
            (Identifier::Numeric(a), Identifier::Numeric(b)) => a.cmp(b),
            _ => {
                let a_num = self.numeric_value();
                let b_num = other.numeric_value();
                match (a_num, b_num) {
                    (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => match (self, other) {
                        (Identifier::Alpha(a), Identifier::Alpha(b)) => js::cmp_utf16(a, b),
                        // A numeric identifier always has a numeric value.
                        _ => Ordering::Equal,
                    },
                }
            }
        }
    }

    /// The value JavaScript's `+id` gives when `id` is all digits.
    fn numeric_value(&self) -> Option<f64> {
        match self {
            Identifier::Numeric(n) => Some(*n as f64),
            Identifier::Alpha(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                Some(js::digits_to_f64(s))
            }
            Identifier::Alpha(_) => None,
        }
    }
}

/// The result of node-semver's version parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Semver {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub prerelease: Vec<Identifier>,
    /// The build metadata after `+`, empty when there is none (identifiers
    /// are split on demand; the hot paths never need them as strings).
    pub build: String,
}

/// Why node-semver rejected a version string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Longer than 256 UTF-16 code units.
    TooLong,
    /// Does not match the grammar.
    Malformed,
    /// A major, minor or patch number is above 2^53 − 1.
    TooLarge,
}

impl Semver {
    /// The build identifiers, in order.
    pub fn build_ids(&self) -> impl Iterator<Item = &str> + Clone {
        self.build.split('.').filter(|_| !self.build.is_empty())
    }

    /// `version` as node-semver formats it: `M.m.p[-pre]`.
    pub fn version_string(&self) -> String {
        // itoa instead of `format!`: this runs for every parsed version and
        // the formatting machinery was a tenth of the SDK's decode time.
        let mut digits = itoa::Buffer::new();
        let mut out = String::with_capacity(16);
        out.push_str(digits.format(self.major));
        out.push('.');
        out.push_str(digits.format(self.minor));
        out.push('.');
        out.push_str(digits.format(self.patch));
        for (i, id) in self.prerelease.iter().enumerate() {
            out.push(if i == 0 { '-' } else { '.' });
            match id {
                Identifier::Numeric(n) => out.push_str(digits.format(*n)),
                Identifier::Alpha(s) => out.push_str(s),
            }
        }
        out
    }

    /// node-semver `SemVer.compare`: main triple, then pre-release (build
    /// ignored). Note upstream's quirk, kept here: when two all-digit string
    /// identifiers are equal as doubles the comparison stops at them with 0.
    pub fn precedence(&self, other: &Semver) -> Ordering {
        self.major
            .cmp(&other.major)
            .then(self.minor.cmp(&other.minor))
            .then(self.patch.cmp(&other.patch))
            .then_with(|| compare_prerelease(&self.prerelease, &other.prerelease))
    }
}

/// node-semver `comparePre`.
pub(crate) fn compare_prerelease(a: &[Identifier], b: &[Identifier]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (false, true) => return Ordering::Less,
        (true, false) => return Ordering::Greater,
        (false, false) => {}
    }
    let mut i = 0;
    loop {
        match (a.get(i), b.get(i)) {
            (None, None) => return Ordering::Equal,
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (Some(x), Some(y)) if x == y => i += 1,
            // Upstream returns here even when the identifiers compare equal.
            (Some(x), Some(y)) => return x.compare(y),
        }
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// Does `piece` match node-semver's pre-release identifier pattern
/// `\d{0,256}[a-zA-Z-][a-zA-Z0-9-]{0,250}` or the numeric alternative (strict:
/// `0|[1-9]\d{0,256}`, loose: `\d{1,256}`), as a whole?
fn is_prerelease_piece(piece: &[u8], loose: bool) -> bool {
    if piece.is_empty() || !piece.iter().all(|&b| is_ident_byte(b)) {
        return false;
    }
    let digits = piece.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits < piece.len() {
        // Non-numeric: the first non-digit is a letter or '-', then a tail.
        return digits <= MAX_DIGITS && piece.len() - digits - 1 <= MAX_IDENT_TAIL;
    }
    if loose {
        digits <= MAX_DIGITS
    } else {
        piece == b"0" || (piece[0] != b'0' && digits <= MAX_DIGITS + 1)
    }
}

/// A dot-separated list, each piece matching `piece_ok`, as a whole.
fn is_dotted(s: &[u8], piece_ok: impl Fn(&[u8]) -> bool) -> bool {
    !s.is_empty() && s.split(|&b| b == b'.').all(piece_ok)
}

fn is_build_piece(piece: &[u8]) -> bool {
    !piece.is_empty() && piece.len() <= MAX_IDENT_TAIL && piece.iter().all(|&b| is_ident_byte(b))
}

/// Full-match the tail after the patch number against
/// `(?:PRERELEASE)?(?:BUILD)?` and return the (pre-release, build) texts.
///
/// Strict: `-(ids)`; loose: `-?(ids)` where an identifier may also begin the
/// list without a hyphen.
pub(crate) fn match_tail(rest: &str, loose: bool) -> Option<(Option<&str>, Option<&str>)> {
    if rest.is_empty() {
        return Some((None, None));
    }
    let (pre_part, build_part) = match rest.find('+') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if let Some(b) = build_part
        && !is_dotted(b.as_bytes(), is_build_piece)
    {
        return None;
    }
    if pre_part.is_empty() {
        return Some((None, build_part));
    }
    let pre_ok = |p: &str| is_dotted(p.as_bytes(), |x| is_prerelease_piece(x, loose));
    if let Some(after_hyphen) = pre_part.strip_prefix('-')
        && pre_ok(after_hyphen)
    {
        return Some((Some(after_hyphen), build_part));
    }
    if loose && pre_ok(pre_part) {
        return Some((Some(pre_part), build_part));
    }
    None
}

/// Parse a version string with node-semver's rules (`new SemVer(v, {loose})`),
/// including its 256-code-unit limit (checked before trimming).
pub(crate) fn parse_semver(version: &str, loose: bool) -> Result<Semver, Rejection> {
    parse_impl(version, loose, true)
}

/// [`parse_semver`] without keeping the build metadata (range tests ignore
/// it, and skipping it saves an allocation on the `satisfies` hot path).
pub(crate) fn parse_semver_without_build(version: &str, loose: bool) -> Result<Semver, Rejection> {
    parse_impl(version, loose, false)
}

fn parse_impl(version: &str, loose: bool, keep_build: bool) -> Result<Semver, Rejection> {
    if js::utf16_len(version) > MAX_LENGTH {
        return Err(Rejection::TooLong);
    }
    let t = js::trim(version);
    let bytes = t.as_bytes();
    let mut i = 0;
    if loose {
        // `[v=\s]*`
        while i < t.len() {
            let c = t[i..].chars().next().unwrap_or('\0');
            if c == 'v' || c == '=' || js::is_js_whitespace(c) {
                i += c.len_utf8();
            } else {
                break;
            }
        }
    } else if bytes.first() == Some(&b'v') {
        i = 1;
    }
    let mut nums = [0u64; 3];
    for (part, slot) in nums.iter_mut().enumerate() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let run = &t[start..i];
        if run.is_empty() {
            return Err(Rejection::Malformed);
        }
        if part < 2 {
            if !loose && run.len() > 1 && run.starts_with('0') {
                return Err(Rejection::Malformed);
            }
            if run.len() > MAX_DIGITS + usize::from(!loose) || bytes.get(i) != Some(&b'.') {
                return Err(Rejection::Malformed);
            }
            *slot = number(run)?;
            i += 1;
        } else {
            // The patch: the tail must follow it; in loose mode a shorter
            // patch can leave digits to start the pre-release.
            let tail = &t[i..];
            if !loose {
                if (run.len() > 1 && run.starts_with('0')) || run.len() > MAX_DIGITS + 1 {
                    return Err(Rejection::Malformed);
                }
                let (pre, build) = match_tail(tail, false).ok_or(Rejection::Malformed)?;
                *slot = number(run)?;
                return finish(nums, pre, build.filter(|_| keep_build));
            }
            let mut k = run.len().min(MAX_DIGITS);
            while k >= 1 {
                let rest = &t[start + k..];
                if let Some((pre, build)) = match_tail(rest, true) {
                    *slot = number(&run[..k])?;
                    return finish(nums, pre, build.filter(|_| keep_build));
                }
                k -= 1;
            }
            return Err(Rejection::Malformed);
        }
    }
    Err(Rejection::Malformed)
}

fn number(digits: &str) -> Result<u64, Rejection> {
    let value = js::digits_to_f64(digits);
    if value > MAX_SAFE_INTEGER as f64 {
        return Err(Rejection::TooLarge);
    }
    Ok(value as u64)
}

fn finish(nums: [u64; 3], pre: Option<&str>, build: Option<&str>) -> Result<Semver, Rejection> {
    Ok(Semver {
        major: nums[0],
        minor: nums[1],
        patch: nums[2],
        prerelease: pre
            .map(|p| p.split('.').map(Identifier::from_piece).collect())
            .unwrap_or_default(),
        build: build.map(str::to_owned).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(v: &str) -> Option<String> {
        parse_semver(v, false).ok().map(|s| s.version_string())
    }

    fn loose(v: &str) -> Option<String> {
        parse_semver(v, true).ok().map(|s| s.version_string())
    }

    #[test]
    fn strict_grammar() {
        assert_eq!(strict("1.2.3"), Some("1.2.3".into()));
        assert_eq!(strict(" v1.2.3-rc.1+b.2 "), Some("1.2.3-rc.1".into()));
        assert_eq!(strict("1.2.3-00"), None);
        assert_eq!(strict("1.2.3-0a"), Some("1.2.3-0a".into()));
        assert_eq!(strict("01.2.3"), None);
        assert_eq!(strict("1.0.0-rc..1"), None);
        assert_eq!(strict("2.88.4-"), None);
        assert_eq!(strict("2.0.0+rev1+prod"), None);
        assert_eq!(strict("2.0.0++rev1"), None);
        assert_eq!(
            strict("9007199254740991.0.0"),
            Some("9007199254740991.0.0".into())
        );
        assert_eq!(strict("9007199254740992.0.0"), None);
        assert_eq!(strict("=1.2.3"), None);
        assert_eq!(strict("1.2.3beta"), None);
    }

    #[test]
    fn loose_grammar() {
        assert_eq!(loose("=v1.2.3"), Some("1.2.3".into()));
        assert_eq!(loose("1.2.3beta"), Some("1.2.3-beta".into()));
        assert_eq!(loose("01.02.03"), Some("1.2.3".into()));
        assert_eq!(loose("1.2.3-01"), Some("1.2.3-1".into()));
        // The patch gives digits back to the pre-release to make a match.
        assert_eq!(loose("1.2.34.5"), Some("1.2.3-4.5".into()));
        assert_eq!(loose("1.2.3-"), Some("1.2.3--".into()));
    }

    #[test]
    fn numeric_identifiers_stop_below_max_safe() {
        let p = parse_semver("1.2.3-9007199254740990.9007199254740991", false).unwrap();
        assert_eq!(
            p.prerelease,
            vec![
                Identifier::Numeric(9_007_199_254_740_990),
                Identifier::Alpha("9007199254740991".into())
            ]
        );
    }
}
