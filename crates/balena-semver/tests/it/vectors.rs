//! Every recorded vector in `../shared/vectors/semver-*.json` must pass.

use std::path::{Path, PathBuf};

fn vector_dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors"
    ))
    .to_path_buf()
}

fn run(name: &str) {
    let path = vector_dir().join(name);
    let report = balena_semver::vectors::run_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.passed > 0, "{name}: no cases ran");
    assert!(
        report.failures.is_empty(),
        "{name}: {} failed, {} passed:\n{}",
        report.failed(),
        report.passed,
        report
            .failures
            .iter()
            .take(50)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn parse_vectors() {
    run("semver-parse.json");
}

#[test]
fn compare_vectors() {
    run("semver-compare.json");
}

#[test]
fn sort_vectors() {
    run("semver-sort.json");
}

#[test]
fn satisfies_vectors() {
    run("semver-satisfies.json");
}

#[test]
fn max_satisfying_vectors() {
    run("semver-max-satisfying.json");
}

#[test]
fn ranges_vectors() {
    run("semver-ranges.json");
}

#[test]
fn inc_vectors() {
    run("semver-inc.json");
}

#[test]
fn every_semver_vector_file_is_covered() {
    let mut seen = 0;
    for entry in std::fs::read_dir(vector_dir()).expect("shared/vectors exists") {
        let path = entry.expect("readable entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_owned();
        if name.starts_with("semver-") && name.ends_with(".json") {
            let report = balena_semver::vectors::run_file(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(report.failed(), 0, "{name}");
            seen += 1;
        }
    }
    assert!(
        seen >= 7,
        "expected the seven semver vector files, found {seen}"
    );
}
