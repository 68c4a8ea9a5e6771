//! Option structs and result types of the OS model's methods.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::types::{FileType, ImageType, Network, OsType, PineOptions};

/// Options of [`crate::OsModel::get_available_os_versions`].
///
/// ```
/// use balena_sdk::AvailableOsVersionsOptions;
/// let o = AvailableOsVersionsOptions::new().include_draft(true);
/// assert!(o.include_draft);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct AvailableOsVersionsOptions {
    /// Extra pine options merged into the release query. `None` or empty
    /// options use the cache.
    pub pine: Option<PineOptions>,
    /// Also return draft (not final) releases.
    pub include_draft: bool,
}

impl AvailableOsVersionsOptions {
    /// Defaults: no pine options, final releases only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets pine options.
    pub fn pine(mut self, options: PineOptions) -> Self {
        self.pine = Some(options);
        self
    }

    /// Includes draft releases.
    pub fn include_draft(mut self, include: bool) -> Self {
        self.include_draft = include;
        self
    }
}

/// Options of [`crate::OsModel::get_supported_os_update_versions`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SupportedOsUpdateVersionsOptions {
    /// Only consider releases of this release policy.
    pub os_type: Option<OsType>,
    /// Also consider draft releases.
    pub include_draft: bool,
}

impl SupportedOsUpdateVersionsOptions {
    /// Defaults: every release policy, final releases only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Restricts to one release policy.
    pub fn os_type(mut self, os_type: OsType) -> Self {
        self.os_type = Some(os_type);
        self
    }

    /// Includes draft releases.
    pub fn include_draft(mut self, include: bool) -> Self {
        self.include_draft = include;
        self
    }
}

/// The answer of [`crate::OsModel::get_supported_os_update_versions`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportedOsUpdateVersions {
    /// Every version the device may update to, newest first.
    pub versions: Vec<String>,
    /// The newest of them that is not a pre-release.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub recommended: Option<String>,
    /// The listed release equal to the current version, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub current: Option<String>,
}

/// A supervisor release (getSupervisorReleasesForCpuArchitecture), with any
/// extra fields the caller selected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisorRelease {
    /// The release id.
    pub id: i64,
    /// The supervisor version (`17.0.3`).
    pub raw_version: String,
    /// Known issues, if any.
    pub known_issue_list: Option<String>,
    /// Other selected or expanded fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What to download (`os.download`). `version: None` means the newest
/// final release of the default line.
///
/// ```
/// use balena_sdk::{DownloadOptions, FileType};
/// let o = DownloadOptions::new("raspberrypi4-64").version("6.0.10+rev1").file_type(FileType::Gz);
/// assert_eq!(o.version.as_deref(), Some("6.0.10+rev1"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DownloadOptions {
    /// Device type slug or alias (sent as given).
    pub device_type: String,
    /// Exact version (`2.88.4+rev1.prod`, `v6.0.10+rev1`); `None` = latest.
    pub version: Option<String>,
    /// Configure the image for development mode.
    pub development_mode: Option<bool>,
    /// Configure the image for this fleet.
    pub app_id: Option<u64>,
    /// Container format.
    pub file_type: Option<FileType>,
    /// Raw or flasher image.
    pub image_type: Option<ImageType>,
    /// How often the supervisor polls for updates, in minutes.
    pub app_update_poll_interval: Option<u64>,
    /// Network settings.
    pub network: Option<Network>,
}

impl DownloadOptions {
    /// Latest version of `device_type`, no configuration.
    pub fn new(device_type: impl Into<String>) -> Self {
        DownloadOptions {
            device_type: device_type.into(),
            version: None,
            development_mode: None,
            app_id: None,
            file_type: None,
            image_type: None,
            app_update_poll_interval: None,
            network: None,
        }
    }

    /// An exact version (`latest` means `None`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        let v = version.into();
        self.version = if v == "latest" { None } else { Some(v) };
        self
    }

    /// Development mode on or off.
    pub fn development_mode(mut self, on: bool) -> Self {
        self.development_mode = Some(on);
        self
    }

    /// The fleet id.
    pub fn app_id(mut self, id: u64) -> Self {
        self.app_id = Some(id);
        self
    }

    /// The container format.
    pub fn file_type(mut self, t: FileType) -> Self {
        self.file_type = Some(t);
        self
    }

    /// Raw or flasher image.
    pub fn image_type(mut self, t: ImageType) -> Self {
        self.image_type = Some(t);
        self
    }

    /// Update poll interval in minutes.
    pub fn app_update_poll_interval(mut self, minutes: u64) -> Self {
        self.app_update_poll_interval = Some(minutes);
        self
    }

    /// Network settings.
    pub fn network(mut self, network: Network) -> Self {
        self.network = Some(network);
        self
    }
}

/// Options of [`crate::OsModel::get_config`] (the body of
/// `POST /download-config`).
///
/// ```
/// use balena_sdk::{ConfigOptions, Network};
/// let o = ConfigOptions::new("6.0.10+rev1").network(Network::wifi("home", Some("secret"))).development_mode(true);
/// assert_eq!(o.version, "6.0.10+rev1");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConfigOptions {
    /// The balenaOS version the config is for (required).
    pub version: String,
    /// Network settings (default ethernet).
    pub network: Network,
    /// Update poll interval in minutes.
    pub app_update_poll_interval: Option<u64>,
    /// Name of the provisioning key to create.
    pub provisioning_key_name: Option<String>,
    /// Expiry date of the provisioning key (ISO 8601).
    pub provisioning_key_expiry_date: Option<String>,
    /// Description of the provisioning key.
    pub provisioning_key_description: Option<String>,
    /// Development mode.
    pub development_mode: Option<bool>,
    /// Static IP address.
    pub ip: Option<IpAddr>,
    /// Static gateway.
    pub gateway: Option<IpAddr>,
    /// Static netmask.
    pub netmask: Option<IpAddr>,
    /// The device type (when it differs from the fleet's).
    pub device_type: Option<String>,
    /// Any other key for the endpoint, passed through unchanged. Keys that
    /// the fields above set are ignored here, and `appId` is always the
    /// resolved fleet id.
    pub extra: Map<String, Value>,
}

impl ConfigOptions {
    /// Options for `version` with ethernet networking.
    pub fn new(version: impl Into<String>) -> Self {
        ConfigOptions {
            version: version.into(),
            network: Network::Ethernet,
            app_update_poll_interval: None,
            provisioning_key_name: None,
            provisioning_key_expiry_date: None,
            provisioning_key_description: None,
            development_mode: None,
            ip: None,
            gateway: None,
            netmask: None,
            device_type: None,
            extra: Map::new(),
        }
    }

    /// Network settings.
    pub fn network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    /// Development mode.
    pub fn development_mode(mut self, on: bool) -> Self {
        self.development_mode = Some(on);
        self
    }

    /// Update poll interval in minutes.
    pub fn app_update_poll_interval(mut self, minutes: u64) -> Self {
        self.app_update_poll_interval = Some(minutes);
        self
    }

    /// Provisioning key name, expiry date and description.
    pub fn provisioning_key(
        mut self,
        name: Option<String>,
        expiry_date: Option<String>,
        description: Option<String>,
    ) -> Self {
        self.provisioning_key_name = name;
        self.provisioning_key_expiry_date = expiry_date;
        self.provisioning_key_description = description;
        self
    }

    /// Static IP settings.
    pub fn static_ip(mut self, ip: IpAddr, gateway: IpAddr, netmask: IpAddr) -> Self {
        self.ip = Some(ip);
        self.gateway = Some(gateway);
        self.netmask = Some(netmask);
        self
    }

    /// The device type.
    pub fn device_type(mut self, device_type: impl Into<String>) -> Self {
        self.device_type = Some(device_type.into());
        self
    }
}
