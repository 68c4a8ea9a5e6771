//! Every pine URL the official SDK sent (`node-sdk-os-wire.json`) and every
//! OData GET sent to the real open-balena-api (`open-balena-api-responses.json`).

use balena_pine::{ODataOptions, PineRequest, ResourceKey, merge_pine_options};
use serde_json::{Value, json};

fn shared(path: &str) -> Value {
    let full = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/").to_owned() + path;
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {full}: {e}"));
    serde_json::from_str(&text).expect("valid JSON")
}

/// `(case id, method, args, request)` for every pine request in the SDK capture.
fn sdk_pine_requests() -> Vec<(String, Value, Value)> {
    let cases = shared("conformance/node-sdk-os-wire.json");
    let mut out = Vec::new();
    for case in cases.as_array().expect("array of cases") {
        for request in case["requests"].as_array().expect("requests") {
            if request["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/v7/"))
            {
                out.push((
                    case["id"].as_str().unwrap().to_owned(),
                    case.clone(),
                    request.clone(),
                ));
            }
        }
    }
    out
}

#[test]
fn every_sdk_pine_url_round_trips_byte_for_byte() {
    let requests = sdk_pine_requests();
    assert!(
        requests.len() >= 100,
        "expected the full capture, got {}",
        requests.len()
    );
    for (id, _, request) in &requests {
        let raw_url = request["raw_url"].as_str().unwrap();
        let (version, parsed) =
            PineRequest::parse(raw_url).unwrap_or_else(|e| panic!("[{id}] {raw_url}: {e}"));
        assert_eq!(version, "v7");
        assert_eq!(parsed.to_url_path("v7"), raw_url, "[{id}]");
        assert_eq!(
            format!("/v7/{}", parsed.resource),
            request["path"].as_str().unwrap().split('(').next().unwrap()
        );
        // Query string alone, and its decoded pairs (the fixture's `query`).
        let raw_query = request["raw_query"].as_str().unwrap_or("");
        let options = ODataOptions::parse_query(raw_query).unwrap();
        assert_eq!(options, parsed.options, "[{id}]");
        assert_eq!(options.to_query_string(), raw_query, "[{id}]");
        let expected: Vec<(String, String)> = request["query"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(options.query_pairs(), expected, "[{id}] decoded query");
        // Parsing is idempotent and the tree is canonical and valid.
        options.validate().unwrap();
        let mut canonical = options.clone();
        canonical.canonicalize();
        assert_eq!(canonical, options, "[{id}]");
    }
}

#[test]
fn apikey_is_kept_as_a_custom_parameter() {
    let url = "/v7/device_type?$select=slug&apikey=qSpArAmKeY";
    assert!(
        sdk_pine_requests()
            .iter()
            .any(|(_, _, r)| r["raw_url"] == url)
    );
    let (_, request) = PineRequest::parse(url).unwrap();
    assert_eq!(request.api_key(), Some("qSpArAmKeY"));
    assert_eq!(request.options.select().map(Vec::len), Some(1));
    assert_eq!(request.to_url_path("v7"), url);
}

// ---- JSON options built the way balena-sdk 23.2.15 builds them -------------

fn host_app_options(device_types: &[String], release_options: Value) -> Value {
    json!({
        "$select": "is_for__device_type",
        "$expand": {
            "application_tag": {"$select": ["tag_key", "value"]},
            "is_for__device_type": {"$select": "slug"},
            "owns__release": release_options,
        },
        "$filter": {
            "is_host": true,
            "is_for__device_type": {"$any": {"$alias": "dt", "$expr": {"dt": {"slug": {"$in": device_types}}}}},
        },
    })
}

fn base_release_options() -> Value {
    json!({
        "$select": ["id", "known_issue_list", "raw_version", "variant", "phase"],
        "$expand": {"release_tag": {"$select": ["tag_key", "value"]}},
    })
}

/// `_getAllOsVersions(deviceTypes, options, convenienceFilter)`.
fn all_os_versions(device_types: &[String], options: Option<&Value>, kind: &str) -> Value {
    let mut extra = json!({});
    if kind != "all" {
        let mut filter = serde_json::Map::new();
        if kind == "supported" {
            filter.insert("is_final".into(), json!(true));
        }
        filter.insert("is_invalidated".into(), json!(false));
        filter.insert("status".into(), json!("success"));
        extra = json!({ "$filter": filter });
    }
    let final_options = match options {
        Some(options) => merge_pine_options(options, Some(&extra)).unwrap(),
        None => extra,
    };
    let release = merge_pine_options(&base_release_options(), Some(&final_options)).unwrap();
    host_app_options(device_types, release)
}

fn device_type_list(arg: &Value, sort: bool) -> Vec<String> {
    let mut list: Vec<String> = match arg {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("unexpected device types {other}"),
    };
    if sort {
        list.sort();
    }
    list
}

fn supervisor_options(arch: &Value, options: Option<&Value>) -> Value {
    let innermost = match arch {
        Value::Number(n) => json!(n),
        other => json!({"$any": {"$alias": "c", "$expr": {"c": {"slug": other}}}}),
    };
    let defaults = json!({
        "$select": ["id", "raw_version", "known_issue_list"],
        "$filter": {
            "status": "success",
            "is_final": true,
            "is_invalidated": false,
            "semver_major": {"$gt": 0},
            "belongs_to__application": {"$any": {"$alias": "a", "$expr": {
                "$and": [
                    {"a": {"slug": {"$startswith": "balena_os/"}}},
                    {"a": {"slug": {"$endswith": "-supervisor"}}},
                ],
                "a": {
                    "is_public": true,
                    "is_host": false,
                    "is_for__device_type": {"$any": {"$alias": "dt", "$expr": {"dt": {"is_of__cpu_architecture": innermost}}}},
                },
            }}},
        },
        "$orderby": [{"semver_major": "desc"}, {"semver_minor": "desc"}, {"semver_patch": "desc"}, {"revision": "desc"}],
    });
    merge_pine_options(&defaults, options).unwrap()
}

/// The request a case's call sends, rebuilt from its arguments.
fn rebuild(method: &str, args: &[Value]) -> Option<Result<PineRequest, balena_pine::OptionsError>> {
    let arg = |i: usize| args.get(i).filter(|v| !v.is_null());
    let (resource, key, options) = match method {
        "os.getAllOsVersions" => {
            let options = arg(1);
            (
                "application",
                None,
                all_os_versions(
                    &device_type_list(&args[0], options.is_none()),
                    options,
                    "all",
                ),
            )
        }
        "os.getAvailableOsVersions" => {
            let options = arg(1).filter(|o| o.as_object().is_some_and(|m| !m.is_empty()));
            let kind = if arg(2).is_some_and(|e| e["includeDraft"] == json!(true)) {
                "include_draft"
            } else {
                "supported"
            };
            (
                "application",
                None,
                all_os_versions(
                    &device_type_list(&args[0], options.is_none()),
                    options,
                    kind,
                ),
            )
        }
        "os.getSupervisorReleasesForCpuArchitecture" => {
            ("release", None, supervisor_options(&args[0], arg(1)))
        }
        "deviceType.get" => match &args[0] {
            Value::Number(n) => (
                "device_type",
                Some(ResourceKey::Integer(n.as_i64().unwrap())),
                arg(1).cloned().unwrap_or(json!({})),
            ),
            Value::String(slug) => {
                let inner = merge_pine_options(
                    &json!({"$top": 1, "$filter": {"device_type_alias": {"$any": {"$alias": "dta", "$expr": {"dta": {"is_referenced_by__alias": slug}}}}}}),
                    arg(1),
                )
                .unwrap();
                (
                    "device_type",
                    None,
                    merge_pine_options(&json!({"$orderby": {"name": "asc"}}), Some(&inner))
                        .unwrap(),
                )
            }
            _ => return None,
        },
        "application.get" => match &args[0] {
            Value::Number(n) => (
                "application",
                Some(ResourceKey::Integer(n.as_i64().unwrap())),
                merge_pine_options(&json!({}), arg(1)).unwrap(),
            ),
            Value::String(s) => {
                let lower = s.to_lowercase();
                (
                    "application",
                    None,
                    merge_pine_options(
                        &json!({"$filter": {"$or": {"slug": lower, "uuid": lower}}}),
                        arg(1),
                    )
                    .unwrap(),
                )
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(ODataOptions::from_json(&options).map(|options| {
        let mut request = PineRequest::new(resource, options);
        request.key = key;
        request
    }))
}

#[test]
fn json_options_built_like_the_sdk_give_the_recorded_urls() {
    let cases = shared("conformance/node-sdk-os-wire.json");
    let mut checked = 0;
    for case in cases.as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        // A call is either the case itself or one step of a sequence.
        let calls: Vec<(String, Vec<Value>, Option<u64>)> = if case["method"] == "sequence" {
            case["args"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .filter_map(|(i, step)| {
                    let method = step["method"].as_str()?.to_owned();
                    Some((
                        method,
                        step["args"].as_array().cloned().unwrap_or_default(),
                        Some(i as u64),
                    ))
                })
                .collect()
        } else {
            vec![(
                case["method"].as_str().unwrap().to_owned(),
                case["args"].as_array().cloned().unwrap_or_default(),
                None,
            )]
        };
        for (method, args, step) in calls {
            let method = if method.contains('.') {
                method
            } else {
                format!("os.{method}")
            };
            let Some(request) = rebuild(&method, &args) else {
                continue;
            };
            let sent: Vec<&str> = case["requests"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| step.is_none() || r["step"].as_u64() == step)
                .filter_map(|r| r["raw_url"].as_str())
                .filter(|u| u.starts_with("/v7/"))
                .collect();
            let request = match request {
                Ok(request) => request,
                // pinejs-client refuses it too, before sending anything.
                Err(err) => {
                    assert!(sent.is_empty(), "[{id}] {err}");
                    assert!(
                        case["error"]["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("at least 1 elements"))
                    );
                    continue;
                }
            };
            // Cached steps send nothing.
            if sent.is_empty() {
                continue;
            }
            let url = request.to_url_path("v7");
            assert!(
                sent.contains(&url.as_str()),
                "[{id}] {method} built\n  {url}\nsent\n  {sent:?}"
            );
            // The tree from JSON is the tree the parser reads from the URL.
            let (_, parsed) = PineRequest::parse(&url).unwrap();
            assert_eq!(parsed, request, "[{id}] tree from JSON vs tree from URL");
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} calls rebuilt");
}

#[test]
fn empty_device_type_list_fails_like_the_sdk() {
    let options = all_os_versions(&[], None, "all");
    let err = ODataOptions::from_json(&options).unwrap_err();
    assert!(
        err.to_string().contains("`$in` needs at least one value"),
        "{err}"
    );
}

// ---- the real open-balena-api --------------------------------------------

#[test]
fn every_odata_get_sent_to_the_real_api_parses_or_fails_like_it() {
    let data = shared("conformance/open-balena-api-responses.json");
    let mut parsed = 0;
    for capture in data["captures"].as_array().unwrap() {
        let request = &capture["request"];
        let path = request["path"].as_str().unwrap();
        if request["method"] != "GET"
            || !(path.starts_with("/v7/") || path.starts_with("/v6/") || path.starts_with("/v99/"))
        {
            continue;
        }
        let raw_query = request["raw_query"].as_str().unwrap_or("");
        let target = if raw_query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{raw_query}")
        };
        let status = capture["response"]["status"].as_u64().unwrap();
        let result = PineRequest::parse(&target);
        match status {
            // 400 is the API's "Malformed url"; we refuse the same queries.
            400 => assert!(
                result.is_err(),
                "{target} was 400 upstream but parsed: {result:?}"
            ),
            // `/v7/` and `/v7/$metadata` are not resources; a double-quoted
            // literal is not a literal (upstream answered 500).
            _ if path == "/v7/" || path == "/v7/$metadata" || raw_query.contains("%22") => {
                assert!(result.is_err(), "{target} should not parse")
            }
            _ => {
                let (_, request) = result.unwrap_or_else(|e| panic!("{target} ({status}): {e}"));
                // Encoding normalises whitespace but keeps the meaning.
                let again = PineRequest::parse(&request.to_url_path("v7")).unwrap().1;
                assert_eq!(again, request, "{target}");
                parsed += 1;
            }
        }
    }
    assert!(parsed >= 60, "only {parsed} parsed");
}

#[test]
fn real_api_forms_parse_to_the_expected_trees() {
    use balena_pine::{Expr, Literal, OrderByTarget, QueryOption};
    let (_, r) =
        PineRequest::parse("/v7/device_type(slug='raspberrypi4-64')?$select=id,slug").unwrap();
    assert_eq!(
        r.key,
        Some(ResourceKey::Named(vec![(
            "slug".try_into().unwrap(),
            Literal::String("raspberrypi4-64".into())
        )]))
    );
    let (_, r) = PineRequest::parse("/v7/device_type('raspberrypi4-64')").unwrap();
    assert_eq!(r.key, Some(ResourceKey::String("raspberrypi4-64".into())));
    let (_, r) = PineRequest::parse(
        "/v7/release/$count?$filter=belongs_to__application/any(a:a/is_host%20eq%20true)",
    )
    .unwrap();
    assert!(r.options.is_count());
    assert_eq!(
        r.to_url_path("v7"),
        "/v7/release/$count?$filter=belongs_to__application/any(a:a/is_host%20eq%20true)"
    );
    let (_, r) = PineRequest::parse("/v7/application?$select=slug&$filter=is_host%20eq%20true&$expand=owns__release/$count($filter=is_final%20eq%20true)").unwrap();
    let expand = r.options.expand().unwrap();
    assert!(expand[0].options().is_count());
    assert!(expand[0].options().filter().is_some());
    let (_, r) = PineRequest::parse("/v7/release?$select=id,raw_version&$filter=semver_major%20in%20(5,%202024)%20and%20startswith(raw_version,%275%27)").unwrap();
    assert_eq!(
        r.options.filter().unwrap().to_string(),
        "semver_major in (5,2024) and startswith(raw_version,'5')"
    );
    let (_, r) = PineRequest::parse("/v7/release?$select=id,raw_version,revision,semver_build&$filter=raw_version%20eq%20%276.0.13+rev1%27").unwrap();
    assert_eq!(
        r.options.filter().unwrap().to_string(),
        "raw_version eq '6.0.13+rev1'",
        "`+` is not a space"
    );
    let (_, r) = PineRequest::parse("/v7/release?$select=id,created_at&$filter=created_at%20gt%20datetime%272020-01-01T00:00:00Z%27&$top=2").unwrap();
    assert!(
        matches!(r.options.filter(), Some(Expr::Compare { right, .. }) if matches!(**right, Expr::Literal(Literal::DateTime(_))))
    );
    let (_, r) = PineRequest::parse("/v7/cpu_architecture?$select=id,slug&$orderby=id").unwrap();
    let orderby = r.options.orderby().unwrap();
    assert!(matches!(&orderby[0].target, OrderByTarget::Path(p) if p.to_string() == "id"));
    assert_eq!(orderby[0].direction, None);
    assert!(matches!(r.options.options()[1], QueryOption::OrderBy(_)));
}
