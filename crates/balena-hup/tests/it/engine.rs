//! The update rules, checked on the examples the specification gives
//! (`shared/spec/semver-hup.md`, parts B and C) and on custom rule sets.

use balena_hup::{HupError, RuleSet, UpdateType, get_os_update_type, is_supported_os_update};

use UpdateType::{Balenahup, Resinhup11, Resinhup12, Resinhup22, Takeover};

fn current(dt: &str, cur: &str, tgt: &str) -> Result<UpdateType, HupError> {
    get_os_update_type(dt, cur, tgt)
}

fn message(result: Result<UpdateType, HupError>) -> String {
    match result {
        Ok(action) => action.to_string(),
        Err(err) => err.to_string(),
    }
}

/// One request and the answer expected: (slug, current, target, answer).
type Case = (
    &'static str,
    &'static str,
    &'static str,
    Result<UpdateType, HupError>,
);

/// Checks every case against `answer` (the crate's `get_os_update_type` or
/// a rule set's).
fn check(answer: impl Fn(&str, &str, &str) -> Result<UpdateType, HupError>, cases: &[Case]) {
    for (dt, cur, tgt, expected) in cases {
        assert_eq!(&answer(dt, cur, tgt), expected, "{dt:?}: {cur} -> {tgt}");
    }
}

/// Checks every case against `rules`.
fn check_rules(rules: &RuleSet, cases: &[Case]) {
    check(|dt, cur, tgt| rules.get_os_update_type(dt, cur, tgt), cases);
}

/// Checks the message (as upstream prints it) of every
/// (slug, current, target, message) case against `rules`.
fn check_messages(rules: &RuleSet, cases: &[(&str, &str, &str, &str)]) {
    for (dt, cur, tgt, expected) in cases {
        assert_eq!(
            message(rules.get_os_update_type(dt, cur, tgt)),
            *expected,
            "{dt:?}: {cur} -> {tgt}"
        );
    }
}

#[test]
fn validity_comes_first() {
    for bad in [
        "",
        "2.9.6.7",
        "V2.14.0",
        "=2.14.0",
        "\u{85}2.0.0",
        "foobar",
        "1.2",
    ] {
        assert_eq!(
            current("raspberrypi3", bad, "2.88.4"),
            Err(HupError::InvalidCurrentVersion),
            "{bad:?}"
        );
        assert_eq!(
            current("raspberrypi3", "2.88.4", bad),
            Err(HupError::InvalidTargetVersion),
            "{bad:?}"
        );
        assert!(!is_supported_os_update("raspberrypi3", bad, "2.88.4"));
    }
    // Both invalid: the current version is reported.
    assert_eq!(
        current("raspberrypi3", "x", "y"),
        Err(HupError::InvalidCurrentVersion)
    );
    let rules = RuleSet::current();
    assert_eq!(
        rules.get_os_update_type_opt("raspberrypi3", None, None),
        Err(HupError::InvalidCurrentVersion)
    );
    assert_eq!(
        rules.get_os_update_type_opt("raspberrypi3", Some("2.88.4"), None),
        Err(HupError::InvalidTargetVersion)
    );
    assert_eq!(
        rules.get_os_update_type_opt("raspberrypi3", Some("2.88.4"), Some("2.88.5")),
        Ok(Balenahup)
    );
}

#[test]
fn messages_are_upstreams() {
    let cases = [
        ("2.88.4", "2.80.0", "OS downgrades are not allowed"),
        (
            "2.88.4",
            "2.88.4",
            "Current OS version matches Target OS version",
        ),
        (
            "2.88.4+rev1.dev",
            "2.88.5+rev1.prod",
            "Updates cannot be performed between development and production balenaOS variants",
        ),
        (
            "2.10.0",
            "2.95.12",
            "Current OS version must be >= 2.14.0+rev1",
        ),
        (
            "2.14.0+rev1",
            "2.16.0",
            "Target OS version must be >= 2.16.0+rev1",
        ),
        ("2.88.4+rev1.prod", "2.95.12+rev1.prod", "balenahup"),
    ];
    for (cur, tgt, expected) in cases {
        assert_eq!(
            message(current("raspberrypi3", cur, tgt)),
            expected,
            "{cur} -> {tgt}"
        );
    }
}

#[test]
fn variant_rule_of_the_current_set() {
    check(
        current,
        &[
            // A target without a variant is reachable from anything.
            ("fincm3", "2.88.4+rev1.dev", "2.95.12", Ok(Balenahup)),
            ("fincm3", "2.88.4+rev1.prod", "2.95.12", Ok(Balenahup)),
            // A source without a variant may go to prod, not to dev.
            ("fincm3", "2.88.4", "2.95.12+rev1.prod", Ok(Balenahup)),
            (
                "fincm3",
                "2.88.4",
                "2.95.12+rev1.dev",
                Err(HupError::VariantMismatch),
            ),
            // Pre-release `-dev` counts; capitalised variants do not.
            (
                "fincm3",
                "2.88.4",
                "2.88.5-dev",
                Err(HupError::VariantMismatch),
            ),
            ("fincm3", "2.88.4", "2.88.5+DEV", Ok(Balenahup)),
        ],
    );
}

#[test]
fn downgrade_and_same_version_follow_balena_order() {
    use HupError::{Downgrade, SameVersion};
    check(
        current,
        &[
            ("fincm3", "2.88.4.prod", "2.88.4", Err(Downgrade)),
            ("fincm3", "2.29.2+rev1", "2.29.2-1234+rev2", Err(Downgrade)),
            ("fincm3", "2.88.4 balenaOS", "2.88.4", Err(Downgrade)),
            (
                "fincm3",
                "2.88.4+rev1 (prod)",
                "2.88.4+rev1.prod",
                Err(SameVersion),
            ),
            ("fincm3", "2.88.4+rev1", "2.88.4+rev01", Err(SameVersion)),
            ("fincm3", "2022.10.1", "2022.10.01", Err(SameVersion)),
        ],
    );
}

#[test]
fn floors_of_the_current_set() {
    for src in ["2.14.0", "2.14.0+rev0", "2.14.0+rev1.dev"] {
        assert_eq!(
            current("fincm3", src, "2.88.4"),
            Err(HupError::SourceTooOld {
                min: "2.14.0+rev1".into()
            }),
            "{src}"
        );
    }
    for src in ["2.14.0+rev1", "2.14.0+rev1.prod"] {
        assert_eq!(current("fincm3", src, "2.88.4"), Ok(Balenahup), "{src}");
    }
    for tgt in [
        "2.16.0",
        "2.16.0+rev0.prod",
        "2.16.0-rc1",
        "2.16.0-rc1+rev1",
    ] {
        assert_eq!(
            current("fincm3", "2.14.0+rev1", tgt),
            Err(HupError::TargetTooOld {
                min: "2.16.0+rev1".into()
            }),
            "{tgt}"
        );
    }
    check(
        current,
        &[
            ("fincm3", "2.14.0+rev1", "2.16.1-rc1+rev1", Ok(Balenahup)),
            (
                "fincm3",
                "1.26.0",
                "2.88.4",
                Err(HupError::SourceTooOld {
                    min: "2.14.0+rev1".into(),
                }),
            ),
            // ESR versions are just large majors.
            ("fincm3", "6.10.4", "2024.10.1", Ok(Balenahup)),
            ("fincm3", "2024.10.1", "6.10.4", Err(HupError::Downgrade)),
        ],
    );
}

#[test]
fn takeover_of_the_current_set() {
    const EMMC: &str = "jetson-xavier-nx-devkit-emmc";
    const NX: &str = "jetson-xavier-nx-devkit";
    const XAVIER: &str = "jetson-xavier";
    check(
        current,
        &[
            (EMMC, "6.0.0", "6.0.38", Ok(Balenahup)),
            (EMMC, "6.0.0", "6.1.0", Ok(Takeover)),
            (EMMC, "6.0.39", "6.1.0", Ok(Balenahup)),
            (EMMC, "6.0.39.dev", "6.1.0", Ok(Balenahup)),
            (EMMC, "6.0.39+rev1.dev", "6.1.0", Ok(Balenahup)),
            (EMMC, "6.0.39+dev", "6.1.0", Ok(Takeover)),
            (NX, "6.0.50", "6.0.50+rev1", Ok(Takeover)),
            (NX, "6.0.50+rev1", "6.1.0", Ok(Balenahup)),
            (
                XAVIER,
                "6.0.50+rev0",
                "6.0.50.prod",
                Err(HupError::Downgrade),
            ),
            (XAVIER, "6.0.50+dev", "6.0.50", Ok(Takeover)),
            (XAVIER, "6.0.50 (dev)", "6.0.50", Ok(Takeover)),
        ],
    );
}

#[test]
fn slugs_are_plain_keys() {
    // Every slug other than the three Xavier ones behaves like raspberrypi3.
    let pairs = [
        ("6.0.0", "6.1.0"),
        ("2.10.0", "2.95.12"),
        ("2.88.4", "2.88.5"),
        ("6.0.50", "6.0.50+rev1"),
    ];
    for slug in [
        "",
        "constructor",
        "__proto__",
        "toString",
        "hasOwnProperty",
        "unknonwn-new-device-type",
        "generic-aarch64",
    ] {
        for (cur, tgt) in pairs {
            assert_eq!(
                current(slug, cur, tgt),
                current("raspberrypi3", cur, tgt),
                "{slug:?}: {cur} -> {tgt}"
            );
        }
    }
}

/// Part C.2's table: one row per request, one column per rule set.
#[test]
fn older_rule_sets_table() {
    const NOT_ON: &str = "not on";
    const NOT_FROM: &str = "not from";
    const BELOW: &str = "Target OS version must be < 2.5.1+rev1";
    const R11: &str = "resinhup11";
    const R12: &str = "resinhup12";
    const R22: &str = "resinhup22";
    const HUP: &str = "balenahup";
    const TAKE: &str = "takeover";
    const FROM_1_30: &str = "Current OS version must be >= 1.30.1";
    const FROM_2_0: &str = "Current OS version must be >= 2.0.0+rev1";
    const FROM_2_14: &str = "Current OS version must be >= 2.14.0+rev1";
    const DEV: &str = "Updates cannot be performed on development balenaOS variants";
    const DEV_PROD: &str =
        "Updates cannot be performed between development and production balenaOS variants";
    const PRE: &str = "Updates cannot be performed on pre-release balenaOS versions";
    let columns = [
        "1.2.2", "3.0.2", "4.0.4", "4.1.3", "6.1.0", "6.2.1", "6.2.10", "7.0.31",
    ];
    let rows: [(&str, &str, &str, [&str; 8]); 15] = [
        (
            "raspberrypi3",
            "1.8.0",
            "1.26.0",
            [R11, R11, R11, R11, R11, R11, R11, FROM_2_14],
        ),
        (
            "raspberrypi3",
            "1.8.0",
            "2.5.1+rev1",
            [BELOW, BELOW, BELOW, BELOW, BELOW, BELOW, BELOW, FROM_2_14],
        ),
        (
            "raspberrypi3",
            "1.8.0",
            "2.5.1+rev0.prod",
            [R12, R12, R12, R12, R12, R12, R12, FROM_2_14],
        ),
        (
            "beaglebone-black",
            "1.8.0",
            "2.3.0+rev1",
            [
                FROM_1_30, FROM_1_30, FROM_1_30, FROM_1_30, FROM_1_30, FROM_1_30, FROM_1_30,
                FROM_2_14,
            ],
        ),
        (
            "fincm3",
            "1.8.0",
            "2.3.0+rev1",
            [
                NOT_ON, NOT_ON, NOT_ON, NOT_ON, NOT_ON, NOT_ON, NOT_ON, FROM_2_14,
            ],
        ),
        (
            "raspberrypi3",
            "1.26.0",
            "3.0.0+rev1.prod",
            [
                NOT_ON, NOT_FROM, NOT_FROM, NOT_FROM, NOT_FROM, NOT_FROM, NOT_FROM, FROM_2_14,
            ],
        ),
        (
            "raspberrypi3",
            "2.0.0+rev1",
            "2.2.0+rev1",
            [R22, HUP, HUP, HUP, HUP, HUP, HUP, FROM_2_14],
        ),
        (
            "generic-aarch64",
            "2.0.0+rev1",
            "2.2.0+rev1",
            [NOT_ON, HUP, HUP, HUP, HUP, HUP, HUP, FROM_2_14],
        ),
        (
            "raspberrypi3",
            "2.16.0+rev1",
            "2019.04.0",
            [NOT_ON, HUP, HUP, HUP, HUP, HUP, HUP, HUP],
        ),
        (
            "raspberrypi3",
            "2.12.7+rev1.dev",
            "2.16.0+rev1.dev",
            [DEV, DEV, HUP, HUP, HUP, HUP, HUP, FROM_2_14],
        ),
        (
            "raspberrypi3",
            "2.29.2+rev1.dev",
            "2.88.4",
            [DEV, DEV, DEV_PROD, HUP, HUP, HUP, HUP, HUP],
        ),
        (
            "raspberrypi3",
            "2.14.6+rev2.prod",
            "2.29.2-1234+rev1",
            [PRE, PRE, PRE, PRE, HUP, HUP, HUP, HUP],
        ),
        (
            "raspberrypi3",
            "0.9.0",
            "2.16.0+rev1",
            [
                NOT_ON, FROM_2_0, FROM_2_0, FROM_2_0, FROM_2_0, FROM_2_0, FROM_2_0, FROM_2_14,
            ],
        ),
        (
            "jetson-xavier-nx-devkit-emmc",
            "6.0.0",
            "6.1.0",
            [NOT_ON, HUP, HUP, HUP, HUP, TAKE, TAKE, TAKE],
        ),
        (
            "jetson-xavier-nx-devkit-emmc",
            "6.0.39.dev",
            "6.1.0",
            [DEV, DEV, DEV_PROD, HUP, HUP, TAKE, HUP, HUP],
        ),
    ];
    for (dt, cur, tgt, answers) in rows {
        for (set, answer) in columns.iter().zip(answers) {
            let rules = RuleSet::builtin(set).unwrap();
            let expected = match answer {
                NOT_ON => format!("This update request cannot be performed on '{dt}'"),
                NOT_FROM => format!("This update request cannot be performed from {cur} to {tgt}"),
                other => other.to_owned(),
            };
            let got = rules.get_os_update_type(dt, cur, tgt);
            assert_eq!(message(got.clone()), expected, "{set}: {dt} {cur} -> {tgt}");
            assert_eq!(rules.is_supported_os_update(dt, cur, tgt), got.is_ok());
        }
    }
}

#[test]
fn rule_set_2_0_2_gives_resinhup22_to_every_slug() {
    let rules = RuleSet::builtin("2.0.2").unwrap();
    check_rules(
        rules,
        &[
            (
                "generic-aarch64",
                "2.0.0+rev1",
                "2.2.0+rev1",
                Ok(Resinhup22),
            ),
            ("raspberrypi3", "1.8.0", "1.26.0", Ok(Resinhup11)),
            ("raspberrypi3", "1.8.0", "2.5.1+rev0.prod", Ok(Resinhup12)),
        ],
    );
    check_messages(
        rules,
        &[
            (
                "fincm3",
                "1.8.0",
                "2.3.0+rev1",
                "This update request cannot be performed on 'fincm3'",
            ),
            (
                "raspberrypi3",
                "2.16.0+rev1",
                "2019.04.0",
                "This update request cannot be performed on 'raspberrypi3'",
            ),
        ],
    );
}

fn custom(json: &str) -> RuleSet {
    RuleSet::from_json_str(json).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn target_major_always_checked_prints_like_javascript() {
    let rules = custom(
        r#"{"behavior": {"targetMajorCheck": "always"},
            "actions": {"balenahup": {}},
            "deviceTypesDefaults": {"balenahup": {}},
            "deviceTypes": {"a": {"balenahup": {"targetMajorVersion": null}},
                            "b": {"balenahup": {"targetMajorVersion": 2}}}}"#,
    );
    check_messages(
        &rules,
        &[
            (
                "x",
                "2.88.4",
                "2.88.5",
                "Target OS version must be of major version undefined",
            ),
            (
                "a",
                "2.88.4",
                "2.88.5",
                "Target OS version must be of major version null",
            ),
            (
                "b",
                "2.88.4",
                "6.0.0",
                "Target OS version must be of major version 2",
            ),
        ],
    );
    check_rules(&rules, &[("b", "2.88.4", "2.88.5", Ok(Balenahup))]);
}

#[test]
fn target_major_when_set_ignores_zero() {
    let rules = custom(
        r#"{"actions": {"balenahup": {"targetMajorVersion": 0}},
            "deviceTypesDefaults": {"balenahup": {}},
            "deviceTypes": {"two": {"balenahup": {"targetMajorVersion": 2}}}}"#,
    );
    check_rules(
        &rules,
        &[
            ("x", "2.88.4", "6.0.0", Ok(Balenahup)),
            (
                "two",
                "2.88.4",
                "6.0.0",
                Err(HupError::TargetMajorMismatch {
                    required: Some(Some(2)),
                }),
            ),
        ],
    );
}

#[test]
fn layers_override_key_by_key_and_null_clears() {
    let rules = custom(
        r#"{"actions": {"balenahup": {"minSourceVersion": "2.14.0+rev1", "minTargetVersion": "2.16.0+rev1"}},
            "deviceTypesDefaults": {"balenahup": {"minSourceVersion": "2.50.0"}},
            "deviceTypes": {"lab": {"balenahup": {"minSourceVersion": null}},
                            "old": {"balenahup": {"maxTargetVersion": "2.88.5"}}}}"#,
    );
    check_rules(
        &rules,
        &[
            // Defaults raise the action's floor...
            (
                "x",
                "2.49.0",
                "2.88.4",
                Err(HupError::SourceTooOld {
                    min: "2.50.0".into(),
                }),
            ),
            // ...a device override of null removes it, while the target floor stays.
            ("lab", "2.10.0", "2.88.4", Ok(Balenahup)),
            (
                "lab",
                "2.10.0",
                "2.16.0",
                Err(HupError::TargetTooOld {
                    min: "2.16.0+rev1".into(),
                }),
            ),
            // A ceiling is exclusive.
            ("old", "2.50.0", "2.88.4", Ok(Balenahup)),
        ],
    );
    check_messages(
        &rules,
        &[(
            "old",
            "2.50.0",
            "2.88.5",
            "Target OS version must be < 2.88.5",
        )],
    );
}

#[test]
fn selection_table_and_fallbacks() {
    let rules = custom(
        r#"{"behavior": {"selection": {"byMajor": [{"from": 1, "to": 2, "action": "resinhup12"}],
                                       "unmatchedTarget": "rejectDeviceType", "otherwise": null}},
            "actions": {"resinhup12": {}},
            "deviceTypes": {"rpi": {"resinhup12": {}}}}"#,
    );
    check_rules(&rules, &[("rpi", "1.8.0", "2.3.0+rev1", Ok(Resinhup12))]);
    check_messages(
        &rules,
        &[
            (
                "other",
                "1.8.0",
                "2.3.0+rev1",
                "This update request cannot be performed on 'other'",
            ),
            // Source major 1 is listed but target major 1 is not.
            (
                "rpi",
                "1.8.0",
                "1.26.0",
                "This update request cannot be performed on 'rpi'",
            ),
            // Source major 2 is not listed and there is no fallback.
            (
                "rpi",
                "2.88.4",
                "2.88.5",
                "This update request cannot be performed on 'rpi'",
            ),
        ],
    );
}

#[test]
fn the_empty_slug_can_be_configured() {
    let rules = custom(
        r#"{"actions": {"balenahup": {}},
            "deviceTypes": {"": {"balenahup": {}}}}"#,
    );
    check_rules(&rules, &[("", "2.88.4", "2.88.5", Ok(Balenahup))]);
    check_messages(
        &rules,
        &[(
            "fincm3",
            "2.88.4",
            "2.88.5",
            "This update request cannot be performed on 'fincm3'",
        )],
    );
}

#[test]
fn takeover_policies() {
    let json = |policy: &str| {
        format!(
            r#"{{"behavior": {{"takeover": "{policy}"}},
                "actions": {{"balenahup": {{}}}},
                "deviceTypesDefaults": {{"balenahup": {{}}}},
                "deviceTypes": {{"x": {{"balenahup": {{"minTakeoverVersion": "6.0.39"}}}}}}}}"#
        )
    };
    let raw = custom(&json("rawCurrent"));
    let strip = custom(&json("stripVariantSuffix"));
    check_rules(&raw, &[("x", "6.0.39.dev", "6.1.0", Ok(Takeover))]);
    check_rules(
        &strip,
        &[
            ("x", "6.0.39.dev", "6.1.0", Ok(Balenahup)),
            ("x", "6.0.39.prod", "6.1.0.prod", Ok(Balenahup)),
            ("x", "6.0.0", "6.1.0", Ok(Takeover)),
            ("y", "6.0.0", "6.1.0", Ok(Balenahup)),
        ],
    );
    // The action's own checks still run first.
    let floors = custom(
        r#"{"actions": {"balenahup": {"minTargetVersion": "6.0.38"}},
            "deviceTypesDefaults": {"balenahup": {}},
            "deviceTypes": {"x": {"balenahup": {"minTakeoverVersion": "6.0.39"}}}}"#,
    );
    check_rules(
        &floors,
        &[(
            "x",
            "6.0.0",
            "6.0.1",
            Err(HupError::TargetTooOld {
                min: "6.0.38".into(),
            }),
        )],
    );
}

#[test]
fn prerelease_rejection_applies_to_both_sides() {
    let rules = custom(
        r#"{"behavior": {"prereleases": "reject"},
            "actions": {"balenahup": {}}, "deviceTypesDefaults": {"balenahup": {}}}"#,
    );
    check_rules(
        &rules,
        &[
            ("x", "2.88.4-dev", "2.88.5", Err(HupError::Prerelease)),
            ("x", "2.88.4", "2.88.5-dev", Err(HupError::Prerelease)),
            ("x", "2.88.4", "2.88.5", Ok(Balenahup)),
        ],
    );
}
