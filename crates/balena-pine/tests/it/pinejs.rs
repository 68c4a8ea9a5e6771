//! Differential tests against the real JavaScript libraries, through the
//! vectors recorded by `tests/data/gen-pinejs-vectors.js`
//! (pinejs-client-core 8.5.40 `compile`, balena-sdk 23.2.15 `mergePineOptions`).

use balena_pine::{ODataOptions, PineRequest, merge_pine_options};
use serde_json::Value;

fn vectors() -> Value {
    let text = include_str!("../data/pinejs-vectors.json");
    serde_json::from_str(text).expect("valid vectors")
}

#[test]
fn from_json_matches_pinejs_client_compile() {
    let vectors = vectors();
    let cases = vectors["compile"].as_array().unwrap();
    let (mut ok, mut refused) = (0, 0);
    let mut failures = Vec::new();
    for case in cases {
        let options = &case["options"];
        let ours = ODataOptions::from_json(options);
        match (case["url"].as_str(), ours) {
            (Some(url), Ok(tree)) => {
                let got = PineRequest::new("resource", tree.clone()).to_url_path("v7");
                if got != url {
                    failures.push(format!("options {options}\n  pinejs {url}\n  ours   {got}"));
                    continue;
                }
                // And the server reads the same tree back.
                let (_, parsed) = PineRequest::parse(&got).unwrap_or_else(|e| panic!("{got}: {e}"));
                assert_eq!(parsed.options, tree, "{got}");
                ok += 1;
            }
            (Some(url), Err(err)) => failures.push(format!(
                "pinejs-client compiled {options} to {url}, we refused: {err}"
            )),
            (None, Ok(tree)) => failures.push(format!(
                "pinejs-client refused {options} ({}), we accepted: {}",
                case["error"],
                tree.to_query_string()
            )),
            (None, Err(_)) => refused += 1,
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(ok >= 400, "{ok} compiled");
    assert!(refused >= 20, "{refused} refused");
}

#[test]
fn degenerate_pinejs_forms_are_refused() {
    let vectors = vectors();
    for case in vectors["refused_by_balena_pine"].as_array().unwrap() {
        let options = &case["options"];
        assert!(
            ODataOptions::from_json(options).is_err(),
            "accepted {options}"
        );
    }
}

#[test]
fn merge_matches_balena_sdk_merge_pine_options() {
    let vectors = vectors();
    let cases = vectors["merge"].as_array().unwrap();
    assert!(cases.len() >= 200);
    for case in cases {
        let extra = case.get("extra").filter(|e| !e.is_null());
        let merged = merge_pine_options(&case["defaults"], extra).unwrap();
        // Compare text, so key order counts too.
        assert_eq!(
            serde_json::to_string(&merged).unwrap(),
            serde_json::to_string(&case["merged"]).unwrap(),
            "defaults {} extra {:?}",
            case["defaults"],
            extra
        );
    }
}
