//! The SDK's error type.
//!
//! Every variant carries the context a user needs to act on it: which request
//! or argument was involved and what went wrong. Each variant also names the
//! JavaScript SDK error it corresponds to ([`Error::upstream_name`]) so code
//! ported from `balena-sdk` can map its `catch` blocks one to one.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when calling the balena API through this SDK.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument was rejected before any request was sent
    /// (JS: `BalenaInvalidParameterError`).
    #[error("invalid parameter `{name}`: {value:?} is not a valid value ({reason})")]
    InvalidParameter {
        /// The parameter's name (Rust spelling, e.g. `current_version`).
        name: &'static str,
        /// The value that was supplied.
        value: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A required argument was missing or empty (JS: a plain `Error`, e.g.
    /// "An OS version is required when calling os.getConfig").
    #[error("missing parameter `{name}`: {reason}")]
    MissingParameter {
        /// The parameter's name.
        name: &'static str,
        /// What needs it.
        reason: &'static str,
    },

    /// A version string that the method cannot use (JS: plain `Error`
    /// "Invalid version: …" / "Invalid semver version: …").
    #[error("invalid version {version:?}: {reason}")]
    InvalidVersion {
        /// The version as supplied by the caller.
        version: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// No device type or alias matches the input (JS: `BalenaInvalidDeviceType`).
    #[error("invalid device type: no device type or alias is called {device_type:?}")]
    InvalidDeviceType {
        /// The device type as supplied by the caller.
        device_type: String,
    },

    /// No application has this id, slug or uuid (JS: `BalenaApplicationNotFound`).
    #[error("application not found: no application matches {application}")]
    ApplicationNotFound {
        /// The application as supplied (an id, slug or uuid).
        application: String,
    },

    /// More than one application matches a slug/uuid (JS: `BalenaAmbiguousApplication`).
    #[error("application is ambiguous: more than one application matches {application}")]
    AmbiguousApplication {
        /// The application as supplied.
        application: String,
    },

    /// The image server has no image for this combination (JS: `OSImageNotFound`):
    /// `download` answered 404, `latest` has no default-line release, or the
    /// download-size endpoint answered 404.
    #[error("no OS image found for device type {device_type}, version {version}{}", image_type.as_ref().map(|t| format!(", and image type {t}")).unwrap_or_default())]
    OsImageNotFound {
        /// The device type as supplied by the caller.
        device_type: String,
        /// The version that was asked for (`latest` when none could be resolved).
        version: String,
        /// The image type, when one was asked for.
        image_type: Option<String>,
    },

    /// The API answered 401 to a request sent without credentials
    /// (JS: `BalenaNotLoggedIn`, "You have to log in").
    #[error(
        "not logged in: {request} needs credentials (the API answered 401 and no API key or session token is configured)"
    )]
    Unauthorized {
        /// The request, as `METHOD /path`.
        request: String,
    },

    /// A session token (JWT) has already expired (JS: `BalenaExpiredToken`).
    #[error("the session token expired at {expired_at} (unix time); log in again")]
    ExpiredToken {
        /// The token's `exp` claim.
        expired_at: u64,
    },

    /// The API answered with an HTTP error status (JS: `BalenaRequestError`).
    #[error("{request} failed with HTTP {status}: {message}")]
    RequestFailed {
        /// The request, as `METHOD /path`.
        request: String,
        /// The HTTP status code.
        status: u16,
        /// The message extracted from the body (see [`crate::request::error_message`]).
        message: String,
        /// The parsed JSON body, when the body was JSON.
        body: Option<serde_json::Value>,
    },

    /// The request could not be sent or its response could not be read.
    #[error("{request}: {source}")]
    Transport {
        /// The request, as `METHOD /path`.
        request: String,
        /// The underlying HTTP client error.
        #[source]
        source: reqwest::Error,
    },

    /// A response body did not have the expected shape.
    #[error("{request}: could not decode the response at `{path}`: {message}")]
    Decode {
        /// The request, as `METHOD /path`.
        request: String,
        /// Where in the JSON document decoding failed.
        path: String,
        /// What was wrong there.
        message: String,
    },

    /// A successful response that the SDK cannot use (not JSON, no `d`
    /// property, several rows where one was expected).
    #[error("{request}: unexpected response: {reason}")]
    UnexpectedResponse {
        /// The request, as `METHOD /path`.
        request: String,
        /// What was wrong.
        reason: String,
    },

    /// The host-OS update rules refuse an update (JS: `HUPActionError`).
    #[error("host OS update of {device_type} from {current} to {target} is not possible: {source}")]
    OsUpdate {
        /// The normalised device type slug.
        device_type: String,
        /// The current version.
        current: String,
        /// The target version.
        target: String,
        /// The rule that failed.
        #[source]
        source: balena_hup::HupError,
    },

    /// Invalid pine (OData) options.
    #[error("invalid pine options: {source}")]
    PineOptions {
        /// The pine crate's error.
        #[source]
        source: balena_pine::OptionsError,
    },

    /// A downloaded body failed an integrity check (short body, bad gzip
    /// trailer, broken zip central directory). Nothing is left on disk.
    #[error("download of {what} is corrupt: {reason}")]
    Integrity {
        /// What was being downloaded.
        what: String,
        /// What check failed.
        reason: String,
    },

    /// A local file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (e.g. "writing").
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The client configuration is unusable (bad URL, unreadable token file, …).
    #[error("invalid client configuration: {0}")]
    Configuration(String),
}

impl Error {
    /// The name of the JavaScript SDK error class that corresponds to this
    /// error (`"Error"` for the plain errors upstream throws without a class).
    ///
    /// ```
    /// let e = balena_sdk::Error::InvalidDeviceType { device_type: "x".into() };
    /// assert_eq!(e.upstream_name(), "BalenaInvalidDeviceType");
    /// ```
    pub fn upstream_name(&self) -> &'static str {
        match self {
            Error::InvalidParameter { .. } => "BalenaInvalidParameterError",
            Error::InvalidDeviceType { .. } => "BalenaInvalidDeviceType",
            Error::ApplicationNotFound { .. } => "BalenaApplicationNotFound",
            Error::AmbiguousApplication { .. } => "BalenaAmbiguousApplication",
            Error::OsImageNotFound { .. } => "OSImageNotFound",
            Error::Unauthorized { .. } => "BalenaNotLoggedIn",
            Error::ExpiredToken { .. } => "BalenaExpiredToken",
            Error::RequestFailed { .. } => "BalenaRequestError",
            Error::OsUpdate { .. } => "HUPActionError",
            _ => "Error",
        }
    }

    /// The HTTP status code, for errors that came from an HTTP response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::RequestFailed { status, .. } => Some(*status),
            Error::Unauthorized { .. } => Some(401),
            Error::OsImageNotFound { .. } => None,
            Error::Transport { source, .. } => source.status().map(|s| s.as_u16()),
            _ => None,
        }
    }
}
