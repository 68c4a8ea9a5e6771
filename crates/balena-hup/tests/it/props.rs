//! Properties over generated requests: no panics, and the answers hang
//! together with balena-semver's order.

use balena_hup::{HupError, RuleSet, UpdateType};
use proptest::prelude::*;

/// Version-like strings: mostly well-formed balenaOS versions with
/// revisions, variants and pre-releases, sometimes arbitrary text.
fn version() -> impl Strategy<Value = String> {
    let well_formed = (
        prop_oneof![Just(1u64), Just(2), Just(6), Just(2024), 0u64..10],
        0u64..100,
        0u64..60,
        prop::option::of(prop_oneof![
            Just("-rc1".to_owned()),
            Just("-dev".to_owned()),
            Just("-1234".to_owned()),
        ]),
        prop::option::of(0u64..4),
        prop::option::of(prop_oneof![
            Just(".dev"),
            Just(".prod"),
            Just(" (prod)"),
            Just("+dev")
        ]),
    )
        .prop_map(|(major, minor, patch, pre, rev, variant)| {
            let mut v = format!("{major}.{minor}.{patch}{}", pre.unwrap_or_default());
            if let Some(rev) = rev {
                v.push_str(&format!("+rev{rev}"));
            }
            if let Some(variant) = variant {
                v.push_str(variant);
            }
            v
        });
    prop_oneof![8 => well_formed, 1 => any::<String>(), 1 => "[ -~]{0,12}"]
}

fn slug() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("raspberrypi3".to_owned()),
        Just("beaglebone-black".to_owned()),
        Just("jetson-xavier".to_owned()),
        Just("jetson-xavier-nx-devkit-emmc".to_owned()),
        Just("__proto__".to_owned()),
        Just(String::new()),
        "[a-z0-9-]{1,20}",
    ]
}

fn rule_set() -> impl Strategy<Value = &'static RuleSet> {
    prop::sample::select(RuleSet::builtin_names().to_vec())
        .prop_map(|name| RuleSet::builtin(name).expect("built-in"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn answers_are_consistent(rules in rule_set(), dt in slug(), cur in version(), tgt in version()) {
        let result = rules.get_os_update_type(&dt, &cur, &tgt);
        prop_assert_eq!(rules.is_supported_os_update(&dt, &cur, &tgt), result.is_ok());
        match &result {
            Ok(_) => {
                // An allowed update always goes strictly upwards.
                prop_assert!(balena_semver::gt(&tgt, &cur));
            }
            Err(HupError::Downgrade) => prop_assert!(balena_semver::lt(&tgt, &cur)),
            Err(HupError::SameVersion) => {
                prop_assert!(balena_semver::compare(&cur, &tgt).is_eq());
            }
            Err(HupError::InvalidCurrentVersion) => {
                prop_assert!(balena_semver::parse(&cur).is_none());
            }
            Err(HupError::InvalidTargetVersion) => {
                prop_assert!(balena_semver::parse(&tgt).is_none());
            }
            Err(HupError::UnsupportedDeviceType { device_type }) => {
                prop_assert_eq!(device_type, &dt);
            }
            Err(_) => {}
        }
    }

    #[test]
    fn only_the_xavier_family_differs_in_the_current_rules(
        dt in "[a-z0-9-]{0,20}", cur in version(), tgt in version()
    ) {
        prop_assume!(!dt.starts_with("jetson-xavier"));
        let rules = RuleSet::current();
        prop_assert_eq!(
            rules.get_os_update_type(&dt, &cur, &tgt),
            rules.get_os_update_type("raspberrypi3", &cur, &tgt)
        );
        prop_assert_ne!(
            rules.get_os_update_type(&dt, &cur, &tgt),
            Ok(UpdateType::Takeover)
        );
    }

    #[test]
    fn loading_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = RuleSet::from_json_str(&text);
        let _ = RuleSet::from_toml_str(&text);
    }
}
