//! The image endpoints' options of `balena-os serve`, and
//! `balena-os admin import-image`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use balena_os_server::catalog::Catalog;
use balena_os_server::catalog::import::BucketSource;
use balena_os_server::images::import::{ImportRequest, import};
use balena_os_server::images::store::ImageStore;
use balena_os_server::images::{Endpoints, ImageType, ImagesConfig};
use clap::Args;

/// Where OS images are and what config.json files say (`serve`).
#[derive(Debug, Clone, Args)]
pub struct ImageServerArgs {
    /// Where OS images are: a folder in balena's image-bucket layout
    /// (`<slug>/<buildId>/image.json`, `compressed/…`), or
    /// s3://BUCKET/PREFIX (settings from the AWS_* environment variables).
    /// Default: `<data>/images`.
    #[arg(long = "images", env = "BALENA_OS_IMAGES", value_name = "DIR|S3_URL")]
    pub images: Option<String>,
    /// `apiEndpoint` written into config.json (default: the URL the request
    /// was sent to).
    #[arg(long, env = "BALENA_OS_API_ENDPOINT", value_name = "URL")]
    pub api_endpoint: Option<String>,
    /// `vpnEndpoint` written into config.json (default: `vpn.<domain>` for
    /// an API at `api.<domain>`, else `vpn.invalid`).
    #[arg(long, env = "BALENA_OS_VPN_ENDPOINT", value_name = "HOST")]
    pub vpn_endpoint: Option<String>,
    /// `registryEndpoint` written into config.json (default like
    /// `--vpn-endpoint`, `registry2.<domain>`).
    #[arg(long, env = "BALENA_OS_REGISTRY_ENDPOINT", value_name = "HOST")]
    pub registry_endpoint: Option<String>,
    /// `deltaEndpoint` written into config.json (default like
    /// `--vpn-endpoint`, `https://delta.<domain>`).
    #[arg(long, env = "BALENA_OS_DELTA_ENDPOINT", value_name = "URL")]
    pub delta_endpoint: Option<String>,
    /// `logsEndpoint` written into config.json (omitted by default).
    #[arg(long, env = "BALENA_OS_LOGS_ENDPOINT", value_name = "URL")]
    pub logs_endpoint: Option<String>,
    /// `vpnPort` written into config.json.
    #[arg(long, env = "BALENA_OS_VPN_PORT", default_value_t = 443)]
    pub vpn_port: u16,
    /// `mixpanelToken` written into config.json (omitted by default).
    #[arg(long, env = "BALENA_OS_MIXPANEL_TOKEN")]
    pub mixpanel_token: Option<String>,
    /// A PEM file whose base64 is written into config.json as
    /// `balenaRootCA`.
    #[arg(long, env = "BALENA_OS_ROOT_CA", value_name = "PEM_FILE")]
    pub root_ca: Option<PathBuf>,
    /// Downloads served at once; more are answered 503.
    #[arg(long, env = "BALENA_OS_MAX_DOWNLOADS", default_value_t = balena_os_server::images::DEFAULT_MAX_DOWNLOADS)]
    pub max_downloads: usize,
    /// The secret configured downloads derive their provisioning keys from
    /// (default: `<data>/images-secret`, made on first start). Servers
    /// sharing a database must share it.
    #[arg(long, env = "BALENA_OS_IMAGES_SECRET", hide_env_values = true)]
    pub images_secret: Option<String>,
}

fn source(spec: &str) -> anyhow::Result<BucketSource> {
    BucketSource::parse(spec).with_context(|| format!("--images {spec}"))
}

impl ImageServerArgs {
    /// The image endpoints' settings.
    pub fn config(&self) -> anyhow::Result<ImagesConfig> {
        let root_ca_pem = match &self.root_ca {
            Some(p) => Some(
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            ),
            None => None,
        };
        Ok(ImagesConfig {
            store: self.images.as_deref().map(source).transpose()?,
            endpoints: Endpoints {
                api: self.api_endpoint.clone(),
                vpn: self.vpn_endpoint.clone(),
                registry: self.registry_endpoint.clone(),
                delta: self.delta_endpoint.clone(),
                logs: self.logs_endpoint.clone(),
                vpn_port: self.vpn_port,
                mixpanel_token: self.mixpanel_token.clone(),
                root_ca_pem,
            },
            max_downloads: Some(self.max_downloads),
            inflate_threads: None,
            key_secret: self.images_secret.clone(),
            warm_demo: true,
        })
    }
}

/// Arguments of `balena-os admin import-image`.
#[derive(Debug, Clone, Args)]
pub struct ImportImageArgs {
    /// The image file: a raw `.img`, an `.img.gz` or a `.zip` holding the
    /// image.
    pub image: PathBuf,
    /// Device type slug or alias. An unknown one is created from the image's
    /// device-type.json.
    #[arg(long)]
    pub device_type: String,
    /// The balenaOS version, e.g. 6.0.13 or 2.19.0+rev1.prod.
    #[arg(long)]
    pub version: String,
    /// Import the flasher or raw variant instead of the default image.
    #[arg(long, value_parser = ["flasher", "raw"])]
    pub image_type: Option<String>,
    /// A device-type.json to store instead of the image's own.
    #[arg(long, value_name = "FILE")]
    pub device_type_json: Option<PathBuf>,
    /// Replace an image imported before.
    #[arg(long)]
    pub force: bool,
    /// The image store (default `<data>/images`); a folder or
    /// s3://BUCKET/PREFIX.
    #[arg(long = "images", env = "BALENA_OS_IMAGES", value_name = "DIR|S3_URL")]
    pub images: Option<String>,
}

/// Imports an image and creates its release; prints what was done as JSON.
pub async fn import_image(
    catalog: &Catalog,
    data_dir: Option<&Path>,
    args: &ImportImageArgs,
) -> anyhow::Result<()> {
    let store = match (&args.images, data_dir) {
        (Some(spec), _) => ImageStore::from_source(&source(spec)?)?,
        (None, Some(data)) => ImageStore::local(balena_os_server::images::default_store_dir(data)),
        (None, None) => anyhow::bail!("give the image store with --images"),
    };
    let request = ImportRequest {
        input: args.image.clone(),
        device_type: args.device_type.clone(),
        version: args.version.clone(),
        image_type: match args.image_type.as_deref() {
            Some("flasher") => Some(ImageType::Flasher),
            Some("raw") => Some(ImageType::Raw),
            _ => None,
        },
        device_type_json: args.device_type_json.clone(),
        force: args.force,
    };
    let report = import(catalog, &store, &request)
        .await
        .with_context(|| format!("importing {}", args.image.display()))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
