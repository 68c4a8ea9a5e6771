//! Error types: why an update was refused ([`HupError`]) and why a rule set
//! could not be loaded ([`RuleSetError`]).

use std::path::PathBuf;

/// Why a host-OS update was refused.
///
/// The `Display` text of every variant is exactly the message that
/// `balena-hup-action-utils` puts in its `HUPActionError`, so it can be shown
/// to users or compared with upstream output as is.
///
/// ```
/// use balena_hup::{get_os_update_type, HupError};
///
/// let err = get_os_update_type("raspberrypi3", "2.88.4", "2.80.0").unwrap_err();
/// assert_eq!(err, HupError::Downgrade);
/// assert_eq!(err.to_string(), "OS downgrades are not allowed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HupError {
    /// The current version is missing or does not parse as a balenaOS version.
    #[error("Invalid current balenaOS version")]
    InvalidCurrentVersion,
    /// The target version is missing or does not parse as a balenaOS version.
    #[error("Invalid target balenaOS version")]
    InvalidTargetVersion,
    /// One side is a pre-release and the rule set refuses pre-releases
    /// (rule sets before 6.1.0).
    #[error("Updates cannot be performed on pre-release balenaOS versions")]
    Prerelease,
    /// One side is a development variant and the rule set refuses those
    /// altogether (rule sets 1.x to 3.x).
    #[error("Updates cannot be performed on development balenaOS variants")]
    DevelopmentVariant,
    /// Current and target differ in being a development variant.
    #[error("Updates cannot be performed between development and production balenaOS variants")]
    VariantMismatch,
    /// The target sorts below the current version.
    #[error("OS downgrades are not allowed")]
    Downgrade,
    /// The target compares equal to the current version.
    #[error("Current OS version matches Target OS version")]
    SameVersion,
    /// No action covers this pair of major versions (for example a major 1
    /// source going to a major 3 target). Carries the raw strings as given.
    #[error("This update request cannot be performed from {current} to {target}")]
    UnsupportedVersionPair {
        /// The current version exactly as given.
        current: String,
        /// The target version exactly as given.
        target: String,
    },
    /// The device type has no entry for the selected action (and neither do
    /// the rule set's defaults).
    #[error("This update request cannot be performed on '{device_type}'")]
    UnsupportedDeviceType {
        /// The device type slug exactly as given.
        device_type: String,
    },
    /// The current version is below the action's `minSourceVersion`.
    #[error("Current OS version must be >= {min}")]
    SourceTooOld {
        /// The configured floor, printed as configured.
        min: String,
    },
    /// The target's major version is not the action's `targetMajorVersion`.
    #[error("Target OS version must be of major version {}", JsDisplay(required))]
    TargetMajorMismatch {
        /// The configured major: `Some(Some(n))` when set, `Some(None)` when
        /// explicitly `null`, `None` when absent (upstream then prints
        /// `null` and `undefined`).
        required: Option<Option<u64>>,
    },
    /// The target is below the action's `minTargetVersion`.
    #[error("Target OS version must be >= {min}")]
    TargetTooOld {
        /// The configured floor, printed as configured.
        min: String,
    },
    /// The target is at or above the action's `maxTargetVersion`.
    #[error("Target OS version must be < {max}")]
    TargetTooNew {
        /// The configured ceiling, printed as configured.
        max: String,
    },
}

/// Prints an optional, nullable number the way JavaScript's template strings do.
struct JsDisplay<'a>(&'a Option<Option<u64>>);

impl std::fmt::Display for JsDisplay<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(Some(n)) => write!(f, "{n}"),
            Some(None) => f.write_str("null"),
            None => f.write_str("undefined"),
        }
    }
}

/// Why a rule set could not be loaded or is not valid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleSetError {
    /// The text is not well-formed JSON.
    #[error("rule set is not valid JSON")]
    JsonSyntax(#[source] serde_json::Error),
    /// The text is not well-formed TOML.
    #[error("rule set is not valid TOML")]
    TomlSyntax(#[source] toml::de::Error),
    /// The document is well-formed but a field has the wrong shape
    /// (unknown key, wrong type, unknown action name...).
    #[error("invalid rule set at `{path}`: {message}")]
    Shape {
        /// Dotted path of the offending field (`.` for the whole document).
        path: String,
        /// What was wrong with it.
        message: String,
    },
    /// A version string in the rule set does not parse as a balenaOS version.
    #[error("invalid rule set at `{path}`: {value:?} is not a valid balenaOS version")]
    InvalidVersion {
        /// Dotted path of the offending field.
        path: String,
        /// The version string as written.
        value: String,
    },
    /// The rule set parses but is inconsistent.
    #[error("invalid rule set at `{path}`: {message}")]
    Invalid {
        /// Dotted path of the offending field.
        path: String,
        /// What is inconsistent.
        message: String,
    },
    /// A rule-set file could not be read.
    #[error("cannot read rule set {}", path.display())]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A rule-set file name has no `.json` or `.toml` extension.
    #[error("cannot tell the format of rule set {}: expected a .json or .toml extension", path.display())]
    UnknownFormat {
        /// The file name that was given.
        path: PathBuf,
    },
    /// No built-in rule set has this name.
    #[error("no built-in rule set named {name:?} (known: {})", crate::RuleSet::builtin_names().join(", "))]
    UnknownBuiltin {
        /// The name that was asked for.
        name: String,
    },
}

impl RuleSetError {
    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// An error shows its cause either in its message or through
    /// `source()`, never both (so `{:#}`-style chains print it once).
    #[test]
    fn causes_are_shown_once() {
        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let toml = toml::from_str::<toml::Value>("a =").unwrap_err();
        let io = std::io::Error::other("disk on fire");
        let errors = [
            RuleSetError::JsonSyntax(json),
            RuleSetError::TomlSyntax(toml),
            RuleSetError::Io {
                path: "r.json".into(),
                source: io,
            },
        ];
        for e in &errors {
            let source = e.source().expect("these errors have a cause").to_string();
            assert!(!e.to_string().contains(&source), "{e} repeats {source}");
        }
    }
}
