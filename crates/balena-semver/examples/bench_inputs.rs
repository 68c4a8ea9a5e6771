//! Write the benchmark inputs (and this crate's answers) as JSON for the
//! Node.js baseline in `benches/node/bench.js`:
//!
//! ```text
//! cargo run --release -p balena-semver --example bench_inputs -- benches/node/inputs.json
//! ```

#[path = "../benches/inputs.rs"]
#[allow(dead_code)]
mod inputs;

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: bench_inputs OUT.json");
        return ExitCode::from(2);
    };
    let versions = inputs::versions();
    let pairs = inputs::satisfies_pairs(versions.len());
    let mut sorted = versions.clone();
    balena_semver::sort(&mut sorted);
    let satisfies: String = pairs
        .iter()
        .map(|&(v, r)| {
            if balena_semver::satisfies(&versions[v], inputs::RANGES[r]) {
                '1'
            } else {
                '0'
            }
        })
        .collect();
    let doc = serde_json::json!({
        "seed": inputs::SEED,
        "versions": versions,
        "ranges": inputs::RANGES,
        "pairs": pairs.iter().map(|&(v, r)| [v, r]).collect::<Vec<_>>(),
        "expected": { "sorted": sorted, "satisfies": satisfies },
    });
    match std::fs::write(&out, doc.to_string()) {
        Ok(()) => {
            eprintln!("wrote {out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write {out}: {e}");
            ExitCode::FAILURE
        }
    }
}
