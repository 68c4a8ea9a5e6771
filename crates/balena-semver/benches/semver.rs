//! Sorting 100 000 realistic balenaOS version strings and 100 000
//! `satisfies` calls; the same work as `benches/node/bench.js` does with
//! the npm package (run both with `benches/run.sh`).

mod inputs;

use std::hint::black_box;

use balena_semver::Version;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn sort(c: &mut Criterion) {
    let versions = inputs::versions();
    let mut group = c.benchmark_group("sort_100k");
    group.sample_size(10);
    group.bench_function("strings", |b| {
        b.iter_batched(
            || versions.clone(),
            |mut v| {
                balena_semver::sort(&mut v);
                v
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("parse_into_Version_then_sort", |b| {
        b.iter(|| {
            let mut parsed: Vec<Version> = versions.iter().filter_map(|s| s.parse().ok()).collect();
            parsed.sort();
            parsed
        })
    });
    group.finish();
}

fn satisfies(c: &mut Criterion) {
    let versions = inputs::versions();
    let pairs = inputs::satisfies_pairs(versions.len());
    let mut group = c.benchmark_group("satisfies_100k");
    group.sample_size(10);
    group.bench_function("strings", |b| {
        b.iter(|| {
            pairs
                .iter()
                .filter(|&&(v, r)| {
                    balena_semver::satisfies(black_box(&versions[v]), inputs::RANGES[r])
                })
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, sort, satisfies);
criterion_main!(benches);
