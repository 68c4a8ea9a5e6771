//! A small command-line driver for benchmarks (`benches/run.sh`) and manual
//! checks.
//!
//! ```text
//! image_tool make <path> <MiB>            realistic MBR image (zeros, random, text)
//! image_tool make-sparse <path> <MiB>     demo image grown to <MiB> (sparse)
//! image_tool import <image> <dir> [coarse]
//! image_tool configure <image> [n]        configure in place (n varies the apiKey)
//! image_tool configure-gz <dir> <out>     configured .gz download from parts
//! image_tool configure-zip <dir> <out>    configured .zip download from parts
//! image_tool inflate <dir> <out>          parts -> raw image on all cores
//! ```

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Instant;

use balena_image::assemble::{DownloadPlan, ZipOptions};
use balena_image::demo::DemoSpec;
use balena_image::import::{ImportOptions, import_image};
use balena_image::inflate::inflate_to_writer;
use balena_image::{
    Configuration, ConfiguredParts, DirPartStore, ImageManifest, Result, configure_image_file,
    configure_parts, read_partition_table,
};

const MIB: u64 = 1 << 20;

fn config(n: u64) -> Configuration {
    Configuration::from_json_str(&format!(
        r#"{{"applicationId":1234,"deviceType":"intel-nuc","appUpdatePollInterval":600000,"listenPort":48484,"vpnPort":443,"apiEndpoint":"https://api.example.com","vpnEndpoint":"vpn.example.com","registryEndpoint":"registry2.example.com","deltaEndpoint":"https://delta.example.com","apiKey":"key{n:029}","wifiSsid":"bench","wifiKey":"bench-password"}}"#
    ))
    .expect("config")
}

/// Writes a realistic image: demo layout whose root/data partitions are a
/// deterministic mix of 4 MiB blocks: 50 % zero, 25 % random, 25 % text.
fn make(path: &Path, mib: u64) -> Result<()> {
    let root = mib * MIB * 3 / 10;
    // boot (8 MiB) + 2 roots + state (1 MiB) + EBRs/alignment (4 MiB) + data = mib
    let data = (mib * MIB).saturating_sub(2 * root + 13 * MIB).max(MIB);
    let img = DemoSpec::new("intel-nuc")
        .sizes(root, data)
        .filler(false)
        .build()?;
    img.write_to_path(path)?;
    let table = read_partition_table(&File::open(path)?)?;
    let mut f = OpenOptions::new().write(true).open(path)?;
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut block = vec![0u8; 4 << 20];
    let words: &[&[u8]] = &[
        b"balena ",
        b"kernel ",
        b"module ",
        b"firmware\n",
        b"lib ",
        b"usr/share ",
    ];
    for p in table.partitions.iter().skip(1) {
        let mut at = p.start;
        while at < p.end() {
            let n = (p.end() - at).min(block.len() as u64) as usize;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 4 {
                0 => {
                    for c in block[..n].chunks_mut(8) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
                    }
                }
                1 => {
                    let mut i = 0;
                    while i < n {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let w = words[(x % words.len() as u64) as usize];
                        let k = w.len().min(n - i);
                        block[i..i + k].copy_from_slice(&w[..k]);
                        i += k;
                    }
                }
                _ => {
                    at += n as u64;
                    continue;
                }
            }
            f.seek(SeekFrom::Start(at))?;
            f.write_all(&block[..n])?;
            at += n as u64;
        }
    }
    f.sync_all()?;
    Ok(())
}

fn load(dir: &Path) -> Result<(balena_image::PartsLayout, DirPartStore)> {
    let m = ImageManifest::from_slice(&std::fs::read(dir.join("image.json"))?)?;
    Ok((
        m.layout("resin.img")?,
        DirPartStore::new(dir.join("compressed")),
    ))
}

fn main() -> Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize| a.get(i).map(String::as_str).unwrap_or("");
    let t = Instant::now();
    match arg(1) {
        "make" => make(Path::new(arg(2)), arg(3).parse().unwrap_or(2048))?,
        "make-sparse" => {
            DemoSpec::new("intel-nuc").build()?.write_to_path(arg(2))?;
            let f = OpenOptions::new().write(true).open(arg(2))?;
            f.set_len(arg(3).parse::<u64>().unwrap_or(4096) * MIB)?;
        }
        "import" => {
            let mut opts = if arg(4) == "coarse" {
                ImportOptions::coarse()
            } else {
                ImportOptions::default()
            };
            opts.threads = std::env::var("IMPORT_THREADS")
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let r = import_image(arg(2), arg(3), &opts)?;
            eprintln!(
                "{} parts, {} -> {} bytes",
                r.layout.parts().len(),
                r.layout.len(),
                r.layout.compressed_len()
            );
        }
        "configure" => {
            let r = configure_image_file(arg(2), &config(arg(3).parse().unwrap_or(0)))?;
            eprintln!("{} bytes changed", r.patches.changed_bytes());
        }
        "configure-gz" | "configure-zip" => {
            let (layout, store) = load(Path::new(arg(2)))?;
            let parts = configure_parts(&layout, &store, &config(0))?;
            let plan = if arg(1) == "configure-gz" {
                DownloadPlan::gzip(&parts)
            } else {
                DownloadPlan::zip(&[("balena.img", &parts)], ZipOptions::default())?
            };
            let mut out = std::io::BufWriter::with_capacity(1 << 20, File::create(arg(3))?);
            plan.write_to(&store, &mut out)?;
            out.flush()?;
            let redeflated: u64 = parts
                .parts
                .iter()
                .filter(|p| matches!(p.data, balena_image::PartData::Replaced(_)))
                .map(|p| p.info.len)
                .sum();
            eprintln!(
                "{} bytes planned, {} of {} parts re-deflated ({} raw bytes)",
                plan.len(),
                parts.replaced_count(),
                parts.parts.len(),
                redeflated
            );
        }
        "deflate-only" => {
            // Diagnostic: compress 16 MiB chunks of a file on N threads, in memory only.
            let data = std::fs::read(arg(2))?;
            let threads: usize = arg(3).parse().unwrap_or(2);
            let next = std::sync::atomic::AtomicUsize::new(0);
            let chunks: Vec<&[u8]> = data.chunks(16 << 20).collect();
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| {
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let Some(c) = chunks.get(i) else { return };
                            std::hint::black_box(balena_image::parts::deflate_part(c));
                        }
                    });
                }
            });
        }
        "inflate" => {
            let (layout, store) = load(Path::new(arg(2)))?;
            let mut out = File::create(arg(3))?;
            inflate_to_writer(&ConfiguredParts::unconfigured(&layout), &store, &mut out, 0)?;
        }
        _ => {
            eprintln!("usage: see the doc comment of examples/image_tool.rs");
            std::process::exit(2);
        }
    }
    eprintln!("{} took {:?}", arg(1), t.elapsed());
    Ok(())
}
