//! Replays balena-hup-action-utils test vectors.
//!
//! ```text
//! cargo run --release -p balena-hup --example vectors -- [--rules FILE] VECTORS.json...
//! ```
//!
//! Each file's rule set is chosen from its `meta.package` (or taken from
//! `--rules FILE`, a JSON or TOML rule set, for every file). Prints one line
//! per failing case, then `N passed, M failed`; exits non-zero on any
//! failure.

use std::process::ExitCode;

use balena_hup::RuleSet;
use balena_hup::vectors::VectorFile;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut custom: Option<RuleSet> = None;
    let mut files = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--rules" {
            let Some(path) = args.next() else {
                eprintln!("--rules needs a file");
                return ExitCode::from(2);
            };
            match RuleSet::from_path(&path) {
                Ok(rules) => custom = Some(rules),
                Err(err) => {
                    eprintln!("{}", chain(&err));
                    return ExitCode::from(2);
                }
            }
        } else if arg == "-h" || arg == "--help" {
            println!("usage: vectors [--rules RULES.json|RULES.toml] VECTORS.json...");
            return ExitCode::SUCCESS;
        } else {
            files.push(arg);
        }
    }
    if files.is_empty() {
        eprintln!("usage: vectors [--rules RULES.json|RULES.toml] VECTORS.json...");
        return ExitCode::from(2);
    }

    let (mut passed, mut failed) = (0usize, 0usize);
    for path in &files {
        let file = match VectorFile::load(path) {
            Ok(file) => file,
            Err(err) => {
                println!("FAIL {path}: {}", chain(&err));
                failed += 1;
                continue;
            }
        };
        let rules = match &custom {
            Some(rules) => rules,
            None => match file.rule_set() {
                Ok(rules) => {
                    if let Err(err) = file.check_config(rules) {
                        println!("FAIL {path}: {}", chain(&err));
                        failed += 1;
                    }
                    rules
                }
                Err(err) => {
                    println!("FAIL {path}: {}", chain(&err));
                    failed += 1;
                    continue;
                }
            },
        };
        let report = file.run(rules);
        for failure in &report.failures {
            println!("FAIL {path} {failure}");
        }
        eprintln!(
            "{path}: rule set {}: {} passed, {} failed",
            rules.name,
            report.passed,
            report.failed()
        );
        passed += report.passed;
        failed += report.failed();
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The error and its causes, `: `-separated (errors show their cause
/// through `source()`, not in their own message).
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
