//! balenaOS version rules: a Rust port of `balena-semver@4.1.16` (on top of
//! `semver@7.8.6`), as specified in `shared/spec/semver-hup.md` Part A.
//!
//! balenaOS versions come in many spellings — `balenaOS 2.88.4+rev1.prod`,
//! `Resin OS 2.0.0.rev1 (dev)`, `v2.0.0`, calendar versions like
//! `2022.10.01` — and balena orders them with SemVer precedence followed by
//! the `revN` build number, a `dev` flag and finally ICU collation. This crate
//! reproduces those rules exactly, including node-semver's loose range syntax
//! for [`satisfies`] and [`max_satisfying`].
//!
//! ```
//! use std::cmp::Ordering;
//! use balena_semver::{compare, satisfies, valid, Version};
//!
//! assert_eq!(valid("Resin OS 2.0.0.rev1 (prod)").as_deref(), Some("2.0.0"));
//! assert_eq!(compare("2.0.0+rev2", "2.0.0+rev11"), Ordering::Less);
//! assert_eq!(compare("2.0.0 (dev)", "2.0.0"), Ordering::Less);
//! assert!(satisfies("balenaOS 2.88.4+rev1.prod", "^2.0.0"));
//!
//! let mut versions: Vec<Version> = ["2.88.4+rev1.prod", "v2.88.4", "2022.10.1", "2.88.4.dev"]
//!     .iter()
//!     .map(|s| s.parse().unwrap())
//!     .collect();
//! versions.sort();
//! let sorted: Vec<String> = versions.iter().map(ToString::to_string).collect();
//! assert_eq!(sorted, ["2.88.4.dev", "v2.88.4", "2.88.4+rev1.prod", "2022.10.1"]);
//! ```
//!
//! The plain functions take `&str`. JavaScript's `null`/`undefined`
//! arguments are covered by the [`nullable`] module.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

mod compare;
mod inc;
mod js;
mod normalize;
mod parse;
mod range;

pub mod nullable;
#[cfg(feature = "vectors")]
pub mod vectors;

pub use compare::Stage;
pub use inc::{ReleaseType, UnknownReleaseType};
pub use parse::Identifier;
pub use range::{Comparator, Operator, Range, RangeError};

use compare::{Parsed, Side};
use parse::{Rejection, Semver};

/// A version parsed by [`parse`]: what balena-semver's `parse` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedVersion {
    /// The original input, neither trimmed nor normalised.
    pub raw: String,
    /// The major number (at most 2^53 − 1).
    pub major: u64,
    /// The minor number (at most 2^53 − 1).
    pub minor: u64,
    /// The patch number (at most 2^53 − 1).
    pub patch: u64,
    /// Pre-release identifiers (empty for a release).
    pub prerelease: Vec<Identifier>,
    /// Build identifiers, such as `rev1`, `prod`, `dev`.
    pub build: Vec<String>,
    /// `major.minor.patch[-prerelease]`, without build or `v`.
    pub version: String,
}

impl ParsedVersion {
    fn new(raw: &str, semver: Semver) -> ParsedVersion {
        let version = semver.version_string();
        let build = semver.build_ids().map(str::to_owned).collect();
        ParsedVersion {
            raw: raw.to_owned(),
            major: semver.major,
            minor: semver.minor,
            patch: semver.patch,
            prerelease: semver.prerelease,
            build,
            version,
        }
    }

    /// [`get_revision`] of this version.
    pub fn revision(&self) -> Option<f64> {
        get_revision(self)
    }
}

/// Normalise a version string exactly as balena-semver does before handing
/// it to node-semver (spec A.2): trim, `_`/`.rev`/`.dev`/`.prod`/`(word)`
/// suffixes into build metadata, one run of leading zeros removed, `Resin OS`
/// / `balenaOS` removed, a trailing ` (word)` dropped, one leading `v` removed.
///
/// ```
/// use balena_semver::normalize;
/// assert_eq!(normalize("Resin OS 2.0.0.rev1 (prod)"), "2.0.0+rev1.prod");
/// assert_eq!(normalize("2022.10.01"), "2022.10.1");
/// assert_eq!(normalize("2.88.4 balenaOS"), "2.88.4 ");
/// ```
pub fn normalize(version: &str) -> String {
    normalize::normalize(version).into_owned()
}

/// The version part (`M.m.p[-pre]`) of a valid version, or `None`.
///
/// ```
/// use balena_semver::valid;
/// assert_eq!(valid("balenaOS 2.88.4+rev1.prod").as_deref(), Some("2.88.4"));
/// assert_eq!(valid("2.0.0-rc1.rev1").as_deref(), Some("2.0.0-rc1.rev1"));
/// assert_eq!(valid("1.2.3.4"), None);
/// ```
pub fn valid(version: &str) -> Option<String> {
    strict(&normalize::normalize(version))
        .ok()
        .map(|s| s.version_string())
}

/// Parse a version; `None` when it is not valid after normalisation.
///
/// ```
/// use balena_semver::{parse, Identifier};
/// let p = parse("Resin OS 2.0.0-rc.1.rev1").unwrap();
/// assert_eq!(p.raw, "Resin OS 2.0.0-rc.1.rev1");
/// assert_eq!(p.prerelease, vec![Identifier::Alpha("rc".into()), Identifier::Numeric(1)]);
/// assert_eq!(p.build, vec!["rev1"]);
/// assert_eq!(p.version, "2.0.0-rc.1");
/// ```
pub fn parse(version: &str) -> Option<ParsedVersion> {
    strict(&normalize::normalize(version))
        .ok()
        .map(|s| ParsedVersion::new(version, s))
}

/// The revision: the first build identifier that is exactly `rev` followed
/// by ASCII digits, as a JavaScript double (`rev99999999999999999999` gives
/// 1e20). `None` when there is none.
///
/// ```
/// use balena_semver::{get_revision, parse};
/// assert_eq!(get_revision(&parse("2.0.0+rev2.rev1").unwrap()), Some(2.0));
/// assert_eq!(get_revision(&parse("2.0.0+prev1").unwrap()), None);
/// ```
pub fn get_revision(parsed: &ParsedVersion) -> Option<f64> {
    compare::revision_of(parsed.build.iter().map(String::as_str))
}

/// The pre-release identifiers, or `None` if invalid or a release.
///
/// ```
/// use balena_semver::{prerelease, Identifier};
/// assert_eq!(prerelease("2.88.4-dev"), Some(vec![Identifier::Alpha("dev".into())]));
/// assert_eq!(prerelease("2.88.4"), None);
/// ```
pub fn prerelease(version: &str) -> Option<Vec<Identifier>> {
    let s = strict(&normalize::normalize(version)).ok()?;
    (!s.prerelease.is_empty()).then_some(s.prerelease)
}

/// The major number, or `None` if invalid.
///
/// ```
/// assert_eq!(balena_semver::major("balenaOS 2022.10.1"), Some(2022));
/// ```
pub fn major(version: &str) -> Option<u64> {
    strict(&normalize::normalize(version)).ok().map(|s| s.major)
}

/// Increment a version by a release type name (node-semver `inc`). The
/// result has no build metadata. `None` for an invalid version or unknown
/// release type.
///
/// ```
/// use balena_semver::inc;
/// assert_eq!(inc("2.0.0+rev1", "patch").as_deref(), Some("2.0.1"));
/// assert_eq!(inc("2.0.0-beta.8", "prerelease").as_deref(), Some("2.0.0-beta.9"));
/// assert_eq!(inc("2.0.0", "bogus"), None);
/// ```
pub fn inc(version: &str, release: &str) -> Option<String> {
    inc_release(version, release.parse().ok()?)
}

/// [`inc`] with a typed release type.
///
/// ```
/// use balena_semver::{inc_release, ReleaseType};
/// assert_eq!(inc_release("1.2.3-rc.1", ReleaseType::Major).as_deref(), Some("2.0.0"));
/// ```
pub fn inc_release(version: &str, release: ReleaseType) -> Option<String> {
    let mut s = strict(&normalize::normalize(version)).ok()?;
    inc::apply(&mut s, release)?;
    Some(s.version_string())
}

/// A version string after normalisation and parsing, ready to compare.
struct Prepared<'a> {
    normalized: Cow<'a, str>,
    semver: Option<Semver>,
    /// `getRevision(..) ?? 0`.
    revision: f64,
    dev: bool,
}

impl<'a> Prepared<'a> {
    fn new(input: &'a str) -> Self {
        let normalized = normalize::normalize(input);
        let semver = strict(&normalized).ok();
        let (revision, dev) = semver.as_ref().map_or((0.0, false), |s| {
            (
                compare::revision_of(s.build_ids()).unwrap_or(0.0),
                compare::is_dev(s.build_ids()),
            )
        });
        Prepared {
            normalized,
            semver,
            revision,
            dev,
        }
    }

    fn side(&self) -> Side<'_> {
        Side {
            normalized: &self.normalized,
            parsed: self.semver.as_ref().map(|s| Parsed {
                semver: s,
                revision: self.revision,
                dev: self.dev,
            }),
        }
    }
}

fn strict(normalized: &str) -> Result<Semver, Rejection> {
    parse::parse_semver(normalized, false)
}

/// balena's total order: valid versions above invalid strings, then SemVer
/// precedence, the `revN` revision, a `dev` build below others, and finally
/// ICU collation of the normalised strings. Invalid strings compare by
/// UTF-16 code units of their normalised text.
///
/// ```
/// use std::cmp::Ordering::*;
/// use balena_semver::compare;
/// assert_eq!(compare("2.0.0+rev1.dev", "2.0.0+prod"), Greater); // revision beats variant
/// assert_eq!(compare("2.0.0", "2.0.0.prod"), Less); // collation
/// assert_eq!(compare("v2.0.0", "Resin OS 2.0.0"), Equal);
/// assert_eq!(compare("Linux 14.04", "2.0.0"), Less); // invalid below valid
/// ```
pub fn compare(a: &str, b: &str) -> Ordering {
    explain(a, b).0
}

/// [`compare`], also telling which step decided.
///
/// ```
/// use std::cmp::Ordering;
/// use balena_semver::{explain, Stage};
/// assert_eq!(explain("2.0.0+rev2", "2.0.0+rev11"), (Ordering::Less, Stage::Revision));
/// ```
pub fn explain(a: &str, b: &str) -> (Ordering, Stage) {
    let pa = Prepared::new(a);
    let pb = Prepared::new(b);
    compare::compare_sides(&pa.side(), &pb.side())
}

/// The reverse of [`compare`].
///
/// ```
/// assert_eq!(balena_semver::rcompare("1.0.0", "2.0.0"), std::cmp::Ordering::Greater);
/// ```
pub fn rcompare(a: &str, b: &str) -> Ordering {
    compare(a, b).reverse()
}

/// `compare(a, b) > 0`.
pub fn gt(a: &str, b: &str) -> bool {
    compare(a, b).is_gt()
}

/// `compare(a, b) >= 0`.
pub fn gte(a: &str, b: &str) -> bool {
    compare(a, b).is_ge()
}

/// `compare(a, b) < 0`.
pub fn lt(a: &str, b: &str) -> bool {
    compare(a, b).is_lt()
}

/// `compare(a, b) <= 0`.
pub fn lte(a: &str, b: &str) -> bool {
    compare(a, b).is_le()
}

/// Does the version satisfy the node-semver range (loose mode)? The version
/// is normalised and must be valid; the range is **not** normalised (see
/// [`max_satisfying`] for the difference). An unparsable range gives false.
///
/// ```
/// use balena_semver::satisfies;
/// assert!(satisfies("2.88.4+rev1.prod", ">=2.14.0+rev1"));
/// assert!(!satisfies("2.0.0-rc1.rev1", "*")); // pre-releases need an explicit opt-in
/// assert!(satisfies("2.0.0-rc1.rev1", "^2.0.0-0"));
/// assert!(!satisfies("2.0.0", "2.0.0.rev1")); // invalid range
/// ```
pub fn satisfies(version: &str, range: &str) -> bool {
    let normalized = normalize::normalize(version);
    let Ok(v) = parse::parse_semver_without_build(&normalized, false) else {
        return false;
    };
    range::with_cached(range, |r| r.is_some_and(|r| r.test_semver(&v)))
}

/// node-semver `validRange(range, {loose: true})`: the desugared range, or
/// `None` if it is invalid.
///
/// ```
/// assert_eq!(balena_semver::valid_range("~2.88").as_deref(), Some(">=2.88.0 <2.89.0-0"));
/// assert_eq!(balena_semver::valid_range("").as_deref(), Some("*"));
/// ```
pub fn valid_range(range: &str) -> Option<String> {
    let r = Range::parse(range).ok()?;
    let s = r.to_string();
    Some(if s.is_empty() { "*".to_owned() } else { s })
}

/// The greatest element (by [`compare`]) that satisfies the range, the
/// first one among equals. Unlike [`satisfies`], the range is normalised
/// first, so `"Resin OS v1.1.*"` or `"2.0.0.rev1"` work here.
///
/// ```
/// use balena_semver::max_satisfying;
/// let list = ["2.88.4", "2.88.4+rev1", "2.88.4+rev1.prod", "2.88.4+rev1.dev"];
/// assert_eq!(max_satisfying(&list, "2.88.4"), Some(&"2.88.4+rev1.prod"));
/// assert_eq!(max_satisfying(&["Resin OS 1.1.4", "Resin OS 1.1.04"], "^1.0.0"), Some(&"Resin OS 1.1.4"));
/// ```
pub fn max_satisfying<'a, S: AsRef<str>>(versions: &'a [S], range: &str) -> Option<&'a S> {
    max_satisfying_index(versions.iter().map(|s| Some(s.as_ref())), range).map(|i| &versions[i])
}

/// Shared by [`max_satisfying`] and [`nullable::max_satisfying`]: the index
/// of the winner among `versions` (`None` entries are skipped).
pub(crate) fn max_satisfying_index<'a>(
    versions: impl Iterator<Item = Option<&'a str>>,
    range: &str,
) -> Option<usize> {
    let range = Range::parse(&normalize::normalize(range)).ok()?;
    let mut best: Option<(usize, Prepared<'a>)> = None;
    for (i, v) in versions.enumerate() {
        let Some(v) = v else { continue };
        let p = Prepared::new(v);
        let Some(semver) = &p.semver else { continue };
        if !range.test_semver(semver) {
            continue;
        }
        let better = match &best {
            None => true,
            Some((_, b)) => compare::compare_sides(&p.side(), &b.side()).0.is_gt(),
        };
        if better {
            best = Some((i, p));
        }
    }
    best.map(|(i, _)| i)
}

/// Sort strings in ascending [`compare`] order, stably (equal versions keep
/// their order, like JavaScript's `list.sort(compare)`). Each string is
/// normalised and parsed once.
///
/// ```
/// let mut list = ["2.88.4+rev1.prod", "garbage", "v2.88.4", "2.88.4.dev", "2022.10.1"];
/// balena_semver::sort(&mut list);
/// assert_eq!(list, ["garbage", "2.88.4.dev", "v2.88.4", "2.88.4+rev1.prod", "2022.10.1"]);
/// ```
pub fn sort<S: AsRef<str>>(versions: &mut [S]) {
    sort_with(versions, AsRef::as_ref, Ordering::is_lt);
}

/// Sort strings in descending [`compare`] order (`list.sort(rcompare)`),
/// stably.
///
/// ```
/// let mut list = ["1.0.0", "2.0.0", "v1.0.0"];
/// balena_semver::rsort(&mut list);
/// assert_eq!(list, ["2.0.0", "1.0.0", "v1.0.0"]);
/// ```
pub fn rsort<S: AsRef<str>>(versions: &mut [S]) {
    sort_with(versions, AsRef::as_ref, Ordering::is_gt);
}

/// Sort any items in ascending [`compare`] order of the version string
/// `key` returns, stably. Each key is normalised and parsed once, so sorting
/// n items costs n parses instead of 2·n·log n.
///
/// ```
/// struct Release { id: u32, raw_version: String }
/// let mut list = vec![
///     Release { id: 1, raw_version: "2.88.4+rev1.prod".into() },
///     Release { id: 2, raw_version: "2.9.0".into() },
/// ];
/// balena_semver::sort_by_key(&mut list, |r| r.raw_version.as_str());
/// assert_eq!(list.iter().map(|r| r.id).collect::<Vec<_>>(), [2, 1]);
/// ```
pub fn sort_by_key<T, F>(items: &mut [T], key: F)
where
    F: Fn(&T) -> &str,
{
    sort_with(items, key, Ordering::is_lt);
}

/// Sort any items in descending [`compare`] order of the version string
/// `key` returns (`list.sort((a, b) => rcompare(key(a), key(b)))`), stably.
///
/// ```
/// let mut list = vec![("a", "1.0.0"), ("b", "2.0.0"), ("c", "v1.0.0")];
/// balena_semver::rsort_by_key(&mut list, |(_, v)| v);
/// assert_eq!(list, [("b", "2.0.0"), ("a", "1.0.0"), ("c", "v1.0.0")]);
/// ```
pub fn rsort_by_key<T, F>(items: &mut [T], key: F)
where
    F: Fn(&T) -> &str,
{
    sort_with(items, key, Ordering::is_gt);
}

fn sort_with<T, F>(items: &mut [T], key: F, before: fn(Ordering) -> bool)
where
    F: Fn(&T) -> &str,
{
    let keys: Vec<Prepared<'_>> = items.iter().map(|v| Prepared::new(key(v))).collect();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    // A stable sort of the permutation: ties keep their input order.
    order.sort_by(|&a, &b| {
        let ord = compare::compare_sides(&keys[a].side(), &keys[b].side()).0;
        if ord.is_eq() {
            Ordering::Equal
        } else if before(ord) {
            Ordering::Less
        } else {
            Ordering::Greater
        }
    });
    drop(keys);
    apply_permutation(items, order);
}

/// Rearrange `items` so that position `i` holds the element that was at
/// `order[i]`, by following the permutation's cycles.
fn apply_permutation<T>(items: &mut [T], mut order: Vec<usize>) {
    for start in 0..items.len() {
        let mut current = start;
        while order[current] != start {
            let next = order[current];
            items.swap(current, next);
            order[current] = current;
            current = next;
        }
        order[current] = current;
    }
}

/// Why a string is not a valid balenaOS version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The normalised string is longer than 256 UTF-16 code units.
    #[error("version {input:?} is longer than 256 UTF-16 code units after normalisation")]
    TooLong {
        /// The rejected input.
        input: String,
    },
    /// A major, minor or patch number is above 2^53 − 1.
    #[error("version {input:?} has a number above 2^53 - 1")]
    NumberTooLarge {
        /// The rejected input.
        input: String,
    },
    /// Not a version after normalisation.
    #[error("{input:?} is not a valid balenaOS version")]
    Invalid {
        /// The rejected input.
        input: String,
    },
}

/// A valid balenaOS version: the original string plus its parsed form,
/// ordered by [`compare`].
///
/// `Eq` and `Hash` agree with `compare(a, b) == Equal`: `v2.0.0` equals
/// `Resin OS 2.0.0`, while `2.0.0` and `2.0.0+prod` differ. `Display` and
/// serde (a plain string) give back the original text.
///
/// ```
/// use balena_semver::Version;
/// let a: Version = "Resin OS 2.0.0.rev1".parse().unwrap();
/// let b: Version = "2.0.0+rev1".parse().unwrap();
/// assert_eq!(a, b);
/// assert_eq!(a.to_string(), "Resin OS 2.0.0.rev1");
/// assert_eq!(a.revision(), Some(1.0));
/// assert!("foobar".parse::<Version>().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Version {
    // Boxed: sorting moves one pointer per element instead of the whole value.
    inner: Box<VersionInner>,
}

#[derive(Debug, Clone)]
struct VersionInner {
    raw: String,
    normalized: String,
    semver: Semver,
    build: Vec<String>,
    revision: Option<f64>,
    dev: bool,
}

impl Version {
    /// Parse a version; see [`ParseError`] for the failures.
    pub fn parse(input: &str) -> Result<Version, ParseError> {
        let normalized = normalize::normalize(input).into_owned();
        match strict(&normalized) {
            Ok(semver) => Ok(Version {
                inner: Box::new(VersionInner {
                    raw: input.to_owned(),
                    revision: compare::revision_of(semver.build_ids()),
                    dev: compare::is_dev(semver.build_ids()),
                    build: semver.build_ids().map(str::to_owned).collect(),
                    normalized,
                    semver,
                }),
            }),
            Err(reason) => {
                let input = input.to_owned();
                Err(match reason {
                    Rejection::TooLong => ParseError::TooLong { input },
                    Rejection::TooLarge => ParseError::NumberTooLarge { input },
                    Rejection::Malformed => ParseError::Invalid { input },
                })
            }
        }
    }

    /// The original input.
    pub fn raw(&self) -> &str {
        &self.inner.raw
    }

    /// The normalised string (what node-semver parsed).
    pub fn normalized(&self) -> &str {
        &self.inner.normalized
    }

    /// The major number.
    pub fn major(&self) -> u64 {
        self.inner.semver.major
    }

    /// The minor number.
    pub fn minor(&self) -> u64 {
        self.inner.semver.minor
    }

    /// The patch number.
    pub fn patch(&self) -> u64 {
        self.inner.semver.patch
    }

    /// The pre-release identifiers.
    pub fn prerelease(&self) -> &[Identifier] {
        &self.inner.semver.prerelease
    }

    /// The build identifiers.
    pub fn build(&self) -> &[String] {
        &self.inner.build
    }

    /// The `revN` revision ([`get_revision`]).
    pub fn revision(&self) -> Option<f64> {
        self.inner.revision
    }

    /// Does the build contain the exact identifier `dev`?
    pub fn is_dev(&self) -> bool {
        self.inner.dev
    }

    /// `major.minor.patch[-prerelease]` ([`valid`]).
    pub fn version(&self) -> String {
        self.inner.semver.version_string()
    }

    /// The [`ParsedVersion`] view ([`parse`]).
    pub fn parsed(&self) -> ParsedVersion {
        ParsedVersion::new(&self.inner.raw, self.inner.semver.clone())
    }

    /// Does this version satisfy the range ([`satisfies`])?
    pub fn satisfies(&self, range: &str) -> bool {
        range::with_cached(range, |r| r.is_some_and(|r| r.test(self)))
    }

    /// [`compare`] with the deciding step.
    pub fn explain(&self, other: &Version) -> (Ordering, Stage) {
        compare::compare_sides(&self.side(), &other.side())
    }

    pub(crate) fn semver(&self) -> &Semver {
        &self.inner.semver
    }

    fn side(&self) -> Side<'_> {
        Side {
            normalized: &self.inner.normalized,
            parsed: Some(Parsed {
                semver: &self.inner.semver,
                revision: self.inner.revision.unwrap_or(0.0),
                dev: self.inner.dev,
            }),
        }
    }
}

impl FromStr for Version {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

impl TryFrom<&str> for Version {
    type Error = ParseError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Version::parse(s)
    }
}

impl fmt::Display for Version {
    /// The original input.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.raw)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.explain(other).0
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Version {}

impl Hash for Version {
    /// Hashes only what equal versions must share: the numbers, the
    /// revision and the dev flag (pre-releases can compare equal without
    /// being identical, and collation ignores some characters).
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.semver.major.hash(state);
        self.inner.semver.minor.hash(state);
        self.inner.semver.patch.hash(state);
        self.inner.revision.unwrap_or(0.0).to_bits().hash(state);
        self.inner.dev.hash(state);
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.inner.raw)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <Cow<'de, str>>::deserialize(deserializer)?;
        Version::parse(&s).map_err(serde::de::Error::custom)
    }
}
