//! Property tests: the order is a total preorder, `Version`'s traits agree
//! with `compare`, and no input makes any function panic.

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use balena_semver::{
    Range, Version, compare, explain, inc, major, max_satisfying, normalize, parse, prerelease,
    satisfies, valid, valid_range,
};
use proptest::prelude::*;

/// Version-like strings in the spellings balenaOS uses, plus near misses.
fn balena_version() -> impl Strategy<Value = String> {
    let num = prop_oneof![
        8 => (0u64..30).prop_map(|n| n.to_string()),
        2 => Just("2022".to_owned()),
        1 => Just("04".to_owned()),
        1 => Just("9007199254740991".to_owned()),
        1 => Just("9007199254740992".to_owned()),
    ];
    let prefix = prop::sample::select(vec![
        "",
        "",
        "",
        "v",
        "vv",
        "Resin OS ",
        "balenaOS ",
        " ",
        "\u{a0}",
        "\u{feff}",
        "foo ",
    ]);
    let pre = prop::sample::select(vec![
        "",
        "",
        "",
        "-rc1",
        "-rc.1",
        "-0",
        "-beta.8",
        "-dev",
        "-prod",
        "-1234",
        "-a.b.c",
        "-rc1.rev1",
        "-rc.1.rev1",
        "-RC.1",
        "-",
        "-00",
    ]);
    let build = prop::sample::select(vec![
        "",
        "",
        "",
        "+rev1",
        ".rev1",
        "+rev01",
        "+rev2",
        "+rev11",
        ".dev",
        ".prod",
        ".PROD",
        "_logstream",
        " (prod)",
        " (dev)",
        "  (prod)",
        "+rev1.prod",
        "+rev1.dev",
        "+rev3 (dev)",
        "+rev0",
        "+dev",
        "+prod",
        "++rev1",
        "+rev99999999999999999999",
    ]);
    let suffix = prop::sample::select(vec!["", "", "", " balenaOS", " ", "\u{a0}balenaOS"]);
    (prefix, num.clone(), num.clone(), num, pre, build, suffix)
        .prop_map(|(p, a, b, c, pre, build, s)| format!("{p}{a}.{b}.{c}{pre}{build}{s}"))
}

/// Either a balena-style version or arbitrary text.
fn any_version_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => balena_version(),
        2 => any::<String>(),
        1 => "[0-9.+\\-_ ()a-zA-Z]{0,20}",
    ]
}

fn range_text() -> impl Strategy<Value = String> {
    let op = prop::sample::select(vec![
        "", "=", "<", "<=", ">", ">=", "~", "~>", "^", "v", "> ", "^ ", "~ ",
    ]);
    let part = "[0-9xX*]{1,3}(\\.[0-9xX*]{1,3}){0,2}(-[a-z0-9.]{1,6})?(\\+[a-z0-9]{1,4})?";
    let comparator = prop_oneof![
        4 => (op, part).prop_map(|(o, p)| format!("{o}{p}")),
        1 => (part, part).prop_map(|(a, b)| format!("{a} - {b}")),
    ];
    let joiner = prop::sample::select(vec![" ", "  ", "||", " || ", " && ", ","]);
    (
        comparator.clone(),
        prop::collection::vec((joiner, comparator), 0..4),
    )
        .prop_map(|(first, rest)| {
            let mut s = first;
            for (j, c) in rest {
                s.push_str(j);
                s.push_str(&c);
            }
            s
        })
}

fn hash_of(v: &Version) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn antisymmetric(a in any_version_text(), b in any_version_text()) {
        prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
        prop_assert_eq!(compare(&a, &a), Ordering::Equal);
    }

    #[test]
    fn transitive(a in balena_version(), b in balena_version(), c in balena_version()) {
        let mut v = [a, b, c];
        v.sort_by(|x, y| compare(x, y));
        let [x, y, z] = &v;
        prop_assert!(compare(x, y).is_le());
        prop_assert!(compare(y, z).is_le());
        prop_assert!(compare(x, z).is_le(), "{x:?} <= {y:?} <= {z:?} but {x:?} > {z:?}");
        if compare(x, y).is_eq() && compare(y, z).is_eq() {
            prop_assert!(compare(x, z).is_eq());
        }
    }

    #[test]
    fn version_traits_agree_with_compare(a in balena_version(), b in balena_version()) {
        let (Ok(va), Ok(vb)) = (a.parse::<Version>(), b.parse::<Version>()) else {
            // Invalid text is not a `Version`; `valid` must agree.
            prop_assert!(a.parse::<Version>().is_ok() == valid(&a).is_some());
            prop_assert!(b.parse::<Version>().is_ok() == valid(&b).is_some());
            return Ok(());
        };
        let expected = compare(&a, &b);
        prop_assert_eq!(va.cmp(&vb), expected);
        prop_assert_eq!(va.partial_cmp(&vb), Some(expected));
        prop_assert_eq!(va == vb, expected.is_eq());
        prop_assert_eq!(va.explain(&vb), explain(&a, &b));
        if va == vb {
            prop_assert_eq!(hash_of(&va), hash_of(&vb));
        }
        // Display and serde give the original text back.
        prop_assert_eq!(va.to_string(), a.clone());
        let json = serde_json::to_string(&va).unwrap();
        let back: Version = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back.raw(), va.raw());
        prop_assert_eq!(va.satisfies("*"), satisfies(&a, "*"));
    }

    #[test]
    fn parse_agrees_with_the_small_functions(a in any_version_text()) {
        let p = parse(&a);
        prop_assert_eq!(p.as_ref().map(|p| p.version.clone()), valid(&a));
        prop_assert_eq!(p.as_ref().map(|p| p.major), major(&a));
        prop_assert_eq!(
            p.as_ref().and_then(|p| (!p.prerelease.is_empty()).then(|| p.prerelease.clone())),
            prerelease(&a)
        );
        if let Some(p) = &p {
            prop_assert_eq!(&p.raw, &a);
            // The version string is itself valid and normalises to itself.
            prop_assert_eq!(valid(&p.version), Some(p.version.clone()));
        }
    }

    #[test]
    fn ranges_never_panic(r in range_text(), v in any_version_text()) {
        let parsed = Range::parse(&r);
        prop_assert_eq!(parsed.is_ok(), valid_range(&r).is_some());
        if let Ok(range) = &parsed {
            prop_assert_eq!(range.test_str(&v), satisfies(&v, &r));
        } else {
            prop_assert!(!satisfies(&v, &r));
        }
        let list = [v.clone(), r.clone(), "2.0.0".to_owned()];
        let _ = max_satisfying(&list, &r);
    }

    #[test]
    fn nothing_panics_on_arbitrary_unicode(a in any::<String>(), b in any::<String>()) {
        let _ = normalize(&a);
        let _ = parse(&a);
        let _ = compare(&a, &b);
        let _ = satisfies(&a, &b);
        let _ = valid_range(&a);
        let _ = max_satisfying(&[a.as_str(), b.as_str()], &b);
        for release in ["major", "premajor", "minor", "preminor", "patch", "prepatch", "prerelease", "release", "pre", ""] {
            let _ = inc(&a, release);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn long_inputs_do_not_panic(unit in "[0-9.+\\-_ ()a-zA-Z|<>=^~*\u{a0}\u{feff}]{1,8}", n in 1000usize..1300) {
        let long = unit.repeat(n);
        prop_assert!(long.chars().count() >= 1000);
        let _ = normalize(&long);
        let _ = parse(&long);
        let _ = compare(&long, "2.0.0");
        let _ = satisfies("2.0.0", &long);
        let _ = valid_range(&long);
        let _ = max_satisfying(&["2.0.0", long.as_str()], &long);
        let _ = inc(&long, "major");
    }
}

#[test]
fn huge_numbers_and_deep_ranges_do_not_panic() {
    let digits = "9".repeat(10_000);
    let v = format!("{digits}.{digits}.{digits}-{digits}+rev{digits}");
    assert_eq!(valid(&v), None);
    assert_eq!(compare(&v, "2.0.0"), Ordering::Less);
    assert!(!satisfies("2.0.0", &format!(">={digits}")));
    assert!(valid_range(&format!("^{digits}.0")).is_none());

    let deep = vec!["^2.0.0"; 5_000].join(" || ");
    assert!(satisfies("2.88.4", &deep));
    let deep_garbage = "||".repeat(10_000);
    assert_eq!(valid_range(&deep_garbage).as_deref(), Some("*"));
    let wide = vec![">=1.0.0"; 5_000].join(" ");
    assert_eq!(valid_range(&wide).as_deref(), Some(">=1.0.0"));

    let long_version = format!("balenaOS {}", "1.".repeat(5_000));
    assert_eq!(parse(&long_version), None);
    // 300 spaces before a version are trimmed before the length check.
    assert_eq!(
        valid(&format!("{}1.0.0", " ".repeat(300))).as_deref(),
        Some("1.0.0")
    );
    // The length limit is on the normalised string: 257 units are too many.
    let pre = "a".repeat(251);
    assert_eq!(valid(&format!("0.0.0-{pre}")), None);
    assert!(valid(&format!("0.0.0-{}", &pre[1..])).is_some());
}
