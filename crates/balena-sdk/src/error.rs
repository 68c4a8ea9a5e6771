//! The SDK's error type.
//!
//! Every variant carries the context a user needs to act on it: which request
//! or argument was involved and what went wrong. Each variant also names the
//! JavaScript SDK error it corresponds to ([`Error::upstream_name`]) so code
//! ported from `balena-sdk` can map its `catch` blocks one to one.
//!
//! Underlying errors (HTTP client, host-OS update rules, pine options, I/O)
//! are returned by [`std::error::Error::source`] and are **not** repeated in
//! the variant's own message, as the Rust API guidelines ask. Print the
//! whole chain to show every cause once, e.g. with `anyhow`'s `{:#}` or by
//! walking `source()`:
//!
//! ```
//! use std::error::Error as _;
//! let e = balena_sdk::Error::Io {
//!     action: "writing",
//!     path: "balena.img".into(),
//!     source: std::io::Error::other("disk full"),
//! };
//! assert_eq!(e.to_string(), "writing balena.img");
//! assert_eq!(e.source().map(|s| s.to_string()).as_deref(), Some("disk full"));
//! ```

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
    /// The HTTP client's error (timeout, refused connection, …) is the
    /// [`source`](std::error::Error::source).
    #[error("{request}: the connection or transfer failed")]
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
    /// The rule that refuses it is the [`source`](std::error::Error::source)
    /// (its message is the JS error's `message`).
    #[error("host OS update of {device_type} from {current} to {target} is not possible")]
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

    /// Invalid pine (OData) options; what is wrong is the
    /// [`source`](std::error::Error::source).
    #[error("invalid pine options")]
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

    /// A local file operation failed; the I/O error is the
    /// [`source`](std::error::Error::source).
    #[error("{action} {}", path.display())]
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

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// Every level's message, outermost first.
    fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut cur = e.source();
        while let Some(s) = cur {
            out.push(s.to_string());
            cur = s.source();
        }
        out
    }

    /// No level repeats the text of the level below it, so printing the
    /// chain shows each cause once.
    fn assert_causes_once(e: &Error) {
        let levels = chain(e);
        for pair in levels.windows(2) {
            assert!(
                pair[1].is_empty() || !pair[0].contains(&pair[1]),
                "{:?} repeats its source {:?}",
                pair[0],
                pair[1]
            );
        }
    }

    fn every_variant() -> Vec<Error> {
        let reqwest_error = reqwest::Client::builder()
            .build()
            .expect("HTTP client")
            .get("not a url")
            .build()
            .expect_err("a builder error");
        let hup =
            balena_hup::get_os_update_type("raspberrypi3", "2.88.4+rev1.prod", "2.80.3+rev1.prod")
                .expect_err("a downgrade");
        let pine = balena_pine::ODataOptions::from_json(&serde_json::json!({"$nope": 1}))
            .expect_err("an unknown option");
        let io = std::fs::File::open("/nonexistent/balena-sdk-error-test").expect_err("no file");
        vec![
            Error::InvalidParameter {
                name: "device_type",
                value: "".into(),
                reason: "must not be empty".into(),
            },
            Error::MissingParameter {
                name: "version",
                reason: "needed by get_config",
            },
            Error::InvalidVersion {
                version: "x".into(),
                reason: "not a version",
            },
            Error::InvalidDeviceType {
                device_type: "toaster".into(),
            },
            Error::ApplicationNotFound {
                application: "a/b".into(),
            },
            Error::AmbiguousApplication {
                application: "b".into(),
            },
            Error::OsImageNotFound {
                device_type: "raspberrypi3".into(),
                version: "1.0.0".into(),
                image_type: Some("raw".into()),
            },
            Error::Unauthorized {
                request: "GET /v7/application".into(),
            },
            Error::ExpiredToken { expired_at: 1 },
            Error::RequestFailed {
                request: "POST /download-config".into(),
                status: 400,
                message: "bad".into(),
                body: None,
            },
            Error::Transport {
                request: "GET /v7/device_type".into(),
                source: reqwest_error,
            },
            Error::Decode {
                request: "GET /v7/release".into(),
                path: "d[0].id".into(),
                message: "expected a number".into(),
            },
            Error::UnexpectedResponse {
                request: "GET /v7/release".into(),
                reason: "no d".into(),
            },
            Error::OsUpdate {
                device_type: "raspberrypi3".into(),
                current: "2.88.4+rev1.prod".into(),
                target: "2.80.3+rev1.prod".into(),
                source: hup,
            },
            Error::PineOptions { source: pine },
            Error::Integrity {
                what: "GET /download".into(),
                reason: "short".into(),
            },
            Error::Io {
                action: "writing",
                path: "/nonexistent/balena-sdk-error-test".into(),
                source: io,
            },
            Error::Configuration("API URL \"x\" is not a URL".into()),
        ]
    }

    #[test]
    fn every_cause_is_printed_once() {
        for e in every_variant() {
            assert_causes_once(&e);
            // The full chain, as the CLI prints it, holds each level once.
            let levels = chain(&e);
            let full = format!("{:#}", anyhow::Error::from(e));
            assert_eq!(full, levels.join(": "));
            for level in levels.iter().filter(|l| !l.is_empty()) {
                assert_eq!(
                    full.matches(level.as_str()).count(),
                    1,
                    "{level:?} in {full:?}"
                );
            }
        }
    }

    #[test]
    fn sources_are_returned_not_printed() {
        let variants = every_variant();
        let with_source: Vec<&Error> = variants.iter().filter(|e| e.source().is_some()).collect();
        // Transport, OsUpdate, PineOptions and Io carry a source.
        assert_eq!(with_source.len(), 4);
        let update = variants
            .iter()
            .find(|e| matches!(e, Error::OsUpdate { .. }))
            .expect("an update error");
        assert_eq!(
            update.to_string(),
            "host OS update of raspberrypi3 from 2.88.4+rev1.prod to 2.80.3+rev1.prod is not possible"
        );
        assert_eq!(
            update.source().map(|s| s.to_string()).as_deref(),
            Some("OS downgrades are not allowed")
        );
    }
}
