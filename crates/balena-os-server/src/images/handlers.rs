//! The HTTP handlers of the image endpoints.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_RANGE, CONTENT_TYPE, ETAG, HOST, IF_NONE_MATCH, IF_RANGE, RANGE, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use balena_image::assemble::{DownloadPlan, ZipOptions};
use balena_image::{ConfigPartition, Configuration, ConfiguredParts, PartsImage};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::config_json::ConfigRequest;
use super::params::Params;
use super::range::{RangeRequest, if_range_allows, none_match, parse_range};
use super::releases::{DeviceTypeRow, Resolved};
use super::{ImageService, ImageType, ImagesError, KeyMode, ReleaseImage, stream};
use crate::auth::Actor;
use crate::http::{ApiError, AppState, accepts_gzip};

/// The image endpoints' routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/download", get(download).post(download))
        .route(
            "/download-config",
            get(download_config).post(download_config),
        )
        .route("/device-types/v1", get(list_device_types))
        .route("/device-types/v1/{device_type}", get(one_device_type))
        .route(
            "/device-types/v1/{device_type}/images/{version}/download-size",
            get(download_size),
        )
}

fn service(state: &AppState) -> Result<&Arc<ImageService>, ApiError> {
    state.images.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "The image endpoints are not enabled on this server",
        )
    })
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

fn not_found(message: String) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, message)
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// The API's own base URL as the client reached it (for config.json's
/// `apiEndpoint` when none is configured).
fn request_api_url(headers: &HeaderMap) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or("").trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let valid = |h: &String| {
        h.len() <= 255
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
    };
    let host = header("x-forwarded-host")
        .filter(valid)
        .or_else(|| {
            headers
                .get(HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .filter(valid)
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let scheme = match header("x-forwarded-proto").as_deref() {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

async fn caller(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<Actor, ApiError> {
    crate::http::actor(&state.auth, headers, uri.query().unwrap_or("")).await
}

fn check_slug_segment(name: &str) -> Result<(), ApiError> {
    if name.is_empty()
        || name.len() > 200
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(bad("Invalid device type"));
    }
    Ok(())
}

async fn visible_device_type(
    svc: &ImageService,
    state: &AppState,
    actor: &Actor,
    name: &str,
) -> Result<DeviceTypeRow, ApiError> {
    svc.device_type(&state.db, actor, name)
        .await?
        .ok_or_else(|| not_found(format!("Unknown device type {name}")))
}

async fn list_device_types(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let svc = service(&state)?;
    let actor = caller(&state, &headers, &uri).await?;
    let rows = super::releases::all_device_types(&state.db)
        .await
        .map_err(ImagesError::from)?;
    let mut out = Vec::new();
    for dt in rows.iter().filter(|d| d.visible_to(&actor)) {
        out.push(svc.device_type_json(&state.db, dt).await?);
    }
    Ok(json_response(StatusCode::OK, &out))
}

async fn one_device_type(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let svc = service(&state)?;
    check_slug_segment(&name)?;
    let actor = caller(&state, &headers, &uri).await?;
    let dt = visible_device_type(svc, &state, &actor, &name).await?;
    let doc = svc.device_type_json(&state.db, &dt).await?;
    Ok(json_response(StatusCode::OK, &*doc))
}

async fn download_size(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let svc = service(&state)?;
    check_slug_segment(&name)?;
    let actor = caller(&state, &headers, &uri).await?;
    let dt = visible_device_type(svc, &state, &actor, &name).await?;
    let missing = || {
        not_found(format!(
            "Device {} not found for {version} version",
            dt.slug
        ))
    };
    let resolved = svc
        .resolve(&state.db, &dt, &version)
        .await?
        .ok_or_else(missing)?;
    let image = svc
        .release_image(&state.db, &dt, &resolved.release, None)
        .await?
        .ok_or_else(missing)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"size": image.layout.compressed_len()}),
    ))
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

async fn download_config(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let svc = service(&state)?;
    let actor = caller(&state, &headers, &uri).await?;
    if actor == Actor::Anonymous {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: an API key is needed to make a fleet's config.json",
        ));
    }
    let params = Params::parse(uri.query().unwrap_or(""), content_type(&headers), &body)?;
    let req = ConfigRequest::from_params(params)?;
    let cfg = svc
        .fleet_config(
            &state.db,
            &actor,
            &req,
            &request_api_url(&headers),
            KeyMode::Random,
        )
        .await?;
    Ok(json_response(StatusCode::OK, &cfg))
}

/// What container a download comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileType {
    Img,
    Gz,
    Zip,
}

impl FileType {
    fn parse(s: Option<&str>) -> Result<Self, ApiError> {
        match s
            .map(|s| s.trim_start_matches('.').to_ascii_lowercase())
            .as_deref()
        {
            None | Some("img") => Ok(FileType::Img),
            Some("gz") => Ok(FileType::Gz),
            Some("zip") => Ok(FileType::Zip),
            Some(_) => Err(bad("Invalid fileType: expected .img, .gz or .zip")),
        }
    }
}

fn file_name_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The configuration of an unmanaged image: the stock config.json with
/// development mode, update interval, network and secure boot applied.
async fn unmanaged_config(
    image: &Arc<ReleaseImage>,
    hint: Option<ConfigPartition>,
    params: &Params,
    development_mode: Option<bool>,
) -> Result<Option<Map<String, Value>>, ApiError> {
    let poll = params.minutes("appUpdatePollInterval")?.filter(|m| *m > 0);
    let wifi = params.string("network")?.as_deref() == Some("wifi");
    let net_keys = [
        "wifiSsid",
        "wifiKey",
        "ip",
        "netmask",
        "gateway",
        "routeMetric",
    ];
    let mut network = Map::new();
    for k in net_keys {
        if let Some(v) = params.string(k)? {
            if (k == "wifiSsid" || k == "wifiKey") && !wifi {
                continue;
            }
            network.insert(k.to_owned(), Value::String(v));
        }
    }
    let secureboot = params.boolean("secureboot")?.unwrap_or(false);
    if development_mode.is_none() && poll.is_none() && network.is_empty() && !secureboot {
        return Ok(None);
    }
    let img = image.clone();
    let stock = tokio::task::spawn_blocking(move || {
        let view = PartsImage::new(img.layout.clone(), img.parts.clone());
        balena_image::read_boot_file(&view, "/config.json", hint)
    })
    .await
    .map_err(|e| ImagesError::Invalid(format!("reading config.json failed: {e}")))?;
    let mut cfg = match stock
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        Some(Value::Object(m)) => m,
        _ => {
            let mut m = Map::new();
            m.insert("deviceType".into(), Value::String(image.slug.clone()));
            m
        }
    };
    match development_mode {
        Some(true) => {
            cfg.insert("developmentMode".into(), Value::Bool(true));
        }
        Some(false) => {
            cfg.shift_remove("developmentMode");
        }
        None => {}
    }
    if let Some(m) = poll {
        cfg.insert(
            "appUpdatePollInterval".into(),
            json!(m.saturating_mul(60_000)),
        );
    }
    if secureboot {
        cfg.insert("installer".into(), json!({"secureboot": true}));
    }
    cfg.extend(network);
    Ok(Some(cfg))
}

struct Representation {
    /// `img`, `gz`, `zip` or `img+gzip`.
    kind: &'static str,
    content_type: &'static str,
    encoding: Option<&'static str>,
    file_name: String,
    zip_entry: String,
}

#[allow(clippy::too_many_lines)]
async fn download(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let svc = service(&state)?;
    let actor = caller(&state, &headers, &uri).await?;
    let params = Params::parse(uri.query().unwrap_or(""), content_type(&headers), &body)?;
    let file_type = FileType::parse(params.string("fileType")?.as_deref())?;
    let image_type = match params.string("imageType")?.as_deref() {
        None => None,
        Some("raw") => Some(ImageType::Raw),
        Some("flasher") => Some(ImageType::Flasher),
        Some(_) => return Err(bad("Invalid imageType: expected raw or flasher")),
    };
    let device_type = params
        .string("deviceType")?
        .ok_or_else(|| bad("A deviceType is required"))?;
    let version = params
        .string("version")?
        .unwrap_or_else(|| "latest".to_owned());
    let app_id = params.integer("appId", "appId must be a fleet id")?;
    let explicit_dev = params.boolean("developmentMode")?;

    let no_image = || {
        not_found(match image_type {
            Some(t) => format!(
                "No image found for device type {device_type}, version {version}, and image type {}",
                t.as_str()
            ),
            None => format!("No image found for device type {device_type} and version {version}"),
        })
    };
    let dt = svc
        .device_type(&state.db, &actor, &device_type)
        .await?
        .ok_or_else(|| not_found(format!("Unknown device type {device_type}")))?;
    let Resolved {
        release,
        implied_development_mode,
    } = svc
        .resolve(&state.db, &dt, &version)
        .await?
        .ok_or_else(no_image)?;
    let image = svc
        .release_image(&state.db, &dt, &release, image_type)
        .await?
        .ok_or_else(no_image)?;
    let permit = svc.downloads.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many downloads in progress, try again later",
        )
    })?;
    let doc = match &image.device_type_json {
        Some(d) => Arc::new(d.clone()),
        None => svc.device_type_json(&state.db, &dt).await?,
    };
    let hint = ConfigPartition::from_device_type_json(&doc).ok();
    let development_mode = explicit_dev.or(implied_development_mode);

    // The configuration: a fleet's config.json, or the stock one adjusted.
    let mut fleet_name = None;
    let config = match app_id {
        Some(id) => {
            let effective_version = if version == "latest" {
                release.raw_version.clone()
            } else {
                version.clone()
            };
            let mut map = params.map().clone();
            map.insert("version".into(), Value::String(effective_version));
            map.insert("deviceType".into(), Value::String(dt.slug.clone()));
            if let Some(d) = development_mode {
                map.insert("developmentMode".into(), Value::Bool(d));
            }
            map.shift_remove("appId");
            let req = ConfigRequest::with_app(Params::from_map(map), id)?;
            let cfg = svc
                .fleet_config(
                    &state.db,
                    &actor,
                    &req,
                    &request_api_url(&headers),
                    KeyMode::Derived,
                )
                .await?;
            fleet_name = super::releases::find_fleet(&state.db, id)
                .await
                .map_err(ImagesError::from)?
                .map(|f| f.app_name);
            Some(cfg)
        }
        None => unmanaged_config(&image, hint, &params, development_mode).await?,
    };
    let configuration = match &config {
        Some(c) => {
            let mut cfg =
                Configuration::new(c.clone()).map_err(|e| bad(crate::error_chain::chain(&e)))?;
            if let Some(h) = hint {
                cfg = cfg.with_partition_hint(h);
            }
            Some(cfg)
        }
        None => None,
    };

    // What is being sent, and its validator.
    let dev_name = release.variant == "dev"
        || configuration
            .as_ref()
            .is_some_and(|c| c.config().get("developmentMode") == Some(&Value::Bool(true)));
    let os_version = image
        .version_hostos
        .clone()
        .unwrap_or_else(|| release.os_version());
    let mut name_parts = vec!["balena".to_owned()];
    if let Some(f) = &fleet_name {
        name_parts.push(file_name_part(f));
    }
    name_parts.push(file_name_part(&dt.slug));
    name_parts.push(file_name_part(&os_version));
    if dev_name {
        name_parts.push("dev".into());
    }
    if let Some(s) = &image.supervisor {
        name_parts.push(file_name_part(s));
    }
    let img_name = format!("{}.img", name_parts.join("-"));
    let gzip_encoded = file_type == FileType::Img && accepts_gzip(&headers);
    let rep = match file_type {
        FileType::Gz => Representation {
            kind: "gz",
            content_type: "application/octet-stream",
            encoding: None,
            file_name: format!("{img_name}.gz"),
            zip_entry: String::new(),
        },
        FileType::Zip => Representation {
            kind: "zip",
            content_type: "application/zip",
            encoding: None,
            file_name: format!("{img_name}.zip"),
            zip_entry: img_name.clone(),
        },
        FileType::Img => Representation {
            kind: if gzip_encoded { "img+gzip" } else { "img" },
            content_type: "application/octet-stream",
            encoding: gzip_encoded.then_some("gzip"),
            file_name: img_name.clone(),
            zip_entry: String::new(),
        },
    };
    let mut h = Sha256::new();
    for part in [
        "balena-os-images/1",
        &image.slug,
        &image.build,
        image.artifact.manifest_name(),
        &image.digest,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    if let Some(cfg) = &configuration {
        h.update(b"config");
        h.update(cfg.config_json());
        for (name, data) in cfg.network_files() {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update((data.len() as u64).to_le_bytes());
            h.update(&data);
        }
        h.update(format!("{:?}", cfg.partition_hint()).as_bytes());
    }
    let parts_key = crate::catalog::hex(&h.clone().finalize());
    h.update(rep.kind.as_bytes());
    h.update(rep.zip_entry.as_bytes());
    let etag = format!("\"{}\"", &crate::catalog::hex(&h.finalize())[..40]);

    let header_str = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if header_str(IF_NONE_MATCH).is_some_and(|v| none_match(v, &etag)) {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        resp.headers_mut().insert(
            ETAG,
            HeaderValue::from_str(&etag).map_err(|_| bad("bad etag"))?,
        );
        return Ok(resp);
    }

    let parts: Arc<ConfiguredParts> = match configuration {
        Some(cfg) => svc.configure(&image, cfg, parts_key).await?,
        None => Arc::new(ConfiguredParts::unconfigured(&image.layout)),
    };
    let plan = match file_type {
        FileType::Gz => Some(DownloadPlan::gzip(&parts)),
        FileType::Zip => Some(
            DownloadPlan::zip(&[(rep.zip_entry.as_str(), &*parts)], ZipOptions::default())
                .map_err(ImagesError::from)?,
        ),
        FileType::Img if gzip_encoded => Some(DownloadPlan::gzip(&parts)),
        FileType::Img => None,
    };
    let total = plan.as_ref().map_or_else(|| parts.len(), DownloadPlan::len);
    let producer = match plan {
        Some(plan) => stream::Producer::Plan(Arc::new(plan)),
        None => stream::Producer::Raw {
            parts: parts.clone(),
            threads: svc.inflate_threads,
        },
    };

    let range = if if_range_allows(header_str(IF_RANGE), &etag) {
        parse_range(header_str(RANGE), total)
    } else {
        RangeRequest::Full
    };
    // Several ranges of a gzip-encoded `.img` get the whole file: a
    // `Content-Encoding` would apply to the multipart body as a whole.
    let range = match range {
        RangeRequest::Multi(_) if rep.encoding.is_some() => RangeRequest::Full,
        other => other,
    };
    let (status, start, end, multipart) = match range {
        RangeRequest::Full => (StatusCode::OK, 0, total, None),
        RangeRequest::Partial(s, e) => (StatusCode::PARTIAL_CONTENT, s, e, None),
        RangeRequest::Multi(ranges) => {
            // A boundary that is fixed for the representation keeps the
            // bytes deterministic; 40 hex digits of a hash will not occur
            // in the parts by accident.
            let boundary = format!("balena-os-{}", etag.trim_matches('"'));
            let layout = stream::Multipart::new(&ranges, total, rep.content_type, &boundary);
            let first = ranges.first().map_or(0, |r| r.0);
            let last = ranges.iter().map(|r| r.1).max().unwrap_or(0);
            (
                StatusCode::PARTIAL_CONTENT,
                first,
                last,
                Some((layout, boundary, ranges.len())),
            )
        }
        RangeRequest::Unsatisfiable => {
            let mut resp = json_response(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &format!("The range is outside the {total} bytes of this download"),
            );
            let hm = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
                hm.insert(CONTENT_RANGE, v);
            }
            if let Ok(v) = HeaderValue::from_str(&etag) {
                hm.insert(ETAG, v);
            }
            return Ok(resp);
        }
    };
    tracing::info!(
        device_type = %dt.slug,
        build = %image.build,
        representation = rep.kind,
        configured = parts.boot.is_some(),
        start,
        end,
        ranges = multipart.as_ref().map_or(1, |m| m.2),
        total,
        "download"
    );

    let store = image.parts.clone();
    let (body, body_len, content_type) = match multipart {
        Some((layout, boundary, _)) => {
            let len = layout.len;
            let body = if method == Method::HEAD {
                drop(permit);
                Body::empty()
            } else {
                stream::multipart_body(producer, store, layout, permit)
            };
            (
                body,
                len,
                format!("multipart/byteranges; boundary={boundary}"),
            )
        }
        None => {
            let body = if method == Method::HEAD || start == end {
                drop(permit);
                Body::empty()
            } else {
                producer
                    .body(store, start, end, permit)
                    .map_err(|e| ImagesError::Io {
                        context: "starting a download thread".into(),
                        source: e,
                    })?
            };
            (body, end - start, rep.content_type.to_owned())
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let hm = resp.headers_mut();
    let mut set = |name, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            hm.insert(name, v);
        }
    };
    let single_part = !content_type.starts_with("multipart/");
    set(CONTENT_TYPE, content_type);
    set(CONTENT_LENGTH, body_len.to_string());
    set(
        CONTENT_DISPOSITION,
        format!("attachment; filename=\"{}\"", rep.file_name),
    );
    set(ETAG, etag);
    set(ACCEPT_RANGES, "bytes".to_owned());
    set(
        CACHE_CONTROL,
        if config.is_some() {
            "private, no-store".to_owned()
        } else {
            "public, no-cache".to_owned()
        },
    );
    if file_type == FileType::Img {
        set(VARY, "Accept-Encoding".to_owned());
    }
    if let Some(enc) = rep.encoding {
        set(CONTENT_ENCODING, enc.to_owned());
    }
    if status == StatusCode::PARTIAL_CONTENT && single_part {
        set(CONTENT_RANGE, format!("bytes {start}-{}/{total}", end - 1));
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_url_from_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(request_api_url(&h), "http://localhost");
        h.insert(HOST, HeaderValue::from_static("127.0.0.1:8480"));
        assert_eq!(request_api_url(&h), "http://127.0.0.1:8480");
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("api.example.com"),
        );
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(request_api_url(&h), "https://api.example.com");
        h.insert("x-forwarded-host", HeaderValue::from_static("evil\"host"));
        assert_eq!(request_api_url(&h), "https://127.0.0.1:8480");
    }

    #[test]
    fn file_types_and_names() {
        assert_eq!(FileType::parse(None).ok(), Some(FileType::Img));
        assert_eq!(FileType::parse(Some(".zip")).ok(), Some(FileType::Zip));
        assert_eq!(FileType::parse(Some("gz")).ok(), Some(FileType::Gz));
        assert!(FileType::parse(Some(".tar")).is_err());
        assert_eq!(file_name_part("My Fleet/ä"), "My_Fleet__");
    }
}
