//! A plain randomised fuzz driver (stable Rust; no libFuzzer).
//!
//! Seeds are demo images (MBR, GPT, flasher; FAT16 and FAT32). Each
//! execution mutates one seed (byte flips, random bytes, 16/32-bit
//! boundary values, splices, truncation) concentrated on the partition
//! tables, EBRs, boot sector, FATs and root directory, then runs the
//! partition reader, the FAT reader (lookup + read) and the full
//! configure path (fatfs through the overlay). A panic aborts the run and
//! saves the input; an execution slower than the hang limit is reported as
//! a hang. Overflow checks and debug assertions are on in this profile.
//!
//! Usage: `cargo run --release -- <seconds> [seed]`

use std::panic;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use balena_image::demo::{DemoSpec, DemoTable};
use balena_image::fat::FatVolume;
use balena_image::{
    Configuration, ReadAt, compute_patches, find_boot_partition, read_partition_table,
};

/// A mutated view of a seed: the seed's bytes with a sparse set of
/// overwritten bytes and an optional truncation (no copy of the seed).
struct Mutated<'a> {
    base: &'a [u8],
    edits: std::collections::BTreeMap<usize, u8>,
    len: usize,
}

impl Mutated<'_> {
    fn get(&self, at: usize) -> u8 {
        self.edits.get(&at).copied().unwrap_or(self.base[at])
    }
    fn set(&mut self, at: usize, v: u8) {
        if at < self.len {
            self.edits.insert(at, v);
        }
    }
    fn to_vec(&self) -> Vec<u8> {
        let mut v = self.base[..self.len].to_vec();
        for (&a, &b) in self.edits.range(..self.len) {
            v[a] = b;
        }
        v
    }
}

impl ReadAt for Mutated<'_> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        if offset >= self.len as u64 {
            return Ok(0);
        }
        let o = offset as usize;
        let n = buf.len().min(self.len - o);
        buf[..n].copy_from_slice(&self.base[o..o + n]);
        for (&a, &b) in self.edits.range(o..o + n) {
            buf[a - o] = b;
        }
        Ok(n)
    }
    fn len_bytes(&self) -> std::io::Result<u64> {
        Ok(self.len as u64)
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Regions worth mutating: (start, len) in the seed.
fn hot_regions(img: &[u8]) -> Vec<(usize, usize)> {
    let mut v = vec![(0usize, 34 * 512usize)];
    if let Ok(t) = read_partition_table(img) {
        for p in &t.partitions {
            let s = p.start as usize;
            // boot sector + FSInfo + FATs + root directory area
            v.push((s, (64 * 1024).min(img.len() - s)));
            if p.logical {
                v.push((s - (1 << 20), 512));
            }
        }
    }
    v
}

fn mutate<'a>(rng: &mut Rng, seed: &'a [u8], hot: &[(usize, usize)]) -> Mutated<'a> {
    let mut img = Mutated {
        base: seed,
        edits: Default::default(),
        len: seed.len(),
    };
    let n = 1 + rng.below(16);
    for _ in 0..n {
        let (s, l) = hot[rng.below(hot.len() as u64) as usize];
        let at = s + rng.below(l as u64) as usize;
        if at >= img.len {
            continue;
        }
        match rng.below(6) {
            0 => {
                let v = img.get(at) ^ (1 << rng.below(8));
                img.set(at, v);
            }
            1 => img.set(at, rng.next() as u8),
            2 => {
                let vals = [
                    0u32,
                    1,
                    2,
                    0x7F,
                    0x80,
                    0xFF,
                    0xFFFF,
                    0xFFF7,
                    0x0FFF_FFFF,
                    0xFFFF_FFFF,
                    0x8000_0000,
                ];
                let v = vals[rng.below(vals.len() as u64) as usize].to_le_bytes();
                let w = if rng.below(2) == 0 { 2 } else { 4 };
                for (i, b) in v.iter().enumerate().take(w) {
                    img.set(at + i, *b);
                }
            }
            3 => {
                let (s2, l2) = hot[rng.below(hot.len() as u64) as usize];
                let from = s2 + rng.below(l2 as u64) as usize;
                let len = (1 + rng.below(64)) as usize;
                if from + len <= img.len && at + len <= img.len {
                    let chunk: Vec<u8> = (from..from + len).map(|i| img.get(i)).collect();
                    for (i, b) in chunk.into_iter().enumerate() {
                        img.set(at + i, b);
                    }
                }
            }
            4 => {
                // make a FAT entry point somewhere plausible (cycles!)
                let v = (rng.below(64) as u16).to_le_bytes();
                img.set(at, v[0]);
                img.set(at + 1, v[1]);
            }
            _ => {
                if rng.below(8) == 0 {
                    img.len = rng.below(img.len as u64) as usize;
                }
            }
        }
    }
    img
}

fn exercise(img: &Mutated<'_>, cfg: &Configuration) -> u32 {
    let mut found = 0;
    if let Ok(t) = read_partition_table(img) {
        found += 1;
        let _ = t.check_layout(img.len as u64);
        for p in &t.partitions {
            if let Ok(v) = FatVolume::open(img, p.start, p.len) {
                found += 1;
                let _ = v.list_dir("/");
                let _ = v.read_file("/config.json");
                let _ = v.read_file("/system-connections/balena-sample.ignore");
                let _ = v.check_writable(&["/", "/system-connections"]);
            }
        }
    }
    let _ = find_boot_partition(img, None);
    if compute_patches(img, cfg).is_ok() {
        found += 1;
    }
    found
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    let hang_limit = Duration::from_secs(10);
    let seeds: Vec<Vec<u8>> = [
        DemoSpec::new("intel-nuc"),
        DemoSpec::new("raspberrypi3"),
        DemoSpec::new("generic-amd64").table(DemoTable::Gpt),
        DemoSpec::new("generic-amd64").flasher(true),
    ]
    .iter()
    .map(|s| s.build().expect("seed").to_vec().expect("seed bytes"))
    .collect();
    let hots: Vec<_> = seeds.iter().map(|s| hot_regions(s)).collect();
    let cfg = Configuration::from_json_str(
        r#"{"deviceType":"fuzz","applicationId":1,"wifiSsid":"fuzz","wifiKey":"fuzzfuzz","network":[{"configuration":"[connection]\nid=x"}]}"#,
    )
    .expect("config");

    let (tx, rx) = mpsc::channel::<(u64, Duration)>();
    let start = Instant::now();
    let worker = std::thread::spawn(move || {
        let mut rng = Rng(seed | 1);
        let mut execs = 0u64;
        let mut ok = 0u64;
        while start.elapsed() < Duration::from_secs(secs) {
            let i = rng.below(seeds.len() as u64) as usize;
            let input = mutate(&mut rng, &seeds[i], &hots[i]);
            let t = Instant::now();
            let r = panic::catch_unwind(|| exercise(&input, &cfg));
            match r {
                Ok(n) => ok += u64::from(n > 2),
                Err(_) => {
                    let path = format!("crash-{execs}.img");
                    std::fs::write(&path, input.to_vec()).ok();
                    eprintln!("PANIC on execution {execs}; input saved to {path}");
                    std::process::exit(1);
                }
            }
            execs += 1;
            let _ = tx.send((execs, t.elapsed()));
        }
        (execs, ok)
    });
    let mut last = Instant::now();
    let mut slowest = Duration::ZERO;
    loop {
        match rx.recv_timeout(hang_limit) {
            Ok((_, d)) => {
                slowest = slowest.max(d);
                if last.elapsed() > Duration::from_secs(60) {
                    eprintln!("... {:?} elapsed", start.elapsed());
                    last = Instant::now();
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                eprintln!("HANG: one execution took longer than {hang_limit:?}");
                std::process::exit(2);
            }
        }
    }
    let (execs, ok) = worker.join().expect("worker");
    println!(
        "executions: {execs}, fully configured after mutation: {ok}, slowest execution: {slowest:?}, time: {:?}, panics: 0, hangs: 0",
        start.elapsed()
    );
}
