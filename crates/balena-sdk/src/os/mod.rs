//! The OS model (`client.os()`): the eleven methods of the JS SDK's
//! `balena.models.os`.

pub mod options;
pub mod queries;
pub mod version;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::client::Balena;
use crate::download::{DownloadProgress, DownloadReport, OsDownload};
use crate::error::{Error, Result};
use crate::models::IdOrSlug;
use crate::request::{check_status, decode_value};
use crate::types::{OsType, PineOptions, check_text};
use queries::ReleaseFilter;

use options::{
    AvailableOsVersionsOptions, ConfigOptions, DownloadOptions, SupervisorRelease,
    SupportedOsUpdateVersions, SupportedOsUpdateVersionsOptions,
};
use version::OsVersion;

pub use balena_hup::UpdateType;

/// Handle on the OS model; get one with [`Balena::os`].
#[derive(Debug, Clone, Copy)]
pub struct OsModel<'a> {
    client: &'a Balena,
}

fn is_cacheable(pine: Option<&PineOptions>) -> bool {
    pine.is_none_or(PineOptions::is_empty)
}

impl<'a> OsModel<'a> {
    pub(crate) fn new(client: &'a Balena) -> Self {
        OsModel { client }
    }

    /// Resolves a slug or alias to the device type's slug (cached per input).
    async fn normalized_slug(&self, device_type: &str) -> Result<String> {
        check_text("device_type", device_type)?;
        let key = device_type.to_owned();
        self.client
            .caches()
            .slugs
            .get_or_try_init(key, || async {
                let opts = PineOptions::new().select(["slug"])?;
                let row = self
                    .client
                    .device_types()
                    .get(IdOrSlug::Slug(device_type.to_owned()), Some(&opts))
                    .await?;
                match row.get("slug").and_then(Value::as_str) {
                    Some(s) => Ok(s.to_owned()),
                    None => Err(Error::Decode {
                        request: "GET /v7/device_type".into(),
                        path: "d[0].slug".into(),
                        message: "missing or not a string".into(),
                    }),
                }
            })
            .await
    }

    async fn fetch_versions(
        &self,
        device_types: &[String],
        kind: ReleaseFilter,
        pine: Option<&PineOptions>,
    ) -> Result<BTreeMap<String, Vec<OsVersion>>> {
        let req = queries::host_apps_request(device_types, kind, pine)?;
        let (resp, authenticated) = self.client.execute(&req).await?;
        version::decode_host_apps(&req, &resp, authenticated)
    }

    async fn versions_map(
        &self,
        device_types: Vec<String>,
        kind: ReleaseFilter,
        pine: Option<&PineOptions>,
        cached: bool,
    ) -> Result<BTreeMap<String, Vec<OsVersion>>> {
        for dt in &device_types {
            check_text("device_types", dt)?;
        }
        if device_types.is_empty() {
            return Err(Error::InvalidParameter {
                name: "device_types",
                value: "[]".into(),
                reason: "at least one device type is needed".into(),
            });
        }
        if !cached {
            return self.fetch_versions(&device_types, kind, pine).await;
        }
        let mut sorted = device_types;
        sorted.sort();
        let key = (sorted.clone(), kind);
        self.client
            .caches()
            .versions
            .get_or_try_init(key, || self.fetch_versions(&sorted, kind, None))
            .await
    }

    /// Every balenaOS release of a device type (drafts, invalidated and
    /// failed builds included), newest first. No alias resolution: pass the
    /// slug. Cached for 10 minutes when `options` is `None`.
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// for v in balena.os().get_all_os_versions("raspberrypi3", None).await? {
    ///     println!("{} {:?}", v.raw_version, v.line);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_all_os_versions(
        &self,
        device_type: &str,
        options: Option<&PineOptions>,
    ) -> Result<Vec<OsVersion>> {
        let mut map = self
            .versions_map(
                vec![device_type.to_owned()],
                ReleaseFilter::All,
                options,
                options.is_none(),
            )
            .await?;
        Ok(map.remove(device_type).unwrap_or_default())
    }

    /// [`Self::get_all_os_versions`] for several device types at once (one
    /// request). Device types without a host app are absent from the map.
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// let map = balena.os().get_all_os_versions_for(&["raspberrypi3", "intel-nuc"], None).await?;
    /// println!("{} device types", map.len());
    /// # Ok(()) }
    /// ```
    pub async fn get_all_os_versions_for<S: AsRef<str>>(
        &self,
        device_types: &[S],
        options: Option<&PineOptions>,
    ) -> Result<BTreeMap<String, Vec<OsVersion>>> {
        let dts = device_types.iter().map(|s| s.as_ref().to_owned()).collect();
        self.versions_map(dts, ReleaseFilter::All, options, options.is_none())
            .await
    }

    /// The final, valid, successfully built releases of a device type (plus
    /// drafts with `include_draft`), newest first. Cached for 10 minutes
    /// when no pine options (or empty ones) are given.
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// use balena_sdk::AvailableOsVersionsOptions;
    /// let versions = balena.os().get_available_os_versions("raspberrypi3", &AvailableOsVersionsOptions::new()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_available_os_versions(
        &self,
        device_type: &str,
        options: &AvailableOsVersionsOptions,
    ) -> Result<Vec<OsVersion>> {
        let mut map = self
            .get_available_os_versions_for(&[device_type], options)
            .await?;
        Ok(map.remove(device_type).unwrap_or_default())
    }

    /// [`Self::get_available_os_versions`] for several device types at once.
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// let map = balena.os().get_available_os_versions_for(&["raspberrypi3", "intel-nuc"], &Default::default()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_available_os_versions_for<S: AsRef<str>>(
        &self,
        device_types: &[S],
        options: &AvailableOsVersionsOptions,
    ) -> Result<BTreeMap<String, Vec<OsVersion>>> {
        let kind = if options.include_draft {
            ReleaseFilter::IncludeDraft
        } else {
            ReleaseFilter::Supported
        };
        let dts = device_types.iter().map(|s| s.as_ref().to_owned()).collect();
        let pine = options.pine.as_ref();
        self.versions_map(dts, kind, pine, is_cacheable(pine)).await
    }

    async fn available_for_slug(&self, slug: &str, include_draft: bool) -> Result<Vec<OsVersion>> {
        self.get_available_os_versions(
            slug,
            &AvailableOsVersionsOptions::new().include_draft(include_draft),
        )
        .await
    }

    /// The newest available version matching `version_or_range`: `latest`
    /// (the first of the list, whatever its line), an exact `raw_version`, or
    /// an npm-style range (`^2.11.0`, `~6.0.0`, `>=2024.1.0`). `None` when
    /// nothing matches. `os_type` restricts to one release policy.
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// use balena_sdk::OsType;
    /// let v = balena.os().get_max_satisfying_version("raspberrypi3", "^6.0.0", Some(&OsType::Default)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_max_satisfying_version(
        &self,
        device_type: &str,
        version_or_range: &str,
        os_type: Option<&OsType>,
    ) -> Result<Option<String>> {
        check_text("version_or_range", version_or_range)?;
        let slug = self.normalized_slug(device_type).await?;
        let versions = self.available_for_slug(&slug, false).await?;
        let raws: Vec<&str> = versions
            .iter()
            .filter(|v| os_type.is_none_or(|t| &v.os_type == t))
            .map(|v| v.raw_version.as_str())
            .collect();
        if version_or_range == "latest" {
            return Ok(raws.first().map(|s| (*s).to_owned()));
        }
        if raws.contains(&version_or_range) {
            return Ok(Some(version_or_range.to_owned()));
        }
        Ok(balena_semver::max_satisfying(&raws, version_or_range).map(|s| (*s).to_owned()))
    }

    /// The download size in bytes of an image, as reported by the API (the
    /// compressed size). The version is sent as given (`latest` works). A
    /// 404 (no such image) is [`Error::OsImageNotFound`].
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// let bytes = balena.os().get_download_size("raspberrypi3", "6.0.10+rev1").await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_download_size(&self, device_type: &str, version: &str) -> Result<u64> {
        queries::check_path_segment("version", version)?;
        let slug = self.normalized_slug(device_type).await?;
        let key = (slug.clone(), version.to_owned());
        self.client
            .caches()
            .sizes
            .get_or_try_init(key, || async {
                #[derive(Deserialize)]
                struct Size {
                    size: u64,
                }
                let req = queries::download_size_request(&slug, version)?;
                let (resp, authenticated) = self.client.execute(&req).await?;
                if resp.status == 404 {
                    return Err(Error::OsImageNotFound {
                        device_type: device_type.to_owned(),
                        version: version.to_owned(),
                        image_type: None,
                    });
                }
                let size: Size = crate::request::decode_json(&req, &resp, authenticated)?;
                Ok(size.size)
            })
            .await
    }

    /// Resolves `latest` and validates the version, returning the version to send.
    async fn resolve_download_version(
        &self,
        options: &DownloadOptions,
        slug: &str,
    ) -> Result<String> {
        match &options.version {
            Some(v) => queries::normalize_download_version(v),
            None => {
                let versions = self.available_for_slug(slug, false).await?;
                versions
                    .into_iter()
                    .find(|v| v.os_type == OsType::Default)
                    .map(|v| v.raw_version)
                    .ok_or_else(|| Error::OsImageNotFound {
                        device_type: options.device_type.clone(),
                        version: "latest".into(),
                        image_type: options.image_type.map(|t| t.as_str().to_owned()),
                    })
            }
        }
    }

    fn validate_download(options: &DownloadOptions) -> Result<()> {
        check_text("device_type", &options.device_type)?;
        if let Some(v) = &options.version {
            queries::normalize_download_version(v)?;
        }
        if let Some(n) = &options.network {
            n.validate()?;
        }
        Ok(())
    }

    /// Prepares the `/download` request: validates everything first (no
    /// request for bad arguments), then resolves the slug and the version.
    async fn prepare_download(
        &self,
        options: &DownloadOptions,
    ) -> Result<(crate::request::ApiRequest, String)> {
        Self::validate_download(options)?;
        let slug = self.normalized_slug(&options.device_type).await?;
        let version = self.resolve_download_version(options, &slug).await?;
        Ok((queries::download_request(options, &version), version))
    }

    /// Starts downloading an OS image. The returned [`OsDownload`] is a
    /// stream of the image bytes (a gzip or deflate `Content-Encoding` is
    /// decoded) with its metadata and progress.
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// use futures_util::StreamExt;
    /// use balena_sdk::DownloadOptions;
    /// let mut dl = balena.os().download(&DownloadOptions::new("raspberrypi3").version("6.0.10+rev1")).await?;
    /// while let Some(chunk) = dl.next().await {
    ///     let chunk = chunk?;
    ///     println!("{} bytes, {:?}", chunk.len(), dl.progress());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn download(&self, options: &DownloadOptions) -> Result<OsDownload> {
        let (req, version) = self.prepare_download(options).await?;
        let (resp, _) = self
            .client
            .execute_stream(&req, &[crate::download::accept_encoding()])
            .await?;
        let status = resp.status().as_u16();
        if status >= 400 {
            return Err(self.download_error(options, &version, &req, resp).await);
        }
        Ok(OsDownload::new(req.describe(), resp))
    }

    pub(crate) async fn download_error(
        &self,
        options: &DownloadOptions,
        version: &str,
        req: &crate::request::ApiRequest,
        resp: reqwest::Response,
    ) -> Error {
        let status = resp.status().as_u16();
        if status == 404 {
            return Error::OsImageNotFound {
                device_type: options.device_type.clone(),
                version: version.to_owned(),
                image_type: options.image_type.map(|t| t.as_str().to_owned()),
            };
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(source) => {
                return Error::Transport {
                    request: req.describe(),
                    source,
                };
            }
        };
        let raw = crate::request::RawResponse {
            status,
            content_type,
            body,
        };
        check_status(req, &raw, true)
            .err()
            .unwrap_or_else(|| Error::UnexpectedResponse {
                request: req.describe(),
                reason: format!("HTTP {status}"),
            })
    }

    /// Downloads an image to `path`: writes to a temporary file in the same
    /// directory, resumes an interrupted transfer with a `Range` request
    /// (guarded by `If-Range`) when the server allows it, checks the length
    /// (and the gzip trailer for `.gz`, the central directory for `.zip`),
    /// and renames the file into place only when everything checked out.
    /// On any error nothing is left at `path` or next to it.
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// use balena_sdk::{DownloadOptions, FileType};
    /// let opts = DownloadOptions::new("raspberrypi3").file_type(FileType::Gz);
    /// let report = balena.os().download_to_file(&opts, "raspberrypi3.img.gz".as_ref(), |p| {
    ///     if let Some(pct) = p.percentage { eprint!("\r{pct:.0}%"); }
    /// }).await?;
    /// println!("\n{} bytes", report.bytes_written);
    /// # Ok(()) }
    /// ```
    pub async fn download_to_file<F>(
        &self,
        options: &DownloadOptions,
        path: &Path,
        on_progress: F,
    ) -> Result<DownloadReport>
    where
        F: FnMut(DownloadProgress) + Send,
    {
        crate::download::check_target(path)?;
        let (req, version) = self.prepare_download(options).await?;
        crate::download::download_to_file(self, options, &version, &req, path, on_progress).await
    }

    pub(crate) fn client(&self) -> &Balena {
        self.client
    }

    /// Generates a fleet's config.json via `POST /download-config`. The
    /// application can be an id, slug or uuid; `options.version` is required.
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// use balena_sdk::{ConfigOptions, Network};
    /// let config = balena.os().get_config("myorg/myfleet".into(),
    ///     &ConfigOptions::new("6.0.10+rev1").network(Network::wifi("home", Some("secret")))).await?;
    /// println!("{}", serde_json::to_string_pretty(&config).unwrap());
    /// # Ok(()) }
    /// ```
    pub async fn get_config(&self, app: IdOrSlug, options: &ConfigOptions) -> Result<Value> {
        if options.version.is_empty() {
            return Err(Error::MissingParameter {
                name: "version",
                reason: "an OS version is required when generating a config.json",
            });
        }
        check_text("version", &options.version)?;
        options.network.validate()?;
        app.validate("application")?;
        let opts = PineOptions::new().select(["id"])?;
        let row = self.client.applications().get(app, Some(&opts)).await?;
        let app_id = row
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::Decode {
                request: "GET /v7/application".into(),
                path: "d[0].id".into(),
                message: "missing or not a numeric id".into(),
            })?;
        let req = queries::download_config_request(app_id, options);
        let (resp, authenticated) = self.client.execute(&req).await?;
        crate::request::decode_json(&req, &resp, authenticated)
    }

    /// True when the host-OS update rules allow updating `device_type` from
    /// `current` to `target` (false for a refused or invalid pair).
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// let ok = balena.os().is_supported_os_update("raspberrypi3", "2.80.3+rev1.prod", "2.88.4+rev1.prod").await?;
    /// # Ok(()) }
    /// ```
    pub async fn is_supported_os_update(
        &self,
        device_type: &str,
        current: &str,
        target: &str,
    ) -> Result<bool> {
        let slug = self.normalized_slug(device_type).await?;
        Ok(balena_hup::is_supported_os_update(&slug, current, target))
    }

    /// The kind of host-OS update (`balenahup` or `takeover`), or
    /// [`Error::OsUpdate`] naming the rule that refuses it.
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// let t = balena.os().get_os_update_type("jetson-xavier", "5.0.0+rev1", "6.0.50+rev1").await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_os_update_type(
        &self,
        device_type: &str,
        current: &str,
        target: &str,
    ) -> Result<UpdateType> {
        let slug = self.normalized_slug(device_type).await?;
        balena_hup::get_os_update_type(&slug, current, target).map_err(|source| Error::OsUpdate {
            device_type: slug,
            current: current.to_owned(),
            target: target.to_owned(),
            source,
        })
    }

    /// The versions a device running `current` may update to, newest first,
    /// with the recommended one (newest non-pre-release) and the listed
    /// release equal to `current`.
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// let s = balena.os().get_supported_os_update_versions("raspberrypi3", "2.80.3+rev1.prod", &Default::default()).await?;
    /// println!("recommended: {:?}", s.recommended);
    /// # Ok(()) }
    /// ```
    pub async fn get_supported_os_update_versions(
        &self,
        device_type: &str,
        current: &str,
        options: &SupportedOsUpdateVersionsOptions,
    ) -> Result<SupportedOsUpdateVersions> {
        let Some(parsed) = balena_semver::parse(current) else {
            return Err(Error::InvalidParameter {
                name: "current_version",
                value: current.to_owned(),
                reason: "not a balenaOS version".into(),
            });
        };
        let is_esr = parsed.major > 2000;
        let slug = self.normalized_slug(device_type).await?;
        let all = self
            .available_for_slug(&slug, options.include_draft)
            .await?;
        let current_listed = all
            .iter()
            .find(|v| balena_semver::compare(&v.raw_version, current) == std::cmp::Ordering::Equal)
            .map(|v| v.raw_version.clone());
        let versions: Vec<String> = all
            .iter()
            .filter(|v| options.os_type.as_ref().is_none_or(|t| &v.os_type == t))
            .filter(|v| {
                balena_hup::is_supported_os_update(&slug, current, &v.raw_version)
                    && (is_esr
                        || balena_hup::is_supported_os_update(&slug, current, &v.based_on_version))
            })
            .map(|v| v.raw_version.clone())
            .collect();
        let recommended = versions
            .iter()
            .find(|v| balena_semver::prerelease(v).is_none_or(|p| p.is_empty()))
            .cloned();
        Ok(SupportedOsUpdateVersions {
            versions,
            recommended,
            current: current_listed,
        })
    }

    /// Whether an OS of architecture `os_arch` can run applications built for
    /// `app_arch` (`aarch64` runs `armv7hf` and `rpi`; `armv7hf` runs `rpi`).
    ///
    /// ```no_run
    /// # fn demo(balena: balena_sdk::Balena) {
    /// assert!(balena.os().is_architecture_compatible_with("aarch64", "armv7hf"));
    /// # }
    /// ```
    pub fn is_architecture_compatible_with(&self, os_arch: &str, app_arch: &str) -> bool {
        balena_hup::is_architecture_compatible_with(os_arch, app_arch)
    }

    /// Final supervisor releases for a CPU architecture (slug or id), newest
    /// first. Never cached.
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// let releases = balena.os().get_supervisor_releases_for_cpu_architecture("aarch64".into(), None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_supervisor_releases_for_cpu_architecture(
        &self,
        cpu_architecture: IdOrSlug,
        options: Option<&PineOptions>,
    ) -> Result<Vec<SupervisorRelease>> {
        let req = queries::supervisor_releases_request(&cpu_architecture, options)?;
        let rows = self.client.pine_rows(&req).await?;
        decode_value(&req, Value::Array(rows))
    }
}
