//! Bad input: malformed queries, unknown names, type errors, bounds, SQL
//! injection attempts through every literal position, and random
//! mutations. The server answers 4xx with a message (a JSON string), never
//! 500, never panics, and changes nothing.

use serde_json::Value;

use crate::common::{Backend, TestServer};

fn message(body: &Value) -> &str {
    body.as_str().unwrap_or_default()
}

async fn expect_error(server: &TestServer, url: &str, status: u16, needle: &str) {
    let (got, body) = server.get(url, None).await;
    assert_eq!(got, status, "{url}: {body}");
    assert!(
        message(&body).contains(needle),
        "{url}: message {body} should contain {needle:?}"
    );
}

async fn malformed_and_unknown(server: &TestServer) {
    // Malformed OData: 400 naming the position.
    for url in [
        "/v7/device_type?$filter=slug%20eq",
        "/v7/device_type?$filter=(slug%20eq%20'a'",
        "/v7/device_type?$filter=slug%20eq%20'a'%20or",
        "/v7/device_type?$select=",
        "/v7/device_type?$top=abc",
        "/v7/device_type?$top=-1",
        "/v7/device_type?$foo=bar",
        "/v7/release(abc)",
        "/v7/device_type?$filter=slug%20eq%20%22intel-nuc%22",
    ] {
        expect_error(server, url, 400, "at byte ").await;
    }
    // Unknown names: 404 for resources, 400 naming the field otherwise.
    expect_error(
        server,
        "/v7/nonexistent_resource",
        404,
        "Unknown resource 'nonexistent_resource'",
    )
    .await;
    expect_error(server, "/v7/user", 404, "Unknown resource 'user'").await;
    expect_error(server, "/v7/api_key?$select=id", 404, "Unknown resource").await;
    expect_error(
        server,
        "/v7/device_type?$select=nonexistent_field",
        400,
        "Unknown field 'nonexistent_field'",
    )
    .await;
    expect_error(
        server,
        "/v7/device_type?$filter=nonexistent_field%20eq%201",
        400,
        "nonexistent_field",
    )
    .await;
    expect_error(
        server,
        "/v7/device_type?$orderby=nonexistent_field%20asc",
        400,
        "nonexistent_field",
    )
    .await;
    expect_error(
        server,
        "/v7/device_type?$expand=nonexistent_nav",
        400,
        "Unknown navigation property 'nonexistent_nav'",
    )
    .await;
    expect_error(
        server,
        "/v7/application?$select=owns__release",
        400,
        "use $expand",
    )
    .await;
    expect_error(
        server,
        "/v7/application?$expand=actor",
        400,
        "cannot be expanded",
    )
    .await;
    expect_error(
        server,
        "/v7/application?$expand=owns__release,owns__release($select=id)",
        400,
        "expanded twice",
    )
    .await;
    expect_error(
        server,
        "/v7/application?$filter=owns__release/raw_version%20eq%20'1'",
        400,
        "leads to many rows",
    )
    .await;
    expect_error(
        server,
        "/v7/device_type('raspberrypi4-64')",
        400,
        "integer ids",
    )
    .await;
    expect_error(server, "/v99/device_type", 404, "").await;
    expect_error(server, "/nope", 404, "Not found").await;
    expect_error(
        server,
        "/v7/device_type?$select=slug&foo=bar",
        400,
        "Unknown query parameter 'foo'",
    )
    .await;
    // Type errors.
    expect_error(
        server,
        "/v7/release?$filter=semver_major%20eq%20'5'",
        400,
        "Cannot compare",
    )
    .await;
    expect_error(
        server,
        "/v7/device_type?$filter=contract%20eq%201",
        400,
        "JSON document",
    )
    .await;
    expect_error(
        server,
        "/v7/release?$filter=version%20eq%201",
        400,
        "computed",
    )
    .await;
    expect_error(
        server,
        "/v7/release?$filter=raw_version",
        400,
        "true or false",
    )
    .await;
    expect_error(
        server,
        "/v7/release?$filter=raw_version%20gt%20null",
        400,
        "null",
    )
    .await;
    expect_error(
        server,
        "/v7/release?$filter=startswith(raw_version,semver)",
        400,
        "string literal",
    )
    .await;
    expect_error(
        server,
        "/v7/release?$filter=year(created_at)%20eq%202024",
        400,
        "not supported",
    )
    .await;
    expect_error(
        server,
        "/v7/release?$filter=raw_version%20eq%20'a%00b'",
        400,
        "NUL",
    )
    .await;
    expect_error(
        server,
        "/v7/release?$filter=created_at%20gt%20datetime'2024-02-30T00:00:00Z'",
        400,
        "day out of range",
    )
    .await;
    // Bounds.
    expect_error(server, "/v7/release?$top=1001", 400, "limit of 1000").await;
    expect_error(
        server,
        "/v7/application?$expand=owns__release($top=5000)",
        400,
        "limit of 1000",
    )
    .await;
    let (status, _) = server.get("/v7/release?$select=id&$top=1000", None).await;
    assert_eq!(status, 200);
    let long = format!(
        "/v7/device_type?$filter=slug%20eq%20'{}'",
        "a".repeat(40 * 1024)
    );
    let (status, body) = server.get(&long, None).await;
    assert_eq!(status, 414, "{body}");
    // Writes are refused with a message.
    let resp = server
        .client
        .post(format!("{}/v7/release", server.url))
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 405);
    let body: Value = resp.json().await.expect("json");
    assert!(message(&body).contains("read-only"), "{body}");
    // Arithmetic corner cases are answers, not failures.
    let (status, body) = server
        .get("/v7/release?$select=id&$filter=id%20div%200%20gt%201", None)
        .await;
    assert_eq!((status, body["d"].clone()), (200, serde_json::json!([])));
    let (status, body) = server
        .get(
            "/v7/release?$select=id&$filter=id%20mul%209223372036854775807%20gt%200&$top=1",
            None,
        )
        .await;
    assert!(status == 200 || status == 400, "{status} {body}");
    let (status, body) = server
        .get("/v7/device_type?$select=slug&$filter=substring(slug,0,5)%20eq%20'raspb'%20and%20indexof(slug,'pi4')%20eq%209%20and%20length(slug)%20eq%2015&$orderby=slug", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["d"], serde_json::json!([{"slug": "raspberrypi4-64"}]));
}

/// Percent-encodes an OData string literal as pinejs-client does.
fn literal(value: &str) -> String {
    let quoted = format!("'{}'", value.replace('\'', "''"));
    let mut out = String::new();
    for b in quoted.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~'()*!".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const PAYLOADS: &[&str] = &[
    "' OR 1=1 --",
    "' OR '1'='1",
    "'; DROP TABLE release; --",
    "x\" OR \"1\"=\"1",
    "') OR ('1'='1",
    "1; DELETE FROM application",
    "raspberrypi4-64' --",
    "%",
    "_",
    "!",
    "\\",
    "%' OR slug LIKE '%",
    "' UNION SELECT key_hash FROM api_key --",
    "$1",
    "?",
    "ü日本🙂",
    "",
];

const POSITIONS: &[&str] = &[
    "/v7/device_type?$select=slug&$filter=slug%20eq%20{}",
    "/v7/device_type?$select=slug&$filter=slug%20ne%20{}%20and%20slug%20eq%20{}",
    "/v7/device_type?$select=slug&$filter=slug%20in%20({},'x',{})",
    "/v7/device_type?$select=slug&$filter=startswith(slug,{})",
    "/v7/device_type?$select=slug&$filter=endswith(slug,{})",
    "/v7/device_type?$select=slug&$filter=contains(name,{})",
    "/v7/device_type?$select=slug&$filter=substringof({},name)",
    "/v7/device_type?$select=slug&$filter=tolower(slug)%20eq%20{}",
    "/v7/device_type?$select=slug&$filter=device_type_alias/any(a:a/is_referenced_by__alias%20eq%20{})",
    "/v7/device_type(slug={})?$select=slug",
    "/v7/application?$select=slug&$filter=slug%20eq%20{}%20or%20uuid%20eq%20{}",
    "/v7/application?$select=slug&$expand=owns__release($select=id;$filter=raw_version%20eq%20{})&$filter=is_host%20eq%20true%20and%20is_for__device_type/any(dt:dt/slug%20in%20({}))",
    "/v7/application?$select=slug&$filter=application_tag/any(t:t/tag_key%20eq%20{}%20and%20t/value%20eq%20{})",
    "/v7/release?$select=id&$filter=concat(raw_version,{})%20eq%20{}",
    "/v7/release?$select=id&$filter=belongs_to__application/slug%20eq%20{}",
    "/v7/release?$select=id&$filter=release_tag/any(t:t/value%20eq%20{})",
];

/// Rows the position should match for a payload (the payloads match no
/// slug, name, alias, tag or version literally).
async fn injection(server: &TestServer, admin: &str) {
    let resources = [
        "cpu_architecture",
        "device_type",
        "device_type_alias",
        "organization",
        "application",
        "application_tag",
        "release",
        "release_tag",
    ];
    let mut before = Vec::new();
    for r in resources {
        before.push(server.get(&format!("/v7/{r}/$count"), Some(admin)).await.1);
    }
    let (_, all) = server
        .get("/v7/device_type?$select=slug,name", Some(admin))
        .await;
    let names: Vec<(String, String)> = all["d"]
        .as_array()
        .expect("device types")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (s("slug"), s("name"))
        })
        .collect();
    let mut answered = 0;
    for payload in PAYLOADS {
        let lit = literal(payload);
        for position in POSITIONS {
            let url = position.replace("{}", &lit);
            let (status, body) = server.get(&url, Some(admin)).await;
            match status {
                200 => {
                    let rows = body["d"]
                        .as_array()
                        .unwrap_or_else(|| panic!("{url}: {body}"));
                    let got: Vec<&str> = rows.iter().filter_map(|r| r["slug"].as_str()).collect();
                    let searches_name = position.contains("(name,") || position.contains(",name)");
                    let prefix_or_suffix =
                        position.contains("startswith") || position.contains("endswith");
                    let expected: Vec<&str> = if searches_name {
                        // Names really containing the payload, literally.
                        names
                            .iter()
                            .filter(|(_, n)| n.contains(payload))
                            .map(|(s, _)| s.as_str())
                            .collect()
                    } else if prefix_or_suffix && payload.is_empty() {
                        names.iter().map(|(s, _)| s.as_str()).collect()
                    } else {
                        // No slug, alias, tag or version equals a payload.
                        Vec::new()
                    };
                    let mut got_sorted = got.clone();
                    got_sorted.sort_unstable();
                    let mut expected = expected;
                    expected.sort_unstable();
                    assert_eq!(
                        got_sorted, expected,
                        "{url}: a literal must match only itself"
                    );
                    answered += 1;
                }
                400 => assert!(!message(&body).is_empty(), "{url}"),
                other => panic!("{url}: status {other}: {body}"),
            }
        }
        let (status, _) = server
            .get(
                &format!(
                    "/v7/device_type?$select=slug&apikey={}",
                    &lit[1..lit.len() - 1]
                ),
                None,
            )
            .await;
        assert_eq!(status, 401, "apikey {payload:?}");
    }
    assert!(
        answered > PAYLOADS.len() * POSITIONS.len() / 2,
        "most were answered"
    );
    // LIKE wildcards are literal characters.
    let (_, body) = server
        .get(
            "/v7/device_type?$select=slug&$filter=startswith(slug,'raspberry_i')",
            None,
        )
        .await;
    assert_eq!(body["d"], serde_json::json!([]));
    let (_, body) = server
        .get(
            "/v7/device_type?$select=slug&$filter=startswith(slug,'raspberrypi4-')",
            None,
        )
        .await;
    assert_eq!(body["d"].as_array().map(Vec::len), Some(1));
    // Nothing changed.
    for (r, b) in resources.iter().zip(&before) {
        let now = server.get(&format!("/v7/{r}/$count"), Some(admin)).await.1;
        assert_eq!(&now, b, "{r} count unchanged");
    }
}

/// Tiny deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n as u64)).unwrap_or(0)
    }
}

const SEEDS: &[&str] = &[
    "/v7/application?$select=is_for__device_type&$expand=application_tag($select=tag_key,value),is_for__device_type($select=slug),owns__release($select=id,known_issue_list,raw_version,variant,phase;$expand=release_tag($select=tag_key,value);$filter=is_final%20eq%20true%20and%20is_invalidated%20eq%20false%20and%20status%20eq%20%27success%27)&$filter=is_host%20eq%20true%20and%20is_for__device_type/any(dt:dt/slug%20in%20(%27raspberrypi4-64%27))",
    "/v7/release?$select=id,raw_version,known_issue_list&$filter=status%20eq%20%27success%27%20and%20is_final%20eq%20true%20and%20is_invalidated%20eq%20false%20and%20semver_major%20gt%200%20and%20belongs_to__application/any(a:startswith(a/slug,%27balena_os/%27)%20and%20endswith(a/slug,%27-supervisor%27)%20and%20a/is_public%20eq%20true%20and%20a/is_host%20eq%20false%20and%20a/is_for__device_type/any(dt:dt/is_of__cpu_architecture/any(c:c/slug%20eq%20%27aarch64%27)))&$orderby=semver_major%20desc,semver_minor%20desc,semver_patch%20desc,revision%20desc",
    "/v7/device_type?$orderby=name%20asc&$select=slug&$top=1&$filter=device_type_alias/any(dta:dta/is_referenced_by__alias%20eq%20%27rpi4-64%27)",
    "/v7/application?$select=slug&$filter=is_host%20eq%20true&$expand=owns__release/$count($filter=is_final%20eq%20true)",
    "/v7/release(5)?$select=id,version,created_at&$expand=belongs_to__application($select=slug;$expand=organization)",
    "/v7/release?$select=id&$filter=created_at%20gt%20datetime'2020-01-01T00:00:00Z'%20and%20(id%20add%201)%20mod%207%20eq%203&$skip=2&$top=5&$orderby=id%20desc",
];

const INSERTS: &[&str] = &[
    "(",
    ")",
    "'",
    "''",
    "%27",
    "%",
    "%2",
    "%00",
    "/",
    "$",
    ",",
    ";",
    " ",
    "%20",
    "any(",
    "all(x:",
    "eq",
    " or ",
    "not ",
    "$expand=",
    "$filter=",
    "&",
    "=",
    "9999999999999999999999",
    "-",
    "'a'",
    "datetime'",
    "\u{00e9}",
    "%C3%A9",
    "%FF",
    "\\",
    "\"",
    "/$count",
    "(1)",
];

async fn mutations(server: &TestServer, key: &str) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..600 {
        let seed = SEEDS[rng.below(SEEDS.len())];
        let mut url: Vec<u8> = seed.as_bytes().to_vec();
        for _ in 0..=rng.below(3) {
            let at = 4 + rng.below(url.len() - 4);
            match rng.below(4) {
                0 => {
                    url.truncate(at);
                }
                1 => {
                    let end = (at + 1 + rng.below(8)).min(url.len());
                    url.drain(at..end);
                }
                2 => {
                    let ins = INSERTS[rng.below(INSERTS.len())].as_bytes();
                    url.splice(at..at, ins.iter().copied());
                }
                _ => {
                    if let Some(b) = url.get_mut(at) {
                        *b = b"()',;/$=&% abz019"[rng.below(17)];
                    }
                }
            }
        }
        let text = String::from_utf8_lossy(&url)
            .replace(' ', "%20")
            .replace('"', "%22");
        if reqwest::Url::parse(&format!("{}{}", server.url, text)).is_err() {
            continue;
        }
        let k = if i % 2 == 0 { Some(key) } else { None };
        let (status, body) = server.get(&text, k).await;
        assert!(
            matches!(status, 200 | 400 | 404 | 414),
            "mutation {i}: GET {text} → {status} {body}"
        );
        if status != 200 {
            assert!(
                body.is_string(),
                "mutation {i}: GET {text}: error body {body}"
            );
        } else {
            assert!(body.get("d").is_some(), "mutation {i}: GET {text}: {body}");
        }
    }
}

async fn run(backend: Backend) {
    let server = TestServer::start(backend, true).await;
    let admin = server.admin_key.clone().expect("admin key");
    malformed_and_unknown(&server).await;
    injection(&server, &admin).await;
    mutations(&server, &admin).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_postgres() {
    run(Backend::Postgres).await;
}

#[tokio::test]
async fn oversized_answers_are_refused() {
    use balena_os_server::catalog::Catalog;
    use balena_os_server::db::Db;
    use balena_os_server::query::{self, QueryLimits};
    let db = Db::open_sqlite_memory().await.expect("db");
    let catalog = Catalog::new(db.clone());
    balena_os_server::catalog::demo::bootstrap_admin(&catalog)
        .await
        .expect("admin");
    balena_os_server::catalog::demo::load(&catalog)
        .await
        .expect("demo");
    let limits = QueryLimits {
        max_top: 1000,
        max_rows: 50,
    };
    let actor = balena_os_server::auth::Actor::Anonymous;
    let (_, request) = balena_pine::PineRequest::parse("/v7/release?$select=id").expect("parse");
    let plan = query::plan(&request, &actor, db.backend(), limits).expect("plan");
    let err = query::execute(&db, &plan).await.expect_err("too large");
    assert!(err.to_string().contains("more than 50 rows"), "{err}");
    // Expansions count too.
    let (_, request) = balena_pine::PineRequest::parse(
        "/v7/application?$select=id&$top=5&$expand=owns__release($select=id)",
    )
    .expect("parse");
    let plan = query::plan(&request, &actor, db.backend(), limits).expect("plan");
    assert!(query::execute(&db, &plan).await.is_err());
    let (_, request) =
        balena_pine::PineRequest::parse("/v7/release?$select=id&$top=50").expect("parse");
    let plan = query::plan(&request, &actor, db.backend(), limits).expect("plan");
    assert_eq!(query::execute(&db, &plan).await.expect("fits").len(), 50);
}
