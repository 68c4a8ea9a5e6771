//! An async Rust client for balena's API and its OS model: list balenaOS
//! versions for device types, pick versions, download images, generate a
//! fleet's `config.json`, report download sizes and decide which host-OS
//! updates are allowed. It sends the same requests as the official
//! JavaScript SDK (`balena-sdk@23.2.15`, `balena.models.os`) and returns the
//! same answers, minus a few upstream bugs listed in `docs/compatibility.md`.
//!
//! # Authenticate
//!
//! ```no_run
//! use balena_sdk::Balena;
//! # fn demo() -> Result<(), balena_sdk::Error> {
//! // An API key (or a session token: both go in `Authorization: Bearer`).
//! let balena = Balena::builder().api_key("my-api-key").build()?;
//! // Or: BALENA_API_URL / BALENA_API_KEY, else the balena CLI's ~/.balena/token.
//! let balena = Balena::from_env()?;
//! // Public data (device types, OS versions) needs no credentials at all.
//! let anonymous = Balena::builder().build()?;
//! # Ok(()) }
//! ```
//!
//! Proxies named by `HTTPS_PROXY`/`HTTP_PROXY` are used (with `NO_PROXY`
//! exclusions); requests time out after 59 s unless configured otherwise.
//!
//! # List versions and pick the newest supported update
//!
//! ```no_run
//! # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
//! use balena_sdk::{AvailableOsVersionsOptions, OsType, SupportedOsUpdateVersionsOptions};
//! let os = balena.os();
//! for v in os.get_available_os_versions("raspberrypi4-64", &AvailableOsVersionsOptions::new()).await? {
//!     println!("{:<24} {:<8} {:?}", v.raw_version, v.os_type, v.line);
//! }
//! // The newest 6.x of the default line:
//! let newest = os.get_max_satisfying_version("raspberrypi4-64", "^6.0.0", Some(&OsType::Default)).await?;
//! // What a device on 2.80.3+rev1.prod may update to:
//! let supported = os
//!     .get_supported_os_update_versions("raspberrypi4-64", "2.80.3+rev1.prod", &SupportedOsUpdateVersionsOptions::new())
//!     .await?;
//! println!("recommended update: {:?} (of {} allowed)", supported.recommended, supported.versions.len());
//! # Ok(()) }
//! ```
//!
//! # Download an image to a file, with progress
//!
//! ```no_run
//! # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
//! use balena_sdk::{DownloadOptions, FileType};
//! let opts = DownloadOptions::new("raspberrypi4-64").version("6.0.10+rev1").file_type(FileType::Gz);
//! let report = balena
//!     .os()
//!     .download_to_file(&opts, "balena.img.gz".as_ref(), |p| {
//!         if let Some(pct) = p.percentage {
//!             eprint!("\r{pct:5.1}% of {:?} bytes", p.total);
//!         }
//!     })
//!     .await?;
//! eprintln!("\nwrote {} bytes (resumed {} times)", report.bytes_written, report.resumes);
//! # Ok(()) }
//! ```
//!
//! The file is written next to its destination under a temporary name,
//! resumed with `Range`/`If-Range` if the connection drops, checked (length,
//! gzip CRC32/ISIZE, zip central directory) and only then renamed into place.
//! [`OsModel::download`] gives the raw byte stream instead.
//!
//! # Get a config.json
//!
//! ```no_run
//! # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
//! use balena_sdk::{ConfigOptions, Network};
//! let config = balena
//!     .os()
//!     .get_config("myorg/myfleet".into(), &ConfigOptions::new("6.0.10+rev1").network(Network::wifi("home", Some("secret"))))
//!     .await?;
//! std::fs::write("config.json", serde_json::to_vec_pretty(&config).unwrap()).unwrap();
//! # Ok(()) }
//! ```
//!
//! # Configure a local image
//!
//! [`image`] re-exports balena-image's configure API: write a config.json
//! (e.g. the one `get_config` returns) and wifi settings into a downloaded
//! `.img` in place, without the balena CLI.
//!
//! # Design
//!
//! Requests are built by pure functions ([`request`], [`models`]) and the
//! client only sends them (kube-rs style); pine queries are encoded by
//! `balena-pine` byte for byte as the JS SDK does. Version lists, slug
//! lookups and download sizes are cached for 10 minutes per client (cleared
//! when credentials change); failures are never cached.

pub mod auth;
mod cache;
pub mod client;
pub mod download;
pub mod error;
pub mod image;
pub mod models;
pub mod os;
pub mod request;
pub mod types;

pub use auth::Credentials;
pub use cache::CACHE_TTL;
pub use client::{ApiResponse, Balena, BalenaBuilder};
pub use download::{DownloadMetadata, DownloadProgress, DownloadReport, OsDownload, Verification};
pub use error::{Error, Result};
pub use models::IdOrSlug;
pub use os::OsModel;
pub use os::UpdateType;
pub use os::options::{
    AvailableOsVersionsOptions, ConfigOptions, DownloadOptions, SupervisorRelease,
    SupportedOsUpdateVersions, SupportedOsUpdateVersionsOptions,
};
pub use os::version::{OsVersion, ReleaseTag};
pub use types::{DeviceTypeSlug, FileType, ImageType, Network, OsLine, OsType, PineOptions};
