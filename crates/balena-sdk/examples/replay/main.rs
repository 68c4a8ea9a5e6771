//! Replays node-sdk-wire conformance files against the Rust SDK.
//!
//! ```sh
//! cargo run --release -p balena-sdk --example replay -- ../shared/conformance/node-sdk-os-wire.json
//! ```
//!
//! Prints one line per failing case (with the reasons), then exactly
//! `N passed, M failed`; exits non-zero when a case failed.

mod harness;
mod server;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: replay FILE...");
        return ExitCode::from(2);
    }
    let verbose = std::env::var_os("REPLAY_VERBOSE").is_some();
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut applied: std::collections::BTreeMap<&'static str, usize> = Default::default();
    for file in &files {
        let reports = match harness::run_file(file.as_ref()).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        for r in reports {
            for d in &r.deviations {
                *applied.entry(d).or_default() += 1;
            }
            if r.failures.is_empty() {
                passed += 1;
                if verbose {
                    println!(
                        "ok   {}{}",
                        r.id,
                        if r.deviations.is_empty() {
                            String::new()
                        } else {
                            format!(" (deviations: {})", r.deviations.join(", "))
                        }
                    );
                }
            } else {
                failed += 1;
                println!("FAIL {}", r.id);
                for f in r.failures {
                    println!("     {}", f.replace('\n', "\n     "));
                }
            }
        }
    }
    for d in harness::DEVIATIONS {
        if let Some(n) = applied.get(d.name) {
            println!("deviation {} ({n} case(s)): {}", d.name, d.reason);
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
