//! The pure-Rust demo images, checked with real tools.

use std::fs;

use balena_image::demo::{DemoFat, DemoSpec, DemoTable, DemoVariant};
use balena_image::{
    Configuration, configure_image_file, find_boot_partition, read_partition_table,
};

use crate::util::{fsck_partition, mimg, run, shared_dir, tmp};

#[test]
fn demo_images_pass_real_tools() {
    let dir = tmp();
    for (slug, table, flasher) in [
        ("raspberrypi3", DemoTable::Mbr, false),
        ("generic-amd64", DemoTable::Gpt, false),
        ("generic-amd64", DemoTable::Gpt, true),
        ("intel-nuc", DemoTable::Mbr, true),
    ] {
        let spec = DemoSpec::new(slug).table(table).flasher(flasher);
        let img = spec.build().unwrap();
        let path = dir.path().join(format!("{slug}-{flasher}.img"));
        img.write_to_path(&path).unwrap();
        let p = path.to_str().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&run("sfdisk", &["-J", p])).unwrap();
        let label = json["partitiontable"]["label"].as_str().unwrap();
        assert_eq!(
            label,
            if table == DemoTable::Gpt {
                "gpt"
            } else {
                "dos"
            }
        );
        if table == DemoTable::Gpt {
            let v = String::from_utf8(run("sgdisk", &["-v", p])).unwrap();
            assert!(v.contains("No problems found"), "{v}");
        }
        let bytes = fs::read(&path).unwrap();
        let boot = find_boot_partition(&bytes, None).unwrap();
        let m = mimg(&path, boot.start);
        let cfg = run("mtype", &["-i", &m, "::config.json"]);
        assert_eq!(
            cfg,
            format!(r#"{{"deviceType":"{slug}","persistentLogging":false}}"#).into_bytes()
        );
        let listing = String::from_utf8(run("mdir", &["-i", &m, "-/", "-b", "::"])).unwrap();
        for f in [
            "device-type.json",
            "os-release",
            "balenaos.fingerprint",
            "system-connections/balena-sample.ignore",
            "system-connections/README.ignore",
            "system-proxy/redsocks.conf.ignore",
        ] {
            assert!(listing.contains(f), "{f} missing in {listing}");
        }
        let vol = String::from_utf8(run("mdir", &["-i", &m, "::"])).unwrap();
        let expect_label = if flasher { "flash-boot" } else { "resin-boot" };
        assert!(vol.contains(expect_label), "{vol}");
        fsck_partition(&bytes, boot.start, boot.len, dir.path());
        // And configuring it keeps it clean.
        let c = Configuration::from_json_str(&format!(
            r#"{{"deviceType":"{slug}","applicationId":3}}"#
        ))
        .unwrap()
        .with_wifi("demo", Some("demo-pass"))
        .unwrap();
        configure_image_file(&path, &c).unwrap();
        let after = fs::read(&path).unwrap();
        fsck_partition(&after, boot.start, boot.len, dir.path());
        assert_eq!(run("mtype", &["-i", &m, "::config.json"]), c.config_json());
    }
}

#[test]
fn raspberry_pi_demo_is_fat32_and_others_fat16() {
    let rpi = DemoSpec::new("raspberrypi4-64");
    assert_eq!(rpi.boot_fat, DemoFat::Fat32);
    let img = rpi.build().unwrap().to_vec().unwrap();
    let boot = find_boot_partition(&img, None).unwrap();
    let vol = balena_image::fat::FatVolume::open(&img, boot.start, boot.len).unwrap();
    assert_eq!(vol.bpb().kind, balena_image::fat::FatKind::Fat32);
    let img = DemoSpec::new("beaglebone-black")
        .build()
        .unwrap()
        .to_vec()
        .unwrap();
    let boot = find_boot_partition(&img, None).unwrap();
    let vol = balena_image::fat::FatVolume::open(&img, boot.start, boot.len).unwrap();
    assert_eq!(vol.bpb().kind, balena_image::fat::FatKind::Fat16);
}

#[test]
fn every_catalog_device_type_builds_a_demo_image() {
    let catalog: serde_json::Value =
        serde_json::from_slice(&fs::read(shared_dir().join("catalog/device-types.json")).unwrap())
            .unwrap();
    let types = catalog["device_types"].as_array().unwrap();
    assert!(types.len() >= 50);
    for t in types {
        let spec = DemoSpec::from_catalog_entry(t).unwrap();
        let img = spec.build().unwrap().to_vec().unwrap();
        let table = read_partition_table(&img).unwrap();
        let expect_gpt = t["partition_table"] == "gpt";
        assert_eq!(
            matches!(table.kind, balena_image::TableKind::Gpt { .. }),
            expect_gpt,
            "{}",
            spec.slug
        );
        let boot = find_boot_partition(&img, None).unwrap();
        let vol = balena_image::fat::FatVolume::open(&img, boot.start, boot.len).unwrap();
        let flasher = t["default_image_is_flasher"].as_bool().unwrap();
        assert_eq!(
            vol.bpb().label,
            if flasher { "flash-boot" } else { "resin-boot" }
        );
        let dt: serde_json::Value =
            serde_json::from_slice(&vol.read_file("/device-type.json").unwrap()).unwrap();
        assert_eq!(dt["slug"], t["slug"]);
    }
}

/// A `.dev` build says so in `os-release` and its stock `config.json`, a
/// `.prod` build says prod, a unified image has no VARIANT lines; the rest
/// of the image is the same, checked with mtools.
#[test]
fn demo_variants_write_os_release_and_config() {
    let dir = tmp();
    let mut images = Vec::new();
    for variant in [
        DemoVariant::Unified,
        DemoVariant::Production,
        DemoVariant::Development,
    ] {
        let img = DemoSpec::new("raspberrypi3")
            .os_version("2.88.4+rev1")
            .variant(variant)
            .build()
            .unwrap();
        let path = dir.path().join(format!("{variant:?}.img"));
        img.write_to_path(&path).unwrap();
        let bytes = fs::read(&path).unwrap();
        let boot = find_boot_partition(&bytes, None).unwrap();
        let m = mimg(&path, boot.start);
        let os_release = String::from_utf8(run("mtype", &["-i", &m, "::os-release"])).unwrap();
        let lines: Vec<&str> = os_release
            .lines()
            .filter(|l| l.starts_with("VARIANT"))
            .collect();
        let cfg = String::from_utf8(run("mtype", &["-i", &m, "::config.json"])).unwrap();
        match variant {
            DemoVariant::Unified => {
                assert!(lines.is_empty(), "{os_release}");
                assert_eq!(
                    cfg,
                    r#"{"deviceType":"raspberrypi3","persistentLogging":false}"#
                );
            }
            DemoVariant::Production => {
                assert_eq!(
                    lines,
                    ["VARIANT=\"Production\"", "VARIANT_ID=\"prod\""],
                    "{os_release}"
                );
                assert_eq!(
                    cfg,
                    r#"{"deviceType":"raspberrypi3","persistentLogging":false}"#
                );
            }
            DemoVariant::Development => {
                assert_eq!(
                    lines,
                    ["VARIANT=\"Development\"", "VARIANT_ID=\"dev\""],
                    "{os_release}"
                );
                assert_eq!(
                    cfg,
                    r#"{"deviceType":"raspberrypi3","persistentLogging":false,"developmentMode":true}"#
                );
            }
        }
        assert_eq!(
            balena_image::os_version_from_os_release(&os_release).as_deref(),
            Some("2.88.4+rev1")
        );
        // The fingerprint lists os-release as it is in this build.
        let fp = String::from_utf8(run("mtype", &["-i", &m, "::balenaos.fingerprint"])).unwrap();
        assert!(
            fp.contains(&format!(
                "{:08x}  /os-release",
                crc32fast::hash(os_release.as_bytes())
            )),
            "{fp}"
        );
        fsck_partition(&bytes, boot.start, boot.len, dir.path());
        images.push((bytes, boot));
    }
    // Only the boot partition differs between the builds.
    let (first, boot) = &images[0];
    for (other, _) in &images[1..] {
        assert_eq!(first.len(), other.len());
        assert_ne!(first, other);
        let end = (boot.start + boot.len) as usize;
        assert_eq!(first[end..], other[end..]);
        assert_eq!(first[..boot.start as usize], other[..boot.start as usize]);
    }
}
