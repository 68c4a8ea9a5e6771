//! node-semver 7.8.6 ranges, as `satisfies(v, range, {loose: true})` reads
//! them.
//!
//! node-semver desugars a range by a chain of text rewrites (hyphen ranges,
//! operator spacing, tildes, carets, x-ranges, stars) and then parses what
//! is left as comparators, silently dropping anything it cannot read. This
//! module reproduces that chain step by step on the text, so that odd inputs
//! (`2.0.0 && 3.0.0`, `< Resin OS v1.0.0`, `2.0.0 ||`) come out the same.
//! Only loose mode without `includePrerelease` is implemented, since that is
//! the only mode balena-semver uses.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;

use crate::js;
use crate::parse::{self, Semver, match_tail, parse_semver};

/// Why a range was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Nothing in the range could be read as a comparator.
    #[error("invalid range {0:?}: no comparator could be read")]
    Empty(String),
    /// A comparator names a version node-semver refuses (too long, or a
    /// number above 2^53 − 1).
    #[error("invalid range {range:?}: bad version in comparator {comparator:?}")]
    BadVersion {
        /// The whole range, after whitespace collapsing.
        range: String,
        /// The comparator that failed.
        comparator: String,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `=` or no operator.
    Eq,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `>`
    Gt,
    /// `>=`
    Gte,
}

impl Operator {
    fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "",
            Operator::Lt => "<",
            Operator::Lte => "<=",
            Operator::Gt => ">",
            Operator::Gte => ">=",
        }
    }
}

/// One comparator of a range: an operator and a version, or "any".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparator {
    op: Operator,
    /// `None` is node-semver's `ANY` (the empty comparator).
    semver: Option<Semver>,
    /// `operator + version`, node-semver's `value`.
    value: String,
}

impl Comparator {
    /// The operator (meaningless for the "any" comparator).
    pub fn operator(&self) -> Operator {
        self.op
    }

    /// Does this comparator accept every version?
    pub fn is_any(&self) -> bool {
        self.semver.is_none()
    }

    fn test(&self, v: &Semver) -> bool {
        let Some(bound) = &self.semver else {
            return true;
        };
        let ord = v.precedence(bound);
        match self.op {
            Operator::Eq => ord.is_eq(),
            Operator::Lt => ord.is_lt(),
            Operator::Lte => ord.is_le(),
            Operator::Gt => ord.is_gt(),
            Operator::Gte => ord.is_ge(),
        }
    }
}

impl fmt::Display for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// A parsed node-semver range (loose mode): alternatives of comparator sets.
///
/// ```
/// use balena_semver::{Range, Version};
/// let range: Range = "^2.0.0 || ~6.0".parse().unwrap();
/// assert_eq!(range.to_string(), ">=2.0.0 <3.0.0-0||>=6.0.0 <6.1.0-0");
/// let v: Version = "balenaOS 2.88.4+rev1.prod".parse().unwrap();
/// assert!(range.test(&v));
/// assert!(!range.test_str("6.1.0"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    set: Vec<Vec<Comparator>>,
}

impl Range {
    /// Parse a range the way `new Range(range, {loose: true})` does.
    pub fn parse(range: &str) -> Result<Range, RangeError> {
        parse_range(range)
    }

    /// Does the already-parsed version satisfy this range?
    pub fn test(&self, version: &crate::Version) -> bool {
        self.test_semver(version.semver())
    }

    /// Normalise `version` as balena-semver does and test it; an invalid
    /// version never satisfies.
    pub fn test_str(&self, version: &str) -> bool {
        let normalized = crate::normalize::normalize(version);
        match parse::parse_semver_without_build(&normalized, false) {
            Ok(v) => self.test_semver(&v),
            Err(_) => false,
        }
    }

    /// The alternatives (`||`), each a conjunction of comparators.
    pub fn alternatives(&self) -> &[Vec<Comparator>] {
        &self.set
    }

    pub(crate) fn test_semver(&self, v: &Semver) -> bool {
        self.set.iter().any(|set| test_set(set, v))
    }
}

impl fmt::Display for Range {
    /// node-semver's desugared form (`range.range`); `validRange` shows an
    /// empty one as `*`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, set) in self.set.iter().enumerate() {
            if i > 0 {
                f.write_str("||")?;
            }
            for (k, c) in set.iter().enumerate() {
                if k > 0 {
                    f.write_str(" ")?;
                }
                f.write_str(&c.value)?;
            }
        }
        Ok(())
    }
}

impl FromStr for Range {
    type Err = RangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Range::parse(s)
    }
}

/// How many parsed ranges each thread keeps (node-semver keeps 1000 too).
const CACHE_CAPACITY: usize = 1000;

/// FNV-1a: range strings are short, so a simple hash beats SipHash here
/// (the cache is private and per-thread; no untrusted flooding concern
/// beyond its fixed capacity).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type RangeCache = HashMap<String, Option<Range>, BuildHasherDefault<Fnv>>;

thread_local! {
    static CACHE: RefCell<RangeCache> = RefCell::new(RangeCache::default());
}

/// Run `f` on the parsed range (`None` if invalid), parsing through a small
/// per-thread cache: callers such as `satisfies` see the same few ranges
/// over and over. Parsing is a pure function of the text, so the cache
/// cannot change an answer.
pub(crate) fn with_cached<T>(range: &str, f: impl FnOnce(Option<&Range>) -> T) -> T {
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        if let Some(hit) = cache.get(range) {
            return f(hit.as_ref());
        }
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        let parsed = Range::parse(range).ok();
        let out = f(parsed.as_ref());
        cache.insert(range.to_owned(), parsed);
        out
    })
}

/// node-semver `testSet` without `includePrerelease`.
fn test_set(set: &[Comparator], v: &Semver) -> bool {
    if !set.iter().all(|c| c.test(v)) {
        return false;
    }
    if v.prerelease.is_empty() {
        return true;
    }
    set.iter().any(|c| {
        c.semver.as_ref().is_some_and(|a| {
            !a.prerelease.is_empty()
                && a.major == v.major
                && a.minor == v.minor
                && a.patch == v.patch
        })
    })
}

// ---------------------------------------------------------------------------
// Parsing: the rewrite chain.

fn parse_range(range: &str) -> Result<Range, RangeError> {
    // Trim, then collapse every run of JavaScript whitespace to one space.
    let mut raw = String::with_capacity(range.len());
    let mut in_ws = false;
    for c in js::trim(range).chars() {
        if js::is_js_whitespace(c) {
            if !in_ws {
                raw.push(' ');
            }
            in_ws = true;
        } else {
            raw.push(c);
            in_ws = false;
        }
    }
    let mut set = Vec::new();
    for alternative in raw.split("||") {
        let comps = parse_alternative(alternative.trim_matches(' '), &raw)?;
        if !comps.is_empty() {
            set.push(comps);
        }
    }
    if set.is_empty() {
        return Err(RangeError::Empty(raw));
    }
    if set.len() > 1 {
        let first = set[0].clone();
        set.retain(|c| !is_null_set(&c[0]));
        if set.is_empty() {
            set = vec![first];
        } else if set.len() > 1
            && let Some(any) = set.iter().find(|c| c.len() == 1 && c[0].is_any())
        {
            set = vec![any.clone()];
        }
    }
    Ok(Range { set })
}

fn is_null_set(c: &Comparator) -> bool {
    c.value == "<0.0.0-0"
}

/// node-semver `parseRange` for one `||` alternative (loose).
fn parse_alternative(alt: &str, raw: &str) -> Result<Vec<Comparator>, RangeError> {
    let s = strip_builds(alt);
    let s = hyphen_replace(&s).unwrap_or(s);
    let s = trim_comparator_whitespace(&s);
    let s = trim_operator_space(&s, "~", true);
    let s = trim_operator_space(&s, "^", false);

    let joined = s
        .split(' ')
        .map(parse_comparator)
        .collect::<Vec<_>>()
        .join(" ");
    let mut comparators = Vec::new();
    for comp in js::split_space_runs(&joined) {
        let comp = comp.trim_matches(' ');
        let comp = if comp == ">=0.0.0" { "" } else { comp };
        let Some(m) = match_comparator(comp) else {
            // Loose mode drops what it cannot read.
            continue;
        };
        comparators.push(build_comparator(m, raw)?);
    }
    let mut out: Vec<Comparator> = Vec::new();
    // A Map keyed by value: the first position, the last object.
    let mut position: HashMap<String, usize> = HashMap::new();
    for comp in comparators {
        if is_null_set(&comp) {
            return Ok(vec![comp]);
        }
        match position.get(&comp.value) {
            Some(&i) => out[i] = comp,
            None => {
                position.insert(comp.value.clone(), out.len());
                out.push(comp);
            }
        }
    }
    if out.len() > 1 {
        out.retain(|c| !c.value.is_empty());
    }
    Ok(out)
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// Remove every `\+[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*` (unbounded).
fn strip_builds(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copy_from = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'+' && bytes.get(i + 1).is_some_and(|&b| is_ident_byte(b)) {
            let mut end = i + 1;
            while end < bytes.len() && is_ident_byte(bytes[end]) {
                end += 1;
            }
            while bytes.get(end) == Some(&b'.')
                && bytes.get(end + 1).is_some_and(|&b| is_ident_byte(b))
            {
                end += 1;
                while end < bytes.len() && is_ident_byte(bytes[end]) {
                    end += 1;
                }
            }
            out.push_str(&s[copy_from..i]);
            copy_from = end;
            i = end;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[copy_from..]);
    out
}

/// The captures of node-semver's loose x-range version
/// `[v=\s]*(XID)(?:\.(XID)(?:\.(XID)(?:PRERELEASELOOSE)?(?:BUILD)?)?)?`.
#[derive(Debug, Clone, Copy)]
struct XVersion<'a> {
    /// The whole match, including its `[v=\s]*` prefix.
    all: &'a str,
    major: &'a str,
    minor: Option<&'a str>,
    patch: Option<&'a str>,
    prerelease: Option<&'a str>,
}

fn is_x(id: Option<&str>) -> bool {
    match id {
        None => true,
        Some(s) => s.is_empty() || s.eq_ignore_ascii_case("x") || s == "*",
    }
}

/// Full-match one `XID` (`\d{1,256}|x|X|\*`) at the start of `s`, when it
/// must be followed by `.` or the end: its length.
fn xid_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > 0 {
        return (digits <= 256).then_some(digits);
    }
    matches!(bytes.first(), Some(b'x' | b'X' | b'*')).then_some(1)
}

/// Full-match `s` (no spaces) against the x-range version pattern.
fn match_xversion(s: &str) -> Option<XVersion<'_>> {
    let core_start = s
        .bytes()
        .position(|b| !matches!(b, b'v' | b'=' | b' '))
        .unwrap_or(s.len());
    let core = &s[core_start..];
    let m_len = xid_len(core)?;
    let major = &core[..m_len];
    let mut out = XVersion {
        all: s,
        major,
        minor: None,
        patch: None,
        prerelease: None,
    };
    let rest = &core[m_len..];
    if rest.is_empty() {
        return Some(out);
    }
    let rest = rest.strip_prefix('.')?;
    let n_len = xid_len(rest)?;
    out.minor = Some(&rest[..n_len]);
    let rest = &rest[n_len..];
    if rest.is_empty() {
        return Some(out);
    }
    let rest = rest.strip_prefix('.')?;
    let bytes = rest.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        if !matches!(bytes.first(), Some(b'x' | b'X' | b'*')) {
            return None;
        }
        let (pre, _build) = match_tail(&rest[1..], true)?;
        out.patch = Some(&rest[..1]);
        out.prerelease = pre;
        return Some(out);
    }
    // Greedy digits, giving some back if that lets the tail match.
    let mut k = digits.min(256);
    while k >= 1 {
        if let Some((pre, _build)) = match_tail(&rest[k..], true) {
            out.patch = Some(&rest[..k]);
            out.prerelease = pre;
            return Some(out);
        }
        k -= 1;
    }
    None
}

/// `+id + 1` printed as JavaScript prints numbers.
fn plus_one(id: &str) -> String {
    js::number_to_string(js::digits_to_f64(id) + 1.0)
}

/// `^\s{0,1}(X)\s{1,1}-\s{1,1}(X)\s{0,1}$` → `>=from <=to` and friends.
fn hyphen_replace(s: &str) -> Option<String> {
    let body = s.strip_prefix(' ').unwrap_or(s);
    // First x-range: its prefix, then a space-free core up to " - ".
    let core_start = body
        .bytes()
        .position(|b| !matches!(b, b'v' | b'=' | b' '))
        .unwrap_or(body.len());
    let sep = core_start + body[core_start..].find(' ')?;
    let from = match_xversion(&body[..sep])?;
    let after = body[sep..].strip_prefix(" - ")?;
    let after = after.strip_suffix(' ').unwrap_or(after);
    let to_core_start = after
        .bytes()
        .position(|b| !matches!(b, b'v' | b'=' | b' '))
        .unwrap_or(after.len());
    if after[to_core_start..].contains(' ') {
        return None;
    }
    let to = match_xversion(after)?;

    let from_s = if is_x(Some(from.major)) {
        String::new()
    } else if is_x(from.minor) {
        format!(">={}.0.0", from.major)
    } else if is_x(from.patch) {
        format!(">={}.{}.0", from.major, from.minor.unwrap_or_default())
    } else {
        format!(">={}", from.all)
    };
    let to_s = if is_x(Some(to.major)) {
        String::new()
    } else if is_x(to.minor) {
        format!("<{}.0.0-0", plus_one(to.major))
    } else if is_x(to.patch) {
        format!(
            "<{}.{}.0-0",
            to.major,
            plus_one(to.minor.unwrap_or_default())
        )
    } else if let Some(pr) = to.prerelease {
        format!(
            "<={}.{}.{}-{}",
            to.major,
            to.minor.unwrap_or_default(),
            to.patch.unwrap_or_default(),
            pr
        )
    } else {
        format!("<={}", to.all)
    };
    Some(format!("{from_s} {to_s}").trim_matches(' ').to_owned())
}

/// `(\s{0,1})OP\s{1,1}` → `$1OP` (global), where the tilde may be `~>`.
fn trim_operator_space(s: &str, op: &str, tilde: bool) -> String {
    let bytes = s.as_bytes();
    let opb = op.as_bytes()[0];
    let mut out = String::with_capacity(s.len());
    let mut copy_from = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Try a match starting at i.
        let lead = usize::from(bytes[i] == b' ' && bytes.get(i + 1) == Some(&opb));
        let at = i + lead;
        if bytes.get(at) == Some(&opb) {
            let mut j = at + 1;
            if tilde && bytes.get(j) == Some(&b'>') && bytes.get(j + 1) == Some(&b' ') {
                j += 1;
            }
            if bytes.get(j) == Some(&b' ') {
                out.push_str(&s[copy_from..i]);
                if lead == 1 {
                    out.push(' ');
                }
                out.push_str(op);
                copy_from = j + 1;
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[copy_from..]);
    out
}

/// node-semver `parseComparator` (loose): carets, tildes, x-ranges, stars.
fn parse_comparator(comp: &str) -> String {
    let s = map_pieces(comp.trim_matches(' '), replace_caret);
    let s = map_pieces(s.trim_matches(' '), replace_tilde);
    let s = map_pieces(&s, replace_xrange);
    replace_star(s.trim_matches(' '))
}

/// `s.split(/\s+/).map(f).join(' ')`.
fn map_pieces(s: &str, f: fn(&str) -> String) -> String {
    js::split_space_runs(s)
        .into_iter()
        .map(f)
        .collect::<Vec<_>>()
        .join(" ")
}

fn replace_caret(comp: &str) -> String {
    let Some(x) = comp.strip_prefix('^').and_then(match_xversion) else {
        return comp.to_owned();
    };
    let (big_m, m, p) = (x.major, x.minor, x.patch);
    let minor = m.unwrap_or_default();
    let patch = p.unwrap_or_default();
    if is_x(Some(big_m)) {
        String::new()
    } else if is_x(m) {
        format!(">={big_m}.0.0 <{}.0.0-0", plus_one(big_m))
    } else if is_x(p) {
        if big_m == "0" {
            format!(">={big_m}.{minor}.0 <{big_m}.{}.0-0", plus_one(minor))
        } else {
            format!(">={big_m}.{minor}.0 <{}.0.0-0", plus_one(big_m))
        }
    } else {
        let low = match x.prerelease {
            Some(pr) => format!(">={big_m}.{minor}.{patch}-{pr}"),
            None => format!(">={big_m}.{minor}.{patch}"),
        };
        let high = if big_m == "0" {
            if minor == "0" {
                format!("<{big_m}.{minor}.{}-0", plus_one(patch))
            } else {
                format!("<{big_m}.{}.0-0", plus_one(minor))
            }
        } else {
            format!("<{}.0.0-0", plus_one(big_m))
        };
        format!("{low} {high}")
    }
}

fn replace_tilde(comp: &str) -> String {
    let Some(after) = comp.strip_prefix('~') else {
        return comp.to_owned();
    };
    let x = after
        .strip_prefix('>')
        .and_then(match_xversion)
        .or_else(|| match_xversion(after));
    let Some(x) = x else {
        return comp.to_owned();
    };
    let (big_m, m, p) = (x.major, x.minor, x.patch);
    let minor = m.unwrap_or_default();
    let patch = p.unwrap_or_default();
    if is_x(Some(big_m)) {
        String::new()
    } else if is_x(m) {
        format!(">={big_m}.0.0 <{}.0.0-0", plus_one(big_m))
    } else if is_x(p) {
        format!(">={big_m}.{minor}.0 <{big_m}.{}.0-0", plus_one(minor))
    } else if let Some(pr) = x.prerelease {
        format!(
            ">={big_m}.{minor}.{patch}-{pr} <{big_m}.{}.0-0",
            plus_one(minor)
        )
    } else {
        format!(">={big_m}.{minor}.{patch} <{big_m}.{}.0-0", plus_one(minor))
    }
}

/// Split a leading `(?:<|>)?=?` operator off.
fn split_gtlt(s: &str) -> (&str, &str) {
    let bytes = s.as_bytes();
    let mut i = usize::from(matches!(bytes.first(), Some(b'<' | b'>')));
    if bytes.get(i) == Some(&b'=') {
        i += 1;
    }
    s.split_at(i)
}

fn replace_xrange(comp: &str) -> String {
    let comp = comp.trim_matches(' ');
    let (gtlt, rest) = split_gtlt(comp);
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let Some(x) = match_xversion(rest) else {
        return comp.to_owned();
    };
    let (big_m, m, p) = (x.major, x.minor, x.patch);
    // invalidXRangeOrder: `x.1`, `1.x.1`.
    if (is_x(Some(big_m)) && !is_x(m)) || (is_x(m) && p.is_some() && !is_x(p)) {
        return comp.to_owned();
    }
    let xm_major = is_x(Some(big_m));
    let xm = xm_major || is_x(m);
    let xp = xm || is_x(p);
    let mut gtlt = gtlt;
    if gtlt == "=" && xp {
        gtlt = "";
    }
    if xm_major {
        return if gtlt == ">" || gtlt == "<" {
            "<0.0.0-0".to_owned()
        } else {
            "*".to_owned()
        };
    }
    if !gtlt.is_empty() && xp {
        let mut major = big_m.to_owned();
        let mut minor = if xm {
            "0".to_owned()
        } else {
            m.unwrap_or_default().to_owned()
        };
        let patch = "0";
        if gtlt == ">" {
            gtlt = ">=";
            if xm {
                major = plus_one(big_m);
                minor = "0".to_owned();
            } else {
                minor = plus_one(&minor);
            }
        } else if gtlt == "<=" {
            gtlt = "<";
            if xm {
                major = plus_one(big_m);
            } else {
                minor = plus_one(&minor);
            }
        }
        let pr = if gtlt == "<" { "-0" } else { "" };
        return format!("{gtlt}{major}.{minor}.{patch}{pr}");
    }
    if xm {
        return format!(">={big_m}.0.0 <{}.0.0-0", plus_one(big_m));
    }
    if xp {
        let minor = m.unwrap_or_default();
        return format!(">={big_m}.{minor}.0 <{big_m}.{}.0-0", plus_one(minor));
    }
    comp.to_owned()
}

/// Remove the first `(<|>)?=?\s{0,1}\*`.
fn replace_star(s: &str) -> String {
    let bytes = s.as_bytes();
    for i in 0..bytes.len() {
        let mut j = i;
        if matches!(bytes[j], b'<' | b'>') {
            j += 1;
        }
        if bytes.get(j) == Some(&b'=') {
            j += 1;
        }
        if bytes.get(j) == Some(&b' ') {
            j += 1;
        }
        if bytes.get(j) == Some(&b'*') {
            let mut out = String::with_capacity(s.len());
            out.push_str(&s[..i]);
            out.push_str(&s[j + 1..]);
            return out;
        }
    }
    s.to_owned()
}

/// The parts of a comparator accepted by
/// `^((?:<|>)?=?)\s{0,1}([v=\s]*LOOSE-VERSION)$|^$`.
struct ComparatorMatch<'a> {
    op: &'a str,
    /// Empty for "any".
    version: &'a str,
}

fn match_comparator(comp: &str) -> Option<ComparatorMatch<'_>> {
    if comp.is_empty() {
        return Some(ComparatorMatch {
            op: "",
            version: "",
        });
    }
    let (op, rest) = split_gtlt(comp);
    let version = rest.strip_prefix(' ').unwrap_or(rest);
    loose_version_matches(version).then_some(ComparatorMatch { op, version })
}

/// Does `s` full-match `[v=\s]*MAINVERSIONLOOSE PRERELEASELOOSE? BUILD?`?
fn loose_version_matches(s: &str) -> bool {
    let core_start = s
        .bytes()
        .position(|b| !matches!(b, b'v' | b'=' | b' '))
        .unwrap_or(s.len());
    let core = &s[core_start..];
    let bytes = core.as_bytes();
    let mut i = 0;
    for _ in 0..2 {
        let run = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if run == 0 || run > 256 || bytes.get(i + run) != Some(&b'.') {
            return false;
        }
        i += run + 1;
    }
    let run = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    (1..=run.min(256))
        .rev()
        .any(|k| match_tail(&core[i + k..], true).is_some())
}

fn build_comparator(m: ComparatorMatch<'_>, raw: &str) -> Result<Comparator, RangeError> {
    let op = match m.op {
        "<" => Operator::Lt,
        "<=" => Operator::Lte,
        ">" => Operator::Gt,
        ">=" => Operator::Gte,
        _ => Operator::Eq,
    };
    if m.version.is_empty() {
        return Ok(Comparator {
            op,
            semver: None,
            value: String::new(),
        });
    }
    let semver = parse_semver(m.version, true).map_err(|_| RangeError::BadVersion {
        range: raw.to_owned(),
        comparator: format!("{}{}", m.op, m.version),
    })?;
    let value = format!("{}{}", op.as_str(), semver.version_string());
    Ok(Comparator {
        op,
        semver: Some(semver),
        value,
    })
}

// ---------------------------------------------------------------------------
// node-semver's `trimComparatorWhitespace`: join an operator to its version
// (`> 1.2.3` → `>1.2.3`), scanning the text the way its old regular
// expression did.

struct Scanner<'a> {
    b: &'a [u8],
}

impl Scanner<'_> {
    fn at(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(0)
    }

    fn is_prefix(&self, i: usize) -> bool {
        matches!(self.at(i), b'v' | b'=' | b' ')
    }

    fn is_version_start(&self, i: usize) -> bool {
        matches!(self.at(i), b'0'..=b'9' | b'x' | b'X' | b'*')
    }

    fn digits_end(&self, start: usize, limit: usize) -> usize {
        if !self.at(start).is_ascii_digit() {
            return start;
        }
        let mut end = start + 1;
        while self.at(end).is_ascii_digit() {
            end += 1;
        }
        end.min(start + limit)
    }

    fn number_end(&self, start: usize, loose: bool) -> usize {
        if !loose && self.at(start) == b'0' {
            return start + 1;
        }
        let limit = if loose {
            parse::MAX_LENGTH
        } else {
            parse::MAX_LENGTH + 1
        };
        self.digits_end(start, limit)
    }

    fn prerelease_id_end(&self, start: usize, loose: bool) -> usize {
        let digits_end = self.digits_end(start, parse::MAX_LENGTH);
        let c = self.at(digits_end);
        if c.is_ascii_alphabetic() || c == b'-' {
            let mut end = digits_end + 1;
            let limit = end + 250;
            while end < limit && is_ident_byte(self.at(end)) {
                end += 1;
            }
            return end;
        }
        self.number_end(start, loose)
    }

    fn prerelease_end(&self, start: usize, loose: bool) -> usize {
        let hyphen = self.at(start) == b'-';
        if !loose && !hyphen {
            return start;
        }
        let id_start = start + usize::from(hyphen);
        let mut end = self.prerelease_id_end(id_start, loose);
        if end == id_start {
            if !loose || !hyphen {
                return start;
            }
            end = self.prerelease_id_end(start, loose);
        }
        while self.at(end) == b'.' {
            let next = self.prerelease_id_end(end + 1, loose);
            if next == end + 1 {
                break;
            }
            end = next;
        }
        end
    }

    fn build_id_end(&self, start: usize) -> usize {
        let mut end = start;
        while end - start < 250 && is_ident_byte(self.at(end)) {
            end += 1;
        }
        end
    }

    fn build_end(&self, start: usize) -> usize {
        if self.at(start) != b'+' {
            return start;
        }
        let mut end = self.build_id_end(start + 1);
        if end == start + 1 {
            return start;
        }
        while self.at(end) == b'.' {
            let next = self.build_id_end(end + 1);
            if next == end + 1 {
                break;
            }
            end = next;
        }
        end
    }

    fn loose_full_end(&self, start: usize) -> usize {
        let mut end = start;
        for component in 0..3 {
            let next = self.number_end(end, true);
            if next == end {
                return start;
            }
            end = next;
            if component < 2 {
                if self.at(end) != b'.' {
                    return start;
                }
                end += 1;
            }
        }
        let pre = self.prerelease_end(end, true);
        self.build_end(pre)
    }

    fn partial_component_end(&self, start: usize) -> usize {
        if self.at(start).is_ascii_digit() {
            self.number_end(start, false)
        } else if self.is_version_start(start) {
            start + 1
        } else {
            start
        }
    }

    fn partial_end(&self, start: usize) -> usize {
        let mut end = self.partial_component_end(start);
        for _ in 0..2 {
            if self.at(end) != b'.' {
                return end;
            }
            let next = self.partial_component_end(end + 1);
            if next == end + 1 {
                return end;
            }
            end = next;
        }
        let pre = self.prerelease_end(end, false);
        self.build_end(pre)
    }

    fn version_end(&self, start: usize) -> usize {
        let full = self.loose_full_end(start);
        if full != start {
            full
        } else {
            self.partial_end(start)
        }
    }

    fn removable_space(&self, match_start: usize) -> Option<usize> {
        let mut p = match_start;
        if self.at(p) == b' ' {
            p += 1;
        }
        if matches!(self.at(p), b'<' | b'>') {
            p += 1;
        }
        if self.at(p) == b'=' {
            p += 1;
        }
        (self.at(p) == b' ').then_some(p)
    }
}

fn trim_comparator_whitespace(s: &str) -> String {
    let sc = Scanner { b: s.as_bytes() };
    let len = s.len();
    let mut out = String::with_capacity(len);
    let mut copy_from = 0;
    let mut cursor = 0;
    while cursor < len {
        let match_start = cursor;
        if matches!(sc.at(cursor), b'<' | b'>') {
            cursor += 1;
        } else if !sc.is_prefix(cursor) && !sc.is_version_start(cursor) {
            cursor += 1;
            continue;
        }
        while cursor < len && sc.is_prefix(cursor) {
            cursor += 1;
        }
        if !sc.is_version_start(cursor) {
            continue;
        }
        if let Some(space) = sc.removable_space(match_start) {
            out.push_str(&s[copy_from..space]);
            copy_from = space + 1;
        }
        cursor = sc.version_end(cursor);
    }
    out.push_str(&s[copy_from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desugar(r: &str) -> Option<String> {
        Range::parse(r).ok().map(|r| {
            let s = r.to_string();
            if s.is_empty() { "*".to_owned() } else { s }
        })
    }

    #[test]
    fn desugars_like_node_semver() {
        assert_eq!(desugar("^2.0.0").as_deref(), Some(">=2.0.0 <3.0.0-0"));
        assert_eq!(
            desugar("~2019.04.0").as_deref(),
            Some(">=2019.4.0 <2019.5.0-0")
        );
        assert_eq!(desugar("1.2 - 2.3").as_deref(), Some(">=1.2.0 <2.4.0-0"));
        assert_eq!(desugar("2.0.0 ||").as_deref(), Some("*"));
        assert_eq!(desugar("> 2.0.0").as_deref(), Some(">2.0.0"));
        assert_eq!(desugar("<=2.0").as_deref(), Some("<2.1.0-0"));
        assert_eq!(desugar("foo"), None);
        assert_eq!(desugar("1.x.1"), None);
    }

    #[test]
    fn trims_operator_spaces() {
        assert_eq!(trim_comparator_whitespace("> 1.2.3 < 2"), ">1.2.3 <2");
        assert_eq!(trim_comparator_whitespace("> invalid"), "> invalid");
        assert_eq!(trim_operator_space("~ 1 ~> 2", "~", true), "~1 ~2");
        assert_eq!(trim_operator_space("^ 1", "^", false), "^1");
    }
}
