//! Rule sets: the data that decides which host-OS updates are allowed.
//!
//! A [`RuleSet`] holds the upstream `actionsConfig` (actions, per-device-type
//! defaults and overrides) plus a [`Behavior`] block that records how the
//! upstream package version applied it. Built-in rule sets ship as JSON files
//! in the crate's `rules/` folder; any of them can be copied, edited and
//! loaded at run time with [`RuleSet::from_path`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize};

use crate::{RuleSetError, UpdateType};

/// Settings of one action, at one layer (the action itself, the defaults for
/// every device type, or one device type's override).
///
/// Every field has three states, as in upstream's plain objects merged with
/// object spread: `None` means the key is absent (the layer below shows
/// through), `Some(None)` means the key is explicitly `null` (it hides any
/// value from the layers below, so the check is skipped), and
/// `Some(Some(value))` sets the value. Versions are kept exactly as written:
/// error messages print them as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionSettings {
    /// The current version must not be below this.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_source_version: Option<Option<String>>,
    /// The target's major version must equal this (0 counts as unset unless
    /// the rule set checks it [always](TargetMajorCheck::Always)).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_major_version: Option<Option<u64>>,
    /// The target must not be below this.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_target_version: Option<Option<String>>,
    /// The target must be below this.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_target_version: Option<Option<String>>,
    /// Sources below this going to targets at or above it need a `takeover`
    /// instead of a `balenahup` (only honoured on the `balenahup` action).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_takeover_version: Option<Option<String>>,
}

/// Accepts `null` as `Some(None)`; absence is handled by `#[serde(default)]`.
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl ActionSettings {
    /// Overlays `upper` on `self` key by key, like `{...self, ...upper}`.
    pub(crate) fn overlay(&mut self, upper: &ActionSettings) {
        fn take<T: Clone>(lower: &mut Option<T>, upper: &Option<T>) {
            if upper.is_some() {
                lower.clone_from(upper);
            }
        }
        take(&mut self.min_source_version, &upper.min_source_version);
        take(&mut self.target_major_version, &upper.target_major_version);
        take(&mut self.min_target_version, &upper.min_target_version);
        take(&mut self.max_target_version, &upper.max_target_version);
        take(&mut self.min_takeover_version, &upper.min_takeover_version);
    }

    /// The version-valued fields with their names in the file format.
    fn version_fields(&self) -> [(&'static str, &Option<Option<String>>); 4] {
        [
            ("minSourceVersion", &self.min_source_version),
            ("minTargetVersion", &self.min_target_version),
            ("maxTargetVersion", &self.max_target_version),
            ("minTakeoverVersion", &self.min_takeover_version),
        ]
    }
}

/// Whether pre-release versions may take part in an update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PrereleasePolicy {
    /// Pre-releases are treated like any other version (6.1.0 and later).
    #[default]
    Allow,
    /// A pre-release on either side is refused with
    /// [`HupError::Prerelease`](crate::HupError::Prerelease) (before 6.1.0).
    Reject,
}

/// How development (`dev`) and production (`prod`) variants are checked.
///
/// The variant of a version is `dev` when its build or pre-release
/// identifiers contain exactly `dev`, else `prod` when they contain `prod`,
/// else none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VariantPolicy {
    /// Refuse when either side is `dev` (1.x to 3.x).
    RejectDevelopment,
    /// Refuse when exactly one side is `dev` (4.0.x).
    SameDevFlag,
    /// Refuse when the target has a variant and exactly one side is `dev`
    /// (4.1.0 and later).
    #[default]
    TargetVariant,
}

/// When an action's `targetMajorVersion` is enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetMajorCheck {
    /// Only when it is set to a non-zero number (3.0.0 and later).
    #[default]
    WhenSet,
    /// Always: an action without one refuses every target (1.x).
    Always,
}

/// Whether and how the `takeover` action replaces `balenahup`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TakeoverPolicy {
    /// `minTakeoverVersion` is not supported (before 6.2.0).
    Disabled,
    /// Compare the current version exactly as given (6.2.0, 6.2.1).
    RawCurrent,
    /// Drop one trailing literal `.dev` or `.prod` from the current version
    /// before comparing (6.2.9 and later).
    #[default]
    StripVariantSuffix,
}

/// What happens when a rule matches the source major but none matches the
/// target major.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UnmatchedTarget {
    /// Refuse with [`HupError::UnsupportedVersionPair`](crate::HupError::UnsupportedVersionPair)
    /// (3.0.0 and later).
    #[default]
    RejectVersionPair,
    /// Refuse with [`HupError::UnsupportedDeviceType`](crate::HupError::UnsupportedDeviceType)
    /// (1.x, where the action name was built from both majors and then not
    /// found).
    RejectDeviceType,
}

/// One row of the action-selection table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MajorRule {
    /// Major version of the current OS.
    pub from: u64,
    /// Major version of the target OS.
    pub to: u64,
    /// The action used for that pair.
    pub action: UpdateType,
}

/// How the action is chosen from the two major versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ActionSelection {
    /// Explicit (source major, target major) pairs, checked first.
    pub by_major: Vec<MajorRule>,
    /// What to do when some row has this source major but none has this
    /// target major.
    pub unmatched_target: UnmatchedTarget,
    /// The action for source majors no row mentions; `None` (`null`) refuses
    /// with [`HupError::UnsupportedDeviceType`](crate::HupError::UnsupportedDeviceType).
    pub otherwise: Option<UpdateType>,
}

impl Default for ActionSelection {
    fn default() -> Self {
        Self {
            by_major: Vec::new(),
            unmatched_target: UnmatchedTarget::RejectVersionPair,
            otherwise: Some(UpdateType::Balenahup),
        }
    }
}

/// How a rule set is applied: the behavioural differences between upstream
/// package versions, as data. Every field defaults to the current (7.x)
/// behaviour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Behavior {
    /// Pre-release handling.
    pub prereleases: PrereleasePolicy,
    /// dev/prod variant handling.
    pub variants: VariantPolicy,
    /// When `targetMajorVersion` is enforced.
    pub target_major_check: TargetMajorCheck,
    /// Takeover handling.
    pub takeover: TakeoverPolicy,
    /// Action selection.
    pub selection: ActionSelection,
}

/// Settings of each action, keyed by action name.
pub type ActionTable = BTreeMap<UpdateType, ActionSettings>;

/// A complete, self-describing set of host-OS update rules.
///
/// The file format is the upstream `actionsConfig` object (`actions`,
/// `deviceTypesDefaults`, `deviceTypes`) with a few more top-level keys:
/// `name`, `package`, `description` and `behavior` (see [`Behavior`]; when
/// left out, the current behaviour applies). See the crate's `rules/` folder
/// for complete examples.
///
/// ```
/// use balena_hup::{RuleSet, UpdateType};
///
/// let rules = RuleSet::from_json_str(r#"{
///     "name": "strict",
///     "actions": { "balenahup": { "minSourceVersion": "2.50.0", "minTargetVersion": "2.60.0" } },
///     "deviceTypesDefaults": { "balenahup": {} }
/// }"#)?;
/// assert_eq!(rules.get_os_update_type("fincm3", "2.50.0", "2.60.0"), Ok(UpdateType::Balenahup));
/// assert_eq!(
///     rules.get_os_update_type("fincm3", "2.49.0", "2.60.0").unwrap_err().to_string(),
///     "Current OS version must be >= 2.50.0",
/// );
/// # Ok::<(), balena_hup::RuleSetError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSet {
    /// Short name (built-in sets use the upstream package version).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The upstream package the rules come from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Free-form description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How the data below is applied (`behaviour` is accepted as well).
    #[serde(default, alias = "behaviour")]
    pub behavior: Behavior,
    /// Base settings of each action.
    pub actions: ActionTable,
    /// Actions every device type gets, with settings over `actions`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub device_types_defaults: ActionTable,
    /// Per-device-type actions, with settings over the defaults. Keys are
    /// device type slugs, matched exactly (`""` is a slug like any other).
    #[serde(default)]
    pub device_types: BTreeMap<String, ActionTable>,
}

/// Built-in rule sets: (name, file contents). The last one is the default.
const BUILTIN: [(&str, &str); 10] = [
    ("1.2.2", include_str!("../rules/1.2.2.json")),
    ("2.0.2", include_str!("../rules/2.0.2.json")),
    ("3.0.2", include_str!("../rules/3.0.2.json")),
    ("4.0.4", include_str!("../rules/4.0.4.json")),
    ("4.1.3", include_str!("../rules/4.1.3.json")),
    ("5.0.1", include_str!("../rules/5.0.1.json")),
    ("6.1.0", include_str!("../rules/6.1.0.json")),
    ("6.2.1", include_str!("../rules/6.2.1.json")),
    ("6.2.10", include_str!("../rules/6.2.10.json")),
    ("7.0.31", include_str!("../rules/7.0.31.json")),
];

const BUILTIN_NAMES: [&str; 10] = [
    "1.2.2", "2.0.2", "3.0.2", "4.0.4", "4.1.3", "5.0.1", "6.1.0", "6.2.1", "6.2.10", "7.0.31",
];

/// Upstream releases whose rules are identical to a built-in set.
const ALIASES: [(&str, &str); 13] = [
    ("2.0.0", "2.0.2"),
    ("2.0.1", "2.0.2"),
    ("3.0.0", "3.0.2"),
    ("4.0.0", "4.0.4"),
    ("4.0.1", "4.0.4"),
    ("4.0.2", "4.0.4"),
    ("4.0.3", "4.0.4"),
    ("4.1.0", "4.1.3"),
    ("4.1.1", "4.1.3"),
    ("5.0.0", "5.0.1"),
    ("6.0.0", "5.0.1"),
    ("6.2.0", "6.2.1"),
    ("6.2.9", "6.2.10"),
];

static BUILTIN_CACHE: [OnceLock<RuleSet>; 10] = [const { OnceLock::new() }; 10];

impl RuleSet {
    /// Name of the current upstream rule set, the default everywhere.
    pub const CURRENT: &'static str = "7.0.31";

    /// The current rule set (balena-hup-action-utils 7.0.31).
    ///
    /// ```
    /// assert_eq!(balena_hup::RuleSet::current().name, "7.0.31");
    /// ```
    pub fn current() -> &'static RuleSet {
        Self::builtin_at(BUILTIN.len() - 1)
    }

    /// Names of the built-in rule sets, oldest first.
    ///
    /// ```
    /// assert!(balena_hup::RuleSet::builtin_names().contains(&"6.2.10"));
    /// ```
    pub fn builtin_names() -> &'static [&'static str] {
        &BUILTIN_NAMES
    }

    /// A built-in rule set by name: a name from [`builtin_names`](Self::builtin_names),
    /// or an upstream release with the same rules (`"6.2.9"` gives the
    /// `"6.2.10"` set, any `7.0.x` release the current one). A leading
    /// `balena-hup-action-utils@` is accepted too.
    ///
    /// ```
    /// use balena_hup::{RuleSet, UpdateType};
    ///
    /// let old = RuleSet::builtin("6.2.10")?;
    /// assert_eq!(old.get_os_update_type("raspberrypi3", "1.8.0", "1.26.0"), Ok(UpdateType::Resinhup11));
    /// assert!(RuleSet::builtin("0.0.1").is_err());
    /// # Ok::<(), balena_hup::RuleSetError>(())
    /// ```
    pub fn builtin(name: &str) -> Result<&'static RuleSet, RuleSetError> {
        let bare = name
            .strip_prefix("balena-hup-action-utils@")
            .unwrap_or(name);
        let canonical = ALIASES
            .iter()
            .find(|(alias, _)| *alias == bare)
            .map_or(bare, |(_, target)| *target);
        let canonical = if canonical.starts_with("7.0.") && is_plain_release(canonical) {
            Self::CURRENT
        } else {
            canonical
        };
        BUILTIN
            .iter()
            .position(|(n, _)| *n == canonical)
            .map(Self::builtin_at)
            .ok_or_else(|| RuleSetError::UnknownBuiltin {
                name: name.to_owned(),
            })
    }

    fn builtin_at(index: usize) -> &'static RuleSet {
        BUILTIN_CACHE[index].get_or_init(|| {
            let (name, text) = BUILTIN[index];
            match Self::from_json_str(text) {
                Ok(rules) => rules,
                // The files are compiled in and every one is loaded by the
                // crate's tests, so this cannot happen in a released build.
                Err(err) => panic!("built-in rule set {name} is broken: {err}"),
            }
        })
    }

    /// Parses and validates a rule set written as JSON.
    ///
    /// Errors name the path of the offending field, for example
    /// `deviceTypes.raspberrypi3.balenahup.minSourceVersion`.
    pub fn from_json_str(text: &str) -> Result<RuleSet, RuleSetError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(RuleSetError::JsonSyntax)?;
        Self::from_json_value(value)
    }

    /// Parses and validates a rule set written as TOML (same keys as JSON;
    /// TOML has no `null`, so settings can only be set, not cleared).
    ///
    /// ```
    /// let rules = balena_hup::RuleSet::from_toml_str(r#"
    /// name = "toml-example"
    /// [actions.balenahup]
    /// minSourceVersion = "2.14.0+rev1"
    /// minTargetVersion = "2.16.0+rev1"
    /// [deviceTypesDefaults.balenahup]
    /// [deviceTypes.jetson-xavier.balenahup]
    /// minTakeoverVersion = "6.0.50"
    /// "#)?;
    /// assert_eq!(rules.actions.len(), 1);
    /// # Ok::<(), balena_hup::RuleSetError>(())
    /// ```
    pub fn from_toml_str(text: &str) -> Result<RuleSet, RuleSetError> {
        let value: serde_json::Value = toml::from_str(text).map_err(RuleSetError::TomlSyntax)?;
        Self::from_json_value(value)
    }

    /// Reads a rule set from a `.json` or `.toml` file (chosen by extension,
    /// case-insensitively).
    pub fn from_path(path: impl AsRef<Path>) -> Result<RuleSet, RuleSetError> {
        let path = path.as_ref();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let is_toml = match ext.as_deref() {
            Some("json") => false,
            Some("toml") => true,
            _ => {
                return Err(RuleSetError::UnknownFormat {
                    path: path.to_owned(),
                });
            }
        };
        let text = std::fs::read_to_string(path).map_err(|source| RuleSetError::Io {
            path: path.to_owned(),
            source,
        })?;
        if is_toml {
            Self::from_toml_str(&text)
        } else {
            Self::from_json_str(&text)
        }
    }

    /// Builds a rule set from an already parsed JSON value, then validates it.
    pub fn from_json_value(value: serde_json::Value) -> Result<RuleSet, RuleSetError> {
        let rules: RuleSet =
            serde_path_to_error::deserialize(value).map_err(|err| RuleSetError::Shape {
                path: err.path().to_string(),
                message: err.into_inner().to_string(),
            })?;
        rules.validate()?;
        Ok(rules)
    }

    /// Serialises the rule set as pretty-printed JSON (the format
    /// [`from_json_str`](Self::from_json_str) reads).
    pub fn to_json_string(&self) -> String {
        // Serialising plain strings, numbers and maps with string keys
        // cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks that the rule set is consistent: every version in it parses,
    /// `minTakeoverVersion` only appears on `balenahup` entries and only when
    /// takeover is enabled, and no two selection rows share a major pair.
    ///
    /// Loading functions call this; call it yourself after building or
    /// editing a rule set in code.
    pub fn validate(&self) -> Result<(), RuleSetError> {
        check_table("actions", &self.actions, self.behavior.takeover)?;
        check_table(
            "deviceTypesDefaults",
            &self.device_types_defaults,
            self.behavior.takeover,
        )?;
        for (slug, table) in &self.device_types {
            check_table(
                &format!("deviceTypes.{slug}"),
                table,
                self.behavior.takeover,
            )?;
        }
        let rows = &self.behavior.selection.by_major;
        for (i, row) in rows.iter().enumerate() {
            if rows[..i]
                .iter()
                .any(|earlier| earlier.from == row.from && earlier.to == row.to)
            {
                return Err(RuleSetError::invalid(
                    format!("behavior.selection.byMajor[{i}]"),
                    format!(
                        "a row for major {} to major {} is already listed",
                        row.from, row.to
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A `7.x.y` release with nothing after the patch number.
fn is_plain_release(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn check_table(
    prefix: &str,
    table: &ActionTable,
    takeover: TakeoverPolicy,
) -> Result<(), RuleSetError> {
    for (action, settings) in table {
        let at = format!("{prefix}.{action}");
        for (field, value) in settings.version_fields() {
            if let Some(Some(version)) = value
                && balena_semver::parse(version).is_none()
            {
                return Err(RuleSetError::InvalidVersion {
                    path: format!("{at}.{field}"),
                    value: version.clone(),
                });
            }
        }
        if let Some(Some(_)) = settings.min_takeover_version {
            if *action != UpdateType::Balenahup {
                return Err(RuleSetError::invalid(
                    format!("{at}.minTakeoverVersion"),
                    "minTakeoverVersion is only honoured on balenahup entries",
                ));
            }
            if takeover == TakeoverPolicy::Disabled {
                return Err(RuleSetError::invalid(
                    format!("{at}.minTakeoverVersion"),
                    "minTakeoverVersion is set but behavior.takeover is \"disabled\"",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_follows_object_spread() {
        let mut base = ActionSettings {
            min_source_version: Some(Some("2.0.0".into())),
            min_target_version: Some(Some("2.2.0".into())),
            ..Default::default()
        };
        let upper = ActionSettings {
            min_source_version: Some(Some("2.7.4".into())),
            min_target_version: Some(None),
            ..Default::default()
        };
        base.overlay(&upper);
        assert_eq!(base.min_source_version, Some(Some("2.7.4".into())));
        assert_eq!(base.min_target_version, Some(None));
        assert_eq!(base.max_target_version, None);
    }

    #[test]
    fn plain_release_detection() {
        assert!(is_plain_release("7.0.19"));
        assert!(!is_plain_release("7.0"));
        assert!(!is_plain_release("7.0.x"));
        assert!(!is_plain_release("7..1"));
    }

    #[test]
    fn builtin_names_match_table() {
        let from_table: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
        assert_eq!(from_table, BUILTIN_NAMES);
        assert_eq!(BUILTIN_NAMES.last(), Some(&RuleSet::CURRENT));
        for (alias, target) in ALIASES {
            assert!(BUILTIN_NAMES.contains(&target), "{alias} -> {target}");
        }
    }

    #[test]
    fn nullable_distinguishes_absent_and_null() {
        let s: ActionSettings =
            serde_json::from_str(r#"{"minSourceVersion": null, "targetMajorVersion": 2}"#).unwrap();
        assert_eq!(s.min_source_version, Some(None));
        assert_eq!(s.target_major_version, Some(Some(2)));
        assert_eq!(s.min_target_version, None);
    }
}
