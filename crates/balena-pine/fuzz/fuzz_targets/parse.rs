//! Fuzzes the pine parser: any bytes go to `PineRequest::parse`,
//! `ODataOptions::parse_query`, `Expr::parse` and (if JSON) `from_json` /
//! `merge_pine_options`. Besides "no panic, no stack overflow, no runaway
//! memory", whatever is accepted must be valid and must survive an
//! encode → parse round trip unchanged.
#![no_main]

use balena_pine::{Expr, ODataOptions, PineRequest, merge_pine_options};
use libfuzzer_sys::fuzz_target;

fn check_request(input: &str) {
    if let Ok((version, request)) = PineRequest::parse(input) {
        request.options.validate().expect("parsed options are valid");
        let url = request.to_url_path(&version);
        let (version2, again) = PineRequest::parse(&url).expect("encoder output parses");
        assert_eq!(version, version2);
        assert_eq!(again, request, "round trip of {input:?} via {url:?}");
        assert_eq!(again.to_url_path(&version), url);
    }
}

fn check_query(input: &str) {
    if let Ok(options) = ODataOptions::parse_query(input) {
        options.validate().expect("parsed options are valid");
        let query = options.to_query_string();
        let again = ODataOptions::parse_query(&query).expect("encoder output parses");
        assert_eq!(again, options, "round trip of {input:?} via {query:?}");
    }
}

fn check_filter(input: &str) {
    if let Ok(expr) = Expr::parse(input) {
        let text = expr.to_string();
        let again = Expr::parse(&text).expect("encoder output parses");
        assert_eq!(again, expr, "round trip of {input:?} via {text:?}");
    }
}

fn check_json(input: &str) {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(input) else { return };
    if let Ok(options) = ODataOptions::from_json(&value) {
        let query = options.to_query_string();
        let mut again = ODataOptions::parse_query(&query).expect("from_json output parses");
        // The count flag lives in the path, not the query string.
        again.set_count(options.is_count());
        assert_eq!(again, options, "from_json {input} via {query:?}");
    }
    if let Ok(merged) = merge_pine_options(&value, Some(&value)) {
        let _ = ODataOptions::from_json(&merged);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    check_request(input);
    check_query(input);
    check_filter(input);
    check_json(input);
});
