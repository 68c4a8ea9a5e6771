//! Error positions, error messages and limits.

use balena_pine::{
    Expr, MAX_DEPTH, MAX_IDENTIFIER_LEN, MAX_LITERAL_LEN, MAX_QUERY_LEN, ODataOptions,
    OptionsError, ParseError, PineRequest,
};
use serde_json::json;

fn query_err(query: &str) -> ParseError {
    ODataOptions::parse_query(query).expect_err(query)
}

#[test]
fn malformed_queries_the_real_api_rejects_name_position_and_expectation() {
    // (query, byte position, expected, found) — the 400s of open-balena-api
    // plus a few more.
    let cases: &[(&str, usize, &str, &str)] = &[
        (
            "$filter=slug%20eq",
            17,
            "expression after `eq`",
            "end of input",
        ),
        ("$filter=(slug%20eq%20%27a%27", 28, "`)`", "end of input"),
        (
            "$filter=slug%20eq%20%27a%27%20or",
            32,
            "expression after `or`",
            "end of input",
        ),
        ("$select=", 8, "field name or `*`", "end of input"),
        ("$top=abc", 5, "a non-negative integer", "`a`"),
        ("$top=-1", 5, "a non-negative integer", "`-`"),
        (
            "$foo=bar",
            0,
            "one of $select, $expand, $filter, $orderby, $top, $skip",
            "`$foo`",
        ),
        (
            "$filter=slug%20eq%20%22intel-nuc%22",
            20,
            "expression",
            "`\"`",
        ),
        (
            "$filter=a%20eq%20%27abc",
            17,
            "a closing `'` for the string that starts here",
            "end of input",
        ),
        ("$expand=a($select=b", 19, "`;` or `)`", "end of input"),
        (
            "$filter=a%20eq%201)",
            18,
            "end of the `$filter` value (`&` or end of query)",
            "`)`",
        ),
        (
            "$filter=a%2",
            9,
            "valid percent-encoded UTF-8 in a parameter value",
            "`%`",
        ),
        (
            "$filter=a%20eq%20%FF",
            17,
            "valid percent-encoded UTF-8 in a parameter value",
            "`%`",
        ),
        (
            "$filter=startswith(a)",
            8,
            "2 argument(s) for `startswith`",
            "1",
        ),
        ("$filter=foo(a)", 8, "a known function", "`foo`"),
        (
            "$select=a&$select=b",
            10,
            "each option at most once",
            "a second `$select`",
        ),
        (
            "$filter=a/any(x%20x/b%20eq%201)",
            18,
            "`:` after the lambda variable",
            "`x`",
        ),
        (
            "$filter=a%20eqb",
            9,
            "end of the `$filter` value (`&` or end of query)",
            "` `",
        ),
        ("$filter=and", 8, "expression", "`and` is a reserved word"),
        ("$select=a&&$top=1", 10, "a query parameter", "`&`"),
        ("$expand=a()", 10, "a `$` query option", "`)`"),
        (
            "$expand=a/$count($select=b)",
            8,
            "an expand allowed by pine",
            "a: an expanded `$count` can only have a `$filter`",
        ),
        (
            "$orderby=a/any(x:x/b%20eq%201)",
            9,
            "a field or `nav/$count` to order by",
            "a lambda",
        ),
        (
            "$filter=a%20in%20()",
            18,
            "literal (string, number, true, false, null or datetime)",
            "`)`",
        ),
        (
            "$filter=d%20eq%20datetime%27yesterday%27",
            28,
            "date-time",
            "`yesterday` is not a date-time (YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|±HH:MM])",
        ),
    ];
    for &(query, position, expected, found) in cases {
        let err = query_err(query);
        assert_eq!(
            (err.position(), err.expected(), err.found()),
            (position, expected, Some(found)),
            "{query}"
        );
        assert_eq!(
            err.to_string(),
            format!("at byte {position}: expected {expected}, found {found}")
        );
    }
}

#[test]
fn path_errors_name_their_position() {
    let cases: &[(&str, usize, &str)] = &[
        ("/v7/release(abc)", 15, "`=` in a `name=value` key"),
        ("/v7/release(1.5)", 12, "an integer key"),
        ("/v7/", 4, "resource name"),
        ("/v7/$metadata", 4, "resource name"),
        ("release", 0, "`/`"),
        ("/v7", 3, "`/` and a resource after the API version"),
        ("/7/a", 1, "an API version such as `v7`"),
        ("/v7/a(1)/b", 8, "`/$count`, `?` or end of path"),
        (
            "/v7/a('x)",
            6,
            "a closing `'` for the string that starts here",
        ),
        (
            "/v7/a?$top=1#frag",
            12,
            "no fragment (`#`) in a request target",
        ),
        ("/v7/a%2Fb", 5, "`(key)`, `/$count`, `?` or end of path"),
        ("/v7/a?$filter=b%20eq%20", 23, "expression after `eq`"),
    ];
    for &(target, position, expected) in cases {
        let err = PineRequest::parse(target).expect_err(target);
        assert_eq!(
            (err.position(), err.expected()),
            (position, expected),
            "{target}: {err}"
        );
    }
}

#[test]
fn from_json_errors_say_where_and_what() {
    let cases = [
        (
            json!({"$filter": {"slug": {"$in": []}}}),
            "$filter.slug.$in: `$in` needs at least one value",
        ),
        (
            json!({"$filter": {"slug": {"$like": "x"}}}),
            "$filter.slug.$like: unknown filter operator `$like`",
        ),
        (
            json!({"$select": 5}),
            "$select: expected a string or an array of field names, found number",
        ),
        (
            json!({"$top": "ten"}),
            "$top: expected a non-negative integer, found string",
        ),
        (
            json!({"$top": 1.5}),
            "$top: expected a non-negative integer, found 1.5",
        ),
        (
            json!({"$foo": 1}),
            "(options): unknown or unsupported option `$foo`",
        ),
        (
            json!("$select=a"),
            "(options): expected an options object, found string",
        ),
        (
            json!({"$filter": {"a": {"b": 1}}}),
            "$filter.a.b: `a: b: …` needs a lambda: use `a: {$any: {$alias: 'x', $expr: {x: {b: …}}}}`",
        ),
        (
            json!({"$filter": {"a": {"$any": {"$alias": "x"}}}}),
            "$filter.a.$any: lambda expression ($any) has no expr defined",
        ),
        (
            json!({"$filter": {"a": {"$any": {"$alias": "not valid", "$expr": {}}}}}),
            "$filter.a.$any.$alias: `not valid` has a character not allowed in a name at byte 3",
        ),
        (
            json!({"$filter": {"a; DROP TABLE x": 1}}),
            "$filter.a; DROP TABLE x: `a; DROP TABLE x` has a character not allowed in a name at byte 1",
        ),
        (
            json!({"$filter": [{"a": 1}]}),
            "$filter: filter arrays must have at least 2 elements, got 1",
        ),
        (
            json!({"$filter": {"$eq": 5}}),
            "$filter.$eq: `$eq` with a single value needs a field: write `{field: {$eq: …}}`",
        ),
        (
            json!({"$filter": {"$raw": "a eq"}}),
            "$filter.$raw: cannot parse \"a eq\": at byte 4: expected expression after `eq`, found end of input",
        ),
        (
            json!({"$expand": {"a": "b"}}),
            "$expand.a: use `$expand: {a: {$expand: …}}` for a nested expand",
        ),
        (
            json!({"$expand": {"a": {"b": {}}}}),
            "$expand.a.b: `b` is not an option; to expand it use `$expand: {b: …}`",
        ),
        (
            json!({"$expand": {"a": {"$count": {"$select": "b"}}}}),
            "$expand.a.$count: an expanded `$count` can only have a `$filter`, got `$select`",
        ),
        (
            json!({"$orderby": {"a": "up"}}),
            "$orderby.a: `$orderby` direction must be 'asc' or 'desc'",
        ),
        (
            json!({"$orderby": "a/$count"}),
            "$orderby: use `$orderby: {nav: {$count: {…}}, $dir: 'asc'}` instead of `nav/$count`",
        ),
        (
            json!({"$select": "a,"}),
            "$select: cannot parse \"a,\": at byte 2: expected field name or `*`, found end of input",
        ),
    ];
    for (options, message) in cases {
        let err = ODataOptions::from_json(&options).expect_err(&options.to_string());
        assert_eq!(err.to_string(), message, "{options}");
    }
}

fn nested_parens(n: usize) -> String {
    format!("{}a eq 1{}", "(".repeat(n), ")".repeat(n))
}

#[test]
fn nesting_depth_is_bounded() {
    // `a eq 1` is two levels; each pair of parentheses adds one.
    assert!(Expr::parse(&nested_parens(MAX_DEPTH - 2)).is_ok());
    let err = Expr::parse(&nested_parens(MAX_DEPTH - 1)).unwrap_err();
    assert_eq!(
        err.expected(),
        format!("at most {MAX_DEPTH} levels of nesting")
    );
    // Hostile depth fails fast and without overflowing the stack.
    let err = Expr::parse(&nested_parens(10_000)).unwrap_err();
    assert!(err.position() <= MAX_DEPTH, "{err}");
    let err = Expr::parse(&"not(".repeat(5_000)).unwrap_err();
    assert!(err.to_string().contains("levels of nesting"), "{err}");
    // A long left-leaning chain builds a deep tree without recursion; it is bounded too.
    let chain = format!("a{}", " add a".repeat(MAX_DEPTH + 5));
    let err = Expr::parse(&chain).unwrap_err();
    assert!(err.to_string().contains("levels of nesting"), "{err}");
    // `and` chains are flat and not limited by depth.
    let flat = vec!["a eq 1"; 2000].join(" and ");
    assert!(matches!(Expr::parse(&flat), Ok(Expr::And(parts)) if parts.len() == 2000));
    // Expand levels count too.
    let deep_expand = format!(
        "$expand={}x{}",
        "a($expand=".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert!(
        query_err(&deep_expand)
            .to_string()
            .contains("levels of nesting")
    );
}

#[test]
fn literal_identifier_and_query_sizes_are_bounded() {
    let ok = format!("a eq '{}'", "x".repeat(MAX_LITERAL_LEN));
    assert!(Expr::parse(&ok).is_ok());
    let long = format!("a eq '{}'", "x".repeat(MAX_LITERAL_LEN + 1));
    let err = Expr::parse(&long).unwrap_err();
    assert_eq!(
        (err.position(), err.expected()),
        (5, "a string literal of at most 4096 bytes")
    );
    // `''` escapes count after decoding.
    let quotes = format!("a eq '{}'", "''".repeat(MAX_LITERAL_LEN + 1));
    assert!(Expr::parse(&quotes).is_err());

    let name = "n".repeat(MAX_IDENTIFIER_LEN + 1);
    assert!(Expr::parse(&format!("{name} eq 1")).is_err());
    assert!(Expr::parse(&format!("{} eq 1", &name[1..])).is_ok());

    let big = format!(
        "$filter=a%20in%20({})",
        vec!["1"; MAX_QUERY_LEN / 2].join(",")
    );
    let err = query_err(&big);
    assert_eq!(err.position(), MAX_QUERY_LEN);
    assert!(PineRequest::parse(&format!("/v7/a?{big}")).is_err());

    let huge_number = format!("a eq {}", "9".repeat(65));
    assert!(Expr::parse(&huge_number).is_err());
    assert!(
        query_err("$top=9223372036854775808")
            .to_string()
            .contains("at most 9223372036854775807")
    );
}

#[test]
fn json_limits() {
    let mut deep = json!({"a": 1});
    for _ in 0..200 {
        deep = json!({"$not": deep});
    }
    let err = ODataOptions::from_json(&json!({"$filter": deep})).unwrap_err();
    assert!(matches!(err, OptionsError::Limit { .. }), "{err}");

    let long = "x".repeat(MAX_LITERAL_LEN + 1);
    let err = ODataOptions::from_json(&json!({"$filter": {"a": long}})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "$filter.a: string literal length exceeds the limit of 4096"
    );

    // `$raw` bind parameters cannot amplify text without bound.
    let text = ["$1"; 12].join(" or ");
    let raw = json!({"$filter": {"$raw": [text, {"a": "x".repeat(4000)}]}});
    assert!(ODataOptions::from_json(&raw).is_err());

    let many: Vec<i64> = (0..20_000).collect();
    let err = ODataOptions::from_json(&json!({"$filter": {"a": {"$in": many}}})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "(options): encoded query length exceeds the limit of 32768"
    );
}

#[test]
fn hand_built_trees_are_validated() {
    use balena_pine::{Expr, Function, QueryOption};
    let mut options = ODataOptions::new().with_filter(Expr::And(Vec::new()));
    assert!(options.validate().is_err());
    options.set(QueryOption::Filter(Expr::Function {
        function: Function::StartsWith,
        args: vec![],
    }));
    assert_eq!(
        options.validate().unwrap_err().to_string(),
        "$filter: `startswith` takes 2 argument(s), got 0"
    );
    options.set(QueryOption::Filter(Expr::In {
        operand: Box::new(Expr::path("a").unwrap()),
        values: vec![],
    }));
    assert!(matches!(
        options.validate(),
        Err(OptionsError::EmptyIn { .. })
    ));
    let mut deep = Expr::path("a").unwrap();
    for _ in 0..100 {
        deep = Expr::Not(Box::new(deep));
    }
    options.set(QueryOption::Filter(deep));
    assert!(matches!(
        options.validate(),
        Err(OptionsError::Limit {
            what: "nesting depth",
            ..
        })
    ));
    options.set(QueryOption::Select(vec![]));
    assert!(options.validate().is_err());
}
