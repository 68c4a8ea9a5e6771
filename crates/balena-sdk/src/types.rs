//! Small value types that keep bad states out of requests.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::{Error, Result};

/// Longest device type, application or version string accepted.
pub const MAX_ARGUMENT_LEN: usize = 1024;

/// Checks a free-form string argument: non-empty, not only whitespace, no
/// control characters, at most [`MAX_ARGUMENT_LEN`] bytes.
pub(crate) fn check_text(name: &'static str, value: &str) -> Result<()> {
    let reason = if value.trim().is_empty() {
        Some("it is empty".to_owned())
    } else if value.len() > MAX_ARGUMENT_LEN {
        Some(format!("it is longer than {MAX_ARGUMENT_LEN} bytes"))
    } else if value.chars().any(char::is_control) {
        Some("it contains control characters".to_owned())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidParameter {
            name,
            value: value.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// A device type slug or alias as given by a caller (`raspberrypi3`,
/// `rpi3`, `intel-nuc`). It is checked for shape only (non-empty, no control
/// characters, bounded length); whether it exists is the API's business.
///
/// ```
/// use balena_sdk::DeviceTypeSlug;
/// assert!(DeviceTypeSlug::new("raspberrypi3").is_ok());
/// assert!(DeviceTypeSlug::new("").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceTypeSlug(String);

impl DeviceTypeSlug {
    /// Validates and wraps a device type slug or alias.
    pub fn new(slug: impl Into<String>) -> Result<Self> {
        let slug = slug.into();
        check_text("device_type", &slug)?;
        Ok(DeviceTypeSlug(slug))
    }

    /// The slug as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceTypeSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DeviceTypeSlug {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A host OS release policy (`release-policy` host-app tag; `default` when
/// the tag is absent). Compared exactly like the official SDK does, so an
/// `ESR` tag is [`OsType::Other`], not [`OsType::Esr`].
///
/// ```
/// use balena_sdk::OsType;
/// assert_eq!("esr".parse::<OsType>().unwrap(), OsType::Esr);
/// assert_eq!(OsType::Default.as_str(), "default");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OsType {
    /// The normal release line.
    Default,
    /// Extended support releases.
    Esr,
    /// Any other policy tag, verbatim.
    Other(String),
}

impl OsType {
    /// The tag value.
    pub fn as_str(&self) -> &str {
        match self {
            OsType::Default => "default",
            OsType::Esr => "esr",
            OsType::Other(s) => s,
        }
    }

    pub(crate) fn from_tag(s: &str) -> Self {
        match s {
            "default" => OsType::Default,
            "esr" => OsType::Esr,
            other => OsType::Other(other.to_owned()),
        }
    }
}

impl FromStr for OsType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        check_text("os_type", s)?;
        Ok(OsType::from_tag(s))
    }
}

impl fmt::Display for OsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OsType {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OsType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(OsType::from_tag(&s))
    }
}

/// The support line of a release (`OsVersion::line`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OsLine {
    /// The next ESR line (or phase `next`).
    Next,
    /// The current line.
    Current,
    /// The line being phased out.
    Sunset,
    /// Out of support (phase `end-of-life`, or an ESR release outside every line).
    Outdated,
    /// Any other release phase, verbatim.
    Other(String),
}

impl OsLine {
    /// The value as the JS SDK reports it.
    pub fn as_str(&self) -> &str {
        match self {
            OsLine::Next => "next",
            OsLine::Current => "current",
            OsLine::Sunset => "sunset",
            OsLine::Outdated => "outdated",
            OsLine::Other(s) => s,
        }
    }

    pub(crate) fn from_phase(s: &str) -> Self {
        match s {
            "next" => OsLine::Next,
            "current" => OsLine::Current,
            "sunset" => OsLine::Sunset,
            "outdated" => OsLine::Outdated,
            other => OsLine::Other(other.to_owned()),
        }
    }
}

impl Serialize for OsLine {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OsLine {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(OsLine::from_phase(&s))
    }
}

/// The container format of a downloaded image (`fileType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FileType {
    /// A raw disk image (`.img`, the server's default).
    #[default]
    Img,
    /// A zip archive holding the image (`.zip`).
    Zip,
    /// A gzip-compressed image (`.gz`).
    Gz,
}

impl FileType {
    /// The value sent as `fileType` (with its leading dot, as the API expects).
    pub fn as_str(self) -> &'static str {
        match self {
            FileType::Img => ".img",
            FileType::Zip => ".zip",
            FileType::Gz => ".gz",
        }
    }
}

impl FromStr for FileType {
    type Err = Error;
    /// Accepts `.img`/`img`, `.zip`/`zip`, `.gz`/`gz`.
    fn from_str(s: &str) -> Result<Self> {
        match s.strip_prefix('.').unwrap_or(s) {
            "img" => Ok(FileType::Img),
            "zip" => Ok(FileType::Zip),
            "gz" => Ok(FileType::Gz),
            _ => Err(Error::InvalidParameter {
                name: "file_type",
                value: s.to_owned(),
                reason: "expected .img, .zip or .gz".into(),
            }),
        }
    }
}

/// Which image of a device type to download (`imageType`): flasher device
/// types publish both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageType {
    /// The image that is written directly to the boot media.
    Raw,
    /// The installer image that flashes the internal storage.
    Flasher,
}

impl ImageType {
    /// The value sent as `imageType`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageType::Raw => "raw",
            ImageType::Flasher => "flasher",
        }
    }
}

impl FromStr for ImageType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "raw" => Ok(ImageType::Raw),
            "flasher" => Ok(ImageType::Flasher),
            _ => Err(Error::InvalidParameter {
                name: "image_type",
                value: s.to_owned(),
                reason: "expected raw or flasher".into(),
            }),
        }
    }
}

/// Network settings baked into a config.json or image.
///
/// ```
/// use balena_sdk::Network;
/// let n = Network::wifi("My Wifi", Some("secret"));
/// assert_eq!(n.kind(), "wifi");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Network {
    /// Wired networking (the default).
    #[default]
    Ethernet,
    /// Wireless networking.
    Wifi {
        /// The network name. The API accepts a wifi network without one.
        ssid: Option<String>,
        /// The passphrase, for protected networks.
        key: Option<String>,
    },
}

impl Network {
    /// Wifi with an SSID and optional passphrase.
    pub fn wifi(ssid: impl Into<String>, key: Option<&str>) -> Self {
        Network::Wifi {
            ssid: Some(ssid.into()),
            key: key.map(str::to_owned),
        }
    }

    /// `ethernet` or `wifi`, as sent in `network`.
    pub fn kind(&self) -> &'static str {
        match self {
            Network::Ethernet => "ethernet",
            Network::Wifi { .. } => "wifi",
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if let Network::Wifi { ssid, key } = self {
            if let Some(s) = ssid {
                check_text("wifi_ssid", s)?;
            }
            if let Some(k) = key
                && k.chars().any(char::is_control)
            {
                return Err(Error::InvalidParameter {
                    name: "wifi_key",
                    value: "<redacted>".into(),
                    reason: "it contains control characters".into(),
                });
            }
        }
        Ok(())
    }
}

/// Pine (OData) options as the JS SDK takes them (`{"$select": …,
/// "$filter": …}`), validated when constructed so bad options fail before
/// any request is made.
///
/// ```
/// use balena_sdk::PineOptions;
/// let o = PineOptions::from_json(serde_json::json!({"$filter": {"is_final": true}})).unwrap();
/// assert!(!o.is_empty());
/// assert!(PineOptions::from_json(serde_json::json!([1])).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PineOptions(serde_json::Map<String, Value>);

impl PineOptions {
    /// No options (`{}`).
    pub fn new() -> Self {
        PineOptions::default()
    }

    /// Validates a JSON options object.
    pub fn from_json(value: Value) -> Result<Self> {
        if value.is_object() {
            balena_pine::ODataOptions::from_json(&value)
                .map_err(|source| Error::PineOptions { source })?;
        }
        match value {
            Value::Object(map) => Ok(PineOptions(map)),
            other => Err(Error::InvalidParameter {
                name: "options",
                value: other.to_string(),
                reason: "pine options must be a JSON object".into(),
            }),
        }
    }

    /// Adds `$select` fields.
    pub fn select<I, S>(self, fields: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list: Vec<Value> = fields
            .into_iter()
            .map(|f| Value::String(f.into()))
            .collect();
        self.with("$select", Value::Array(list))
    }

    /// Sets `$filter` (a pine filter object).
    pub fn filter(self, filter: Value) -> Result<Self> {
        self.with("$filter", filter)
    }

    /// Sets `$expand`.
    pub fn expand(self, expand: Value) -> Result<Self> {
        self.with("$expand", expand)
    }

    /// Sets `$orderby` (e.g. `{"created_at": "desc"}` or `"created_at desc"`).
    pub fn orderby(self, orderby: Value) -> Result<Self> {
        self.with("$orderby", orderby)
    }

    /// Sets `$top`.
    pub fn top(self, n: u64) -> Result<Self> {
        self.with("$top", Value::from(n))
    }

    /// Sets `$skip`.
    pub fn skip(self, n: u64) -> Result<Self> {
        self.with("$skip", Value::from(n))
    }

    fn with(mut self, key: &str, value: Value) -> Result<Self> {
        self.0.insert(key.to_owned(), value);
        PineOptions::from_json(Value::Object(self.0))
    }

    /// True for `{}`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The options as JSON.
    pub fn to_json(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_checked() {
        assert!(DeviceTypeSlug::new("it's a/b c").is_ok());
        assert!(DeviceTypeSlug::new(" ").is_err());
        assert!(DeviceTypeSlug::new("a\nb").is_err());
        assert!(DeviceTypeSlug::new("x".repeat(2000)).is_err());
    }

    #[test]
    fn file_and_image_types() {
        assert_eq!(".zip".parse::<FileType>().unwrap(), FileType::Zip);
        assert_eq!("gz".parse::<FileType>().unwrap(), FileType::Gz);
        assert!(".tar".parse::<FileType>().is_err());
        assert_eq!("flasher".parse::<ImageType>().unwrap(), ImageType::Flasher);
        assert!("Raw".parse::<ImageType>().is_err());
    }

    #[test]
    fn os_type_is_exact() {
        assert_eq!(OsType::from_tag("ESR"), OsType::Other("ESR".into()));
        assert_eq!(serde_json::to_value(OsType::Esr).unwrap(), "esr");
    }
}
