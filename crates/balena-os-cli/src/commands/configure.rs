//! `balena-os configure`: write config.json and network settings into a
//! local balenaOS image, in place, with balena-image.
//!
//! Everything is checked before the image is opened for writing: the
//! arguments, the config object, the image's partition table and boot
//! partition, its device type, and the complete set of changed bytes
//! (computed in memory). Only then are those bytes written. On any error
//! the image is left as it was.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use balena_image::{ConfigPartition, Configuration, FoundBy, NetworkEntry};
use balena_sdk::{ConfigOptions, IdOrSlug, Network};
use clap::Args;
use serde_json::{Map, Value, json};

use super::os::{ApiArgs, parse_id_or_slug, parse_text};
use super::output::{self, Exit, Out, usage};

/// Arguments of `balena-os configure`.
#[derive(Debug, Args)]
#[command(
    disable_version_flag = true,
    after_help = CONFIGURE_HELP
)]
pub struct ConfigureArgs {
    /// The raw image file (`.img`) to configure in place. Compressed images
    /// (`.gz`, `.zip`) must be unpacked first.
    pub image: PathBuf,
    /// The config.json to write: a JSON object, e.g. saved by
    /// `balena-os config`. No network access is needed.
    #[arg(long, value_name = "FILE", conflicts_with = "fleet")]
    pub config: Option<PathBuf>,
    /// Fetch the fleet's config.json from the API (id, slug or uuid).
    #[arg(long, value_name = "FLEET", value_parser = parse_id_or_slug)]
    pub fleet: Option<IdOrSlug>,
    /// With --fleet: the OS version the config is for (default: the
    /// VERSION in the image's /os-release).
    #[arg(long = "version", value_name = "VERSION", requires = "fleet", value_parser = parse_text)]
    pub os_version: Option<String>,
    /// With --fleet: development mode.
    #[arg(long, requires = "fleet")]
    pub dev: bool,
    /// With --fleet: how often the supervisor polls for updates, in minutes.
    #[arg(long, value_name = "MINUTES", requires = "fleet")]
    pub poll_interval: Option<u64>,
    /// Wifi network name (written as a NetworkManager keyfile).
    #[arg(long, value_name = "SSID")]
    pub wifi_ssid: Option<String>,
    /// Wifi passphrase (8 to 63 characters, or 64 hex digits).
    #[arg(long, value_name = "KEY", requires = "wifi_ssid")]
    pub wifi_key: Option<String>,
    /// Static IPv4 address of the wifi connection (with --netmask and
    /// --gateway).
    #[arg(long, value_name = "ADDR", requires_all = ["netmask", "gateway"])]
    pub ip: Option<Ipv4Addr>,
    /// Netmask: dotted (255.255.255.0) or a prefix length (24).
    #[arg(long, value_name = "MASK", requires_all = ["ip", "gateway"])]
    pub netmask: Option<String>,
    /// Default gateway (with --ip and --netmask).
    #[arg(long, value_name = "ADDR", requires_all = ["ip", "netmask"])]
    pub gateway: Option<Ipv4Addr>,
    /// A NetworkManager keyfile to add verbatim (e.g. a static IP on
    /// ethernet), written as `system-connections/connection-NN`
    /// (repeatable).
    #[arg(long = "connection", value_name = "FILE")]
    pub connections: Vec<PathBuf>,
    /// The device type to write into config.json; it must match the image's
    /// device-type.json (slug or alias) when the image has one.
    #[arg(long, value_name = "SLUG", value_parser = parse_text)]
    pub device_type: Option<String>,
    /// Configure for a device registered beforehand: its UUID (32 or 62
    /// lowercase hex digits), written as `uuid`. Needs --device-api-key.
    #[arg(long, value_name = "UUID", value_parser = parse_device_uuid, requires = "device_api_key")]
    pub device_uuid: Option<String>,
    /// With --device-uuid: the device's API key, written as
    /// `deviceApiKey`. The fleet's provisioning `apiKey` is removed.
    #[arg(long, value_name = "KEY", value_parser = parse_device_api_key, requires = "device_uuid")]
    pub device_api_key: Option<String>,
    /// With --device-uuid: the device's numeric id in the API, written as
    /// `deviceId` (without it the device looks its id up at first boot).
    #[arg(long, value_name = "ID", requires = "device_uuid", value_parser = clap::value_parser!(u64).range(1..=i64::MAX as u64))]
    pub device_id: Option<u64>,
    /// Check everything and show what would be written, without writing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

const CONFIGURE_HELP: &str = "\
Where the configuration comes from: --config FILE, else the fleet's config
from the API (--fleet), else the image's current /config.json (to add wifi or
a static IP to an image as it is). --wifi-*, --ip/--netmask/--gateway,
--connection and --device-type are applied on top.

Device mode (a device registered beforehand, as balena CLI's `os configure
--device`): --device-uuid and --device-api-key write `uuid` and
`deviceApiKey`, remove the provisioning `apiKey`, and set `registered_at` to
the current time (unix seconds; kept when the base configuration already has
it for the same uuid), so the device does not register itself again;
--device-id also writes `deviceId`. A `deviceId` or `registered_at` of
another uuid is dropped.

Examples:
  balena-os config myorg/myfleet --version 6.0.10+rev1 -o config.json
  balena-os configure balena.img --config config.json --wifi-ssid home --wifi-key secretpass
  balena-os configure balena.img --fleet myorg/myfleet --api-key KEY
  balena-os configure balena.img --wifi-ssid home --wifi-key secretpass \\
      --ip 192.168.1.50 --netmask 24 --gateway 192.168.1.1
  balena-os configure balena.img --connection static-eth0.nmconnection
  balena-os configure balena.img --fleet myorg/myfleet --api-key KEY \
      --device-uuid 0123456789abcdef0123456789abcdef --device-api-key DEVICEKEY

The image is validated completely (partition table, boot partition, FAT file
system, device type, configuration) before the first byte is written, and is
left untouched on any error. Configuring twice with the same settings gives
the same bytes.

Exit status: 0 configured, 1 failure (image untouched), 2 invalid arguments.";

/// `--device-uuid`: 32 or 62 lowercase hex digits (balena's generated
/// uuids; the API accepts nothing else in config.json).
pub fn parse_device_uuid(s: &str) -> Result<String, String> {
    let hex = s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if (s.len() == 32 || s.len() == 62) && hex {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not a device uuid: expected 32 or 62 lowercase hexadecimal digits"
        ))
    }
}

/// `--device-api-key`: 1 to 1024 printable ASCII characters, no spaces.
pub fn parse_device_api_key(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("the device API key is empty".into());
    }
    if s.len() > 1024 {
        return Err(format!(
            "the device API key is {} bytes long, at most 1024 are allowed",
            s.len()
        ));
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "the device API key must be printable ASCII without spaces or control characters"
                .into(),
        );
    }
    Ok(s.to_owned())
}

/// Turns a fleet configuration into a device's (balena CLI's `os configure
/// --device`): no provisioning key, the device's uuid and key, and a
/// registration time so the supervisor does not register it again.
fn apply_device(
    config: &mut Map<String, Value>,
    uuid: &str,
    api_key: &str,
    device_id: Option<u64>,
    now: u64,
) {
    let same_device = config.get("uuid").and_then(Value::as_str) == Some(uuid);
    config.shift_remove("apiKey");
    if !same_device {
        config.shift_remove("deviceId");
        config.shift_remove("registered_at");
    }
    config.insert("uuid".into(), json!(uuid));
    config.insert("deviceApiKey".into(), json!(api_key));
    if let Some(id) = device_id {
        config.insert("deviceId".into(), json!(id));
    }
    if !config.get("registered_at").is_some_and(Value::is_u64) {
        config.insert("registered_at".into(), json!(now));
    }
}

/// What the image says about itself.
struct ImageInfo {
    device_type: Option<Value>,
    os_version: Option<String>,
    config_json: Option<Vec<u8>>,
}

fn read_image_info(path: &Path) -> anyhow::Result<ImageInfo> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?;
    if !meta.is_file() {
        anyhow::bail!("{} is not a regular file", path.display());
    }
    balena_image::find_boot_partition(&file, None).with_context(|| {
        format!(
            "{} does not look like a balenaOS image (compressed images must be unpacked first)",
            path.display()
        )
    })?;
    let optional = |name: &str| -> anyhow::Result<Option<Vec<u8>>> {
        match balena_image::read_boot_file(&file, name, None) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(balena_image::Error::FileNotFound(_)) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!(
                "{} does not look like a balenaOS image: reading {name} from its boot partition",
                path.display()
            ))),
        }
    };
    let device_type = match optional("/device-type.json")? {
        Some(bytes) => Some(serde_json::from_slice::<Value>(&bytes).with_context(|| {
            format!(
                "the image's /device-type.json in {} is not JSON",
                path.display()
            )
        })?),
        None => None,
    };
    let os_version = optional("/os-release")?
        .and_then(|b| balena_image::os_version_from_os_release(&String::from_utf8_lossy(&b)));
    let config_json = optional("/config.json")?;
    Ok(ImageInfo {
        device_type,
        os_version,
        config_json,
    })
}

/// The slug and aliases from a device-type.json.
fn device_type_names(dt: &Value) -> Vec<String> {
    let mut names: Vec<String> = dt
        .get("slug")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .into_iter()
        .collect();
    if let Some(aliases) = dt.get("aliases").and_then(Value::as_array) {
        names.extend(aliases.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    names
}

fn found_by_text(f: &FoundBy) -> String {
    match f {
        FoundBy::Label(l) => format!("label {l}"),
        FoundBy::DeviceTypeJson => "holds /device-type.json".into(),
        FoundBy::Hint(h) => format!("device type's config partition {}", h.index()),
        FoundBy::WholeDisk => "whole disk (no partition table)".into(),
        _ => "other".into(),
    }
}

impl ConfigureArgs {
    /// Checks the command-line network settings on their own, so a bad
    /// value is a usage error.
    fn check_flags(&self) -> anyhow::Result<()> {
        if let Some(ssid) = &self.wifi_ssid {
            NetworkEntry::wifi(ssid, self.wifi_key.as_deref())
                .map_err(|e| usage(format!("--wifi-ssid/--wifi-key: {e}")))?;
        }
        if let Some(mask) = &self.netmask {
            balena_image::config::parse_prefix("netmask", mask)
                .map_err(|e| usage(format!("--netmask: {e}")))?;
        }
        let anything = self.config.is_some()
            || self.fleet.is_some()
            || self.wifi_ssid.is_some()
            || self.ip.is_some()
            || !self.connections.is_empty()
            || self.device_type.is_some()
            || self.device_uuid.is_some();
        if !anything {
            return Err(usage(
                "nothing to configure: give --config FILE, --fleet FLEET, or settings such as --wifi-ssid",
            ));
        }
        Ok(())
    }

    /// The settings given on the command line, as config.json keys.
    fn overrides(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(s) = &self.wifi_ssid {
            m.insert("wifiSsid".into(), json!(s));
            // A new network replaces the old passphrase, even with none.
            m.insert(
                "wifiKey".into(),
                self.wifi_key.as_ref().map_or(Value::Null, |k| json!(k)),
            );
        }
        if let (Some(ip), Some(mask), Some(gw)) = (&self.ip, &self.netmask, &self.gateway) {
            m.insert("ip".into(), json!(ip.to_string()));
            m.insert("netmask".into(), json!(mask));
            m.insert("gateway".into(), json!(gw.to_string()));
        }
        if let Some(dt) = &self.device_type {
            m.insert("deviceType".into(), json!(dt));
        }
        m
    }
}

fn read_config_file(path: &Path) -> anyhow::Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    match serde_json::from_str::<Value>(&text)
        .with_context(|| format!("the config file {} is not valid JSON", path.display()))?
    {
        Value::Object(m) => Ok(m),
        _ => anyhow::bail!("the config file {} must hold a JSON object", path.display()),
    }
}

async fn fleet_config(
    args: &ConfigureArgs,
    fleet: &IdOrSlug,
    info: &ImageInfo,
) -> anyhow::Result<Map<String, Value>> {
    let version = match (&args.os_version, &info.os_version) {
        (Some(v), _) => v.clone(),
        (None, Some(v)) => v.clone(),
        (None, None) => {
            return Err(usage(format!(
                "the image {} has no /os-release with a balenaOS VERSION: give --version",
                args.image.display()
            )));
        }
    };
    let mut opts = ConfigOptions::new(version);
    if let Some(ssid) = &args.wifi_ssid {
        opts.network = Network::wifi(ssid.clone(), args.wifi_key.as_deref());
    }
    if args.dev {
        opts.development_mode = Some(true);
    }
    opts.app_update_poll_interval = args.poll_interval;
    opts.device_type = args.device_type.clone().or_else(|| {
        info.device_type
            .as_ref()
            .and_then(|d| d.get("slug"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let balena = args.api.client()?;
    let config = balena
        .os()
        .get_config(fleet.clone(), &opts)
        .await
        .with_context(|| format!("getting the config.json of fleet {fleet}"))?;
    match config {
        Value::Object(m) => Ok(m),
        other => anyhow::bail!(
            "the API's config.json for fleet {fleet} is not an object: {}",
            other
        ),
    }
}

/// `balena-os configure`.
pub async fn run(args: ConfigureArgs) -> anyhow::Result<()> {
    args.check_flags()?;
    let info = read_image_info(&args.image)?;

    // The base config object.
    let mut config = if let Some(path) = &args.config {
        read_config_file(path)?
    } else if let Some(fleet) = &args.fleet {
        fleet_config(&args, fleet, &info).await?
    } else {
        match &info.config_json {
            Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
                Ok(Value::Object(m)) => m,
                _ => anyhow::bail!(
                    "the image's /config.json is not a JSON object; give --config FILE"
                ),
            },
            None => Map::new(),
        }
    };
    for (k, v) in args.overrides() {
        if v.is_null() {
            config.shift_remove(&k);
        } else {
            config.insert(k, v);
        }
    }
    if let (Some(uuid), Some(key)) = (&args.device_uuid, &args.device_api_key) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        apply_device(&mut config, uuid, key, args.device_id, now);
    }

    // The device type must be the image's.
    if let Some(dt) = &info.device_type {
        let names = device_type_names(dt);
        if let Some(wanted) = config.get("deviceType").and_then(Value::as_str)
            && !names.is_empty()
            && !names.iter().any(|n| n == wanted)
        {
            anyhow::bail!(
                "the configuration is for device type {wanted:?} but {} is a {} image",
                args.image.display(),
                names[0]
            );
        }
    }

    let mut cfg = Configuration::new(config.clone()).context("invalid configuration")?;
    for path in &args.connections {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the keyfile {}", path.display()))?;
        cfg = cfg
            .with_network(NetworkEntry {
                configuration: Some(text),
                ..NetworkEntry::default()
            })
            .with_context(|| format!("the keyfile {}", path.display()))?;
    }
    if let Some(hint) = info
        .device_type
        .as_ref()
        .and_then(|dt| ConfigPartition::from_device_type_json(dt).ok())
    {
        cfg = cfg.with_partition_hint(hint);
    }

    let image = args.image.clone();
    let dry_run = args.dry_run;
    let work_cfg = cfg.clone();
    // Signals are caught from here on: an interrupted write would leave a
    // half-configured image, so the (short) write always completes.
    let interrupted = output::interrupt_listener();
    let work = tokio::task::spawn_blocking(move || {
        if dry_run {
            let file = std::fs::File::open(&image)?;
            balena_image::compute_patches(&file, &work_cfg)
        } else {
            balena_image::configure_image_file(&image, &work_cfg)
        }
    });
    tokio::pin!(work);
    let mut was_interrupted = false;
    let report = tokio::select! {
        r = &mut work => r,
        () = interrupted => {
            was_interrupted = true;
            work.await
        }
    }
    .context("the configuration task failed")?
    .with_context(|| {
        format!(
            "configuring {} (the image was not modified)",
            args.image.display()
        )
    })?;

    let mut files: Vec<(String, usize)> = vec![("/config.json".into(), cfg.config_json().len())];
    for (name, bytes) in cfg.network_files() {
        files.push((format!("/system-connections/{name}"), bytes.len()));
    }
    let mut out = Out::new();
    if args.api.json {
        out.json(&json!({
            "image": args.image,
            "dryRun": dry_run,
            "bootPartition": {
                "index": report.boot.index,
                "start": report.boot.start,
                "length": report.boot.len,
                "foundBy": found_by_text(&report.boot.found_by),
            },
            "deviceType": info.device_type.as_ref().and_then(|d| d.get("slug")).cloned(),
            "osVersion": info.os_version,
            "files": files.iter().map(|(p, n)| json!({"path": p, "bytes": n})).collect::<Vec<_>>(),
            "changedBytes": report.patches.changed_bytes(),
            "config": Value::Object(cfg.config().clone()),
        }))?;
    } else {
        out.line(format!(
            "{} {}: boot partition {} ({}), {} bytes changed",
            if dry_run {
                "would configure"
            } else {
                "configured"
            },
            args.image.display(),
            report
                .boot
                .index
                .map_or_else(|| "-".to_owned(), |i| i.to_string()),
            found_by_text(&report.boot.found_by),
            report.patches.changed_bytes()
        ))?;
        for (path, n) in &files {
            out.line(format!("  {path} ({n} bytes)"))?;
        }
    }
    out.flush()?;
    if was_interrupted {
        return Err(Exit::with_message(
            output::INTERRUPTED,
            "interrupted: the image was configured completely before stopping",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_type_names_include_aliases() {
        let dt = json!({"slug": "raspberrypi3", "aliases": ["raspberry-pi3", "rpi3"]});
        assert_eq!(
            device_type_names(&dt),
            ["raspberrypi3", "raspberry-pi3", "rpi3"]
        );
        assert!(device_type_names(&json!({})).is_empty());
    }

    #[test]
    fn device_uuids_and_keys() {
        let short = "0123456789abcdef0123456789abcdef";
        let long = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd";
        assert_eq!(parse_device_uuid(short).as_deref(), Ok(short));
        assert_eq!(parse_device_uuid(long).as_deref(), Ok(long));
        for bad in [
            "",
            &short[1..],
            &format!("{short}0"),
            &short.to_uppercase(),
            "0123456789abcdef0123456789abcdeg",
            &long[1..],
        ] {
            let e = parse_device_uuid(bad).unwrap_err();
            assert!(e.contains("32 or 62 lowercase hexadecimal digits"), "{e}");
        }
        assert_eq!(parse_device_api_key("k3y_-.").as_deref(), Ok("k3y_-."));
        assert!(parse_device_api_key("").unwrap_err().contains("empty"));
        assert!(parse_device_api_key("a b").is_err());
        assert!(parse_device_api_key("a\nb").is_err());
        assert!(parse_device_api_key("clé").is_err());
        assert!(parse_device_api_key(&"k".repeat(1025)).is_err());
        assert!(parse_device_api_key(&"k".repeat(1024)).is_ok());
    }

    #[test]
    fn device_mode_replaces_the_provisioning_key() {
        let uuid = "0123456789abcdef0123456789abcdef";
        let mut config =
            json!({"applicationId": 3, "apiKey": "prov", "deviceType": "raspberrypi3"})
                .as_object()
                .cloned()
                .unwrap();
        apply_device(&mut config, uuid, "devkey", Some(42), 1_700_000_000);
        assert_eq!(
            Value::Object(config.clone()),
            json!({"applicationId": 3, "deviceType": "raspberrypi3", "uuid": uuid,
                   "deviceApiKey": "devkey", "deviceId": 42, "registered_at": 1_700_000_000u64})
        );
        // Again for the same device, later: the registration time stays.
        apply_device(&mut config, uuid, "newkey", None, 1_800_000_000);
        assert_eq!(config["registered_at"], 1_700_000_000u64);
        assert_eq!(config["deviceId"], 42);
        assert_eq!(config["deviceApiKey"], "newkey");
        // Another device: the old id and time go.
        let other = "f".repeat(32);
        apply_device(&mut config, &other, "k", None, 1_800_000_000);
        assert_eq!(config["uuid"], other);
        assert!(!config.contains_key("deviceId"));
        assert_eq!(config["registered_at"], 1_800_000_000u64);
    }
}
