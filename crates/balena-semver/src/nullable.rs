//! The same functions with JavaScript's `null`/`undefined` arguments
//! modelled as `None`, with balena-semver's exact semantics for them.
//!
//! ```
//! use std::cmp::Ordering;
//! use balena_semver::nullable;
//! assert_eq!(nullable::compare(None, Some("garbage")), Ordering::Less);
//! assert_eq!(nullable::compare(None, None), Ordering::Equal);
//! assert!(nullable::gt(Some("garbage"), None));
//! assert!(!nullable::satisfies(Some("2.0.0"), None));
//! ```

use std::cmp::Ordering;

use crate::{ParsedVersion, ReleaseType, Stage};

/// `maxSatisfying(list, null)` throws a `TypeError` upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("max_satisfying needs a range, got null")]
pub struct NullRange;

/// [`crate::normalize`]; `None` stays `None`.
pub fn normalize(version: Option<&str>) -> Option<String> {
    version.map(crate::normalize)
}

/// [`crate::valid`]; `None` for `None`.
pub fn valid(version: Option<&str>) -> Option<String> {
    crate::valid(version?)
}

/// [`crate::parse`]; `None` for `None`.
pub fn parse(version: Option<&str>) -> Option<ParsedVersion> {
    crate::parse(version?)
}

/// [`crate::get_revision`]; `None` for a missing parse.
pub fn get_revision(parsed: Option<&ParsedVersion>) -> Option<f64> {
    crate::get_revision(parsed?)
}

/// [`crate::prerelease`]; `None` for `None`.
pub fn prerelease(version: Option<&str>) -> Option<Vec<crate::Identifier>> {
    crate::prerelease(version?)
}

/// [`crate::major`]; `None` for `None`.
pub fn major(version: Option<&str>) -> Option<u64> {
    crate::major(version?)
}

/// [`crate::inc`]; `None` if either argument is `None`.
pub fn inc(version: Option<&str>, release: Option<&str>) -> Option<String> {
    crate::inc(version?, release?)
}

/// [`crate::inc_release`]; `None` for a `None` version.
pub fn inc_release(version: Option<&str>, release: ReleaseType) -> Option<String> {
    crate::inc_release(version?, release)
}

/// [`crate::explain`]: a missing value is below everything, two missing
/// values are equal.
pub fn explain(a: Option<&str>, b: Option<&str>) -> (Ordering, Stage) {
    match (a, b) {
        (None, None) => (Ordering::Equal, Stage::Null),
        (None, Some(_)) => (Ordering::Less, Stage::Null),
        (Some(_), None) => (Ordering::Greater, Stage::Null),
        (Some(a), Some(b)) => crate::explain(a, b),
    }
}

/// [`crate::compare`] with missing values lowest.
pub fn compare(a: Option<&str>, b: Option<&str>) -> Ordering {
    explain(a, b).0
}

/// [`crate::rcompare`] with missing values lowest.
pub fn rcompare(a: Option<&str>, b: Option<&str>) -> Ordering {
    compare(a, b).reverse()
}

/// `compare(a, b) > 0`: true for any present `a` against a missing `b`.
pub fn gt(a: Option<&str>, b: Option<&str>) -> bool {
    compare(a, b).is_gt()
}

/// `compare(a, b) >= 0`: `gte(None, None)` is true.
pub fn gte(a: Option<&str>, b: Option<&str>) -> bool {
    compare(a, b).is_ge()
}

/// `compare(a, b) < 0`.
pub fn lt(a: Option<&str>, b: Option<&str>) -> bool {
    compare(a, b).is_lt()
}

/// `compare(a, b) <= 0`.
pub fn lte(a: Option<&str>, b: Option<&str>) -> bool {
    compare(a, b).is_le()
}

/// [`crate::satisfies`]; false if either argument is missing.
pub fn satisfies(version: Option<&str>, range: Option<&str>) -> bool {
    match (version, range) {
        (Some(v), Some(r)) => crate::satisfies(v, r),
        _ => false,
    }
}

/// [`crate::max_satisfying`] over a list with missing entries (skipped):
/// the index of the winner. A missing range is an error, as upstream throws.
///
/// ```
/// use balena_semver::nullable::max_satisfying_index;
/// let list = [None, Some("2.0.0"), Some("2.1.0"), Some("Resin OS 2.1.0")];
/// assert_eq!(max_satisfying_index(&list, Some("^2")), Ok(Some(2)));
/// assert!(max_satisfying_index(&list, None).is_err());
/// ```
pub fn max_satisfying_index<S: AsRef<str>>(
    versions: &[Option<S>],
    range: Option<&str>,
) -> Result<Option<usize>, NullRange> {
    let range = range.ok_or(NullRange)?;
    Ok(crate::max_satisfying_index(
        versions.iter().map(|v| v.as_ref().map(AsRef::as_ref)),
        range,
    ))
}

/// [`max_satisfying_index`], returning the winning element.
pub fn max_satisfying<'a, S: AsRef<str>>(
    versions: &'a [Option<S>],
    range: Option<&str>,
) -> Result<Option<&'a S>, NullRange> {
    Ok(max_satisfying_index(versions, range)?.and_then(|i| versions[i].as_ref()))
}
