//! Every recorded upstream answer, for every rule set.

use balena_hup::RuleSet;
use balena_hup::vectors::VectorFile;

use crate::shared_dir;

fn run_file(name: &str) {
    let path = shared_dir().join("vectors").join(name);
    let file = VectorFile::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!file.cases.is_empty(), "{name} has no cases");
    let rules = file.rule_set().expect("a built-in rule set for the file");
    file.check_config(rules)
        .expect("meta.config matches the built-in rule set");
    let report = file.run(rules);
    let shown: Vec<String> = report
        .failures
        .iter()
        .take(20)
        .map(|f| f.to_string())
        .collect();
    assert_eq!(
        report.failed(),
        0,
        "{name}: {} passed, {} failed; first failures:\n{}",
        report.passed,
        report.failed(),
        shown.join("\n")
    );
    assert_eq!(report.passed, file.cases.len());
}

macro_rules! vector_tests {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $test() {
                run_file($file);
            }
        )*

        /// Every `hup-*.json` file in the folder is one of the above, so a
        /// new file cannot be skipped silently.
        #[test]
        fn every_vector_file_is_covered() {
            let known = [$($file),*];
            let mut found = Vec::new();
            for entry in std::fs::read_dir(shared_dir().join("vectors")).expect("vectors folder") {
                let name = entry.expect("dir entry").file_name().to_string_lossy().into_owned();
                if name.starts_with("hup-") && name.ends_with(".json") {
                    assert!(known.contains(&name.as_str()), "no test for {name}");
                    found.push(name);
                }
            }
            assert_eq!(found.len(), known.len());
        }
    };
}

vector_tests! {
    hup_1_2_2 => "hup-1.2.2.json",
    hup_3_0_2 => "hup-3.0.2.json",
    hup_4_0_4 => "hup-4.0.4.json",
    hup_4_1_3 => "hup-4.1.3.json",
    hup_5_0_1 => "hup-5.0.1.json",
    hup_6_1_0 => "hup-6.1.0.json",
    hup_6_2_1 => "hup-6.2.1.json",
    hup_6_2_10 => "hup-6.2.10.json",
    hup_7_0_31 => "hup-7.0.31.json",
}

#[test]
fn a_file_for_an_unknown_package_is_refused() {
    let file =
        VectorFile::parse(r#"{"meta": {"package": "balena-hup-action-utils@0.0.1"}, "cases": []}"#)
            .unwrap();
    let err = file.rule_set().unwrap_err();
    assert!(err.to_string().contains("0.0.1"), "{err}");
}

#[test]
fn a_changed_config_is_reported() {
    let file = VectorFile::parse(
        r#"{"meta": {"package": "balena-hup-action-utils@7.0.31", "config": {
            "actions": {"balenahup": {"minSourceVersion": "2.14.0+rev1", "minTargetVersion": "2.16.0"}},
            "deviceTypesDefaults": {"balenahup": {}}
        }}, "cases": []}"#,
    )
    .unwrap();
    let rules = file.rule_set().unwrap();
    assert!(file.check_config(rules).is_err());
}

#[test]
fn failures_are_reported_with_the_case() {
    let file = VectorFile::parse(
        r#"{"meta": {"package": "balena-hup-action-utils@7.0.31"}, "cases": [
            {"deviceType": "raspberrypi3", "current": "2.88.4", "target": "2.88.5",
             "action": "takeover", "error": null, "isSupported": true},
            {"deviceType": "raspberrypi3", "current": "2.88.4", "target": "2.88.5",
             "action": "balenahup", "error": null, "isSupported": true}
        ]}"#,
    )
    .unwrap();
    let report = file.run(RuleSet::current());
    assert_eq!(report.passed, 1);
    assert_eq!(report.failed(), 1);
    let line = report.failures[0].to_string();
    assert!(line.contains("expected takeover"), "{line}");
    assert!(line.contains("got balenahup"), "{line}");
}

#[test]
fn the_semver4_answer_wins() {
    let file = VectorFile::parse(
        r#"{"meta": {"package": "balena-hup-action-utils@3.0.2"}, "cases": [
            {"deviceType": "raspberrypi3", "current": "2.88.4+rev1ve", "target": "2.88.4+rev1",
             "action": null, "error": "OS downgrades are not allowed", "isSupported": false,
             "withBalenaSemver4": {"action": "balenahup", "error": null, "isSupported": true}}
        ]}"#,
    )
    .unwrap();
    let rules = file.rule_set().unwrap();
    assert_eq!(rules.name, "3.0.2");
    let report = file.run(rules);
    assert_eq!((report.passed, report.failed()), (1, 0));
}
