//! `config.json` for a fleet, as `/download-config` makes it
//! (image-server.md §1.2): the request parameters, the version gates, the
//! provisioning key and the keys of the document in balena's order.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::params::Params;
use crate::http::ApiError;

/// The port the supervisor listens on, always 48484.
pub const LISTEN_PORT: u64 = 48_484;
/// `appUpdatePollInterval` when none (or 0) is asked for, in ms.
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 60_000;

/// The endpoints written into config.json, from the server's configuration.
///
/// Unset endpoints are derived: the API endpoint from the request (`Host`,
/// `X-Forwarded-Host`, `X-Forwarded-Proto`); the VPN, registry and delta
/// endpoints from an API host of the form `api.<domain>` (balena's naming:
/// `vpn.<domain>`, `registry2.<domain>`, `https://delta.<domain>`), else
/// `.invalid` placeholders (this server runs none of those services).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `apiEndpoint`, a URL (`https://api.example.com`).
    pub api: Option<String>,
    /// `vpnEndpoint`, a host name.
    pub vpn: Option<String>,
    /// `registryEndpoint`, a host name.
    pub registry: Option<String>,
    /// `deltaEndpoint`, a URL.
    pub delta: Option<String>,
    /// `logsEndpoint`, a URL; written only when set.
    pub logs: Option<String>,
    /// `vpnPort` (443 by default).
    pub vpn_port: u16,
    /// `mixpanelToken`; written only when set.
    pub mixpanel_token: Option<String>,
    /// A PEM certificate bundle; its base64 is written as `balenaRootCA`.
    pub root_ca_pem: Option<String>,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            api: None,
            vpn: None,
            registry: None,
            delta: None,
            logs: None,
            vpn_port: 443,
            mixpanel_token: None,
            root_ca_pem: None,
        }
    }
}

/// The endpoints for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedEndpoints {
    /// `apiEndpoint`.
    pub api: String,
    /// `vpnEndpoint`.
    pub vpn: String,
    /// `registryEndpoint`.
    pub registry: String,
    /// `deltaEndpoint`.
    pub delta: String,
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    if host_port.starts_with('[') {
        return host_port
            .split(']')
            .next()
            .map_or(host_port, |h| &h[..h.len()]);
    }
    host_port.split(':').next().unwrap_or(host_port)
}

impl Endpoints {
    /// The endpoints for a request whose own URL is `request_api` (used
    /// when no API endpoint is configured).
    ///
    /// ```
    /// use balena_os_server::images::config_json::Endpoints;
    /// let e = Endpoints::default().resolve("https://api.example.com");
    /// assert_eq!((e.vpn.as_str(), e.registry.as_str(), e.delta.as_str()),
    ///     ("vpn.example.com", "registry2.example.com", "https://delta.example.com"));
    /// let e = Endpoints::default().resolve("http://127.0.0.1:8480");
    /// assert_eq!(e.vpn, "vpn.invalid");
    /// ```
    pub fn resolve(&self, request_api: &str) -> ResolvedEndpoints {
        let api = self
            .api
            .clone()
            .unwrap_or_else(|| request_api.to_owned())
            .trim_end_matches('/')
            .to_owned();
        let domain = host_of(&api).strip_prefix("api.").map(str::to_owned);
        let derive = |prefix: &str| match &domain {
            Some(d) => format!("{prefix}.{d}"),
            None => format!("{prefix}.invalid"),
        };
        ResolvedEndpoints {
            vpn: self.vpn.clone().unwrap_or_else(|| derive("vpn")),
            registry: self.registry.clone().unwrap_or_else(|| derive("registry2")),
            delta: self
                .delta
                .clone()
                .unwrap_or_else(|| format!("https://{}", derive("delta"))),
            api,
        }
    }
}

/// Standard base64 with padding.
///
/// ```
/// assert_eq!(balena_os_server::images::config_json::base64(b"PEM!"), "UEVNIQ==");
/// ```
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// What kind of key a config.json gets, by OS version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A provisioning key for the fleet (balenaOS 2.7.8 and later).
    Provisioning,
    /// A user API key of the caller (older balenaOS).
    LegacyUser,
}

/// The version gates of `/download-config`: versions up to 1.2.0 (and
/// unparsable ones) are refused; before 2.7.8 a user key is made instead of
/// a provisioning key.
///
/// ```
/// use balena_os_server::images::config_json::{key_kind, KeyKind};
/// assert_eq!(key_kind("2.88.4+rev1").unwrap(), KeyKind::Provisioning);
/// assert_eq!(key_kind("v2.7.7").unwrap(), KeyKind::LegacyUser);
/// assert!(key_kind("1.2.0").is_err());
/// assert!(key_kind("v1+foo").is_err());
/// ```
pub fn key_kind(version: &str) -> Result<KeyKind, ApiError> {
    let refuse = || bad("balenaOS versions <= 1.2.0 are no longer supported, please update");
    if balena_semver::parse(version).is_none() || balena_semver::lte(version, "1.2.0") {
        return Err(refuse());
    }
    Ok(if balena_semver::lt(version, "2.7.8") {
        KeyKind::LegacyUser
    } else {
        KeyKind::Provisioning
    })
}

/// A validated `/download-config` request.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigRequest {
    /// The fleet id.
    pub app_id: i64,
    /// The OS version the config is for.
    pub version: String,
    /// A device type overriding the fleet's (slug or alias).
    pub device_type: Option<String>,
    /// Development mode; `None` means "from the version's `.dev` suffix".
    pub development_mode: Option<bool>,
    /// Minutes between update checks.
    pub app_update_poll_interval: Option<u64>,
    /// `ethernet` or `wifi` (anything else is kept and ignored).
    pub network: Option<String>,
    /// Wifi SSID (used only with `network=wifi`).
    pub wifi_ssid: Option<String>,
    /// Wifi passphrase (used only with `network=wifi`).
    pub wifi_key: Option<String>,
    /// Static IP for balenaOS 1.x connman files.
    pub ip: Option<String>,
    /// Gateway for balenaOS 1.x connman files.
    pub gateway: Option<String>,
    /// Netmask for balenaOS 1.x connman files.
    pub netmask: Option<String>,
    /// Adds `installer.secureboot`.
    pub secureboot: bool,
    /// Name of the key to create.
    pub key_name: Option<String>,
    /// Description of the key to create.
    pub key_description: Option<String>,
    /// Expiry of the key (ms since the epoch).
    pub key_expiry: Option<i64>,
    /// All parameters (device-type options are copied from here).
    pub params: Params,
}

/// Name of keys made without one.
pub const DEFAULT_KEY_NAME: &str = "Automatically generated provisioning key";
/// Description of keys made without one.
pub const DEFAULT_KEY_DESCRIPTION: &str = "Automatically generated for a config file generation";

impl ConfigRequest {
    /// Validates the parameters (errors are balena's 400 messages).
    pub fn from_params(params: Params) -> Result<Self, ApiError> {
        let app_id = params
            .integer("appId", "An appId is required.")?
            .filter(|id| *id >= 0)
            .ok_or_else(|| bad("An appId is required."))?;
        Self::with_app(params, app_id)
    }

    /// Validates everything but `appId` (for configured downloads, where
    /// the fleet id is already known).
    pub fn with_app(params: Params, app_id: i64) -> Result<Self, ApiError> {
        let version = params
            .strict_string("version", "A version is required.")?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| bad("A version is required."))?;
        let device_type = params
            .strict_string("deviceType", "Device type must be a string if provided")?
            .filter(|d| !d.is_empty());
        let key_text = |key: &str, what: &str| -> Result<Option<String>, ApiError> {
            match params.get(key) {
                None => Ok(None),
                Some(Value::String(s)) if s.len() <= 1000 => Ok(Some(s.clone())),
                Some(Value::String(_)) => {
                    Err(bad(format!("{what} must be at most 1000 characters")))
                }
                Some(_) => Err(bad(format!("{what} must be a string"))),
            }
        };
        let key_name = key_text("provisioningKeyName", "Key name")?;
        let key_description = key_text("provisioningKeyDescription", "Key description")?;
        let key_expiry = match key_text("provisioningKeyExpiryDate", "Key expiry date")? {
            None => None,
            Some(d) => Some(
                crate::time::parse_iso(d.trim())
                    .map_err(|_| bad("Key expiry date should be a valid date"))?,
            ),
        };
        Ok(ConfigRequest {
            app_id,
            version,
            device_type,
            development_mode: params.boolean("developmentMode")?,
            app_update_poll_interval: params.minutes("appUpdatePollInterval")?,
            network: params.string("network")?,
            wifi_ssid: params.string("wifiSsid")?,
            wifi_key: params.string("wifiKey")?,
            ip: params.string("ip")?,
            gateway: params.string("gateway")?,
            netmask: params.string("netmask")?,
            secureboot: params.boolean("secureboot")?.unwrap_or(false),
            key_name,
            key_description,
            key_expiry,
            params,
        })
    }

    /// Whether the config turns development mode on: an explicit value
    /// wins, else a version ending in `.dev`.
    pub fn development_mode(&self) -> bool {
        self.development_mode
            .unwrap_or_else(|| self.version.ends_with(".dev"))
    }

    /// Whether wifi credentials are written.
    pub fn is_wifi(&self) -> bool {
        self.network.as_deref() == Some("wifi")
    }
}

/// What goes into a config.json besides the request.
#[derive(Debug, Clone)]
pub struct ConfigContext<'a> {
    /// The canonical device type slug.
    pub device_type: &'a str,
    /// The device type's device-type.json.
    pub device_type_json: &'a Value,
    /// The calling user, if any.
    pub user_id: Option<i64>,
    /// The key made for this config.
    pub api_key: &'a str,
    /// Endpoints for this request.
    pub endpoints: &'a ResolvedEndpoints,
    /// The server's endpoint settings (logs, mixpanel, root CA, VPN port).
    pub settings: &'a Endpoints,
}

fn connman_files(req: &ConfigRequest) -> Result<Value, ApiError> {
    let settings = "[global]\nOfflineMode=false\nTimeUpdates=manual\n\n[WiFi]\nEnable=true\nTethering=false\n\n[Wired]\nEnable=true\nTethering=false\n\n[Bluetooth]\nEnable=true\nTethering=false";
    let ipv4 = match &req.ip {
        Some(ip) => {
            let gateway = req
                .gateway
                .as_deref()
                .ok_or_else(|| bad("A gateway is required with a static IP"))?;
            let netmask = req.netmask.as_deref().unwrap_or("255.255.255.0");
            format!("\nIPv4 = {ip}/{netmask}/{gateway}")
        }
        None => String::new(),
    };
    let mut config =
        format!("[service_home_ethernet]\nType = ethernet\nNameservers = 8.8.8.8,8.8.4.4{ipv4}");
    if let Some(ssid) = req.wifi_ssid.as_deref().filter(|_| req.is_wifi()) {
        config.push_str(&format!(
            "\n\n[service_home_wifi]\nHidden = true\nType = wifi\nName = {ssid}"
        ));
        if let Some(k) = &req.wifi_key {
            config.push_str(&format!("\nPassphrase = {k}"));
        }
        config.push_str(&format!("\nNameservers = 8.8.8.8,8.8.4.4{ipv4}"));
    }
    Ok(json!({"network/settings": settings, "network/network.config": config}))
}

/// Builds the config.json object, keys in balena's order.
///
/// ```
/// use balena_os_server::images::config_json::*;
/// use balena_os_server::images::params::Params;
/// let params = Params::parse("appId=7&version=2.88.4&network=wifi&wifiSsid=home&wifiKey=secret12&appUpdatePollInterval=10", None, b"").unwrap();
/// let req = ConfigRequest::from_params(params).unwrap();
/// let endpoints = Endpoints::default();
/// let resolved = endpoints.resolve("https://api.example.com");
/// let dtj = serde_json::json!({"options": []});
/// let cfg = build(&req, &ConfigContext { device_type: "raspberrypi3", device_type_json: &dtj,
///     user_id: Some(5), api_key: "k", endpoints: &resolved, settings: &endpoints }).unwrap();
/// let keys: Vec<&str> = cfg.keys().map(String::as_str).collect();
/// assert_eq!(keys, ["applicationId", "deviceType", "userId", "appUpdatePollInterval", "listenPort",
///     "vpnPort", "apiEndpoint", "vpnEndpoint", "registryEndpoint", "deltaEndpoint", "apiKey",
///     "wifiSsid", "wifiKey"]);
/// assert_eq!(cfg["appUpdatePollInterval"], 600000);
/// ```
pub fn build(req: &ConfigRequest, ctx: &ConfigContext<'_>) -> Result<Map<String, Value>, ApiError> {
    let mut c = Map::new();
    c.insert("applicationId".into(), json!(req.app_id));
    c.insert("deviceType".into(), json!(ctx.device_type));
    if let Some(u) = ctx.user_id {
        c.insert("userId".into(), json!(u));
    }
    let poll = req
        .app_update_poll_interval
        .filter(|m| *m > 0)
        .map(|m| m.saturating_mul(60_000))
        .unwrap_or(DEFAULT_POLL_INTERVAL_MS);
    c.insert("appUpdatePollInterval".into(), json!(poll));
    c.insert("listenPort".into(), json!(LISTEN_PORT));
    c.insert("vpnPort".into(), json!(ctx.settings.vpn_port));
    c.insert("apiEndpoint".into(), json!(ctx.endpoints.api));
    c.insert("vpnEndpoint".into(), json!(ctx.endpoints.vpn));
    c.insert("registryEndpoint".into(), json!(ctx.endpoints.registry));
    c.insert("deltaEndpoint".into(), json!(ctx.endpoints.delta));
    if let Some(t) = &ctx.settings.mixpanel_token {
        c.insert("mixpanelToken".into(), json!(t));
    }
    c.insert("apiKey".into(), json!(ctx.api_key));
    if let Some(l) = &ctx.settings.logs {
        c.insert("logsEndpoint".into(), json!(l));
    }
    let major = balena_semver::parse(&req.version).map(|v| v.major);
    if major.is_none_or(|m| m < 2) {
        c.insert("files".into(), connman_files(req)?);
        c.insert("connectivity".into(), json!("connman"));
    }
    if req.is_wifi() {
        if let Some(s) = &req.wifi_ssid {
            c.insert("wifiSsid".into(), json!(s));
        }
        if let Some(k) = &req.wifi_key {
            c.insert("wifiKey".into(), json!(k));
        }
    }
    // Device-type options outside the network and advanced groups.
    let copy = |name: &str, c: &mut Map<String, Value>| {
        if c.contains_key(name) {
            return;
        }
        if let Some(v) = req.params.get(name) {
            c.insert(name.to_owned(), v.clone());
        }
    };
    for opt in ctx.device_type_json["options"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = opt["name"].as_str().unwrap_or_default();
        if opt["isGroup"].as_bool() == Some(true) {
            if name == "network" || name == "advanced" {
                continue;
            }
            for child in opt["options"].as_array().into_iter().flatten() {
                if let Some(n) = child["name"].as_str() {
                    copy(n, &mut c);
                }
            }
        } else if !name.is_empty() {
            copy(name, &mut c);
        }
    }
    if let Some(pem) = &ctx.settings.root_ca_pem {
        c.insert("balenaRootCA".into(), json!(base64(pem.as_bytes())));
    }
    if req.development_mode() {
        c.insert("developmentMode".into(), json!(true));
    }
    if req.secureboot {
        c.insert("installer".into(), json!({"secureboot": true}));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(q: &str) -> ConfigRequest {
        ConfigRequest::from_params(Params::parse(q, None, b"").expect("params")).expect("request")
    }

    fn cfg(r: &ConfigRequest, dtj: &Value, settings: &Endpoints) -> Map<String, Value> {
        let resolved = settings.resolve("http://127.0.0.1:1");
        build(
            r,
            &ConfigContext {
                device_type: "raspberrypi3",
                device_type_json: dtj,
                user_id: None,
                api_key: "key",
                endpoints: &resolved,
                settings,
            },
        )
        .expect("config")
    }

    #[test]
    fn errors_are_balenas() {
        let e = |q: &str| {
            ConfigRequest::from_params(Params::parse(q, None, b"").expect("params"))
                .expect_err(q)
                .message
        };
        assert_eq!(e("version=1"), "An appId is required.");
        assert_eq!(e("appId=x&version=1"), "An appId is required.");
        assert_eq!(e("appId=1"), "A version is required.");
        assert_eq!(
            e("appId=1&version=2.88.4&provisioningKeyExpiryDate=never"),
            "Key expiry date should be a valid date"
        );
        let body = Params::parse(
            "",
            Some("application/json"),
            br#"{"appId":1,"version":"6.0.1","deviceType":5}"#,
        )
        .expect("params");
        assert_eq!(
            ConfigRequest::from_params(body).expect_err("dt").message,
            "Device type must be a string if provided"
        );
        assert!(key_kind("1.0.0").is_err());
        assert_eq!(key_kind("1.2.1").expect("ok"), KeyKind::LegacyUser);
    }

    #[test]
    fn development_mode_rules() {
        assert!(req("appId=1&version=2.88.4.dev").development_mode());
        assert!(!req("appId=1&version=2.88.4.dev&developmentMode=false").development_mode());
        assert!(req("appId=1&version=6.0.1&developmentMode=on").development_mode());
        assert!(!req("appId=1&version=6.0.1").development_mode());
    }

    #[test]
    fn documents() {
        let dtj = json!({"options": [
            {"isGroup": true, "name": "network", "options": [{"name": "network"}]},
            {"isGroup": true, "name": "extra", "options": [{"name": "hdmiMode"}]},
            {"name": "boardRev"}
        ]});
        let mut settings = Endpoints {
            logs: Some("https://logs.example.com".into()),
            mixpanel_token: Some("mp".into()),
            root_ca_pem: Some("PEM".into()),
            ..Endpoints::default()
        };
        let c = cfg(
            &req(
                "appId=1&version=2.88.4&hdmiMode=4&boardRev=2&network=ethernet&wifiSsid=x&secureboot=1&appUpdatePollInterval=0",
            ),
            &dtj,
            &settings,
        );
        assert_eq!(c["appUpdatePollInterval"], 60_000);
        assert_eq!(c["hdmiMode"], "4");
        assert_eq!(c["boardRev"], "2");
        assert!(c.get("wifiSsid").is_none());
        assert_eq!(c["balenaRootCA"], "UEVN");
        assert_eq!(c["installer"], json!({"secureboot": true}));
        assert_eq!(c["mixpanelToken"], "mp");
        let keys: Vec<&str> = c.keys().map(String::as_str).collect();
        let api = keys.iter().position(|k| *k == "apiKey").expect("apiKey");
        assert_eq!(keys[api + 1], "logsEndpoint");
        assert!(c.get("files").is_none());
        settings.logs = None;
        let old = cfg(
            &req("appId=1&version=1.30.0&ip=10.0.0.5&gateway=10.0.0.1&network=wifi&wifiSsid=home"),
            &dtj,
            &settings,
        );
        assert_eq!(old["connectivity"], "connman");
        let nc = old["files"]["network/network.config"]
            .as_str()
            .expect("text");
        assert!(
            nc.contains("IPv4 = 10.0.0.5/255.255.255.0/10.0.0.1"),
            "{nc}"
        );
        assert!(nc.contains("Name = home"), "{nc}");
        let keys: Vec<&str> = old.keys().map(String::as_str).collect();
        assert_eq!(
            &keys[keys.len() - 3..],
            ["connectivity", "wifiSsid", "balenaRootCA"]
        );
    }
}
