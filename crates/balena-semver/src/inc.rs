//! `inc`: node-semver's `SemVer.inc` without an identifier argument.

use std::fmt;
use std::str::FromStr;

use crate::parse::{Identifier, Semver};

/// A release type accepted by [`inc`](crate::inc).
///
/// The seven documented types, plus `release` and `pre`, which node-semver
/// also accepts at run time.
///
/// ```
/// use balena_semver::ReleaseType;
/// assert_eq!("prerelease".parse::<ReleaseType>(), Ok(ReleaseType::Prerelease));
/// assert!("bogus".parse::<ReleaseType>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseType {
    /// Bump the major number (or drop the pre-release of `X.0.0-pre`).
    Major,
    /// Bump the major number and start a `-0` pre-release.
    Premajor,
    /// Bump the minor number (or drop the pre-release of `X.Y.0-pre`).
    Minor,
    /// Bump the minor number and start a `-0` pre-release.
    Preminor,
    /// Bump the patch number (or drop the pre-release).
    Patch,
    /// Bump the patch number and start a `-0` pre-release.
    Prepatch,
    /// Bump the last numeric pre-release identifier (or `prepatch` a release).
    Prerelease,
    /// Drop the pre-release; invalid on a release.
    Release,
    /// Bump the last numeric pre-release identifier, or start `-0`.
    Pre,
}

impl ReleaseType {
    /// The name node-semver uses for this release type.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseType::Major => "major",
            ReleaseType::Premajor => "premajor",
            ReleaseType::Minor => "minor",
            ReleaseType::Preminor => "preminor",
            ReleaseType::Patch => "patch",
            ReleaseType::Prepatch => "prepatch",
            ReleaseType::Prerelease => "prerelease",
            ReleaseType::Release => "release",
            ReleaseType::Pre => "pre",
        }
    }
}

impl fmt::Display for ReleaseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown release type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown release type {0:?}")]
pub struct UnknownReleaseType(pub String);

impl FromStr for ReleaseType {
    type Err = UnknownReleaseType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "major" => ReleaseType::Major,
            "premajor" => ReleaseType::Premajor,
            "minor" => ReleaseType::Minor,
            "preminor" => ReleaseType::Preminor,
            "patch" => ReleaseType::Patch,
            "prepatch" => ReleaseType::Prepatch,
            "prerelease" => ReleaseType::Prerelease,
            "release" => ReleaseType::Release,
            "pre" => ReleaseType::Pre,
            other => return Err(UnknownReleaseType(other.to_owned())),
        })
    }
}

/// Apply `release` to `v` in place; `None` where node-semver throws.
pub(crate) fn apply(v: &mut Semver, release: ReleaseType) -> Option<()> {
    match release {
        ReleaseType::Premajor => {
            v.prerelease.clear();
            v.patch = 0;
            v.minor = 0;
            v.major += 1;
            apply(v, ReleaseType::Pre)?;
        }
        ReleaseType::Preminor => {
            v.prerelease.clear();
            v.patch = 0;
            v.minor += 1;
            apply(v, ReleaseType::Pre)?;
        }
        ReleaseType::Prepatch => {
            v.prerelease.clear();
            apply(v, ReleaseType::Patch)?;
            apply(v, ReleaseType::Pre)?;
        }
        ReleaseType::Prerelease => {
            if v.prerelease.is_empty() {
                apply(v, ReleaseType::Patch)?;
            }
            apply(v, ReleaseType::Pre)?;
        }
        ReleaseType::Release => {
            if v.prerelease.is_empty() {
                return None;
            }
            v.prerelease.clear();
        }
        ReleaseType::Major => {
            if v.minor != 0 || v.patch != 0 || v.prerelease.is_empty() {
                v.major += 1;
            }
            v.minor = 0;
            v.patch = 0;
            v.prerelease.clear();
        }
        ReleaseType::Minor => {
            if v.patch != 0 || v.prerelease.is_empty() {
                v.minor += 1;
            }
            v.patch = 0;
            v.prerelease.clear();
        }
        ReleaseType::Patch => {
            if v.prerelease.is_empty() {
                v.patch += 1;
            }
            v.prerelease.clear();
        }
        ReleaseType::Pre => {
            let last_numeric = v.prerelease.iter_mut().rev().find_map(|id| match id {
                Identifier::Numeric(n) => Some(n),
                Identifier::Alpha(_) => None,
            });
            match last_numeric {
                Some(n) => *n += 1,
                None => v.prerelease.push(Identifier::Numeric(0)),
            }
        }
    }
    Some(())
}
