//! What gets written into an image: `config.json` plus NetworkManager
//! keyfiles, validated up front.

use std::net::Ipv4Addr;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Keys of a config object that describe networking; they are removed from
/// `config.json` and turned into keyfiles (as balena's image maker does).
pub const NETWORK_KEYS: [&str; 7] = [
    "wifiSsid",
    "wifiKey",
    "ip",
    "netmask",
    "gateway",
    "routeMetric",
    "network",
];

/// Largest raw `configuration` keyfile accepted.
const MAX_RAW_CONFIGURATION: usize = 64 * 1024;

/// Where `config.json` goes according to a device type's
/// `configuration.config.partition` — only a hint: the boot partition is
/// found by label first (see [`crate::find_boot_partition`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigPartition {
    /// `{"primary": N}`: partition N.
    Primary(u32),
    /// `{"logical": N}`: Linux numbering N + 4.
    Logical(u32),
    /// A plain number: the absolute (GPT or Linux) partition index.
    Index(u32),
}

impl ConfigPartition {
    /// The 1-based partition index this hint designates.
    pub fn index(self) -> u32 {
        match self {
            ConfigPartition::Primary(n) | ConfigPartition::Index(n) => n,
            ConfigPartition::Logical(n) => n.saturating_add(4),
        }
    }

    /// Parses the JSON forms `{"primary":N}`, `{"logical":N}` and `N`.
    ///
    /// ```
    /// use balena_image::ConfigPartition;
    /// let p = ConfigPartition::from_json(&serde_json::json!({"logical": 1})).unwrap();
    /// assert_eq!(p.index(), 5);
    /// ```
    pub fn from_json(v: &Value) -> Result<Self> {
        let num = |v: &Value| {
            v.as_u64()
                .filter(|n| (1..=256).contains(n))
                .map(|n| n as u32)
                .ok_or_else(|| {
                    Error::config(
                        "configuration.config.partition",
                        "expected a partition number 1..=256",
                    )
                })
        };
        match v {
            Value::Number(_) => Ok(ConfigPartition::Index(num(v)?)),
            Value::Object(m) => {
                if let Some(n) = m.get("primary") {
                    Ok(ConfigPartition::Primary(num(n)?))
                } else if let Some(n) = m.get("logical") {
                    Ok(ConfigPartition::Logical(num(n)?))
                } else {
                    Err(Error::config(
                        "configuration.config.partition",
                        "expected {primary:N}, {logical:N} or N",
                    ))
                }
            }
            _ => Err(Error::config(
                "configuration.config.partition",
                "expected {primary:N}, {logical:N} or N",
            )),
        }
    }

    /// Reads `configuration.config.partition` out of a device-type.json.
    pub fn from_device_type_json(device_type: &Value) -> Result<Self> {
        let p = device_type
            .pointer("/configuration/config/partition")
            .ok_or_else(|| {
                Error::config(
                    "configuration.config.partition",
                    "missing from device-type.json",
                )
            })?;
        Self::from_json(p)
    }
}

/// A static IPv4 setting for a network entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticIp {
    /// Address of the device.
    pub address: Ipv4Addr,
    /// Prefix length (a dotted netmask is converted: 255.255.255.0 → 24).
    pub prefix: u8,
    /// Default gateway.
    pub gateway: Ipv4Addr,
}

/// One network to configure: a wifi network (with optional static IP and
/// route metric) and/or a raw NetworkManager keyfile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkEntry {
    /// Wifi SSID (1–32 bytes).
    pub wifi_ssid: Option<String>,
    /// WPA passphrase (8–63 printable ASCII) or 64 hex digits.
    pub wifi_key: Option<String>,
    /// Static IPv4 settings for the wifi connection.
    pub static_ip: Option<StaticIp>,
    /// `route-metric` for the wifi connection.
    pub route_metric: Option<u32>,
    /// A raw keyfile written verbatim as `connection-NN`.
    pub configuration: Option<String>,
}

impl NetworkEntry {
    /// A wifi network with an optional key, validated.
    pub fn wifi(ssid: &str, key: Option<&str>) -> Result<Self> {
        let e = NetworkEntry {
            wifi_ssid: Some(ssid.to_string()),
            wifi_key: key.map(str::to_string),
            ..Default::default()
        };
        e.validate()?;
        Ok(e)
    }

    fn validate(&self) -> Result<()> {
        if let Some(ssid) = &self.wifi_ssid {
            if ssid.is_empty() || ssid.len() > 32 {
                return Err(Error::config("wifiSsid", "must be 1 to 32 bytes long"));
            }
            if ssid.chars().any(|c| c.is_control()) {
                return Err(Error::config(
                    "wifiSsid",
                    "must not contain control characters",
                ));
            }
        }
        if let Some(key) = &self.wifi_key {
            if self.wifi_ssid.is_none() {
                return Err(Error::config("wifiKey", "given without wifiSsid"));
            }
            let hex64 = key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit());
            let pass =
                (8..=63).contains(&key.len()) && key.bytes().all(|b| (0x20..0x7F).contains(&b));
            if !hex64 && !pass {
                return Err(Error::config(
                    "wifiKey",
                    "must be 8 to 63 printable ASCII characters or 64 hex digits",
                ));
            }
        }
        if (self.static_ip.is_some() || self.route_metric.is_some()) && self.wifi_ssid.is_none() {
            return Err(Error::config(
                "ip",
                "static IP and routeMetric apply to a wifi network; use a raw `configuration` keyfile for ethernet",
            ));
        }
        if let Some(c) = &self.configuration
            && (c.is_empty() || c.len() > MAX_RAW_CONFIGURATION)
        {
            return Err(Error::config("configuration", "must be 1 byte to 64 KiB"));
        }
        Ok(())
    }

    fn from_object(m: &Map<String, Value>, path: &str) -> Result<Self> {
        let s = |key: &str| -> Result<Option<String>> {
            match m.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) if key != "wifiSsid" => Ok(Some(n.to_string())),
                Some(_) => Err(Error::config(&format!("{path}{key}"), "must be a string")),
            }
        };
        let ip = s("ip")?;
        let netmask = s("netmask")?;
        let gateway = s("gateway")?;
        let static_ip = match (ip, netmask, gateway) {
            (None, None, None) => None,
            (Some(ip), Some(mask), Some(gw)) => Some(StaticIp {
                address: parse_ip(&format!("{path}ip"), &ip)?,
                prefix: parse_prefix(&format!("{path}netmask"), &mask)?,
                gateway: parse_ip(&format!("{path}gateway"), &gw)?,
            }),
            _ => {
                return Err(Error::config(
                    &format!("{path}ip"),
                    "ip, netmask and gateway must be given together",
                ));
            }
        };
        let route_metric = match m.get("routeMetric") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        Error::config(
                            &format!("{path}routeMetric"),
                            "must be a non-negative integer",
                        )
                    })?,
            ),
            Some(Value::String(t)) => Some(t.parse::<u32>().map_err(|_| {
                Error::config(
                    &format!("{path}routeMetric"),
                    "must be a non-negative integer",
                )
            })?),
            Some(_) => {
                return Err(Error::config(
                    &format!("{path}routeMetric"),
                    "must be a non-negative integer",
                ));
            }
        };
        let e = NetworkEntry {
            wifi_ssid: s("wifiSsid")?,
            wifi_key: s("wifiKey")?,
            static_ip,
            route_metric,
            configuration: s("configuration")?,
        };
        e.validate()?;
        Ok(e)
    }

    fn is_empty(&self) -> bool {
        self.wifi_ssid.is_none() && self.configuration.is_none()
    }
}

fn parse_ip(field: &str, s: &str) -> Result<Ipv4Addr> {
    s.trim()
        .parse()
        .map_err(|_| Error::config(field, format!("{s:?} is not an IPv4 address")))
}

/// Parses a netmask given as dotted quad (`255.255.255.0`) or prefix
/// length (`24`, `/24`) into a prefix length.
///
/// ```
/// assert_eq!(balena_image::config::parse_prefix("netmask", "255.255.252.0").unwrap(), 22);
/// assert!(balena_image::config::parse_prefix("netmask", "255.0.255.0").is_err());
/// ```
pub fn parse_prefix(field: &str, s: &str) -> Result<u8> {
    let t = s.trim().trim_start_matches('/');
    if let Ok(n) = t.parse::<u8>() {
        if n <= 32 {
            return Ok(n);
        }
        return Err(Error::config(
            field,
            format!("prefix length {n} is above 32"),
        ));
    }
    let mask: Ipv4Addr = t.parse().map_err(|_| {
        Error::config(
            field,
            format!("{s:?} is neither a netmask nor a prefix length"),
        )
    })?;
    let bits = u32::from(mask);
    let prefix = bits.leading_ones();
    if bits.checked_shl(prefix).unwrap_or(0) != 0 {
        return Err(Error::config(
            field,
            format!("{s:?} is not a contiguous netmask"),
        ));
    }
    Ok(prefix as u8)
}

/// A configuration to write into an image's boot partition.
///
/// Built from a config object (typically what `/download-config` returns):
/// the network keys (`wifiSsid`, `wifiKey`, `ip`, `netmask`, `gateway`,
/// `routeMetric`, `network`) are taken out and become NetworkManager
/// keyfiles under `/system-connections/`; everything else is written as
/// compact JSON to `/config.json`, keys in their original order.
///
/// ```
/// use balena_image::Configuration;
/// let cfg = Configuration::from_json_str(
///     r#"{"applicationId":1,"deviceType":"raspberrypi3","wifiSsid":"home","wifiKey":"secret-pass"}"#,
/// ).unwrap();
/// assert_eq!(cfg.config_json(), br#"{"applicationId":1,"deviceType":"raspberrypi3"}"#);
/// let files = cfg.network_files();
/// assert_eq!(files[0].0, "balena-wifi-01");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Configuration {
    config: Map<String, Value>,
    networks: Vec<NetworkEntry>,
    partition_hint: Option<ConfigPartition>,
}

impl Configuration {
    /// Builds a configuration from a config object, extracting and
    /// validating the network keys.
    pub fn new(mut config: Map<String, Value>) -> Result<Self> {
        let mut top = Map::new();
        for k in [
            "wifiSsid",
            "wifiKey",
            "ip",
            "netmask",
            "gateway",
            "routeMetric",
        ] {
            if let Some(v) = config.shift_remove(k) {
                top.insert(k.to_string(), v);
            }
        }
        let mut networks = Vec::new();
        let first = NetworkEntry::from_object(&top, "")?;
        if !first.is_empty() {
            networks.push(first);
        } else if first.static_ip.is_some() || first.route_metric.is_some() {
            return Err(Error::config("ip", "static IP settings need a wifiSsid"));
        }
        match config.shift_remove("network") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for (i, item) in list.iter().enumerate() {
                    let m = item.as_object().ok_or_else(|| {
                        Error::config(&format!("network[{i}]"), "must be an object")
                    })?;
                    let e = NetworkEntry::from_object(m, &format!("network[{i}]."))?;
                    if !e.is_empty() {
                        networks.push(e);
                    }
                }
            }
            Some(_) => return Err(Error::config("network", "must be an array")),
        }
        Ok(Configuration {
            config,
            networks,
            partition_hint: None,
        })
    }

    /// Parses a JSON object and calls [`Configuration::new`].
    pub fn from_json_str(json: &str) -> Result<Self> {
        match serde_json::from_str::<Value>(json)? {
            Value::Object(m) => Self::new(m),
            _ => Err(Error::config("config", "must be a JSON object")),
        }
    }

    /// Adds a wifi network (validated).
    pub fn with_wifi(mut self, ssid: &str, key: Option<&str>) -> Result<Self> {
        self.networks.push(NetworkEntry::wifi(ssid, key)?);
        Ok(self)
    }

    /// Adds any network entry (validated).
    pub fn with_network(mut self, entry: NetworkEntry) -> Result<Self> {
        entry.validate()?;
        if entry.is_empty() {
            return Err(Error::config(
                "network",
                "entry has neither wifiSsid nor configuration",
            ));
        }
        self.networks.push(entry);
        Ok(self)
    }

    /// Sets the device type's `configuration.config.partition`, used only
    /// when no partition is labelled as a boot partition and none holds
    /// `/device-type.json`.
    pub fn with_partition_hint(mut self, hint: ConfigPartition) -> Self {
        self.partition_hint = Some(hint);
        self
    }

    /// The partition hint, if any.
    pub fn partition_hint(&self) -> Option<ConfigPartition> {
        self.partition_hint
    }

    /// The config object without network keys.
    pub fn config(&self) -> &Map<String, Value> {
        &self.config
    }

    /// The network entries, top-level one first.
    pub fn networks(&self) -> &[NetworkEntry] {
        &self.networks
    }

    /// The exact bytes written to `/config.json` (compact JSON).
    pub fn config_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.config).unwrap_or_default()
    }

    /// The files written under `/system-connections/`, as (name, bytes):
    /// `connection-NN` for raw keyfiles and `balena-wifi-NN` for wifi
    /// networks, each numbered from 01.
    pub fn network_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut raw_n = 0;
        let mut wifi_n = 0;
        for e in &self.networks {
            if let Some(c) = &e.configuration {
                raw_n += 1;
                out.push((format!("connection-{raw_n:02}"), c.as_bytes().to_vec()));
            }
            if let Some(ssid) = &e.wifi_ssid {
                wifi_n += 1;
                let id = format!("balena-wifi-{wifi_n:02}");
                out.push((id.clone(), wifi_keyfile(&id, ssid, e).into_bytes()));
            }
        }
        out
    }
}

fn wifi_keyfile(id: &str, ssid: &str, e: &NetworkEntry) -> String {
    let mut s = format!(
        "[connection]\nid={id}\ntype=wifi\n\n[wifi]\nhidden=true\nmode=infrastructure\nssid={ssid}\n\n[ipv4]\n"
    );
    if let Some(m) = e.route_metric {
        s.push_str(&format!("route-metric={m}\n"));
    }
    match &e.static_ip {
        Some(ip) => s.push_str(&format!(
            "method=manual\naddress1={}/{},{}\n",
            ip.address, ip.prefix, ip.gateway
        )),
        None => s.push_str("method=auto\n"),
    }
    s.push_str("\n[ipv6]\naddr-gen-mode=stable-privacy\nmethod=auto");
    if let Some(k) = &e.wifi_key {
        s.push_str(&format!(
            "\n\n[wifi-security]\nauth-alg=open\nkey-mgmt=wpa-psk\npsk={k}"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wifi_keyfile_format() {
        let cfg = Configuration::from_json_str(
            r#"{"a":1,"wifiSsid":"net","wifiKey":"12345678","ip":"10.0.0.5","netmask":"255.255.255.0","gateway":"10.0.0.1","routeMetric":"7"}"#,
        )
        .unwrap();
        let f = cfg.network_files();
        assert_eq!(f.len(), 1);
        assert_eq!(
            String::from_utf8(f[0].1.clone()).unwrap(),
            "[connection]\nid=balena-wifi-01\ntype=wifi\n\n[wifi]\nhidden=true\nmode=infrastructure\nssid=net\n\n[ipv4]\nroute-metric=7\nmethod=manual\naddress1=10.0.0.5/24,10.0.0.1\n\n[ipv6]\naddr-gen-mode=stable-privacy\nmethod=auto\n\n[wifi-security]\nauth-alg=open\nkey-mgmt=wpa-psk\npsk=12345678"
        );
        assert_eq!(cfg.config_json(), br#"{"a":1}"#);
    }

    #[test]
    fn network_array_numbering() {
        let cfg = Configuration::from_json_str(
            r#"{"network":[{"configuration":"[connection]\nid=x"},{"wifiSsid":"a"},{"wifiSsid":"b","configuration":"y"}]}"#,
        )
        .unwrap();
        let names: Vec<String> = cfg.network_files().into_iter().map(|f| f.0).collect();
        assert_eq!(
            names,
            [
                "connection-01",
                "balena-wifi-01",
                "connection-02",
                "balena-wifi-02"
            ]
        );
    }

    #[test]
    fn validation() {
        assert!(Configuration::from_json_str(r#"{"wifiSsid":"a","wifiKey":"short"}"#).is_err());
        assert!(Configuration::from_json_str(r#"{"wifiKey":"longenough"}"#).is_err());
        assert!(Configuration::from_json_str(r#"{"wifiSsid":"a\nb"}"#).is_err());
        assert!(Configuration::from_json_str(r#"{"wifiSsid":"a","ip":"1.2.3.4"}"#).is_err());
        assert!(
            Configuration::from_json_str(
                r#"{"wifiSsid":"a","ip":"1.2.3.400","netmask":"24","gateway":"1.2.3.1"}"#
            )
            .is_err()
        );
        assert!(Configuration::from_json_str("[1]").is_err());
        assert!(Configuration::from_json_str(r#"{"network":{}}"#).is_err());
        assert_eq!(parse_prefix("n", "255.255.255.255").unwrap(), 32);
        assert_eq!(parse_prefix("n", "0.0.0.0").unwrap(), 0);
    }
}
