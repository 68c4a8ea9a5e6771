//! Damaged and malicious inputs: errors, never panics or hangs.

use std::fs;
use std::time::{Duration, Instant};

use balena_image::demo::DemoSpec;
use balena_image::fat::FatVolume;
use balena_image::import::{ImportOptions, import_image};
use balena_image::{
    Configuration, ConfiguredParts, DirPartStore, Error, ImageManifest, compute_patches,
    configure_parts, find_boot_partition, read_partition_table,
};

use crate::util::tmp;

fn cfg() -> Configuration {
    Configuration::from_json_str(r#"{"deviceType":"x","applicationId":1}"#).unwrap()
}

fn demo() -> Vec<u8> {
    DemoSpec::new("intel-nuc")
        .build()
        .unwrap()
        .to_vec()
        .unwrap()
}

fn fat_layout(img: &[u8]) -> (u64, u64, u64, u32) {
    // (boot start, FAT offset, cluster bytes, reserved)
    let boot = find_boot_partition(img, None).unwrap();
    let s = boot.start as usize;
    let bps = u16::from_le_bytes([img[s + 11], img[s + 12]]) as u64;
    let spc = img[s + 13] as u64;
    let reserved = u16::from_le_bytes([img[s + 14], img[s + 15]]) as u64;
    (
        boot.start,
        boot.start + reserved * bps,
        bps * spc,
        reserved as u32,
    )
}

#[test]
fn cyclic_cluster_chain_in_config_json_is_refused() {
    let mut img = demo();
    let (start, fat, _, _) = fat_layout(&img);
    let vol = FatVolume::open(&img[..], start, img.len() as u64 - start).unwrap();
    let e = vol.lookup("/config.json").unwrap().unwrap();
    let c = e.first_cluster as usize;
    // FAT16: point the cluster at itself.
    let at = fat as usize + 2 * c;
    img[at..at + 2].copy_from_slice(&(c as u16).to_le_bytes());
    let t = Instant::now();
    let err = compute_patches(&img, &cfg()).unwrap_err();
    assert!(matches!(err, Error::Fat(_)), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn cyclic_fat32_root_directory_is_refused() {
    let mut img = DemoSpec::new("raspberrypi3")
        .build()
        .unwrap()
        .to_vec()
        .unwrap();
    let (start, fat, _, _) = fat_layout(&img);
    let s = start as usize;
    let root = u32::from_le_bytes(img[s + 44..s + 48].try_into().unwrap());
    let at = fat as usize + 4 * root as usize;
    img[at..at + 4].copy_from_slice(&root.to_le_bytes());
    let err = compute_patches(&img, &cfg()).unwrap_err();
    assert!(matches!(err, Error::Fat(_)), "{err}");
    let vol = FatVolume::open(&img[..], start, 40 << 20).unwrap();
    assert!(vol.read_file("/config.json").is_err());
}

#[test]
fn truncated_images_error() {
    let img = demo();
    for cut in [
        0usize,
        100,
        511,
        512,
        4096,
        1 << 20,
        (1 << 20) + 4096,
        5 << 20,
        img.len() - 1,
    ] {
        let t = &img[..cut];
        let r = compute_patches(t, &cfg());
        if cut < img.len() - (1 << 20) {
            assert!(r.is_err(), "cut at {cut} configured");
        }
        let dir = tmp();
        let p = dir.path().join("t.img");
        fs::write(&p, t).unwrap();
        assert!(
            import_image(&p, dir.path().join("out"), &ImportOptions::default()).is_err()
                || cut == img.len() - 1
        );
    }
}

#[test]
fn absurd_sizes_error() {
    let mut img = demo();
    // Partition 2 claims 2 TiB.
    img[446 + 16 + 12..446 + 16 + 16].copy_from_slice(&u32::MAX.to_le_bytes());
    let t = read_partition_table(&img).unwrap();
    assert!(t.check_layout(img.len() as u64).is_err());
    let dir = tmp();
    let p = dir.path().join("t.img");
    fs::write(&p, &img).unwrap();
    let err = import_image(&p, dir.path().join("out"), &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, Error::PartitionTable(_)), "{err}");
    // A FAT that claims more sectors than its partition.
    let mut img = demo();
    let (start, _, _, _) = fat_layout(&img);
    let s = start as usize;
    img[s + 19..s + 21].copy_from_slice(&[0, 0]);
    img[s + 32..s + 36].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(compute_patches(&img, &cfg()).is_err());
}

#[test]
fn corrupt_parts_error() {
    let dir = tmp();
    let p = dir.path().join("n.img");
    DemoSpec::new("intel-nuc")
        .build()
        .unwrap()
        .write_to_path(&p)
        .unwrap();
    let out = dir.path().join("rel");
    let rep = import_image(&p, &out, &ImportOptions::default()).unwrap();
    let boot_part = rep
        .layout
        .parts()
        .iter()
        .find(|p| p.partition == Some(1))
        .unwrap()
        .clone();
    let path = out.join("compressed").join(&boot_part.filename);
    let mut z = fs::read(&path).unwrap();
    for b in z.iter_mut().skip(10).step_by(7) {
        *b ^= 0x5A;
    }
    fs::write(&path, &z).unwrap();
    let store = DirPartStore::new(out.join("compressed"));
    assert!(configure_parts(&rep.layout, &store, &cfg()).is_err());
    let mut sink = Vec::new();
    assert!(
        balena_image::inflate::inflate_to_writer(
            &ConfiguredParts::unconfigured(&rep.layout),
            &store,
            &mut sink,
            2
        )
        .is_err()
    );
    // Missing part file.
    fs::remove_file(&path).unwrap();
    assert!(configure_parts(&rep.layout, &store, &cfg()).is_err());
    // Hostile manifest file names never escape the folder.
    let m = ImageManifest::from_slice(
        br#"{"resin.img":{"parts":[{"filename":"../../etc/passwd","crc":0,"len":1,"zLen":1}]}}"#,
    )
    .unwrap();
    assert!(m.layout("resin.img").is_err());
}

#[test]
fn random_garbage_never_panics() {
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let base = demo();
    for _ in 0..200 {
        let mut img = base[..(3 << 20)].to_vec();
        let n = 1 + next() % 64;
        for _ in 0..n {
            let at = (next() % (1 << 20) + if next() % 2 == 0 { 0 } else { 1 << 20 }) as usize;
            img[at] = next() as u8;
        }
        let _ = read_partition_table(&img);
        let _ = compute_patches(&img, &cfg());
    }
}
