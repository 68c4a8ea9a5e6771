//! Running the recorded upstream test vectors (`shared/vectors/hup-*.json`).
//!
//! Each file records what one `balena-hup-action-utils` release answered for
//! thousands of (device type, current, target) requests. [`VectorFile::rule_set`]
//! picks the matching built-in rule set from the file's `meta.package`, and
//! [`VectorFile::run`] replays every case. Where a case carries a
//! `withBalenaSemver4` answer (what the old rules give on balena-semver 4.x
//! ordering, which this crate uses), that answer is the expected one.
//!
//! ```no_run
//! use balena_hup::vectors::VectorFile;
//!
//! let file = VectorFile::load("../shared/vectors/hup-7.0.31.json")?;
//! let rules = file.rule_set()?;
//! file.check_config(rules)?;
//! let report = file.run(rules);
//! assert_eq!(report.failed(), 0);
//! # Ok::<(), balena_hup::vectors::VectorError>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{HupError, RuleSet, RuleSetError, UpdateType};

/// Why a vector file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VectorError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a vector file.
    #[error("not a HUP vector file")]
    Format(#[from] serde_json::Error),
    /// `meta.package` names no built-in rule set.
    #[error("no built-in rule set for {package:?}")]
    UnknownPackage {
        /// The package named by the file.
        package: String,
        /// Why the lookup failed.
        #[source]
        source: RuleSetError,
    },
    /// `meta.config` is not a valid rule set.
    #[error("meta.config of {package} is not a valid rule set")]
    BadConfig {
        /// The package named by the file.
        package: String,
        /// What is wrong with it.
        #[source]
        source: RuleSetError,
    },
    /// `meta.config` differs from the rule set's actions and device types.
    #[error("meta.config of {package} differs from rule set {rule_set:?}")]
    ConfigMismatch {
        /// The package named by the file.
        package: String,
        /// The rule set it was compared with.
        rule_set: String,
    },
}

/// The `meta` block of a vector file (only the fields used here).
#[derive(Debug, Clone, Deserialize)]
pub struct VectorMeta {
    /// The package that produced the answers, e.g.
    /// `balena-hup-action-utils@7.0.31`.
    pub package: String,
    /// The package's built-in `actionsConfig`.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
}

/// One recorded answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Expected {
    /// The returned action, or `None` if the call threw.
    pub action: Option<String>,
    /// The thrown message, or `None`.
    pub error: Option<String>,
    /// What `isSupportedOsUpdate` returned.
    pub is_supported: bool,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.action, &self.error) {
            (Some(action), None) => write!(f, "{action}")?,
            (None, Some(error)) => write!(f, "error {error:?}")?,
            (action, error) => write!(f, "action {action:?} / error {error:?}")?,
        }
        write!(f, " (supported: {})", self.is_supported)
    }
}

impl Expected {
    /// The answer this crate gives, in the same shape as a recorded one.
    pub fn from_result(result: &Result<UpdateType, HupError>) -> Self {
        match result {
            Ok(action) => Expected {
                action: Some(action.as_str().to_owned()),
                error: None,
                is_supported: true,
            },
            Err(err) => Expected {
                action: None,
                error: Some(err.to_string()),
                is_supported: false,
            },
        }
    }
}

/// One recorded request and its answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VectorCase {
    /// Device type slug; `None` (JSON `null`) is looked up as `"null"`, as
    /// JavaScript does with a `null` object key.
    pub device_type: Option<String>,
    /// Current version, or `None` for `null`.
    pub current: Option<String>,
    /// Target version, or `None` for `null`.
    pub target: Option<String>,
    /// The returned action, or `None` if the call threw.
    pub action: Option<String>,
    /// The thrown message, or `None`.
    pub error: Option<String>,
    /// What `isSupportedOsUpdate` returned.
    pub is_supported: bool,
    /// The answer under balena-semver 4.x, where it differs.
    #[serde(default)]
    pub with_balena_semver4: Option<Expected>,
}

impl VectorCase {
    /// The answer to meet: `withBalenaSemver4` when present, else the
    /// recorded one.
    pub fn expected(&self) -> Expected {
        self.with_balena_semver4
            .clone()
            .unwrap_or_else(|| Expected {
                action: self.action.clone(),
                error: self.error.clone(),
                is_supported: self.is_supported,
            })
    }

    /// Evaluates the case with `rules`.
    pub fn evaluate(&self, rules: &RuleSet) -> Expected {
        let device_type = self.device_type.as_deref().unwrap_or("null");
        let result = rules.get_os_update_type_opt(
            device_type,
            self.current.as_deref(),
            self.target.as_deref(),
        );
        let mut got = Expected::from_result(&result);
        // `isSupportedOsUpdate` is evaluated through its own entry point.
        got.is_supported = match (self.current.as_deref(), self.target.as_deref()) {
            (Some(current), Some(target)) => {
                rules.is_supported_os_update(device_type, current, target)
            }
            _ => false,
        };
        got
    }
}

/// A whole vector file.
#[derive(Debug, Clone, Deserialize)]
pub struct VectorFile {
    /// Where the answers come from.
    pub meta: VectorMeta,
    /// The recorded cases.
    pub cases: Vec<VectorCase>,
}

/// A case whose answer differed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Position of the case in the file.
    pub index: usize,
    /// The case.
    pub case: VectorCase,
    /// What was recorded.
    pub expected: Expected,
    /// What this crate answered.
    pub got: Expected,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "case {}: deviceType={:?} current={:?} target={:?}: expected {}, got {}",
            self.index,
            self.case.device_type,
            self.case.current,
            self.case.target,
            self.expected,
            self.got
        )
    }
}

/// The outcome of replaying a file.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Number of cases answered as recorded.
    pub passed: usize,
    /// Cases answered differently.
    pub failures: Vec<Failure>,
}

impl Report {
    /// Number of cases answered differently.
    pub fn failed(&self) -> usize {
        self.failures.len()
    }
}

impl VectorFile {
    /// Reads and parses a vector file.
    pub fn load(path: impl AsRef<Path>) -> Result<VectorFile, VectorError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| VectorError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses vector-file text.
    pub fn parse(text: &str) -> Result<VectorFile, VectorError> {
        Ok(serde_json::from_str(text)?)
    }

    /// The built-in rule set for `meta.package`.
    pub fn rule_set(&self) -> Result<&'static RuleSet, VectorError> {
        RuleSet::builtin(&self.meta.package).map_err(|source| VectorError::UnknownPackage {
            package: self.meta.package.clone(),
            source,
        })
    }

    /// Checks that `meta.config` (the package's own `actionsConfig`) holds
    /// exactly the actions, defaults and device types of `rules`. A file
    /// without `meta.config` passes.
    pub fn check_config(&self, rules: &RuleSet) -> Result<(), VectorError> {
        let Some(config) = &self.meta.config else {
            return Ok(());
        };
        // The recorded config has no behaviour block; take the rule set's so
        // that validation judges it by the same rules.
        let mut value = config.clone();
        if let Some(object) = value.as_object_mut() {
            let behavior = serde_json::to_value(&rules.behavior)?;
            object.insert("behavior".to_owned(), behavior);
        }
        let recorded =
            RuleSet::from_json_value(value).map_err(|source| VectorError::BadConfig {
                package: self.meta.package.clone(),
                source,
            })?;
        if recorded.actions == rules.actions
            && recorded.device_types_defaults == rules.device_types_defaults
            && recorded.device_types == rules.device_types
        {
            Ok(())
        } else {
            Err(VectorError::ConfigMismatch {
                package: self.meta.package.clone(),
                rule_set: rules.name.clone(),
            })
        }
    }

    /// Replays every case with `rules`.
    pub fn run(&self, rules: &RuleSet) -> Report {
        let mut report = Report::default();
        for (index, case) in self.cases.iter().enumerate() {
            let expected = case.expected();
            let got = case.evaluate(rules);
            if got == expected {
                report.passed += 1;
            } else {
                report.failures.push(Failure {
                    index,
                    case: case.clone(),
                    expected,
                    got,
                });
            }
        }
        report
    }
}

#[cfg(test)]
mod error_tests {
    use super::VectorError;
    use std::error::Error as _;

    /// The cause is reported through `source()`, not repeated in the message.
    #[test]
    fn causes_are_shown_once() {
        let errors = [
            VectorError::Io {
                path: "v.json".into(),
                source: std::io::Error::other("disk on fire"),
            },
            VectorError::Format(serde_json::from_str::<serde_json::Value>("{").unwrap_err()),
        ];
        for e in &errors {
            let source = e.source().expect("a cause").to_string();
            assert!(!e.to_string().contains(&source), "{e} repeats {source}");
        }
    }
}
