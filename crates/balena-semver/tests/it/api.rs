//! The spec's worked examples (semver-hup.md Part A and D) through the
//! public API.

use std::cmp::Ordering::{self, Equal, Greater, Less};
use std::collections::HashSet;

use balena_semver::{
    Identifier, Range, ReleaseType, Stage, Version, explain, gt, gte, inc, inc_release, lt, lte,
    major, max_satisfying, normalize, nullable, parse, prerelease, rcompare, satisfies, valid,
    valid_range,
};

fn alpha(s: &str) -> Identifier {
    Identifier::Alpha(s.to_owned())
}

#[test]
fn important_parses() {
    let table: &[(&str, &str, Option<&str>, &[&str])] = &[
        ("v2.88.4", "2.88.4", Some("2.88.4"), &[]),
        (
            "balenaOS 2.88.4+rev1.prod",
            "2.88.4+rev1.prod",
            Some("2.88.4"),
            &["rev1", "prod"],
        ),
        (
            "Resin OS 1.8.0 (fido)",
            "1.8.0+fido",
            Some("1.8.0"),
            &["fido"],
        ),
        ("2.0.0.rev1", "2.0.0+rev1", Some("2.0.0"), &["rev1"]),
        ("2.88.4 (prod)", "2.88.4+prod", Some("2.88.4"), &["prod"]),
        (
            "2.88.4+rev1 (dev)",
            "2.88.4+rev1.dev",
            Some("2.88.4"),
            &["rev1", "dev"],
        ),
        (
            "2.0.0-rc1.rev1",
            "2.0.0-rc1.rev1",
            Some("2.0.0-rc1.rev1"),
            &[],
        ),
        (
            "2.0.0-rc.1.rev1",
            "2.0.0-rc.1+rev1",
            Some("2.0.0-rc.1"),
            &["rev1"],
        ),
        ("2022.10.01", "2022.10.1", Some("2022.10.1"), &[]),
        (
            "2019.07.0.prod",
            "2019.7.0+prod",
            Some("2019.7.0"),
            &["prod"],
        ),
        ("2.88.4  (prod)", "2.88.4", Some("2.88.4"), &[]),
        ("2.88.4(prod)", "2.88.4(prod)", None, &[]),
        ("\u{feff}2.0.0", "2.0.0", Some("2.0.0"), &[]),
        ("\u{85}2.0.0", "\u{85}2.0.0", None, &[]),
        ("Linux 14.04", "Linux 14.4", None, &[]),
        ("", "", None, &[]),
    ];
    for &(input, normalized, valid_as, build) in table {
        assert_eq!(normalize(input), normalized, "normalize({input:?})");
        assert_eq!(valid(input).as_deref(), valid_as, "valid({input:?})");
        if valid_as.is_some() {
            let p = parse(input).expect("valid parses");
            assert_eq!(p.raw, input);
            assert_eq!(p.build, build, "build of {input:?}");
        }
    }
    assert_eq!(
        prerelease("2.0.0-rc.1.rev1"),
        Some(vec![alpha("rc"), Identifier::Numeric(1)])
    );
    assert_eq!(prerelease(""), None);
    assert_eq!(
        prerelease("1.2.3-9007199254740991"),
        Some(vec![alpha("9007199254740991")])
    );
    assert_eq!(major("vv2.88.4"), Some(2));
    assert_eq!(major("vvv2.88.4"), None);
}

#[test]
fn revisions_are_doubles() {
    let rev = |v: &str| parse(v).and_then(|p| p.revision());
    assert_eq!(rev("2.0.0+rev99999999999999999999"), Some(1e20));
    assert_eq!(
        rev("2.0.0+rev9007199254740993"),
        Some(9_007_199_254_740_992.0)
    );
    for not_rev in ["prev1", "rev1ve", "REV1", "Rev1", "rev", "rev-1"] {
        assert_eq!(rev(&format!("2.0.0+{not_rev}")), None, "{not_rev}");
    }
    assert_eq!(rev("2.0.0-rc1.rev1"), None);
    assert_eq!(rev("2.0.0+rev2.rev1"), Some(2.0));
}

#[track_caller]
fn ordered(a: &str, b: &str, expected: Ordering, stage: Stage) {
    assert_eq!(explain(a, b), (expected, stage), "compare({a:?}, {b:?})");
    assert_eq!(
        explain(b, a),
        (expected.reverse(), stage),
        "compare({b:?}, {a:?})"
    );
}

#[test]
fn the_total_order() {
    ordered("2.0.0 (dev)", "2.0.0", Less, Stage::DevFlag);
    ordered("2.0.0", "2.0.0 (prod)", Less, Stage::Collation);
    ordered("2.0.0.dev", "2.0.0 (dev)", Equal, Stage::Collation);
    ordered("2.0.0-dev", "2.0.0", Less, Stage::Precedence);
    ordered("2.0.0+rev1.dev", "2.0.0+prod", Greater, Stage::Revision);
    ordered("2.0.0+rev0", "2.0.0", Greater, Stage::Collation);
    ordered("2.0.0+prod", "2.0.0+rev0", Less, Stage::Collation);
    ordered("2.0.0+rev2", "2.0.0+rev11", Less, Stage::Revision);
    ordered("2.88.4+rev01", "2.88.4+rev1", Equal, Stage::Collation);
    ordered("vv2.0.0", "2.0.0", Greater, Stage::Collation);
    ordered("2.0.0+prod", "2.0.0+PROD", Less, Stage::Collation);
    ordered("2.0.0+10", "2.0.0+9", Less, Stage::Collation);
    ordered("2.0.0 balenaOS", "2.0.0", Greater, Stage::Collation);
    ordered("Linux 14.04", "2.0.0", Less, Stage::ValidVsInvalid);
    ordered("\u{ff21}", "\u{1f600}", Greater, Stage::InvalidVsInvalid);
    ordered("Z", "_", Less, Stage::InvalidVsInvalid);
    // U+FEFF is completely ignorable in collation.
    ordered("2.0.0\u{feff}balenaOS", "2.0.0", Equal, Stage::Collation);

    assert_eq!(rcompare("1.0.0", "2.0.0"), Greater);
    assert!(gt("2.0.0", "1.0.0") && gte("2.0.0", "2.0.0") && lt("a", "b") && lte("b", "b"));
    assert!(nullable::gte(None, None));
    assert!(nullable::gt(Some("garbage"), None));
    assert!(lt("Linux 14.04", "2.0.0"));
}

#[test]
fn version_type_is_ordered_and_hashable() {
    let strings = [
        "2.0.0+rev1.prod",
        "2.0.0.dev",
        "v2.0.0",
        "Resin OS 2.0.0",
        "2.0.0-rc1",
        "2022.10.01",
        "2022.10.1",
        "2.0.0+rev1",
        "2.0.0 (prod)",
    ];
    let mut versions: Vec<Version> = strings.iter().map(|s| s.parse().unwrap()).collect();
    versions.sort();
    let sorted: Vec<&str> = versions.iter().map(Version::raw).collect();
    assert_eq!(
        sorted,
        [
            "2.0.0-rc1",
            "2.0.0.dev",
            "v2.0.0",
            "Resin OS 2.0.0",
            "2.0.0 (prod)",
            "2.0.0+rev1",
            "2.0.0+rev1.prod",
            "2022.10.01",
            "2022.10.1",
        ]
    );
    let unique: HashSet<Version> = versions.into_iter().collect();
    assert_eq!(
        unique.len(),
        7,
        "v2.0.0 = Resin OS 2.0.0 and 2022.10.01 = 2022.10.1"
    );

    let err = "foobar".parse::<Version>().unwrap_err();
    assert!(err.to_string().contains("foobar"));
    assert!(matches!(
        "9007199254740992.0.0".parse::<Version>(),
        Err(balena_semver::ParseError::NumberTooLarge { .. })
    ));
    let json = serde_json::to_string(&"balenaOS 2.88.4".parse::<Version>().unwrap()).unwrap();
    assert_eq!(json, "\"balenaOS 2.88.4\"");
    assert!(serde_json::from_str::<Version>("\"nope\"").is_err());
}

#[test]
fn satisfies_does_not_normalise_the_range() {
    assert!(satisfies("2.0.0", "Resin OS 2.0.0"));
    assert!(satisfies("1.0.0", "< Resin OS v1.0.0"));
    assert!(!satisfies("2.0.0", "2.0.0.rev1"));
    assert!(!satisfies("2.88.4", "2.88.4.prod"));
    assert!(!satisfies("2.0.0-rc1.rev1", ">=1.0.0"));
    assert!(!satisfies("3.0.0-0", "*"));
    assert!(satisfies("2.0.0-rc1.rev1", "^2.0.0-0"));
    assert!(!satisfies("2.0.0", "2.0.0 && 3.0.0"));
    assert!(satisfies("2.0.0", "2.0.0 -2.88.4"));
    assert!(satisfies("2.88.4+rev1.prod", ">=2.14.0+rev1"));
    assert!(!nullable::satisfies(None, Some("*")));
    for bad in [
        "foo",
        ">=",
        ">>2.0.0",
        "=>2.0.0",
        "2.0.0.0",
        "!2.0.0",
        ">=2.0.0,<3.0.0",
        "1.x.1",
        "x.1",
        "~",
        "^",
    ] {
        assert_eq!(valid_range(bad), None, "{bad:?} is invalid");
        assert!(!satisfies("2.0.0", bad));
    }
    assert_eq!(
        valid_range("^2022.10").as_deref(),
        Some(">=2022.10.0 <2023.0.0-0")
    );
    assert_eq!(valid_range("^0.0.1").as_deref(), Some(">=0.0.1 <0.0.2-0"));
    assert_eq!(valid_range("2.0.0 ||").as_deref(), Some("*"));
    let r: Range = "1.2.3 - 2.0.0-rc.1".parse().unwrap();
    assert_eq!(r.to_string(), ">=1.2.3 <=2.0.0-rc.1");
}

#[test]
fn max_satisfying_normalises_the_range_and_keeps_the_first_tie() {
    let list = ["2.88.4", "2.88.4+rev1", "2.88.4+rev1.prod"];
    assert_eq!(max_satisfying(&list, "2.88.4"), Some(&"2.88.4+rev1.prod"));
    assert_eq!(
        max_satisfying(&["Resin OS 1.1.4", "Resin OS 1.1.04"], "Resin OS v1.1.*"),
        Some(&"Resin OS 1.1.4")
    );
    assert_eq!(
        max_satisfying(&["Resin OS 1.1.04", "Resin OS 1.1.4"], "^1.0.0"),
        Some(&"Resin OS 1.1.04")
    );
    assert_eq!(
        max_satisfying(&["2.0.0+rev1", "2.0.0"], "2.0.0.rev1"),
        Some(&"2.0.0+rev1")
    );
    assert_eq!(max_satisfying(&["foo", "1.0.0"], "^2"), None);
    let with_nulls = [None, Some("2.0.0"), None, Some("2.1.0")];
    assert_eq!(
        nullable::max_satisfying(&with_nulls, Some("^2")),
        Ok(Some(&"2.1.0"))
    );
    assert!(nullable::max_satisfying(&with_nulls, None).is_err());
}

#[test]
fn inc_follows_npm() {
    let cases = [
        ("1.0.0-pre", "major", Some("1.0.0")),
        ("1.2.3-rc.1", "patch", Some("1.2.3")),
        ("1.2.3-rc.1", "major", Some("2.0.0")),
        ("2.0.0-beta.8", "prerelease", Some("2.0.0-beta.9")),
        (
            "2.0.0-beta10.rev1",
            "prerelease",
            Some("2.0.0-beta10.rev1.0"),
        ),
        ("2.0.0", "prerelease", Some("2.0.1-0")),
        ("2.0.0", "release", None),
        ("2.0.0-1", "release", Some("2.0.0")),
        ("2.0.0", "pre", Some("2.0.0-0")),
        ("2.0.0+rev1", "patch", Some("2.0.1")),
        (
            "9007199254740991.0.0",
            "major",
            Some("9007199254740992.0.0"),
        ),
        ("2.0.0", "", None),
        ("2.0.0", "bogus", None),
        ("foo", "major", None),
    ];
    for (v, release, expected) in cases {
        assert_eq!(
            inc(v, release).as_deref(),
            expected,
            "inc({v:?}, {release:?})"
        );
    }
    assert_eq!(
        inc_release("1.2.3", ReleaseType::Preminor).as_deref(),
        Some("1.3.0-0")
    );
    assert_eq!(nullable::inc(Some("1.2.3"), None), None);
}

#[test]
fn javascript_traps() {
    // JavaScript whitespace, not Rust's.
    assert_eq!(valid("\u{2029}2.0.0\u{feff}").as_deref(), Some("2.0.0"));
    assert_eq!(valid("2.0.0\u{85}"), None);
    // ASCII-only case folding for the OS name.
    assert_eq!(normalize("Reſin OS 2.0.0"), "Reſin OS 2.0.0");
    assert_eq!(normalize("BALENA OS 2.0.0"), "2.0.0");
    // ASCII digits only.
    assert_eq!(valid("２.0.0"), None);
    assert_eq!(valid("٢.0.0"), None);
    // The length limit counts UTF-16 units of the normalised string.
    let long = format!("balenaOS 1.0.0-{}", "a".repeat(250));
    assert!(valid(&long).is_some());
}
