//! Configure a local balenaOS image file without the balena CLI
//! (balena-sdk#1262): write `config.json` and NetworkManager wifi keyfiles
//! into the image's boot partition, in place. This is balena-image's
//! configure API, re-exported; it is synchronous and needs no network.
//!
//! The boot partition is found as balena's tools find it (label
//! `resin-boot`/`flash-boot`/`balena-boot`, else the partition holding
//! `/device-type.json`); everything is checked and the changed bytes are
//! computed in memory before the first byte is written, so a bad
//! configuration or a damaged image leaves the file as it was.
//! Configuring twice with the same configuration gives the same bytes.
//!
//! A config object from [`crate::OsModel::get_config`], written into an
//! image downloaded with [`crate::OsModel::download_to_file`]:
//!
//! ```no_run
//! # async fn demo(balena: balena_sdk::Balena) -> Result<(), Box<dyn std::error::Error>> {
//! use balena_sdk::image::{Configuration, configure_image_file};
//! use balena_sdk::{ConfigOptions, DownloadOptions};
//!
//! let os = balena.os();
//! os.download_to_file(&DownloadOptions::new("raspberrypi4-64").version("6.0.10+rev1"), "rpi4.img".as_ref(), |_| {})
//!     .await?;
//! let config = os.get_config("myorg/myfleet".into(), &ConfigOptions::new("6.0.10+rev1")).await?;
//! let serde_json::Value::Object(config) = config else {
//!     return Err("the API's config.json is not an object".into());
//! };
//! let cfg = Configuration::new(config)?.with_wifi("home", Some("secretpass"))?;
//! let report = configure_image_file("rpi4.img", &cfg)?;
//! println!("config.json written to partition {:?}", report.boot.index);
//! # Ok(()) }
//! ```
//!
//! A saved config.json and a static IP, read back from the image:
//!
//! ```
//! use balena_sdk::image::{Configuration, NetworkEntry, StaticIp, configure_image_file, read_boot_file};
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("balena.img");
//! # balena_image::demo::DemoSpec::new("raspberrypi3").build().unwrap().write_to_path(&path).unwrap();
//! let cfg = Configuration::from_json_str(r#"{"applicationId":1234,"deviceType":"raspberrypi3"}"#)?
//!     .with_network(NetworkEntry {
//!         wifi_ssid: Some("office".into()),
//!         wifi_key: Some("secretpass".into()),
//!         static_ip: Some(StaticIp {
//!             address: "192.168.1.50".parse().unwrap(),
//!             prefix: 24,
//!             gateway: "192.168.1.1".parse().unwrap(),
//!         }),
//!         ..Default::default()
//!     })?;
//! configure_image_file(&path, &cfg)?;
//!
//! let file = std::fs::File::open(&path).unwrap();
//! let written = read_boot_file(&file, "/config.json", None)?;
//! assert_eq!(written, br#"{"applicationId":1234,"deviceType":"raspberrypi3"}"#);
//! let wifi = read_boot_file(&file, "/system-connections/balena-wifi-01", None)?;
//! assert!(String::from_utf8_lossy(&wifi).contains("address1=192.168.1.50/24,192.168.1.1"));
//! # Ok::<(), balena_sdk::image::Error>(())
//! ```

pub use balena_image::{
    BootPartition, ConfigPartition, Configuration, ConfigureReport, Error, FoundBy, NetworkEntry,
    Result, StaticIp, configure_image_file, configure_overlay, find_boot_partition,
    os_version_from_os_release, read_boot_file,
};
