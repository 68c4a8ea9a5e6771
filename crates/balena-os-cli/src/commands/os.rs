//! The SDK subcommands: one per method of the OS model (`balena.models.os`).
//!
//! | subcommand            | SDK method                                            |
//! |-----------------------|-------------------------------------------------------|
//! | `versions`            | `get_available_os_versions(_for)`                     |
//! | `versions --all`      | `get_all_os_versions(_for)`                           |
//! | `max-version`         | `get_max_satisfying_version`                          |
//! | `download-size`       | `get_download_size`                                   |
//! | `download`            | `download_to_file` (`-o -`: `download`, to stdout)    |
//! | `config`              | `get_config`                                          |
//! | `update-type`         | `get_os_update_type`                                  |
//! | `can-update`          | `is_supported_os_update`                              |
//! | `update-targets`      | `get_supported_os_update_versions`                    |
//! | `supervisor-releases` | `get_supervisor_releases_for_cpu_architecture`        |
//! | `arch-compatible`     | `is_architecture_compatible_with`                     |
//!
//! Every subcommand takes the API options of [`ApiArgs`]; `--json` prints
//! exactly the SDK's result serialised, as one JSON document.

mod config;
mod download;
mod update;
mod versions;

use std::time::Duration;

use anyhow::Context;
use balena_sdk::{Balena, IdOrSlug, OsType, PineOptions};
use clap::{Args, Subcommand};

pub use config::ConfigArgs;
pub use download::DownloadArgs;
pub use update::{ArchArgs, SupervisorArgs, UpdateArgs, UpdateTargetsArgs};
pub use versions::{DownloadSizeArgs, MaxVersionArgs, VersionsArgs};

/// balenaCloud's API, the default `--api-url`.
pub const DEFAULT_API_URL: &str = "https://api.balena-cloud.com";

/// Help text shared by the SDK subcommands: where credentials come from.
const CREDENTIALS_HELP: &str = "\
Credentials: --api-key (or BALENA_API_KEY), else the balena CLI's token file
($BALENARC_DATA_DIRECTORY/token, default ~/.balena/token). Public device types
and OS versions need none.";

/// The SDK subcommands (flattened into the top-level command list).
#[derive(Debug, Subcommand)]
pub enum OsCommand {
    /// List the balenaOS versions of device types, newest first
    /// (getAvailableOsVersions; with --all, getAllOsVersions).
    #[command(after_help = after_help(
        "Examples:\n  balena-os versions raspberrypi4-64\n  balena-os versions intel-nuc generic-amd64 --os-type esr --json\n  balena-os versions raspberrypi3 --all --pine '{\"$select\":[\"is_final\"]}'"
    ))]
    Versions(VersionsArgs),
    /// The newest available version matching a version or range
    /// (getMaxSatisfyingVersion).
    #[command(after_help = after_help(
        "Examples:\n  balena-os max-version raspberrypi4-64\n  balena-os max-version raspberrypi4-64 '^6.0.0' --os-type default\n\nStatus 1 when no version matches (JSON: null)."
    ))]
    MaxVersion(MaxVersionArgs),
    /// The download size of an OS image in bytes (getDownloadSize).
    #[command(after_help = after_help("Example:\n  balena-os download-size raspberrypi4-64 6.0.10+rev1"))]
    DownloadSize(DownloadSizeArgs),
    /// Download an OS image to a file (download): progress on a terminal,
    /// resumed when the connection drops, verified, never left half-written;
    /// or to stdout with `-o -`.
    #[command(
        disable_version_flag = true,
        after_help = after_help(
            "Examples:\n  balena-os download raspberrypi4-64 --version 6.0.10+rev1 --file-type gz -o rpi4.img.gz\n  balena-os download generic-amd64 --image-type flasher --fleet myorg/myfleet --dev\n  balena-os download raspberrypi4-64 --file-type gz -o - | gunzip | sudo dd of=/dev/sdX bs=4M"
        )
    )]
    Download(DownloadArgs),
    /// Generate a fleet's config.json (getConfig).
    #[command(
        disable_version_flag = true,
        after_help = after_help(
            "Examples:\n  balena-os config myorg/myfleet --version 6.0.10+rev1 -o config.json\n  balena-os config 1234 --version 6.0.10+rev1 --wifi-ssid home --wifi-key secretpass --set initialDeviceName='\"kiosk\"'"
        )
    )]
    Config(ConfigArgs),
    /// The kind of host-OS update from one version to another
    /// (getOsUpdateType): balenahup or takeover.
    #[command(after_help = after_help(
        "Example:\n  balena-os update-type jetson-xavier 5.0.0+rev1 6.0.50+rev1\n\nA refused update is a failure (status 1) naming the rule."
    ))]
    UpdateType(UpdateArgs),
    /// Whether a host-OS update is allowed (isSupportedOsUpdate): status 0
    /// yes, 1 no, 2 error.
    #[command(after_help = after_help(
        "Example:\n  balena-os can-update raspberrypi3 2.80.3+rev1.prod 2.88.4+rev1.prod && echo ok"
    ))]
    CanUpdate(UpdateArgs),
    /// The versions a device may update to, with the recommended one
    /// (getSupportedOsUpdateVersions).
    #[command(after_help = after_help(
        "Example:\n  balena-os update-targets raspberrypi4-64 2.80.3+rev1.prod --os-type default"
    ))]
    UpdateTargets(UpdateTargetsArgs),
    /// Final supervisor releases for a CPU architecture, newest first
    /// (getSupervisorReleasesForCpuArchitecture).
    #[command(after_help = after_help(
        "Examples:\n  balena-os supervisor-releases aarch64\n  balena-os supervisor-releases 4 --pine '{\"$top\":1}' --json"
    ))]
    SupervisorReleases(SupervisorArgs),
    /// Whether an OS of one CPU architecture runs applications of another
    /// (isArchitectureCompatibleWith): status 0 yes, 1 no. No request.
    #[command(after_help = after_help("Example:\n  balena-os arch-compatible aarch64 armv7hf"))]
    ArchCompatible(ArchArgs),
}

fn after_help(examples: &str) -> String {
    format!(
        "{examples}\n\n{CREDENTIALS_HELP}\n\n{}",
        super::output::EXIT_CODES_HELP
    )
}

/// API options shared by every SDK subcommand.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "API options")]
pub struct ApiArgs {
    /// The balena API (only its origin is used).
    #[arg(long, env = "BALENA_API_URL", default_value = DEFAULT_API_URL, value_name = "URL", value_parser = parse_api_url)]
    pub api_url: String,
    /// API key or session token (else BALENA_API_KEY, else the balena CLI's
    /// token file).
    #[arg(
        long,
        env = "BALENA_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    /// Print the SDK's result as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Timeout of each request in seconds (a download fails after this long
    /// without data).
    #[arg(long, value_name = "SECONDS", default_value = "59", value_parser = parse_timeout)]
    pub timeout: Duration,
}

impl ApiArgs {
    /// Builds the SDK client: environment and token file first, then the
    /// options given here.
    pub fn client(&self) -> anyhow::Result<Balena> {
        let mut builder = Balena::builder()
            .with_env()
            .api_url(self.api_url.clone())
            .timeout(self.timeout)
            .user_agent(concat!("balena-os-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(key) = &self.api_key {
            builder = builder.api_key(key.trim());
        }
        builder.build().context("setting up the API client")
    }
}

/// Runs an SDK subcommand.
pub async fn run(command: OsCommand) -> anyhow::Result<()> {
    match command {
        OsCommand::Versions(a) => versions::versions(a).await,
        OsCommand::MaxVersion(a) => versions::max_version(a).await,
        OsCommand::DownloadSize(a) => versions::download_size(a).await,
        OsCommand::Download(a) => download::run(a).await,
        OsCommand::Config(a) => config::run(a).await,
        OsCommand::UpdateType(a) => update::update_type(a).await,
        OsCommand::CanUpdate(a) => update::can_update(a).await,
        OsCommand::UpdateTargets(a) => update::update_targets(a).await,
        OsCommand::SupervisorReleases(a) => update::supervisor_releases(a).await,
        OsCommand::ArchCompatible(a) => update::arch_compatible(a).await,
    }
}

// ---- argument parsers (clap value parsers: a failure is a usage error) ----

/// A non-empty argument without control characters (device types, fleets,
/// versions, architectures).
pub fn parse_text(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("it must not be empty".into());
    }
    if s.chars().any(char::is_control) {
        return Err("it must not contain control characters".into());
    }
    if s.len() > balena_sdk::types::MAX_ARGUMENT_LEN {
        return Err(format!(
            "it must be at most {} bytes long",
            balena_sdk::types::MAX_ARGUMENT_LEN
        ));
    }
    Ok(s.to_owned())
}

fn parse_api_url(s: &str) -> Result<String, String> {
    let trimmed = s.trim();
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| format!("{s:?} is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("{s:?} has no host"));
    }
    Ok(trimmed.to_owned())
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err("the timeout must be above 0 and at most 86400 seconds".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A release policy: `default`, `esr` or another tag verbatim.
pub fn parse_os_type(s: &str) -> Result<OsType, String> {
    s.parse::<OsType>().map_err(|e| e.to_string())
}

/// Pine (OData) options as a JSON object, validated.
pub fn parse_pine(s: &str) -> Result<PineOptions, String> {
    let value: serde_json::Value = serde_json::from_str(s).map_err(|e| format!("not JSON: {e}"))?;
    // The SDK error names the problem in its source: print the chain.
    PineOptions::from_json(value).map_err(|e| super::output::error_text(&anyhow::Error::new(e)))
}

/// A number is an id, anything else a slug (or uuid).
pub fn parse_id_or_slug(s: &str) -> Result<IdOrSlug, String> {
    let s = parse_text(s)?;
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let id: u64 = s.parse().map_err(|_| format!("id {s} is out of range"))?;
        if i64::try_from(id).is_err() {
            return Err(format!("id {s} is out of range"));
        }
        return Ok(IdOrSlug::Id(id));
    }
    Ok(IdOrSlug::Slug(s))
}

/// The numeric id of a fleet given by id or slug (one request for a slug).
pub async fn fleet_id(balena: &Balena, fleet: &IdOrSlug) -> anyhow::Result<u64> {
    if let IdOrSlug::Id(id) = fleet {
        return Ok(*id);
    }
    let opts = PineOptions::new().select(["id"])?;
    let row = balena
        .applications()
        .get(fleet.clone(), Some(&opts))
        .await
        .with_context(|| format!("looking up fleet {fleet}"))?;
    row.get("id")
        .and_then(serde_json::Value::as_u64)
        .with_context(|| format!("the API returned no id for fleet {fleet}"))
}

/// Network options shared by `download` and `config`.
#[derive(Debug, Clone, Args)]
pub struct NetworkArgs {
    /// Network type; `wifi` is implied by --wifi-ssid or --wifi-key.
    #[arg(long, value_parser = ["ethernet", "wifi"])]
    pub network: Option<String>,
    /// Wifi network name.
    #[arg(long, value_name = "SSID", value_parser = parse_text)]
    pub wifi_ssid: Option<String>,
    /// Wifi passphrase.
    #[arg(long, value_name = "KEY")]
    pub wifi_key: Option<String>,
}

impl NetworkArgs {
    /// The network settings, or `None` when none were given.
    pub fn network(&self) -> anyhow::Result<Option<balena_sdk::Network>> {
        let wifi_given = self.wifi_ssid.is_some() || self.wifi_key.is_some();
        match self.network.as_deref() {
            Some("ethernet") if wifi_given => Err(super::output::usage(
                "--wifi-ssid and --wifi-key need --network wifi (or no --network)",
            )),
            Some("ethernet") => Ok(Some(balena_sdk::Network::Ethernet)),
            _ if wifi_given || self.network.is_some() => Ok(Some(balena_sdk::Network::Wifi {
                ssid: self.wifi_ssid.clone(),
                key: self.wifi_key.clone(),
            })),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_slugs() {
        assert_eq!(parse_id_or_slug("42"), Ok(IdOrSlug::Id(42)));
        assert_eq!(
            parse_id_or_slug("myorg/fleet"),
            Ok(IdOrSlug::Slug("myorg/fleet".into()))
        );
        assert!(parse_id_or_slug("99999999999999999999").is_err());
        assert!(parse_id_or_slug("9223372036854775808").is_err());
        assert!(parse_id_or_slug(" ").is_err());
    }

    #[test]
    fn texts_timeouts_and_urls() {
        assert!(parse_text("").is_err());
        assert!(parse_text("a\tb").is_err());
        assert!(parse_text(&"x".repeat(2000)).is_err());
        assert_eq!(parse_timeout("2.5"), Ok(Duration::from_millis(2500)));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("NaN").is_err());
        assert!(parse_timeout("-1").is_err());
        assert!(parse_api_url("http://127.0.0.1:8480").is_ok());
        assert!(parse_api_url("ftp://x").is_err());
        assert!(parse_api_url("https://").is_err());
    }

    #[test]
    fn pine_and_os_types() {
        assert!(parse_pine(r#"{"$select":["is_final"]}"#).is_ok());
        assert!(parse_pine("[1]").is_err());
        assert!(parse_pine("{").is_err());
        // The message names what is wrong, not just "invalid pine options".
        let e = parse_pine(r#"{"$nope":1}"#).unwrap_err();
        assert!(e.starts_with("invalid pine options: "), "{e}");
        assert!(e.contains("$nope"), "{e}");
        assert_eq!(parse_os_type("esr"), Ok(OsType::Esr));
        assert!(parse_os_type("").is_err());
    }

    #[test]
    fn network_options() {
        let n = |network: Option<&str>, ssid: Option<&str>, key: Option<&str>| NetworkArgs {
            network: network.map(str::to_owned),
            wifi_ssid: ssid.map(str::to_owned),
            wifi_key: key.map(str::to_owned),
        };
        assert_eq!(n(None, None, None).network().unwrap(), None);
        assert_eq!(
            n(None, Some("home"), None).network().unwrap(),
            Some(balena_sdk::Network::wifi("home", None))
        );
        assert_eq!(
            n(Some("ethernet"), None, None).network().unwrap(),
            Some(balena_sdk::Network::Ethernet)
        );
        assert!(n(Some("ethernet"), Some("x"), None).network().is_err());
    }
}
