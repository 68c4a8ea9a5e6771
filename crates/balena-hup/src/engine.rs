//! Applying a rule set to one (device type, current, target) request.

use std::cmp::Ordering;

use balena_semver::{Identifier, ParsedVersion};

use crate::rules::{
    ActionSettings, PrereleasePolicy, TakeoverPolicy, TargetMajorCheck, UnmatchedTarget,
    VariantPolicy,
};
use crate::{HupError, RuleSet, UpdateType};

/// The dev/prod variant named in a version's build or pre-release parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Dev,
    Prod,
}

fn has_identifier(parsed: &ParsedVersion, word: &str) -> bool {
    parsed.build.iter().any(|b| b == word)
        || parsed
            .prerelease
            .iter()
            .any(|p| matches!(p, Identifier::Alpha(s) if s == word))
}

fn variant(parsed: &ParsedVersion) -> Option<Variant> {
    if has_identifier(parsed, "dev") {
        Some(Variant::Dev)
    } else if has_identifier(parsed, "prod") {
        Some(Variant::Prod)
    } else {
        None
    }
}

/// A string setting that upstream would treat as truthy.
fn truthy(setting: &Option<Option<String>>) -> Option<&str> {
    match setting {
        Some(Some(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

impl RuleSet {
    /// Decides how a device of `device_type` running `current` can update to
    /// `target`, or why it cannot.
    ///
    /// The checks run in upstream's order: both versions valid, pre-release
    /// and dev/prod rules, no downgrade, not the same version, an action for
    /// the pair of majors, the device type has that action, then the
    /// action's source/target floors and ceilings, and finally takeover.
    /// All comparisons use balena-semver's order on the raw strings.
    ///
    /// ```
    /// use balena_hup::{HupError, RuleSet, UpdateType};
    ///
    /// let rules = RuleSet::current();
    /// assert_eq!(
    ///     rules.get_os_update_type("jetson-xavier-nx-devkit-emmc", "6.0.0", "6.1.0"),
    ///     Ok(UpdateType::Takeover),
    /// );
    /// assert_eq!(
    ///     rules.get_os_update_type("raspberrypi3", "2.88.4+rev1.dev", "2.88.5+rev1.prod"),
    ///     Err(HupError::VariantMismatch),
    /// );
    /// ```
    pub fn get_os_update_type(
        &self,
        device_type: &str,
        current: &str,
        target: &str,
    ) -> Result<UpdateType, HupError> {
        self.get_os_update_type_opt(device_type, Some(current), Some(target))
    }

    /// Like [`get_os_update_type`](Self::get_os_update_type), for callers
    /// whose versions may be missing (a missing version is invalid, exactly
    /// like upstream's `null`).
    ///
    /// ```
    /// use balena_hup::{HupError, RuleSet};
    ///
    /// assert_eq!(
    ///     RuleSet::current().get_os_update_type_opt("raspberrypi3", None, Some("2.88.4")),
    ///     Err(HupError::InvalidCurrentVersion),
    /// );
    /// ```
    pub fn get_os_update_type_opt(
        &self,
        device_type: &str,
        current: Option<&str>,
        target: Option<&str>,
    ) -> Result<UpdateType, HupError> {
        let (current, current_parsed) = current
            .and_then(|c| balena_semver::parse(c).map(|p| (c, p)))
            .ok_or(HupError::InvalidCurrentVersion)?;
        let (target, target_parsed) = target
            .and_then(|t| balena_semver::parse(t).map(|p| (t, p)))
            .ok_or(HupError::InvalidTargetVersion)?;
        let behavior = &self.behavior;

        if behavior.prereleases == PrereleasePolicy::Reject
            && (!current_parsed.prerelease.is_empty() || !target_parsed.prerelease.is_empty())
        {
            return Err(HupError::Prerelease);
        }

        let current_dev = variant(&current_parsed) == Some(Variant::Dev);
        let target_variant = variant(&target_parsed);
        let target_dev = target_variant == Some(Variant::Dev);
        match behavior.variants {
            VariantPolicy::RejectDevelopment if current_dev || target_dev => {
                return Err(HupError::DevelopmentVariant);
            }
            VariantPolicy::SameDevFlag if current_dev != target_dev => {
                return Err(HupError::VariantMismatch);
            }
            VariantPolicy::TargetVariant
                if target_variant.is_some() && current_dev != target_dev =>
            {
                return Err(HupError::VariantMismatch);
            }
            _ => {}
        }

        // Upstream asks `lt(target, current)`, then `compare(current, target)
        // == 0`; balena-semver's order is antisymmetric, so one comparison
        // answers both.
        match balena_semver::compare(target, current) {
            Ordering::Less => return Err(HupError::Downgrade),
            Ordering::Equal => return Err(HupError::SameVersion),
            Ordering::Greater => {}
        }

        let action = self.select_action(
            device_type,
            current,
            target,
            &current_parsed,
            &target_parsed,
        )?;

        let device_entry = self
            .device_types
            .get(device_type)
            .and_then(|table| table.get(&action));
        let default_entry = self.device_types_defaults.get(&action);
        if device_entry.is_none() && default_entry.is_none() {
            return Err(HupError::UnsupportedDeviceType {
                device_type: device_type.to_owned(),
            });
        }
        let mut settings = self.actions.get(&action).cloned().unwrap_or_default();
        for layer in [default_entry, device_entry].into_iter().flatten() {
            settings.overlay(layer);
        }

        self.check_settings(&settings, current, target, &target_parsed)?;

        if action == UpdateType::Balenahup
            && let Some(threshold) = truthy(&settings.min_takeover_version)
        {
            let source = match behavior.takeover {
                TakeoverPolicy::Disabled => None,
                TakeoverPolicy::RawCurrent => Some(current),
                TakeoverPolicy::StripVariantSuffix => Some(
                    current
                        .strip_suffix(".dev")
                        .or_else(|| current.strip_suffix(".prod"))
                        .unwrap_or(current),
                ),
            };
            if let Some(source) = source
                && balena_semver::lt(source, threshold)
                && balena_semver::gte(target, threshold)
            {
                return Ok(UpdateType::Takeover);
            }
        }
        Ok(action)
    }

    /// Whether [`get_os_update_type`](Self::get_os_update_type) returns an
    /// update type (rather than an error) for this request.
    ///
    /// ```
    /// let rules = balena_hup::RuleSet::current();
    /// assert!(rules.is_supported_os_update("raspberrypi3", "2.88.4", "2.88.5"));
    /// assert!(!rules.is_supported_os_update("raspberrypi3", "2.88.5", "2.88.4"));
    /// ```
    pub fn is_supported_os_update(&self, device_type: &str, current: &str, target: &str) -> bool {
        self.get_os_update_type(device_type, current, target)
            .is_ok()
    }

    /// Picks the action for the pair of major versions.
    fn select_action(
        &self,
        device_type: &str,
        current: &str,
        target: &str,
        current_parsed: &ParsedVersion,
        target_parsed: &ParsedVersion,
    ) -> Result<UpdateType, HupError> {
        let selection = &self.behavior.selection;
        let (from, to) = (current_parsed.major, target_parsed.major);
        if let Some(row) = selection
            .by_major
            .iter()
            .find(|row| row.from == from && row.to == to)
        {
            return Ok(row.action);
        }
        let unsupported_device = || HupError::UnsupportedDeviceType {
            device_type: device_type.to_owned(),
        };
        if selection.by_major.iter().any(|row| row.from == from) {
            return Err(match selection.unmatched_target {
                UnmatchedTarget::RejectVersionPair => HupError::UnsupportedVersionPair {
                    current: current.to_owned(),
                    target: target.to_owned(),
                },
                UnmatchedTarget::RejectDeviceType => unsupported_device(),
            });
        }
        selection.otherwise.ok_or_else(unsupported_device)
    }

    /// The action's floors, major and ceiling, in upstream's order.
    fn check_settings(
        &self,
        settings: &ActionSettings,
        current: &str,
        target: &str,
        target_parsed: &ParsedVersion,
    ) -> Result<(), HupError> {
        if let Some(Some(min)) = &settings.min_source_version
            && balena_semver::lt(current, min)
        {
            return Err(HupError::SourceTooOld { min: min.clone() });
        }
        let major_mismatch = match (
            self.behavior.target_major_check,
            settings.target_major_version,
        ) {
            (TargetMajorCheck::WhenSet, Some(Some(required))) => {
                required != 0 && target_parsed.major != required
            }
            (TargetMajorCheck::WhenSet, _) => false,
            (TargetMajorCheck::Always, Some(Some(required))) => target_parsed.major != required,
            (TargetMajorCheck::Always, _) => true,
        };
        if major_mismatch {
            return Err(HupError::TargetMajorMismatch {
                required: settings.target_major_version,
            });
        }
        if let Some(Some(min)) = &settings.min_target_version
            && balena_semver::lt(target, min)
        {
            return Err(HupError::TargetTooOld { min: min.clone() });
        }
        if let Some(max) = truthy(&settings.max_target_version)
            && balena_semver::gte(target, max)
        {
            return Err(HupError::TargetTooNew {
                max: max.to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant_of(v: &str) -> Option<Variant> {
        variant(&balena_semver::parse(v).expect("valid version"))
    }

    #[test]
    fn variants_come_from_build_then_prerelease() {
        assert_eq!(variant_of("2.88.4"), None);
        assert_eq!(variant_of("2.88.4+rev1.prod"), Some(Variant::Prod));
        assert_eq!(variant_of("2.88.4+rev1.dev"), Some(Variant::Dev));
        assert_eq!(variant_of("2.88.4-dev"), Some(Variant::Dev));
        assert_eq!(variant_of("2.88.4-dev+prod"), Some(Variant::Dev));
        assert_eq!(variant_of("2.88.4+DEV"), None);
        assert_eq!(variant_of("2.88.4+devel"), None);
    }

    #[test]
    fn empty_strings_are_falsy() {
        assert_eq!(truthy(&None), None);
        assert_eq!(truthy(&Some(None)), None);
        assert_eq!(truthy(&Some(Some(String::new()))), None);
        assert_eq!(truthy(&Some(Some("6.0.39".into()))), Some("6.0.39"));
    }
}
