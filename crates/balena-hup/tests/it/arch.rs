//! Architecture compatibility against the recorded SDK calls.

use balena_hup::is_architecture_compatible_with;
use serde_json::Value;

use crate::shared_dir;

#[test]
fn matches_recorded_sdk_answers() {
    let path = shared_dir().join("conformance/node-sdk-os-wire.json");
    let text = std::fs::read_to_string(&path).expect("conformance file");
    let calls: Vec<Value> = serde_json::from_str(&text).expect("JSON array");
    let mut checked = 0;
    for call in calls
        .iter()
        .filter(|c| c["method"] == "os.isArchitectureCompatibleWith")
    {
        let args = call["args"].as_array().expect("args");
        let os = args[0].as_str().expect("os arch");
        let app = args[1].as_str().expect("app arch");
        let expected = call["result"].as_bool().expect("boolean result");
        assert_eq!(
            is_architecture_compatible_with(os, app),
            expected,
            "{}",
            call["id"]
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} recorded calls");
}
