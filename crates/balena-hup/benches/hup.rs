//! Throughput of the update rules over the recorded request corpus.
//!
//! `cargo bench -p balena-hup`; the Node.js baseline is `benches/node`
//! (`npm install && node bench.js` there).

use std::hint::black_box;

use balena_hup::RuleSet;
use balena_hup::vectors::VectorFile;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn corpus() -> VectorFile {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/hup-7.0.31.json"
    );
    VectorFile::load(path).expect("vector file")
}

fn bench(c: &mut Criterion) {
    let file = corpus();
    let requests: Vec<(String, Option<String>, Option<String>)> = file
        .cases
        .iter()
        .map(|case| {
            (
                case.device_type
                    .clone()
                    .unwrap_or_else(|| "null".to_owned()),
                case.current.clone(),
                case.target.clone(),
            )
        })
        .collect();
    let mut group = c.benchmark_group("get_os_update_type");
    group.throughput(Throughput::Elements(requests.len() as u64));
    for name in ["7.0.31", "6.2.10", "1.2.2"] {
        let rules = RuleSet::builtin(name).expect("built-in rule set");
        group.bench_function(format!("corpus/{name}"), |b| {
            b.iter(|| {
                let mut supported = 0usize;
                for (dt, cur, tgt) in &requests {
                    if rules
                        .get_os_update_type_opt(dt, cur.as_deref(), tgt.as_deref())
                        .is_ok()
                    {
                        supported += 1;
                    }
                }
                black_box(supported)
            })
        });
    }
    group.finish();

    let rules = RuleSet::current();
    c.bench_function("get_os_update_type/balenahup", |b| {
        b.iter(|| {
            rules.get_os_update_type(
                black_box("raspberrypi3"),
                black_box("2.88.4+rev1.prod"),
                black_box("6.1.0+rev1.prod"),
            )
        })
    });
    c.bench_function("get_os_update_type/takeover", |b| {
        b.iter(|| {
            rules.get_os_update_type(
                black_box("jetson-xavier-nx-devkit-emmc"),
                black_box("6.0.0"),
                black_box("6.1.0"),
            )
        })
    });
    c.bench_function("load/7.0.31.json", |b| {
        let text = include_str!("../rules/7.0.31.json");
        b.iter(|| RuleSet::from_json_str(black_box(text)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
