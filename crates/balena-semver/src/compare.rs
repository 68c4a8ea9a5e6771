//! balena-semver's total order (spec A.5).

use std::cmp::Ordering;
use std::sync::LazyLock;

use icu_collator::options::CollatorOptions;
use icu_collator::{Collator, CollatorBorrowed, CollatorPreferences};

use crate::js;
use crate::parse::Semver;

/// The step of [`compare`](crate::compare) that decided an answer, as the
/// `stage` field of the upstream vectors names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// At least one side was missing (`null`).
    Null,
    /// Exactly one side was a valid version.
    ValidVsInvalid,
    /// Neither side was valid: UTF-16 order of the normalised strings.
    InvalidVsInvalid,
    /// SemVer precedence.
    Precedence,
    /// The `revN` build identifier.
    Revision,
    /// A `dev` build identifier sorts lower.
    DevFlag,
    /// ICU root collation of the normalised strings.
    Collation,
}

impl Stage {
    /// The name used in the vectors (`"valid-vs-invalid"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Null => "null",
            Stage::ValidVsInvalid => "valid-vs-invalid",
            Stage::InvalidVsInvalid => "invalid-vs-invalid",
            Stage::Precedence => "precedence",
            Stage::Revision => "revision",
            Stage::DevFlag => "dev-flag",
            Stage::Collation => "collation",
        }
    }
}

/// One side of a comparison after normalisation and parsing.
pub(crate) struct Side<'a> {
    pub normalized: &'a str,
    pub parsed: Option<Parsed<'a>>,
}

/// The fields of a valid version that the order looks at.
pub(crate) struct Parsed<'a> {
    pub semver: &'a Semver,
    /// `getRevision(...) ?? 0`.
    pub revision: f64,
    pub dev: bool,
}

/// `getRevision`: the first build identifier that is exactly `rev` + ASCII
/// digits, read as a JavaScript double.
pub(crate) fn revision_of<'a>(build: impl IntoIterator<Item = &'a str>) -> Option<f64> {
    build.into_iter().find_map(|id| {
        let digits = id.strip_prefix("rev")?;
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| js::digits_to_f64(digits))
    })
}

pub(crate) fn is_dev<'a>(build: impl IntoIterator<Item = &'a str>) -> bool {
    build.into_iter().any(|id| id == "dev")
}

/// The `en-US` collator (CLDR root rules, tertiary strength), built once.
static COLLATOR: LazyLock<Option<CollatorBorrowed<'static>>> = LazyLock::new(|| {
    Collator::try_new(CollatorPreferences::default(), CollatorOptions::default()).ok()
});

/// `a.localeCompare(b)` under ICU's root collation.
pub(crate) fn collate(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    match COLLATOR.as_ref() {
        Some(c) => c.compare(a, b),
        // Compiled collation data cannot fail to load; keep a defined order
        // rather than panic if it ever did.
        None => js::cmp_utf16(a, b),
    }
}

fn from_f64(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// Compare two present sides.
pub(crate) fn compare_sides(a: &Side<'_>, b: &Side<'_>) -> (Ordering, Stage) {
    let (pa, pb) = match (&a.parsed, &b.parsed) {
        (Some(pa), Some(pb)) => (pa, pb),
        (Some(_), None) => return (Ordering::Greater, Stage::ValidVsInvalid),
        (None, Some(_)) => return (Ordering::Less, Stage::ValidVsInvalid),
        (None, None) => {
            return (
                js::cmp_utf16(a.normalized, b.normalized),
                Stage::InvalidVsInvalid,
            );
        }
    };
    let ord = pa.semver.precedence(pb.semver);
    if ord.is_ne() {
        return (ord, Stage::Precedence);
    }
    let ord = from_f64(pa.revision, pb.revision);
    if ord.is_ne() {
        return (ord, Stage::Revision);
    }
    // A dev build sorts lower.
    let ord = pb.dev.cmp(&pa.dev);
    if ord.is_ne() {
        return (ord, Stage::DevFlag);
    }
    (collate(a.normalized, b.normalized), Stage::Collation)
}
