//! The `mergePineOptions` rules of sdk-wire.md §2.3, one by one.

use balena_pine::{ODataOptions, merge_pine_options};
use serde_json::{Value, json};

fn merged(defaults: Value, extra: Value) -> Value {
    merge_pine_options(&defaults, Some(&extra)).unwrap()
}

#[test]
fn rule_1_no_caller_options_means_defaults() {
    let defaults = json!({"$select": "id", "$custom": 1});
    assert_eq!(merge_pine_options(&defaults, None).unwrap(), defaults);
    assert_eq!(merged(defaults.clone(), Value::Null), defaults);
    assert_eq!(merged(defaults.clone(), json!({})), defaults);
}

#[test]
fn rule_2_defaults_key_order_first() {
    let out = merged(
        json!({"$filter": {"a": 1}, "$select": "id"}),
        json!({"$top": 1, "$select": "x"}),
    );
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["$filter", "$select", "$top"]);
}

#[test]
fn rule_3_select_concatenates_keeps_duplicates_and_star_wins() {
    assert_eq!(
        merged(
            json!({"$select": ["id", "phase"]}),
            json!({"$select": "id"})
        ),
        json!({"$select": ["id", "phase", "id"]})
    );
    assert_eq!(
        merged(json!({"$select": "id"}), json!({"$select": ["a", "b"]})),
        json!({"$select": ["id", "a", "b"]})
    );
    assert_eq!(
        merged(json!({"$select": ["id"]}), json!({"$select": "*"})),
        json!({"$select": "*"})
    );
    assert_eq!(
        merged(json!({}), json!({"$select": "a"})),
        json!({"$select": ["a"]})
    );
    // Only the string '*' is special (as in balena-sdk).
    assert_eq!(
        merged(json!({"$select": "id"}), json!({"$select": ["*"]})),
        json!({"$select": ["id", "*"]})
    );
}

#[test]
fn rule_4_top_skip_orderby_override() {
    let out = merged(
        json!({"$orderby": {"name": "asc"}, "$top": 1}),
        json!({"$orderby": "created_at desc", "$skip": 5, "$top": 10}),
    );
    assert_eq!(
        out,
        json!({"$orderby": "created_at desc", "$top": 10, "$skip": 5})
    );
}

#[test]
fn rule_5_filters_and_defaults_first() {
    assert_eq!(
        merged(
            json!({"$filter": {"is_final": true}}),
            json!({"$filter": {"variant": "prod"}})
        ),
        json!({"$filter": {"$and": [{"is_final": true}, {"variant": "prod"}]}})
    );
    assert_eq!(
        merged(json!({}), json!({"$filter": {"variant": "prod"}})),
        json!({"$filter": {"variant": "prod"}})
    );
    // And the encoder flattens the nested $and like pinejs-client does.
    let options = ODataOptions::from_json(&merged(
        json!({"$filter": {"$or": [{"a": 1}, {"b": 2}], "c": 3}}),
        json!({"$filter": {"d": 4}}),
    ))
    .unwrap();
    assert_eq!(
        options.query_pairs()[0].1,
        "(a eq 1 or b eq 2) and c eq 3 and d eq 4"
    );
}

#[test]
fn rule_6_expand_merges_per_navigation_recursively() {
    let defaults = json!({"$expand": {
        "owns__release": {"$select": ["id"], "$expand": {"release_tag": {"$select": "tag_key"}}},
        "application_tag": {}
    }});
    let extra = json!({"$expand": [
        "is_for__device_type",
        {"owns__release": {"$select": "raw_version", "$filter": {"is_final": true}, "$expand": "release_image"}},
    ]});
    assert_eq!(
        merged(defaults, extra),
        json!({"$expand": {
            "owns__release": {
                "$select": ["id", "raw_version"],
                "$expand": {"release_tag": {"$select": "tag_key"}, "release_image": {}},
                "$filter": {"is_final": true},
            },
            "application_tag": {},
            "is_for__device_type": {},
        }})
    );
    // Defaults without an expand take the caller's as given.
    assert_eq!(
        merged(json!({}), json!({"$expand": "a"})),
        json!({"$expand": "a"})
    );
}

#[test]
fn rule_7_other_caller_keys_are_dropped() {
    assert_eq!(
        merged(
            json!({"$select": "id"}),
            json!({"$count": {}, "apikey": "x", "$format": "json"})
        ),
        json!({"$select": "id"})
    );
}

#[test]
fn wrong_shapes_are_errors_not_panics() {
    assert!(merge_pine_options(&json!("x"), None).is_err());
    assert!(merge_pine_options(&json!({}), Some(&json!([1]))).is_err());
    assert!(merge_pine_options(&json!({"$expand": 5}), Some(&json!({"$expand": "a"}))).is_err());
    assert!(
        merge_pine_options(
            &json!({"$expand": {"a": 5}}),
            Some(&json!({"$expand": {"a": {"$select": "b"}}}))
        )
        .is_err()
    );
}
