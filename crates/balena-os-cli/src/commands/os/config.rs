//! `balena-os config`: a fleet's config.json (getConfig).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use balena_sdk::{ConfigOptions, IdOrSlug, Network};
use clap::Args;
use serde_json::Value;

use super::{ApiArgs, NetworkArgs, parse_id_or_slug, parse_text};
use crate::commands::output::{self, Out};

/// Arguments of `balena-os config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The fleet: numeric id, slug (`myorg/myfleet`) or uuid.
    #[arg(value_parser = parse_id_or_slug)]
    pub fleet: IdOrSlug,
    /// The balenaOS version the config is for (required by the API).
    #[arg(long = "version", value_name = "VERSION", value_parser = parse_text)]
    pub os_version: String,
    #[command(flatten)]
    pub network: NetworkArgs,
    /// How often the supervisor polls for updates, in minutes.
    #[arg(long, value_name = "MINUTES")]
    pub poll_interval: Option<u64>,
    /// Name of the provisioning key to create.
    #[arg(long, value_name = "NAME")]
    pub provisioning_key_name: Option<String>,
    /// Expiry date of the provisioning key (ISO 8601, e.g. 2030-01-31).
    #[arg(long, value_name = "DATE")]
    pub provisioning_key_expiry_date: Option<String>,
    /// Description of the provisioning key.
    #[arg(long, value_name = "TEXT")]
    pub provisioning_key_description: Option<String>,
    /// Development mode.
    #[arg(long)]
    pub dev: bool,
    /// Static IP address (with --gateway and --netmask).
    #[arg(long, value_name = "ADDR", requires_all = ["gateway", "netmask"])]
    pub ip: Option<IpAddr>,
    /// Static gateway (with --ip and --netmask).
    #[arg(long, value_name = "ADDR", requires_all = ["ip", "netmask"])]
    pub gateway: Option<IpAddr>,
    /// Static netmask, dotted (with --ip and --gateway).
    #[arg(long, value_name = "MASK", requires_all = ["ip", "gateway"])]
    pub netmask: Option<IpAddr>,
    /// The device type, when it differs from the fleet's.
    #[arg(long, value_name = "SLUG", value_parser = parse_text)]
    pub device_type: Option<String>,
    /// Any other key for /download-config, as KEY=VALUE; VALUE is JSON when
    /// it parses as JSON, else a string (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_extra)]
    pub extra: Vec<(String, Value)>,
    /// Write the config.json to this file (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `KEY=VALUE` with VALUE as JSON when it parses, else as a string.
pub fn parse_extra(s: &str) -> Result<(String, Value), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))?;
    let key = parse_text(k).map_err(|e| format!("the key {e}"))?;
    let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
    Ok((key, value))
}

impl ConfigArgs {
    fn options(&self) -> anyhow::Result<ConfigOptions> {
        let mut o = ConfigOptions::new(self.os_version.clone());
        o.network = self.network.network()?.unwrap_or(Network::Ethernet);
        o.app_update_poll_interval = self.poll_interval;
        o.provisioning_key_name = self.provisioning_key_name.clone();
        o.provisioning_key_expiry_date = self.provisioning_key_expiry_date.clone();
        o.provisioning_key_description = self.provisioning_key_description.clone();
        if self.dev {
            o.development_mode = Some(true);
        }
        o.ip = self.ip;
        o.gateway = self.gateway;
        o.netmask = self.netmask;
        o.device_type = self.device_type.clone();
        for (k, v) in &self.extra {
            o.extra.insert(k.clone(), v.clone());
        }
        Ok(o)
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so `path` is either untouched or complete.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".balena-os-")
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming the temporary file to {}", path.display()))?;
    Ok(())
}

/// `balena-os config`.
pub async fn run(args: ConfigArgs) -> anyhow::Result<()> {
    let options = args.options()?;
    if let Some(path) = &args.output
        && path.is_dir()
    {
        return Err(output::usage(format!(
            "--output {} is a directory",
            path.display()
        )));
    }
    let balena = args.api.client()?;
    let config = balena
        .os()
        .get_config(args.fleet.clone(), &options)
        .await
        .with_context(|| format!("generating the config.json of fleet {}", args.fleet))?;
    match &args.output {
        Some(path) => {
            let mut text = serde_json::to_vec_pretty(&config)?;
            text.push(b'\n');
            write_atomically(path, &text)?;
            let mut out = Out::new();
            if args.api.json {
                out.json(&config)?;
            } else {
                output::note(format!("wrote {}", path.display()));
            }
            out.flush()
        }
        None => {
            let mut out = Out::new();
            if args.api.json {
                out.json(&config)?;
            } else {
                out.json_pretty(&config)?;
            }
            out.flush()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_values() {
        assert_eq!(
            parse_extra("initialDeviceName=kiosk").unwrap(),
            ("initialDeviceName".into(), Value::String("kiosk".into()))
        );
        assert_eq!(
            parse_extra("a=1").unwrap(),
            ("a".into(), serde_json::json!(1))
        );
        assert_eq!(
            parse_extra(r#"os={"sshKeys":["k"]}"#).unwrap().1,
            serde_json::json!({"sshKeys": ["k"]})
        );
        assert_eq!(parse_extra("a=").unwrap().1, Value::String(String::new()));
        assert!(parse_extra("novalue").is_err());
        assert!(parse_extra("=1").is_err());
    }

    #[test]
    fn atomic_writes_replace_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        write_atomically(&p, b"one").unwrap();
        write_atomically(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
        assert!(write_atomically(&dir.path().join("missing/x"), b"").is_err());
    }
}
