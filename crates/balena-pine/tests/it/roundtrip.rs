//! Property tests: everything the encoder writes parses back to the same
//! (canonical) tree.

use balena_pine::{
    ArithmeticOp, CompareOp, CustomParam, DateTime, Direction, ExpandItem, Expr, Function,
    Identifier, LambdaKind, Literal, Number, ODataOptions, OrderByItem, OrderByTarget, PineRequest,
    PropertyPath, QueryOption, RESERVED_WORDS, ResourceKey, SelectItem,
};
use proptest::prelude::*;

fn identifier() -> impl Strategy<Value = Identifier> {
    prop_oneof![
        prop::sample::select(vec![
            "slug",
            "id",
            "is_host",
            "raw_version",
            "dt",
            "a",
            "owns__release",
            "datetime",
            "now",
            "any",
            "nothing",
            "andy",
            "_x",
            "inx",
            "tolower",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z_][a-zA-Z0-9_]{0,10}",
    ]
    .prop_filter("reserved", |s| !RESERVED_WORDS.contains(&s.as_str()))
    .prop_map(|s| Identifier::new(s).expect("valid by construction"))
}

fn path() -> impl Strategy<Value = PropertyPath> {
    prop::collection::vec(identifier(), 1..4).prop_map(|v| PropertyPath::from_segments(v).unwrap())
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).ok()),
        "-?[0-9]{1,5}(\\.[0-9]{1,4})?([eE][+-]?[0-9]{1,3})?".prop_map(|s| Number::new(s).unwrap()),
    ]
}

fn datetime() -> impl Strategy<Value = DateTime> {
    "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?"
        .prop_map(|s| DateTime::new(s).unwrap())
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        number().prop_map(Literal::Number),
        ".{0,12}".prop_map(Literal::String),
        "[' %&=;,()+/#?a-z]{0,8}".prop_map(Literal::String),
        datetime().prop_map(Literal::DateTime),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        literal().prop_map(Expr::Literal),
        path().prop_map(Expr::Path),
        path().prop_map(|path| Expr::Count { path, filter: None }),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        let boxed = inner.clone().prop_map(Box::new);
        prop_oneof![
            (
                prop::sample::select(CompareOp::ALL.to_vec()),
                boxed.clone(),
                boxed.clone()
            )
                .prop_map(|(op, left, right)| Expr::Compare { op, left, right }),
            (
                prop::sample::select(ArithmeticOp::ALL.to_vec()),
                boxed.clone(),
                boxed.clone()
            )
                .prop_map(|(op, left, right)| Expr::Arithmetic { op, left, right }),
            (boxed.clone(), prop::collection::vec(literal(), 1..4))
                .prop_map(|(operand, values)| Expr::In { operand, values }),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::Or),
            boxed.clone().prop_map(Expr::Not),
            boxed.clone().prop_map(Expr::Group),
            (path(), boxed.clone()).prop_map(|(path, f)| Expr::Count {
                path,
                filter: Some(f)
            }),
            (
                path(),
                prop::sample::select(vec![LambdaKind::Any, LambdaKind::All]),
                identifier(),
                boxed.clone()
            )
                .prop_map(|(path, kind, alias, body)| Expr::Lambda {
                    path,
                    kind,
                    alias,
                    body
                }),
            (
                prop::sample::select(Function::ALL.to_vec()),
                prop::collection::vec(inner, 0..4)
            )
                .prop_map(|(function, mut args)| {
                    let (min, max) = function.arity();
                    while args.len() < min {
                        args.push(Expr::Literal(Literal::Null));
                    }
                    args.truncate(max);
                    Expr::Function { function, args }
                }),
        ]
    })
}

fn select_item() -> impl Strategy<Value = SelectItem> {
    prop_oneof![1 => Just(SelectItem::All), 5 => identifier().prop_map(SelectItem::Field)]
}

fn orderby_item() -> impl Strategy<Value = OrderByItem> {
    let direction = prop::option::of(prop::sample::select(vec![Direction::Asc, Direction::Desc]));
    let target = prop_oneof![
        3 => path().prop_map(OrderByTarget::Path),
        1 => (identifier(), prop::option::of(expr().prop_map(Box::new)))
            .prop_map(|(nav, filter)| OrderByTarget::Count { path: PropertyPath::new(nav), filter }),
    ];
    (target, direction).prop_map(|(target, direction)| OrderByItem { target, direction })
}

fn custom_param() -> impl Strategy<Value = CustomParam> {
    ("[a-zA-Z][a-zA-Z0-9_.~ -]{0,8}", ".{0,10}")
        .prop_map(|(name, value)| CustomParam::new(name, value).unwrap())
}

/// Options with each option kind at most once, in random order.
fn options(depth: u32, top: bool) -> BoxedStrategy<ODataOptions> {
    let expand = if depth == 0 {
        Just(None).boxed()
    } else {
        prop::option::of(prop::collection::vec(expand_item(depth - 1), 1..3)).boxed()
    };
    let customs = if top {
        prop::collection::vec(custom_param(), 0..2).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (
        prop::option::of(prop::collection::vec(select_item(), 1..4)),
        expand,
        prop::option::of(expr()),
        prop::option::of(prop::collection::vec(orderby_item(), 1..3)),
        prop::option::of(0..=balena_pine::MAX_TOP_SKIP),
        prop::option::of(any::<u32>()),
        customs,
        any::<u64>(),
    )
        .prop_map(
            |(select, expand, filter, orderby, top, skip, customs, shuffle)| {
                let mut list: Vec<QueryOption> = Vec::new();
                list.extend(select.map(QueryOption::Select));
                list.extend(expand.map(QueryOption::Expand));
                list.extend(filter.map(QueryOption::Filter));
                list.extend(orderby.map(QueryOption::OrderBy));
                list.extend(top.map(QueryOption::Top));
                list.extend(skip.map(|s| QueryOption::Skip(s.into())));
                let mut seen = Vec::new();
                for param in customs {
                    if !seen.contains(&param.name().to_owned()) {
                        seen.push(param.name().to_owned());
                        list.push(QueryOption::Custom(param));
                    }
                }
                // Deterministic shuffle driven by the generated number.
                let mut state = shuffle;
                for i in (1..list.len()).rev() {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    list.swap(i, (state >> 33) as usize % (i + 1));
                }
                let mut options = ODataOptions::new();
                for option in list {
                    options.set(option);
                }
                options
            },
        )
        .boxed()
}

fn expand_item(depth: u32) -> impl Strategy<Value = ExpandItem> {
    prop_oneof![
        3 => (identifier(), options(depth, false)).prop_map(|(nav, options)| ExpandItem::new(nav, options).unwrap()),
        1 => (identifier(), prop::option::of(expr())).prop_map(|(nav, filter)| {
            let mut options = ODataOptions::new().with_count();
            if let Some(filter) = filter {
                options = options.with_filter(filter);
            }
            ExpandItem::new(nav, options).unwrap()
        }),
    ]
}

fn resource_key() -> impl Strategy<Value = ResourceKey> {
    prop_oneof![
        any::<i64>().prop_map(ResourceKey::Integer),
        ".{0,10}".prop_map(ResourceKey::String),
        prop::collection::vec((identifier(), literal()), 1..3).prop_map(ResourceKey::Named),
    ]
}

fn request() -> impl Strategy<Value = PineRequest> {
    (
        identifier(),
        prop::option::of(resource_key()),
        options(2, true),
        any::<bool>(),
    )
        .prop_map(|(resource, key, mut options, count)| {
            options.set_count(count);
            PineRequest {
                resource: resource.as_str().to_owned(),
                key,
                options,
            }
        })
}

proptest! {
    // 512 cases per property by default; `PROPTEST_CASES=N` for longer runs.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn encoded_requests_parse_back(request in request()) {
        request.options.validate().unwrap();
        let url = request.to_url_path("v7");
        let (version, parsed) = PineRequest::parse(&url).map_err(|e| TestCaseError::fail(format!("{url}: {e}")))?;
        prop_assert_eq!(version, "v7");
        let mut expected = request.clone();
        expected.options.canonicalize();
        prop_assert_eq!(&parsed, &expected, "{}", url);
        prop_assert_eq!(parsed.to_url_path("v7"), url);
    }

    #[test]
    fn filter_text_parses_back_to_the_canonical_tree(expr in expr()) {
        let text = expr.to_string();
        let parsed = Expr::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let canonical = expr.clone().canonical();
        prop_assert_eq!(&parsed, &canonical, "{}", text);
        prop_assert_eq!(canonical.to_string(), text.clone());
        prop_assert_eq!(canonical.clone().canonical(), canonical);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_input(input in ".{0,200}") {
        let _ = PineRequest::parse(&input);
        let _ = ODataOptions::parse_query(&input);
        let _ = Expr::parse(&input);
    }

    #[test]
    fn parser_never_panics_on_mutated_urls(request in request(), edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(vec!["", "(", ")", "'", "%", "%2", "&", "=", ";", ",", "$", "/", " ", "%20", "and", "/any(", "$count", "é"])), 1..4)) {
        let mut url = request.to_url_path("v7");
        for (index, insert) in edits {
            let mut at = index.index(url.len() + 1);
            while !url.is_char_boundary(at) {
                at -= 1;
            }
            url.insert_str(at, insert);
        }
        if let Ok((_, parsed)) = PineRequest::parse(&url) {
            // Whatever parses is valid and survives a second round.
            parsed.options.validate().unwrap();
            let again = PineRequest::parse(&parsed.to_url_path("v7")).unwrap().1;
            prop_assert_eq!(again, parsed);
        }
    }
}
