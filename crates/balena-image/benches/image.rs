//! Criterion benches for balena-image's hot paths. Baselines against pigz
//! and the 2 GiB / 4 GiB runs are in `benches/run.sh`.

use std::fs::OpenOptions;
use std::hint::black_box;
use std::io;

use balena_image::assemble::DownloadPlan;
use balena_image::demo::DemoSpec;
use balena_image::import::{ImportOptions, import_image};
use balena_image::inflate::inflate_to_writer;
use balena_image::{
    Configuration, ConfiguredParts, DirPartStore, compute_patches, configure_image_file,
    configure_parts,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn cfg(n: u64) -> Configuration {
    Configuration::from_json_str(&format!(
        r#"{{"applicationId":1,"deviceType":"intel-nuc","apiKey":"key{n:029}","wifiSsid":"bench","wifiKey":"bench-password"}}"#
    ))
    .expect("config")
}

fn in_place(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut g = c.benchmark_group("configure_in_place");
    for (name, mib) in [("256MiB", 256u64), ("4GiB", 4096)] {
        let p = dir.path().join(format!("{name}.img"));
        DemoSpec::new("intel-nuc")
            .build()
            .expect("demo")
            .write_to_path(&p)
            .expect("write");
        OpenOptions::new()
            .write(true)
            .open(&p)
            .expect("open")
            .set_len(mib << 20)
            .expect("grow");
        let mut n = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                black_box(configure_image_file(&p, &cfg(n % 2)).expect("configure"))
            })
        });
    }
    g.finish();
}

fn overlay(c: &mut Criterion) {
    let img = DemoSpec::new("raspberrypi3")
        .build()
        .expect("demo")
        .to_vec()
        .expect("bytes");
    c.bench_function("configure_overlay_in_memory_fat32", |b| {
        b.iter(|| black_box(compute_patches(&img, &cfg(1)).expect("configure")))
    });
}

fn parts(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("img");
    let spec = DemoSpec::new("intel-nuc").sizes(24 << 20, 24 << 20);
    let img = spec.build().expect("demo");
    img.write_to_path(&p).expect("write");
    let len = img.len();
    let out = dir.path().join("rel");
    let rep = import_image(&p, &out, &ImportOptions::default()).expect("import");
    let store = DirPartStore::new(out.join("compressed"));

    let mut g = c.benchmark_group("parts");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(len));
    g.bench_function("import", |b| {
        b.iter(|| {
            import_image(&p, dir.path().join("rel2"), &ImportOptions::default()).expect("import")
        })
    });
    g.bench_function("inflate_all_cores", |b| {
        b.iter(|| {
            inflate_to_writer(
                &ConfiguredParts::unconfigured(&rep.layout),
                &store,
                &mut io::sink(),
                0,
            )
            .expect("inflate")
        })
    });
    g.bench_function("configured_gz_download", |b| {
        b.iter(|| {
            let parts = configure_parts(&rep.layout, &store, &cfg(2)).expect("configure");
            DownloadPlan::gzip(&parts)
                .write_to(&store, &mut io::sink())
                .expect("write")
        })
    });
    g.finish();
}

criterion_group!(benches, in_place, overlay, parts);
criterion_main!(benches);
