//! Property tests: idempotence for any config size, and byte ranges of a
//! download plan equal slices of the whole download.

use std::io::Read;

use balena_image::assemble::{DownloadPlan, ZipOptions};
use balena_image::demo::DemoSpec;
use balena_image::import::{ImportOptions, import_image};
use balena_image::{
    Configuration, ConfiguredImage, DirPartStore, ReadAt, compute_patches, configure_parts,
};
use proptest::prelude::*;

fn cfg(pad: usize, wifi: bool) -> Configuration {
    let c = Configuration::from_json_str(&format!(
        r#"{{"deviceType":"intel-nuc","pad":"{}"}}"#,
        "x".repeat(pad)
    ))
    .unwrap();
    if wifi {
        c.with_wifi("prop", Some("prop-pass")).unwrap()
    } else {
        c
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Configuring a configured image again changes nothing, whatever the
    /// size of config.json (crossing cluster boundaries in both directions).
    #[test]
    fn configure_is_idempotent_for_any_size(pad in 0usize..9000, wifi in any::<bool>()) {
        let base = DemoSpec::new("intel-nuc").build().unwrap().to_vec().unwrap();
        let c = cfg(pad, wifi);
        let first = compute_patches(&base, &c).unwrap();
        let once = ConfiguredImage::new(&base, first.patches.clone()).unwrap();
        let mut bytes = vec![0u8; base.len()];
        once.read_exact_at(0, &mut bytes).unwrap();
        let again = compute_patches(&bytes, &c).unwrap();
        prop_assert!(again.patches.is_empty(), "{} bytes changed on the second run", again.patches.changed_bytes());
        let vol = balena_image::fat::FatVolume::open(&bytes[..], first.boot.start, first.boot.len).unwrap();
        prop_assert_eq!(vol.read_file("/config.json").unwrap(), c.config_json());
    }
}

#[test]
fn plan_ranges_equal_slices_of_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("i.img");
    DemoSpec::new("intel-nuc")
        .build()
        .unwrap()
        .write_to_path(&p)
        .unwrap();
    let rep = import_image(&p, dir.path().join("rel"), &ImportOptions::default()).unwrap();
    let store = DirPartStore::new(dir.path().join("rel/compressed"));
    let parts = configure_parts(&rep.layout, &store, &cfg(10, true)).unwrap();
    for plan in [
        DownloadPlan::gzip(&parts),
        DownloadPlan::zip(&[("a.img", &parts)], ZipOptions::default()).unwrap(),
    ] {
        let mut whole = Vec::new();
        plan.write_to(&store, &mut whole).unwrap();
        assert_eq!(whole.len() as u64, plan.len());
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 64,
            ..ProptestConfig::default()
        });
        runner
            .run(&(0..=plan.len(), 0..=plan.len()), |(a, b)| {
                let (s, e) = (a.min(b), a.max(b));
                let mut got = Vec::new();
                plan.reader(&store, s, e).read_to_end(&mut got).unwrap();
                prop_assert_eq!(&got[..], &whole[s as usize..e as usize]);
                Ok(())
            })
            .unwrap();
    }
}
