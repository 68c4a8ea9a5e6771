//! balenaOS host-OS update ("HUP") rules.
//!
//! Given a device type, the OS version a device runs and the version it
//! should move to, decide which update action applies
//! ([`UpdateType`]) or why the update is refused ([`HupError`], whose
//! messages are exactly those of `balena-hup-action-utils`).
//!
//! The rules are data ([`RuleSet`]). The current upstream rules
//! (`balena-hup-action-utils` 7.0.31) are the default; every older published
//! rule set is built in too ([`RuleSet::builtin`]), and operators can load
//! their own from JSON or TOML ([`RuleSet::from_path`]) without a rebuild.
//! Versions are compared with [`balena_semver`] (balena-semver 4.x rules).
//!
//! ```
//! use balena_hup::{get_os_update_type, is_supported_os_update, HupError, UpdateType};
//!
//! assert_eq!(
//!     get_os_update_type("raspberrypi3", "2.88.4+rev1.prod", "2.95.12+rev1.prod"),
//!     Ok(UpdateType::Balenahup),
//! );
//! let err = get_os_update_type("raspberrypi3", "2.10.0", "2.95.12").unwrap_err();
//! assert_eq!(err.to_string(), "Current OS version must be >= 2.14.0+rev1");
//! assert!(!is_supported_os_update("raspberrypi3", "2.88.4", "2.88.4"));
//! ```
//!
//! The `vectors` module runs the recorded upstream test vectors
//! (`shared/vectors/hup-*.json`); `cargo run --release -p balena-hup
//! --example vectors -- FILE...` does the same from the command line.

mod arch;
mod engine;
mod error;
mod rules;
pub mod vectors;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use arch::is_architecture_compatible_with;
pub use error::{HupError, RuleSetError};
pub use rules::{
    ActionSelection, ActionSettings, ActionTable, Behavior, MajorRule, PrereleasePolicy, RuleSet,
    TakeoverPolicy, TargetMajorCheck, UnmatchedTarget, VariantPolicy,
};

/// A host-OS update action, as named by upstream.
///
/// Serialises as the lower-case upstream name (`"balenahup"`, ...).
///
/// ```
/// use balena_hup::UpdateType;
///
/// assert_eq!(UpdateType::Takeover.to_string(), "takeover");
/// assert_eq!("resinhup12".parse::<UpdateType>(), Ok(UpdateType::Resinhup12));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateType {
    /// resinOS 1.x to 1.x (rule sets before 7.0.0).
    Resinhup11,
    /// resinOS 1.x to 2.x (rule sets before 7.0.0).
    Resinhup12,
    /// resinOS 2.x to 2.x (rule sets 1.x and 2.x only; later renamed `balenahup`).
    Resinhup22,
    /// The regular in-place host-OS update.
    Balenahup,
    /// A full re-flash ("takeover") is needed, for device types whose
    /// partition layout changed at some version.
    Takeover,
}

impl UpdateType {
    /// Every update type, in declaration order.
    pub const ALL: [UpdateType; 5] = [
        UpdateType::Resinhup11,
        UpdateType::Resinhup12,
        UpdateType::Resinhup22,
        UpdateType::Balenahup,
        UpdateType::Takeover,
    ];

    /// The upstream name.
    pub const fn as_str(self) -> &'static str {
        match self {
            UpdateType::Resinhup11 => "resinhup11",
            UpdateType::Resinhup12 => "resinhup12",
            UpdateType::Resinhup22 => "resinhup22",
            UpdateType::Balenahup => "balenahup",
            UpdateType::Takeover => "takeover",
        }
    }
}

impl fmt::Display for UpdateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not the name of an [`UpdateType`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown update type {0:?}")]
pub struct UnknownUpdateType(pub String);

impl FromStr for UpdateType {
    type Err = UnknownUpdateType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UpdateType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownUpdateType(s.to_owned()))
    }
}

// Deserialised from a plain string (not as a serde enum) so that, as a map
// key, error paths name it (`actions.resinhup33`) instead of `?`.
impl<'de> Deserialize<'de> for UpdateType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = UpdateType;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an update type name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<UpdateType, E> {
                v.parse().map_err(|_| {
                    E::unknown_variant(
                        v,
                        &[
                            "resinhup11",
                            "resinhup12",
                            "resinhup22",
                            "balenahup",
                            "takeover",
                        ],
                    )
                })
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// [`RuleSet::get_os_update_type`] with the current rule set (7.0.31).
///
/// ```
/// use balena_hup::{get_os_update_type, HupError};
///
/// assert_eq!(
///     get_os_update_type("raspberrypi3", "2.88.4", "not a version"),
///     Err(HupError::InvalidTargetVersion),
/// );
/// ```
pub fn get_os_update_type(
    device_type: &str,
    current: &str,
    target: &str,
) -> Result<UpdateType, HupError> {
    RuleSet::current().get_os_update_type(device_type, current, target)
}

/// [`RuleSet::is_supported_os_update`] with the current rule set (7.0.31).
///
/// ```
/// assert!(balena_hup::is_supported_os_update("fincm3", "2.14.0+rev1", "2.16.0+rev1"));
/// ```
pub fn is_supported_os_update(device_type: &str, current: &str, target: &str) -> bool {
    RuleSet::current().is_supported_os_update(device_type, current, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_type_round_trips() {
        for t in UpdateType::ALL {
            assert_eq!(t.as_str().parse::<UpdateType>(), Ok(t));
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{t}\""));
            assert_eq!(serde_json::from_str::<UpdateType>(&json).unwrap(), t);
        }
        assert!("Balenahup".parse::<UpdateType>().is_err());
        assert!("".parse::<UpdateType>().is_err());
    }
}
