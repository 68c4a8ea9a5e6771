//! Parsing and encoding a typical SDK host-app query.

use balena_pine::{ODataOptions, PineRequest};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const HOST_APP_URL: &str = "/v7/application?$select=is_for__device_type&$expand=application_tag($select=tag_key,value),is_for__device_type($select=slug),owns__release($select=id,known_issue_list,raw_version,variant,phase;$expand=release_tag($select=tag_key,value);$filter=is_final%20eq%20true%20and%20is_invalidated%20eq%20false%20and%20status%20eq%20%27success%27)&$filter=is_host%20eq%20true%20and%20is_for__device_type/any(dt:dt/slug%20in%20(%27intel-nuc%27))";

fn host_app_options() -> serde_json::Value {
    serde_json::json!({
        "$select": "is_for__device_type",
        "$expand": {
            "application_tag": {"$select": ["tag_key", "value"]},
            "is_for__device_type": {"$select": "slug"},
            "owns__release": {
                "$select": ["id", "known_issue_list", "raw_version", "variant", "phase"],
                "$expand": {"release_tag": {"$select": ["tag_key", "value"]}},
                "$filter": {"is_final": true, "is_invalidated": false, "status": "success"}
            }
        },
        "$filter": {
            "is_host": true,
            "is_for__device_type": {"$any": {"$alias": "dt", "$expr": {"dt": {"slug": {"$in": ["intel-nuc"]}}}}}
        }
    })
}

fn bench(c: &mut Criterion) {
    let (_, request) = PineRequest::parse(HOST_APP_URL).expect("parses");
    assert_eq!(request.to_url_path("v7"), HOST_APP_URL);
    let json = host_app_options();
    c.bench_function("parse host-app URL", |b| {
        b.iter(|| PineRequest::parse(black_box(HOST_APP_URL)))
    });
    c.bench_function("encode host-app URL", |b| {
        b.iter(|| black_box(&request).to_url_path("v7"))
    });
    c.bench_function("from_json + encode host-app options", |b| {
        b.iter(|| ODataOptions::from_json(black_box(&json)).map(|o| o.to_query_string()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
