//! Images made by real tools (sfdisk / sgdisk, mkfs.vfat, mtools), configured
//! in all three ways, checked by real tools.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use balena_image::assemble::{DownloadPlan, ZipOptions};
use balena_image::import::{ImportOptions, import_image};
use balena_image::inflate::{RawImageReader, inflate_to_writer};
use balena_image::{
    ConfigPartition, Configuration, ConfiguredParts, DirPartStore, FoundBy, ImageManifest, ReadAt,
    TableKind, configure_image_file, configure_overlay, configure_parts, find_boot_partition,
    read_partition_table,
};

use crate::util::{fsck_partition, mimg, run, run_stdin, sparse_file, tmp};

#[derive(Clone, Copy, Debug)]
enum Fat {
    F12,
    F16,
    F32,
}

struct Real {
    path: PathBuf,
    boot_start: u64,
    boot_len: u64,
}

fn fill_random(path: &Path, start: u64, len: u64, seed: u64) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(start)).unwrap();
    let mut x = seed | 1;
    let mut buf = Vec::with_capacity(len as usize);
    while (buf.len() as u64) < len / 2 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf.extend_from_slice(&x.to_le_bytes());
    }
    while (buf.len() as u64) < len {
        buf.extend_from_slice(b"rootfs text ");
    }
    buf.truncate(len as usize);
    f.write_all(&buf).unwrap();
}

/// Builds a balenaOS-like image with real tools.
fn build_real(dir: &Path, gpt: bool, fat: Fat, label: &str) -> Real {
    let path = dir.join("real.img");
    sparse_file(&path, 64 << 20);
    let boot_sectors: u64 = match fat {
        Fat::F12 => 3 * 2048,
        Fat::F16 => 20 * 2048,
        Fat::F32 => 40 * 2048,
    };
    let p = path.to_str().unwrap();
    if gpt {
        run(
            "sgdisk",
            &[
                "-o",
                "-n",
                &format!("1:2048:+{}K", boot_sectors / 2),
                "-t",
                "1:ef00",
                "-c",
                &format!("1:{label}"),
                "-n",
                "2:0:+6M",
                "-t",
                "2:8300",
                "-c",
                "2:resin-rootA",
                "-n",
                "3:0:+6M",
                "-c",
                "3:resin-rootB",
                "-n",
                "4:0:+2M",
                "-c",
                "4:resin-state",
                "-n",
                "5:0:+4M",
                "-c",
                "5:resin-data",
                p,
            ],
        );
    } else {
        let fat_type = match fat {
            Fat::F32 => "c",
            _ => "e",
        };
        let script = format!(
            "label: dos\nunit: sectors\n\nstart=2048, size={boot_sectors}, type={fat_type}, bootable\nsize=12288, type=83\nsize=12288, type=83\ntype=f\nsize=4096, type=83\nsize=8192, type=83\n"
        );
        run_stdin("sfdisk", &["-q", p], &script);
    }
    // Cross-check our table reader against sfdisk's.
    let json: serde_json::Value = serde_json::from_slice(&run("sfdisk", &["-J", p])).unwrap();
    let theirs: Vec<(u64, u64)> = json["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !["5", "f", "85"].contains(&e["type"].as_str().unwrap_or("")))
        .map(|e| {
            (
                e["start"].as_u64().unwrap() * 512,
                e["size"].as_u64().unwrap() * 512,
            )
        })
        .collect();
    let file = fs::File::open(&path).unwrap();
    let table = read_partition_table(&file).unwrap();
    let ours: Vec<(u64, u64)> = table.partitions.iter().map(|p| (p.start, p.len)).collect();
    assert_eq!(ours, theirs, "partition table differs from sfdisk -J");
    if gpt {
        assert_eq!(table.kind, TableKind::Gpt { block_size: 512 });
    } else {
        let idx: Vec<u32> = table.partitions.iter().map(|p| p.index).collect();
        assert_eq!(idx, [1, 2, 3, 5, 6]);
    }
    for (i, (s, l)) in ours.iter().enumerate().skip(1) {
        fill_random(&path, *s, *l / 2, i as u64 * 7919);
    }
    let boot_start = 2048 * 512;
    let boot_len = boot_sectors * 512;
    let fflag = match fat {
        Fat::F12 => "12",
        Fat::F16 => "16",
        Fat::F32 => "32",
    };
    let mut args = vec![
        "-F", fflag, "-n", label, "-i", "12345678", "--offset", "2048",
    ];
    if matches!(fat, Fat::F32) {
        args.extend(["-s", "1"]);
    }
    let blocks = (boot_sectors / 2).to_string();
    args.push(p);
    args.push(&blocks);
    run("mkfs.vfat", &args);
    let img = mimg(&path, boot_start);
    let stage = dir.join("stage");
    fs::create_dir_all(&stage).unwrap();
    let put = |name: &str, content: &[u8]| {
        let f = stage.join(name.replace('/', "_"));
        fs::write(&f, content).unwrap();
        run(
            "mcopy",
            &["-i", &img, f.to_str().unwrap(), &format!("::{name}")],
        );
    };
    put(
        "config.json",
        br#"{"deviceType":"raspberrypi3","persistentLogging":false}"#,
    );
    put(
        "device-type.json",
        br#"{"slug":"raspberrypi3","configuration":{"config":{"partition":{"primary":1},"path":"/config.json"}}}"#,
    );
    put(
        "os-release",
        b"NAME=\"balenaOS\"\nVERSION=\"2.19.0+rev1\"\n",
    );
    put("balenaos.fingerprint", b"0  /device-type.json\n");
    run("mmd", &["-i", &img, "::system-connections"]);
    put(
        "system-connections/balena-sample.ignore",
        b"[connection]\nid=sample\n",
    );
    put("system-connections/README.ignore", b"readme\n");
    Real {
        path,
        boot_start,
        boot_len,
    }
}

fn config() -> Configuration {
    Configuration::from_json_str(
        r#"{"applicationId":1234,"deviceType":"raspberrypi3","userId":5,"appUpdatePollInterval":600000,"listenPort":48484,"vpnPort":443,"apiEndpoint":"https://api.example.com","vpnEndpoint":"vpn.example.com","registryEndpoint":"registry2.example.com","deltaEndpoint":"https://delta.example.com","apiKey":"abcdefghijklmnopqrstuvwxyz012345","wifiSsid":"home-net","wifiKey":"correct horse battery","ip":"192.168.1.50","netmask":"255.255.255.0","gateway":"192.168.1.1","routeMetric":100,"network":[{"configuration":"[connection]\nid=eth-static\ntype=ethernet\n"},{"wifiSsid":"office"}]}"#,
    )
    .unwrap()
}

fn read_all(r: &mut impl Read) -> Vec<u8> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    v
}

fn three_ways(gpt: bool, fat: Fat, label: &str) {
    let dir = tmp();
    let real = build_real(dir.path(), gpt, fat, label);
    three_ways_on(&dir, &real);
}

/// Configures `real` in place (`<dir>/a.img`), as an overlay and on parts,
/// checks all agree and that real tools read the result back.
fn three_ways_on(dir: &tempfile::TempDir, real: &Real) {
    let cfg = config();
    let base = fs::read(&real.path).unwrap();

    // (c) prepare parts: fine (default) and upstream-style coarse layouts.
    let fine_dir = dir.path().join("fine");
    let coarse_dir = dir.path().join("coarse");
    let fine = import_image(&real.path, &fine_dir, &ImportOptions::default()).unwrap();
    let coarse = import_image(&real.path, &coarse_dir, &ImportOptions::coarse()).unwrap();
    assert!(!fine_dir.join("IGNORE").exists());
    assert_eq!(
        fs::read_to_string(fine_dir.join("VERSION_HOSTOS")).unwrap(),
        "2.19.0+rev1"
    );
    assert!(fine.device_type_json.is_some());
    assert!(fine.layout.parts().len() > coarse.layout.parts().len());
    // coarse = upstream: gap + one part per partition (+ EBR gaps) + tail
    assert!(
        coarse
            .layout
            .parts()
            .iter()
            .filter(|p| p.partition.is_some())
            .count()
            == 5
    );

    // (a) in place
    let a_path = dir.path().join("a.img");
    fs::copy(&real.path, &a_path).unwrap();
    let rep = configure_image_file(&a_path, &cfg).unwrap();
    assert_eq!(rep.boot.index, Some(1));
    let a = fs::read(&a_path).unwrap();
    assert_ne!(a, base);
    // idempotent
    configure_image_file(&a_path, &cfg).unwrap();
    assert_eq!(
        fs::read(&a_path).unwrap(),
        a,
        "second configure changed bytes"
    );

    // (b) overlay over the untouched base
    let base_file = fs::File::open(&real.path).unwrap();
    let ov = configure_overlay(&base_file, &cfg).unwrap();
    let b = read_all(&mut ov.reader());
    assert_eq!(b, a, "overlay differs from in-place");
    // any byte range
    let mut r = vec![0u8; 5000];
    ov.read_exact_at(real.boot_start + 1000, &mut r).unwrap();
    assert_eq!(r, a[real.boot_start as usize + 1000..][..5000]);

    // (c) compressed parts → gz and zip
    for (rel, layout) in [(&fine_dir, &fine.layout), (&coarse_dir, &coarse.layout)] {
        let manifest =
            ImageManifest::from_slice(&fs::read(rel.join("image.json")).unwrap()).unwrap();
        assert_eq!(&manifest.layout("resin.img").unwrap(), layout);
        let store = DirPartStore::new(rel.join("compressed"));
        let parts = configure_parts(layout, &store, &cfg).unwrap();
        let gz = DownloadPlan::gzip(&parts);
        assert_eq!(gz.len(), parts.compressed_len() + 20);
        let gz_path = dir.path().join("out.img.gz");
        let mut f = fs::File::create(&gz_path).unwrap();
        assert_eq!(gz.write_to(&store, &mut f).unwrap(), gz.len());
        drop(f);
        assert_eq!(fs::metadata(&gz_path).unwrap().len(), gz.len());
        run("gzip", &["-t", gz_path.to_str().unwrap()]);
        let c = run("gzip", &["-dc", gz_path.to_str().unwrap()]);
        assert!(c == a, "gunzip of assembled .gz differs from in-place");

        let zip = DownloadPlan::zip(
            &[("balena-raspberrypi3.img", &parts)],
            ZipOptions::default(),
        )
        .unwrap();
        let zip_path = dir.path().join("out.zip");
        let mut f = fs::File::create(&zip_path).unwrap();
        zip.write_to(&store, &mut f).unwrap();
        drop(f);
        assert_eq!(fs::metadata(&zip_path).unwrap().len(), zip.len());
        run("unzip", &["-tq", zip_path.to_str().unwrap()]);
        let z = run(
            "unzip",
            &["-p", zip_path.to_str().unwrap(), "balena-raspberrypi3.img"],
        );
        assert!(z == a, "unzip -p of assembled .zip differs from in-place");

        // Range reads over the plan equal slices of the whole.
        let whole = fs::read(&gz_path).unwrap();
        for (s, e) in [
            (0u64, 7u64),
            (5, 30_000),
            (gz.len() - 9, gz.len()),
            (1000, 1000),
        ] {
            let got = read_all(&mut gz.reader(&store, s, e));
            assert_eq!(got, whole[s as usize..e as usize]);
        }

        // Parallel inflation of the configured parts, and the Read adapter.
        let mut raw = Vec::new();
        inflate_to_writer(&parts, &store, &mut raw, 2).unwrap();
        assert!(raw == a, "inflated configured parts differ");
        let mut rr = RawImageReader::spawn(parts.clone(), store.clone(), 2);
        assert!(read_all(&mut rr) == a);

        // Unconfigured gz is exactly Σ zLen + 20 and inflates to the base.
        let plain = ConfiguredParts::unconfigured(layout);
        let g = DownloadPlan::gzip(&plain);
        assert_eq!(g.len(), layout.compressed_len() + 20);
        let mut v = Vec::new();
        g.write_to(&store, &mut v).unwrap();
        let mut d = Vec::new();
        flate2::read::GzDecoder::new(&v[..])
            .read_to_end(&mut d)
            .unwrap();
        assert!(d == base);
    }

    // With fine parts only a few chunks are re-deflated.
    let store = DirPartStore::new(fine_dir.join("compressed"));
    let parts = configure_parts(&fine.layout, &store, &cfg).unwrap();
    assert!(
        parts.replaced_count() <= 4,
        "replaced {} parts",
        parts.replaced_count()
    );

    // Real tools read the result back.
    let img = mimg(&a_path, real.boot_start);
    assert_eq!(
        run("mtype", &["-i", &img, "::config.json"]),
        cfg.config_json()
    );
    let wifi = run(
        "mtype",
        &["-i", &img, "::system-connections/balena-wifi-01"],
    );
    let wifi = String::from_utf8(wifi).unwrap();
    assert!(
        wifi.contains("address1=192.168.1.50/24,192.168.1.1"),
        "{wifi}"
    );
    assert!(wifi.contains("route-metric=100"));
    assert_eq!(
        run("mtype", &["-i", &img, "::system-connections/connection-01"]),
        b"[connection]\nid=eth-static\ntype=ethernet\n"
    );
    let wifi2 = String::from_utf8(run(
        "mtype",
        &["-i", &img, "::system-connections/balena-wifi-02"],
    ))
    .unwrap();
    assert!(wifi2.contains("ssid=office") && !wifi2.contains("wifi-security"));
    // Other files untouched.
    assert_eq!(
        run("mtype", &["-i", &img, "::balenaos.fingerprint"]),
        b"0  /device-type.json\n"
    );
    assert_eq!(
        run(
            "mtype",
            &["-i", &img, "::system-connections/balena-sample.ignore"]
        ),
        b"[connection]\nid=sample\n"
    );
    fsck_partition(&a, real.boot_start, real.boot_len, dir.path());
    // Only the boot partition changed.
    let boot_end = (real.boot_start + real.boot_len) as usize;
    assert_eq!(
        a[..real.boot_start as usize],
        base[..real.boot_start as usize]
    );
    assert_eq!(a[boot_end..], base[boot_end..]);
}

#[test]
fn mbr_fat16_three_ways_identical() {
    three_ways(false, Fat::F16, "resin-boot");
}

#[test]
fn mbr_fat12_three_ways_identical() {
    three_ways(false, Fat::F12, "resin-boot");
}

#[test]
fn mbr_fat32_three_ways_identical() {
    three_ways(false, Fat::F32, "resin-boot");
}

#[test]
fn gpt_fat16_three_ways_identical() {
    three_ways(true, Fat::F16, "balena-boot");
}

#[test]
fn flasher_boot_is_found_by_label() {
    let dir = tmp();
    let real = build_real(dir.path(), false, Fat::F16, "flash-boot");
    let f = fs::File::open(&real.path).unwrap();
    let boot = find_boot_partition(&f, None).unwrap();
    assert_eq!(boot.index, Some(1));
    assert_eq!(
        boot.found_by,
        balena_image::FoundBy::Label("flash-boot".into())
    );
}

#[test]
fn unlabelled_boot_is_found_by_device_type_json() {
    let dir = tmp();
    let real = build_real(dir.path(), false, Fat::F16, "NOLABEL");
    let f = fs::File::open(&real.path).unwrap();
    let boot = find_boot_partition(&f, None).unwrap();
    assert_eq!(boot.found_by, balena_image::FoundBy::DeviceTypeJson);
    assert_eq!(boot.start, real.boot_start);
}

#[test]
fn forced_zip64_is_accepted_by_unzip() {
    let dir = tmp();
    let img = balena_image::demo::DemoSpec::new("intel-nuc")
        .build()
        .unwrap();
    let path = dir.path().join("nuc.img");
    img.write_to_path(&path).unwrap();
    let out = dir.path().join("rel");
    let rep = import_image(&path, &out, &ImportOptions::default()).unwrap();
    let store = DirPartStore::new(out.join("compressed"));
    let parts = configure_parts(
        &rep.layout,
        &store,
        &Configuration::from_json_str("{}").unwrap(),
    )
    .unwrap();
    let plan = DownloadPlan::zip(&[("a.img", &parts)], ZipOptions { force_zip64: true }).unwrap();
    let zp = dir.path().join("x.zip");
    plan.write_to(&store, &mut fs::File::create(&zp).unwrap())
        .unwrap();
    run("unzip", &["-tq", zp.to_str().unwrap()]);
    let got = run("unzip", &["-p", zp.to_str().unwrap(), "a.img"]);
    let mut expect = Vec::new();
    inflate_to_writer(&parts, &store, &mut expect, 1).unwrap();
    assert!(got == expect);
}

#[test]
fn import_reads_gz_and_zip_inputs() {
    let dir = tmp();
    let img = balena_image::demo::DemoSpec::new("raspberrypi3")
        .build()
        .unwrap();
    let path = dir.path().join("rpi.img");
    img.write_to_path(&path).unwrap();
    let raw = fs::read(&path).unwrap();
    run("pigz", &["-k", "-p", "2", path.to_str().unwrap()]);
    run(
        "zip",
        &[
            "-jq",
            dir.path().join("rpi.zip").to_str().unwrap(),
            path.to_str().unwrap(),
        ],
    );
    for input in ["rpi.img.gz", "rpi.zip"] {
        let out = dir.path().join(format!("rel-{input}"));
        let rep = import_image(dir.path().join(input), &out, &ImportOptions::default()).unwrap();
        assert_eq!(rep.layout.len(), raw.len() as u64);
        assert!(!out.join(".import-raw.tmp").exists());
        let mut back = Vec::new();
        inflate_to_writer(
            &ConfiguredParts::unconfigured(&rep.layout),
            &DirPartStore::new(out.join("compressed")),
            &mut back,
            0,
        )
        .unwrap();
        assert!(back == raw, "{input}");
        assert_eq!(rep.os_version.as_deref(), Some("6.8.1"));
    }
}

#[test]
fn fat32_configure_creates_a_clean_system_connections_dir() {
    let dir = tmp();
    let real = build_real(dir.path(), false, Fat::F32, "resin-boot");
    let img = mimg(&real.path, real.boot_start);
    run("mdeltree", &["-i", &img, "::system-connections"]);
    configure_image_file(&real.path, &config()).unwrap();
    let once = fs::read(&real.path).unwrap();
    fsck_partition(&once, real.boot_start, real.boot_len, dir.path());
    let listing =
        String::from_utf8(run("mdir", &["-i", &img, "-b", "::system-connections"])).unwrap();
    assert!(
        listing.contains("balena-wifi-01") && listing.contains("connection-01"),
        "{listing}"
    );
    configure_image_file(&real.path, &config()).unwrap();
    assert!(fs::read(&real.path).unwrap() == once, "not idempotent");
}

#[test]
fn flasher_artifact_import_and_range_reads_over_parts() {
    use balena_image::import::Artifact;
    use balena_image::{ConfiguredImage, PartsImage};
    let dir = tmp();
    let path = dir.path().join("flasher.img");
    balena_image::demo::DemoSpec::new("generic-amd64")
        .flasher(true)
        .build()
        .unwrap()
        .write_to_path(&path)
        .unwrap();
    let out = dir.path().join("rel");
    let opts = ImportOptions {
        artifact: Artifact::Flasher,
        ..Default::default()
    };
    let rep = import_image(&path, &out, &opts).unwrap();
    assert!(
        out.join("image-flasher.json").exists()
            && out.join("compressed-flasher/part-0.deflate").exists()
    );
    assert!(!out.join("image.json").exists() && !out.join("IGNORE").exists());
    assert_eq!(
        rep.boot.as_ref().unwrap().found_by,
        balena_image::FoundBy::Label("flash-boot".into())
    );
    // A configured raw image served as byte ranges straight from the parts.
    let store = DirPartStore::new(out.join("compressed-flasher"));
    let parts = configure_parts(&rep.layout, &store, &config()).unwrap();
    let ranged = ConfiguredImage::new(
        PartsImage::new(rep.layout.clone(), store.clone()),
        parts.patches.clone(),
    )
    .unwrap();
    let mut full = Vec::new();
    inflate_to_writer(&parts, &store, &mut full, 2).unwrap();
    let copy = dir.path().join("copy.img");
    fs::copy(&path, &copy).unwrap();
    configure_image_file(&copy, &config()).unwrap();
    assert!(fs::read(&copy).unwrap() == full);
    for (s, l) in [
        (0u64, 512usize),
        (1 << 20, 70_000),
        (full.len() as u64 - 100, 100),
    ] {
        let mut b = vec![0u8; l];
        ranged.read_exact_at(s, &mut b).unwrap();
        assert_eq!(b, full[s as usize..s as usize + l]);
    }
}

/// Configures `path` in the three ways — in place (on a copy), as an
/// overlay over the untouched file, and on compressed parts (fine and
/// upstream-coarse imports, served as `.gz`) — asserts they give the same
/// bytes and returns them with the boot partition that was chosen.
fn configure_three_ways(
    path: &Path,
    cfg: &Configuration,
    import_opts: &ImportOptions,
    dir: &Path,
) -> (Vec<u8>, balena_image::BootPartition) {
    let copy = dir.join("in-place.img");
    fs::copy(path, &copy).unwrap();
    let report = configure_image_file(&copy, cfg).unwrap();
    let a = fs::read(&copy).unwrap();
    let base = fs::File::open(path).unwrap();
    let b = read_all(&mut configure_overlay(&base, cfg).unwrap().reader());
    assert!(b == a, "overlay differs from in-place");
    for (name, opts) in [
        ("fine", import_opts.clone()),
        (
            "coarse",
            ImportOptions {
                boot_chunk: 0,
                chunk: 0,
                ..import_opts.clone()
            },
        ),
    ] {
        let out = dir.join(name);
        let rep = import_image(path, &out, &opts).unwrap();
        let store = DirPartStore::new(out.join("compressed"));
        let parts = configure_parts(&rep.layout, &store, cfg).unwrap();
        assert_eq!(parts.boot.as_ref(), Some(&report.boot));
        let mut gz = Vec::new();
        DownloadPlan::gzip(&parts)
            .write_to(&store, &mut gz)
            .unwrap();
        let mut c = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut c)
            .unwrap();
        assert!(c == a, "{name} parts differ from in-place");
    }
    (a, report.boot)
}

/// No label, no `/device-type.json`: without the device type's hint the
/// boot partition cannot be chosen and every way of configuring says so,
/// leaving the image untouched.
#[test]
fn unlabelled_boot_without_device_type_json_needs_the_hint() {
    use balena_image::Error;
    let dir = tmp();
    let real = build_real(dir.path(), false, Fat::F16, "NOLABEL");
    run(
        "mdel",
        &[
            "-i",
            &mimg(&real.path, real.boot_start),
            "::device-type.json",
        ],
    );
    let before = fs::read(&real.path).unwrap();
    let f = fs::File::open(&real.path).unwrap();
    let err = find_boot_partition(&f, None).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::NoBootPartition(_)), "{err:?}");
    assert!(
        msg.contains("resin-boot") && msg.contains("device-type.json") && msg.contains("hint"),
        "{msg}"
    );
    let cfg = config();
    assert!(matches!(
        configure_image_file(&real.path, &cfg),
        Err(Error::NoBootPartition(_))
    ));
    assert!(matches!(
        configure_overlay(&f, &cfg),
        Err(Error::NoBootPartition(_))
    ));
    assert!(
        fs::read(&real.path).unwrap() == before,
        "image was modified"
    );
    // Import still works (the image is stored as it is), but without a
    // hint it finds no boot partition, so no os-release is read.
    let out = dir.path().join("rel");
    let rep = import_image(&real.path, &out, &ImportOptions::default()).unwrap();
    assert!(rep.boot.is_none() && rep.os_version.is_none());
    assert!(!out.join("VERSION_HOSTOS").exists());
    let store = DirPartStore::new(out.join("compressed"));
    assert!(matches!(
        configure_parts(&rep.layout, &store, &cfg),
        Err(Error::NoBootPartition(_))
    ));
    // A hint naming a partition that does not exist (4 is the extended
    // container, which is not a partition) is an error too.
    let err = find_boot_partition(&f, Some(ConfigPartition::Primary(4))).unwrap_err();
    assert!(err.to_string().contains("hinted partition 4"), "{err}");
    // A hint naming a partition without FAT is chosen, but writing fails
    // cleanly.
    let bad = cfg.clone().with_partition_hint(ConfigPartition::Primary(2));
    assert!(matches!(
        configure_image_file(&real.path, &bad),
        Err(Error::Fat(_))
    ));
    assert!(
        fs::read(&real.path).unwrap() == before,
        "image was modified"
    );
}

/// The same image with the device type's `{"primary": 1}` hint: the boot
/// partition is found by the hint, and the three ways agree byte for byte.
/// Import learns the hint from the device-type.json it is given.
#[test]
fn unlabelled_boot_is_found_by_the_primary_hint_three_ways() {
    let dir = tmp();
    let real = build_real(dir.path(), false, Fat::F16, "NOLABEL");
    let img = mimg(&real.path, real.boot_start);
    run("mdel", &["-i", &img, "::device-type.json"]);
    let dt = br#"{"slug":"raspberrypi3","configuration":{"config":{"partition":{"primary":1},"path":"/config.json"}}}"#;
    let hint =
        ConfigPartition::from_device_type_json(&serde_json::from_slice(dt).unwrap()).unwrap();
    assert_eq!(hint, ConfigPartition::Primary(1));
    let f = fs::File::open(&real.path).unwrap();
    let boot = find_boot_partition(&f, Some(hint)).unwrap();
    assert_eq!(boot.found_by, FoundBy::Hint(ConfigPartition::Primary(1)));
    assert_eq!((boot.index, boot.start), (Some(1), real.boot_start));

    let cfg = config().with_partition_hint(hint);
    let opts = ImportOptions {
        device_type_json: Some(dt.to_vec()),
        ..Default::default()
    };
    let (a, boot) = configure_three_ways(&real.path, &cfg, &opts, dir.path());
    assert_eq!(boot.found_by, FoundBy::Hint(ConfigPartition::Primary(1)));
    // The import took the hint from device-type.json: the boot partition
    // is chunked finely and os-release was read from it.
    let rep = import_image(&real.path, dir.path().join("again"), &opts).unwrap();
    assert_eq!(
        rep.boot.as_ref().map(|b| &b.found_by),
        Some(&FoundBy::Hint(ConfigPartition::Primary(1)))
    );
    assert_eq!(rep.os_version.as_deref(), Some("2.19.0+rev1"));
    let boot_parts = rep
        .layout
        .parts()
        .iter()
        .filter(|p| p.partition == Some(1))
        .count();
    assert_eq!(boot_parts as u64, real.boot_len.div_ceil(1 << 20));
    // What landed is right and the FAT is clean.
    let copy = dir.path().join("in-place.img");
    let img = mimg(&copy, real.boot_start);
    assert_eq!(
        run("mtype", &["-i", &img, "::config.json"]),
        cfg.config_json()
    );
    fsck_partition(&a, real.boot_start, real.boot_len, dir.path());
}

/// `{"logical": 1}` designates partition 5, the first logical partition
/// inside the extended container, and the configuration lands there.
#[test]
fn logical_hint_resolves_to_partition_5() {
    let dir = tmp();
    let real = build_real(dir.path(), false, Fat::F16, "NOLABEL");
    let boot_img = mimg(&real.path, real.boot_start);
    run("mdel", &["-i", &boot_img, "::device-type.json"]);
    let table = read_partition_table(&fs::File::open(&real.path).unwrap()).unwrap();
    let p5 = table.get(5).unwrap().clone();
    // sfdisk agrees on where partition 5 is.
    let json: serde_json::Value =
        serde_json::from_slice(&run("sfdisk", &["-J", real.path.to_str().unwrap()])).unwrap();
    let node5 = json["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"].as_str().unwrap().ends_with('5'))
        .unwrap()
        .clone();
    assert_eq!(node5["start"].as_u64().unwrap() * 512, p5.start);
    // Give partition 5 a FAT12 file system, unlabelled.
    let p = real.path.to_str().unwrap();
    let blocks = (p5.len / 1024).to_string();
    let offset = (p5.start / 512).to_string();
    run(
        "mkfs.vfat",
        &["-F", "12", "-n", "NOLABEL", "--offset", &offset, p, &blocks],
    );
    assert_eq!(p5.len, 2 << 20);

    let hint = ConfigPartition::from_json(&serde_json::json!({"logical": 1})).unwrap();
    assert_eq!(hint, ConfigPartition::Logical(1));
    let f = fs::File::open(&real.path).unwrap();
    let boot = find_boot_partition(&f, Some(hint)).unwrap();
    assert_eq!(boot.found_by, FoundBy::Hint(ConfigPartition::Logical(1)));
    assert_eq!(
        (boot.index, boot.start, boot.len),
        (Some(5), p5.start, p5.len)
    );

    let cfg = config().with_partition_hint(hint);
    let opts = ImportOptions {
        partition_hint: Some(hint),
        ..Default::default()
    };
    let (a, boot) = configure_three_ways(&real.path, &cfg, &opts, dir.path());
    assert_eq!(boot.index, Some(5));
    let copy = dir.path().join("in-place.img");
    assert_eq!(
        run("mtype", &["-i", &mimg(&copy, p5.start), "::config.json"]),
        cfg.config_json()
    );
    fsck_partition(&a, p5.start, p5.len, dir.path());
    // Partition 1 was not touched.
    let base = fs::read(&real.path).unwrap();
    let (s, e) = (
        real.boot_start as usize,
        (real.boot_start + real.boot_len) as usize,
    );
    assert!(a[s..e] == base[s..e]);
}

/// Replaces partitions 2, 3, 5 and 6 of an MBR image from [`build_real`]
/// with real ext4 file systems labelled like balenaOS's (`resin-rootA`,
/// `resin-rootB`, `resin-state`, `resin-data`), made by `mkfs.ext4 -d`;
/// rootA holds `/etc/os-release`. Returns (index, start, len, label).
fn ext4_rootfs(dir: &Path, real: &Real) -> Vec<(u32, u64, u64, &'static str)> {
    use std::os::unix::fs::FileExt;
    let table = read_partition_table(&fs::File::open(&real.path).unwrap()).unwrap();
    let root = dir.join("rootA-content");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(
        root.join("etc/os-release"),
        "NAME=\"balenaOS\"\nVERSION=\"2.19.0+rev1\"\n",
    )
    .unwrap();
    let empty = dir.join("empty-content");
    fs::create_dir_all(&empty).unwrap();
    let img = fs::OpenOptions::new().write(true).open(&real.path).unwrap();
    let mut out = Vec::new();
    for (index, label) in [
        (2, "resin-rootA"),
        (3, "resin-rootB"),
        (5, "resin-state"),
        (6, "resin-data"),
    ] {
        let p = table.get(index).unwrap();
        let fsimg = dir.join(format!("{label}.ext4"));
        let content = if index == 2 { &root } else { &empty };
        run(
            "mkfs.ext4",
            &[
                "-q",
                "-F",
                "-L",
                label,
                "-d",
                content.to_str().unwrap(),
                fsimg.to_str().unwrap(),
                &format!("{}k", p.len / 1024),
            ],
        );
        let bytes = fs::read(&fsimg).unwrap();
        assert_eq!(bytes.len() as u64, p.len);
        img.write_all_at(&bytes, p.start).unwrap();
        out.push((index, p.start, p.len, label));
    }
    out
}

/// Checks the ext4 file system at [start, start+len) of `img` with
/// `e2fsck -fn` and returns its label as `e2label` reads it.
fn e2fsck_partition(img: &[u8], start: u64, len: u64, dir: &Path) -> String {
    let p = dir.join(format!("e2fsck-{start}.ext4"));
    fs::write(&p, &img[start as usize..(start + len) as usize]).unwrap();
    run("e2fsck", &["-fn", p.to_str().unwrap()]);
    let label = String::from_utf8(run("e2label", &[p.to_str().unwrap()])).unwrap();
    fs::remove_file(p).unwrap();
    label.trim().to_string()
}

/// balenaOS-shaped image with real ext4 root, state and data partitions:
/// their labels are read from the superblocks, the FAT `resin-boot` is
/// still the one chosen, the three ways agree, and after configuration
/// every ext4 file system is untouched and clean (`e2fsck -fn`), rootA
/// still holding its `/etc/os-release` (`debugfs`).
#[test]
fn ext4_rootfs_image_end_to_end() {
    use balena_image::filesystem_label;
    let dir = tmp();
    let real = build_real(dir.path(), false, Fat::F16, "resin-boot");
    let ext = ext4_rootfs(dir.path(), &real);
    let f = fs::File::open(&real.path).unwrap();
    let table = read_partition_table(&f).unwrap();
    let labels: Vec<(u32, Option<String>)> = table
        .partitions
        .iter()
        .map(|p| (p.index, filesystem_label(&f, p)))
        .collect();
    assert_eq!(
        labels,
        [
            (1, Some("resin-boot".to_string())),
            (2, Some("resin-rootA".to_string())),
            (3, Some("resin-rootB".to_string())),
            (5, Some("resin-state".to_string())),
            (6, Some("resin-data".to_string())),
        ]
    );
    let boot = find_boot_partition(&f, None).unwrap();
    assert_eq!(boot.found_by, FoundBy::Label("resin-boot".into()));
    assert_eq!(boot.index, Some(1));

    let base = fs::read(&real.path).unwrap();
    three_ways_on(&dir, &real);
    let a = fs::read(dir.path().join("a.img")).unwrap();
    for (index, start, len, label) in ext {
        let (s, e) = (start as usize, (start + len) as usize);
        assert!(a[s..e] == base[s..e], "partition {index} changed");
        assert_eq!(e2fsck_partition(&a, start, len, dir.path()), label);
        if index == 2 {
            let p = dir.path().join("rootA-check.ext4");
            fs::write(&p, &a[s..e]).unwrap();
            let text = run(
                "debugfs",
                &["-R", "cat /etc/os-release", p.to_str().unwrap()],
            );
            assert_eq!(
                balena_image::os_version_from_os_release(&String::from_utf8_lossy(&text))
                    .as_deref(),
                Some("2.19.0+rev1")
            );
        }
    }
}

/// An unlabelled boot partition next to labelled ext4 partitions: ext
/// labels that are not boot labels never make a partition the boot one,
/// so the hint decides, and it can be a FAT partition only.
#[test]
fn ext4_labels_do_not_stand_in_for_the_boot_label() {
    let dir = tmp();
    let real = build_real(dir.path(), false, Fat::F16, "NOLABEL");
    run(
        "mdel",
        &[
            "-i",
            &mimg(&real.path, real.boot_start),
            "::device-type.json",
        ],
    );
    ext4_rootfs(dir.path(), &real);
    let f = fs::File::open(&real.path).unwrap();
    assert!(matches!(
        find_boot_partition(&f, None),
        Err(balena_image::Error::NoBootPartition(_))
    ));
    let boot = find_boot_partition(&f, Some(ConfigPartition::Primary(1))).unwrap();
    assert_eq!(boot.index, Some(1));
    // Hinting at rootA (ext4) is refused when writing, and nothing changes.
    let before = fs::read(&real.path).unwrap();
    let cfg = config().with_partition_hint(ConfigPartition::Primary(2));
    assert!(matches!(
        configure_image_file(&real.path, &cfg),
        Err(balena_image::Error::Fat(_))
    ));
    assert!(fs::read(&real.path).unwrap() == before);
}
