//! Evaluate balena-semver test-vector files.
//!
//! ```text
//! cargo run --release -p balena-semver --example vectors -- ../shared/vectors/semver-*.json
//! ```
//!
//! Prints one line per failing case and, last, `N passed, M failed`; exits
//! non-zero when any case fails or a file cannot be evaluated.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: vectors FILE...");
        return ExitCode::from(2);
    }
    let mut passed = 0usize;
    let mut failed = 0usize;
    let mut broken = false;
    for file in &files {
        match balena_semver::vectors::run_file(Path::new(file)) {
            Ok(report) => {
                for line in &report.failures {
                    println!("FAIL {file} {line}");
                }
                passed += report.passed;
                failed += report.failed();
            }
            Err(e) => {
                eprintln!("error: {}", chain(&e));
                broken = true;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 || broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
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
