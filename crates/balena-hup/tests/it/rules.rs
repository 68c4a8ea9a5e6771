//! Loading, validating and selecting rule sets.

use balena_hup::{
    ActionSettings, Behavior, PrereleasePolicy, RuleSet, RuleSetError, TakeoverPolicy, UpdateType,
    VariantPolicy,
};

const MINIMAL: &str = r#"{
    "name": "minimal",
    "actions": {"balenahup": {"minSourceVersion": "2.14.0+rev1", "minTargetVersion": "2.16.0+rev1"}},
    "deviceTypesDefaults": {"balenahup": {}}
}"#;

fn shape_path(err: RuleSetError) -> String {
    match err {
        RuleSetError::Shape { path, .. }
        | RuleSetError::InvalidVersion { path, .. }
        | RuleSetError::Invalid { path, .. } => path,
        other => panic!("expected an error with a path, got {other:?}"),
    }
}

#[test]
fn every_builtin_loads_and_validates() {
    assert_eq!(RuleSet::builtin_names().len(), 10);
    for name in RuleSet::builtin_names() {
        let rules = RuleSet::builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(rules.name, *name);
        rules.validate().unwrap();
        let package = rules.package.as_deref().expect("package");
        assert_eq!(package, format!("balena-hup-action-utils@{name}"));
        // The same set is reachable through its package name.
        assert!(std::ptr::eq(RuleSet::builtin(package).unwrap(), rules));
    }
    assert_eq!(RuleSet::current().name, RuleSet::CURRENT);
    assert!(std::ptr::eq(
        RuleSet::current(),
        RuleSet::builtin("7.0.31").unwrap()
    ));
}

#[test]
fn builtin_files_round_trip() {
    for name in RuleSet::builtin_names() {
        let rules = RuleSet::builtin(name).unwrap();
        let again = RuleSet::from_json_str(&rules.to_json_string()).unwrap();
        assert_eq!(&again, rules, "{name}");
    }
}

#[test]
fn releases_with_the_same_rules_are_aliases() {
    for (alias, canonical) in [
        ("3.0.0", "3.0.2"),
        ("4.0.0", "4.0.4"),
        ("4.1.0", "4.1.3"),
        ("5.0.0", "5.0.1"),
        ("6.0.0", "5.0.1"),
        ("6.2.0", "6.2.1"),
        ("6.2.9", "6.2.10"),
        ("balena-hup-action-utils@6.2.9", "6.2.10"),
        ("7.0.0", "7.0.31"),
        ("7.0.19", "7.0.31"),
    ] {
        assert_eq!(RuleSet::builtin(alias).unwrap().name, canonical, "{alias}");
    }
    for unknown in [
        "",
        "7",
        "7.0",
        "7.1.0",
        "1.0.0",
        "6.2.10-beta",
        "latest",
        "7.0.x",
    ] {
        let err = RuleSet::builtin(unknown).unwrap_err();
        assert!(
            matches!(err, RuleSetError::UnknownBuiltin { .. }),
            "{unknown}"
        );
        assert!(err.to_string().contains("7.0.31"), "{err}");
    }
}

#[test]
fn behaviour_differences_are_data() {
    let b = |n: &str| RuleSet::builtin(n).unwrap().behavior.clone();
    assert_eq!(b("1.2.2").prereleases, PrereleasePolicy::Reject);
    assert_eq!(b("5.0.1").prereleases, PrereleasePolicy::Reject);
    assert_eq!(b("6.1.0").prereleases, PrereleasePolicy::Allow);
    assert_eq!(b("3.0.2").variants, VariantPolicy::RejectDevelopment);
    assert_eq!(b("4.0.4").variants, VariantPolicy::SameDevFlag);
    assert_eq!(b("4.1.3").variants, VariantPolicy::TargetVariant);
    assert_eq!(b("6.1.0").takeover, TakeoverPolicy::Disabled);
    assert_eq!(b("6.2.1").takeover, TakeoverPolicy::RawCurrent);
    assert_eq!(b("6.2.10").takeover, TakeoverPolicy::StripVariantSuffix);
    // 7.x behaviour is the default, so its file could leave the block out.
    assert_eq!(b("7.0.31"), Behavior::default());
}

#[test]
fn a_file_without_behavior_gets_the_current_rules() {
    let rules = RuleSet::from_json_str(MINIMAL).unwrap();
    assert_eq!(rules.behavior, Behavior::default());
    assert_eq!(
        rules.actions[&UpdateType::Balenahup],
        RuleSet::current().actions[&UpdateType::Balenahup]
    );
    assert!(rules.device_types.is_empty());
}

#[test]
fn json_errors_name_the_field() {
    let cases = [
        (
            r#"{"actions": {"balenahup": {"minSourceVersion": "2.14"}}}"#,
            "actions.balenahup.minSourceVersion",
        ),
        (
            r#"{"actions": {}, "deviceTypes": {"raspberrypi3": {"balenahup": {"minTargetVersion": "two"}}}}"#,
            "deviceTypes.raspberrypi3.balenahup.minTargetVersion",
        ),
        (
            r#"{"actions": {}, "deviceTypesDefaults": {"balenahup": {"maxTargetVersion": ""}}}"#,
            "deviceTypesDefaults.balenahup.maxTargetVersion",
        ),
        (
            r#"{"actions": {"balenahup": {"minSourceVersoin": "2.0.0"}}}"#,
            "actions.balenahup.minSourceVersoin",
        ),
        (
            r#"{"actions": {"balenahup": {"targetMajorVersion": "2"}}}"#,
            "actions.balenahup.targetMajorVersion",
        ),
        (
            r#"{"actions": {"balenahup": {"targetMajorVersion": -1}}}"#,
            "actions.balenahup.targetMajorVersion",
        ),
        (r#"{"actions": {"resinhup33": {}}}"#, "actions.resinhup33"),
        (
            r#"{"actions": {}, "deviceTypes": {"x": {"hup": {}}}}"#,
            "deviceTypes.x.hup",
        ),
        (
            r#"{"actions": {}, "behavior": {"takeover": "sometimes"}}"#,
            "behavior.takeover",
        ),
        (r#"{"actions": {}, "devicetypes": {}}"#, "devicetypes"),
        (r#"{"deviceTypes": {}}"#, "."),
        (
            r#"{"actions": {"resinhup12": {"minTakeoverVersion": "6.0.0"}}}"#,
            "actions.resinhup12.minTakeoverVersion",
        ),
        (
            r#"{"actions": {}, "behavior": {"takeover": "disabled"},
                "deviceTypes": {"jetson-xavier": {"balenahup": {"minTakeoverVersion": "6.0.50"}}}}"#,
            "deviceTypes.jetson-xavier.balenahup.minTakeoverVersion",
        ),
        (
            r#"{"actions": {}, "behavior": {"selection": {"byMajor": [
                {"from": 1, "to": 1, "action": "resinhup11"},
                {"from": 1, "to": 1, "action": "resinhup12"}]}}}"#,
            "behavior.selection.byMajor[1]",
        ),
    ];
    for (text, path) in cases {
        let err = RuleSet::from_json_str(text).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(path), "{text}: {message}");
        assert_eq!(shape_path(err), path, "{text}");
    }
}

#[test]
fn syntax_errors_are_typed() {
    assert!(matches!(
        RuleSet::from_json_str("{").unwrap_err(),
        RuleSetError::JsonSyntax(_)
    ));
    assert!(matches!(
        RuleSet::from_json_str("").unwrap_err(),
        RuleSetError::JsonSyntax(_)
    ));
    assert!(matches!(
        RuleSet::from_toml_str("actions = ").unwrap_err(),
        RuleSetError::TomlSyntax(_)
    ));
    assert!(matches!(
        RuleSet::from_json_str("[]").unwrap_err(),
        RuleSetError::Shape { .. }
    ));
}

#[test]
fn null_clears_and_absence_inherits() {
    let rules = RuleSet::from_json_str(
        r#"{"actions": {"balenahup": {"minSourceVersion": "2.14.0+rev1", "targetMajorVersion": null}},
            "deviceTypes": {"x": {"balenahup": {"minSourceVersion": null}}}}"#,
    )
    .unwrap();
    let base = &rules.actions[&UpdateType::Balenahup];
    assert_eq!(
        base.min_source_version,
        Some(Some("2.14.0+rev1".to_owned()))
    );
    assert_eq!(base.target_major_version, Some(None));
    assert_eq!(base.min_target_version, None);
    let over = &rules.device_types["x"][&UpdateType::Balenahup];
    assert_eq!(over.min_source_version, Some(None));
    // null survives a round trip.
    let again = RuleSet::from_json_str(&rules.to_json_string()).unwrap();
    assert_eq!(again, rules);
}

#[test]
fn toml_and_json_describe_the_same_rules() {
    let toml_text = r#"
name = "7.0.31"
package = "balena-hup-action-utils@7.0.31"
description = "Config D, the current rules. resinhup11/resinhup12 are gone; every device type uses balenahup (or takeover) with floors 2.14.0+rev1 (source) and 2.16.0+rev1 (target)."

[behavior]
prereleases = "allow"
variants = "targetVariant"
targetMajorCheck = "whenSet"
takeover = "stripVariantSuffix"
selection = { byMajor = [], unmatchedTarget = "rejectVersionPair", otherwise = "balenahup" }

[actions.balenahup]
minSourceVersion = "2.14.0+rev1"
minTargetVersion = "2.16.0+rev1"

[actions.takeover]
minSourceVersion = "99.99.99"
minTargetVersion = "99.99.99"

[deviceTypesDefaults.balenahup]

[deviceTypes.jetson-xavier.balenahup]
minTakeoverVersion = "6.0.50"

[deviceTypes.jetson-xavier-nx-devkit.balenahup]
minTakeoverVersion = "6.0.50+rev1"

[deviceTypes.jetson-xavier-nx-devkit-emmc.balenahup]
minTakeoverVersion = "6.0.39"
"#;
    let from_toml = RuleSet::from_toml_str(toml_text).unwrap();
    assert_eq!(&from_toml, RuleSet::current());
}

#[test]
fn toml_errors_name_the_field_too() {
    let err =
        RuleSet::from_toml_str("[actions.balenahup]\nminSourceVersion = \"2.x\"\n").unwrap_err();
    assert_eq!(shape_path(err), "actions.balenahup.minSourceVersion");
    let err =
        RuleSet::from_toml_str("[actions.balenahup]\ntargetMajorVersion = 2.5\n").unwrap_err();
    assert_eq!(shape_path(err), "actions.balenahup.targetMajorVersion");
}

#[test]
fn from_path_picks_the_format_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("rules.JSON");
    std::fs::write(&json, MINIMAL).unwrap();
    assert_eq!(RuleSet::from_path(&json).unwrap().name, "minimal");

    let toml_path = dir.path().join("rules.toml");
    std::fs::write(
        &toml_path,
        "name = \"from-toml\"\n[actions.balenahup]\n[deviceTypesDefaults.balenahup]\n",
    )
    .unwrap();
    let rules = RuleSet::from_path(&toml_path).unwrap();
    assert_eq!(rules.name, "from-toml");
    assert_eq!(
        rules.actions[&UpdateType::Balenahup],
        ActionSettings::default()
    );

    // JSON text in a .toml file is read as TOML, and fails as such.
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(&wrong, MINIMAL).unwrap();
    assert!(matches!(
        RuleSet::from_path(&wrong).unwrap_err(),
        RuleSetError::TomlSyntax(_)
    ));

    let txt = dir.path().join("rules.txt");
    std::fs::write(&txt, MINIMAL).unwrap();
    assert!(matches!(
        RuleSet::from_path(&txt).unwrap_err(),
        RuleSetError::UnknownFormat { .. }
    ));
    assert!(matches!(
        RuleSet::from_path(dir.path().join("rules")).unwrap_err(),
        RuleSetError::UnknownFormat { .. }
    ));
    let missing = RuleSet::from_path(dir.path().join("missing.json")).unwrap_err();
    assert!(matches!(missing, RuleSetError::Io { .. }));
    assert!(missing.to_string().contains("missing.json"));
}

#[test]
fn the_shipped_example_file_loads() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/custom-rules.toml");
    let rules = RuleSet::from_path(path).unwrap();
    rules.validate().unwrap();
    assert_eq!(rules.name, "example-fleet");
}

#[test]
fn validate_catches_edits_made_in_code() {
    let mut rules = RuleSet::current().clone();
    rules.validate().unwrap();
    rules
        .device_types
        .entry("fincm3".to_owned())
        .or_default()
        .insert(
            UpdateType::Balenahup,
            ActionSettings {
                min_source_version: Some(Some("not-a-version".to_owned())),
                ..Default::default()
            },
        );
    let err = rules.validate().unwrap_err();
    assert_eq!(
        shape_path(err),
        "deviceTypes.fincm3.balenahup.minSourceVersion"
    );
}

#[test]
fn british_spelling_is_accepted() {
    let rules =
        RuleSet::from_json_str(r#"{"actions": {}, "behaviour": {"prereleases": "reject"}}"#)
            .unwrap();
    assert_eq!(rules.behavior.prereleases, PrereleasePolicy::Reject);
}
