//! Runs the replay harness (the same code as `examples/replay`) over the
//! shared conformance file and requires every case to pass.

#[path = "../../examples/replay/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../../examples/replay/server.rs"]
#[allow(dead_code)]
pub(crate) mod server;

const CONFORMANCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/node-sdk-os-wire.json"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_conformance_case_replays() {
    let reports = harness::run_file(CONFORMANCE.as_ref())
        .await
        .expect("conformance file readable");
    assert!(
        reports.len() >= 152,
        "expected the 152 recorded cases, found {}",
        reports.len()
    );
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.failures.is_empty())
        .map(|r| format!("{}:\n  {}", r.id, r.failures.join("\n  ")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        reports.len(),
        failed.join("\n")
    );
    // Every documented deviation rule is exercised by the shared file.
    let used: std::collections::BTreeSet<&str> = reports
        .iter()
        .flat_map(|r| r.deviations.iter().copied())
        .collect();
    assert!(used.len() >= 8, "deviation rules used: {used:?}");
    for name in &used {
        assert!(
            harness::DEVIATIONS.iter().any(|d| d.name == *name),
            "undocumented deviation {name}"
        );
    }
}
