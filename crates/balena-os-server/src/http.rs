//! The HTTP face: an axum router serving `/v7` (and `/v6`) pine queries and
//! `/ping`.
//!
//! Errors are what balena's API sends and the official SDKs show to their
//! users: a JSON string carrying the message (`"Unknown resource 'x'"`),
//! with `Content-Type: application/json`. Every request gets an
//! `X-Request-Id` (kept when the client sends one), is logged through
//! `tracing` with it, and a panic in a handler becomes a 500 instead of a
//! dropped connection.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_ENCODING,
    CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH, RETRY_AFTER, VARY,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use balena_pine::PineRequest;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::auth::{Actor, AuthError, Authenticator};
use crate::cache::{Rendered, ResponseCache, Visibility};
use crate::db::Db;
use crate::query::{self, ExecError, PlanError, QueryLimits, QueryStats};

/// Longest path and query accepted (bytes, as received).
pub const MAX_URL_LEN: usize = balena_pine::MAX_QUERY_LEN;
/// Time allowed to produce a response's headers.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Bodies at least this long are gzip-compressed for clients that accept it.
pub const GZIP_MIN_BYTES: usize = 1024;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) db: Db,
    pub(crate) auth: Authenticator,
    pub(crate) limits: QueryLimits,
    pub(crate) cache: Arc<ResponseCache>,
    pub(crate) images: Option<Arc<crate::images::ImageService>>,
    pub(crate) stats: Arc<QueryStats>,
}

impl AppState {
    /// State over `db` with `limits`; `cache_bytes` bounds the answer cache
    /// (0 disables it).
    pub fn new(db: Db, limits: QueryLimits, cache_bytes: usize) -> Self {
        AppState {
            auth: Authenticator::new(db.clone()),
            cache: Arc::new(ResponseCache::new(db.clone(), cache_bytes, cache_bytes > 0)),
            db,
            limits,
            images: None,
            stats: Arc::default(),
        }
    }

    /// The answer cache.
    pub fn cache(&self) -> &Arc<ResponseCache> {
        &self.cache
    }

    /// What the executed pine queries cost in SQL statements.
    pub fn query_stats(&self) -> &Arc<QueryStats> {
        &self.stats
    }

    /// Serve the image endpoints (`/download`, `/download-config`,
    /// `/device-types/v1…`) from `images`.
    pub fn with_images(mut self, images: Arc<crate::images::ImageService>) -> Self {
        self.images = Some(images);
        self
    }
}

/// An error answer: the status and a message sent as a JSON string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Message for the caller.
    pub message: String,
}

impl ApiError {
    /// A new error answer.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.message).unwrap_or_else(|_| b"\"error\"".to_vec());
        json_response(self.status, body)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Db(db) => {
                tracing::error!(error = %crate::ErrorChain(&db), "credential lookup failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
            }
            other => ApiError::new(StatusCode::UNAUTHORIZED, other.to_string()),
        }
    }
}

/// The router with every route and middleware.
pub fn router(state: AppState) -> Router {
    let state = Arc::new(state);
    let api = Router::new()
        .route("/v7", any(odata))
        .route("/v7/", any(odata))
        .route("/v7/{*rest}", any(odata))
        .route("/v6/{*rest}", any(odata));
    Router::new()
        .route("/ping", get(|| async { "OK" }))
        .merge(api)
        .merge(crate::images::router())
        .fallback(not_found)
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
                .into_response()
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<Body>| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // The path only: query strings may carry `apikey`.
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = %id,
                        // Set by pine queries that were executed (not cached).
                        sql_statements = tracing::field::Empty,
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(cors())
        .layer(SetSensitiveRequestHeadersLayer::new([AUTHORIZATION]))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// CORS as open-balena-api answers browsers: the caller's origin is
/// allowed, with credentials, and preflight requests are answered here.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_credentials(true)
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            RETRY_AFTER,
            ETAG,
            CONTENT_DISPOSITION,
            CONTENT_LENGTH,
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(Duration::from_secs(86_400))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("Not found: {}", uri.path()))
}

/// The value of the first `apikey` parameter of a raw query string.
fn query_api_key(raw_query: &str) -> Option<String> {
    raw_query.split('&').find_map(|pair| {
        let value = pair.strip_prefix("apikey=")?;
        Some(
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned(),
        )
    })
}

/// `path_and_query` without its `apikey` parameters.
fn without_api_key(path_and_query: &str) -> std::borrow::Cow<'_, str> {
    match path_and_query.split_once('?') {
        Some((path, query)) if query.split('&').any(|p| p.starts_with("apikey=")) => {
            let rest: Vec<&str> = query
                .split('&')
                .filter(|p| !p.starts_with("apikey="))
                .collect();
            std::borrow::Cow::Owned(format!("{path}?{}", rest.join("&")))
        }
        _ => std::borrow::Cow::Borrowed(path_and_query),
    }
}

/// The credential of a request: `Authorization: Bearer <key>` or, failing
/// that, the `apikey` query parameter.
fn credential(headers: &HeaderMap, raw_query: &str) -> Result<Option<String>, ApiError> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value.to_str().map_err(|_| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized: malformed Authorization header",
            )
        })?;
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized: use 'Authorization: Bearer <API key>'",
            ));
        }
        return Ok(Some(token.trim().to_owned()));
    }
    Ok(query_api_key(raw_query))
}

/// Resolves the caller of a request.
pub(crate) async fn actor(
    auth: &Authenticator,
    headers: &HeaderMap,
    raw_query: &str,
) -> Result<Actor, ApiError> {
    match credential(headers, raw_query)? {
        None => Ok(Actor::Anonymous),
        Some(key) => Ok(auth.resolve(&key).await?),
    }
}

/// Whether the request's `Accept-Encoding` admits gzip: `gzip` or `*`,
/// not refused with `q=0`.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// The response for a rendered answer: 304 when the client has it, gzip
/// when the client accepts it and it is worth it.
fn respond(rendered: &Rendered, headers: &HeaderMap) -> Response {
    let etag = HeaderValue::from_str(&rendered.etag).ok();
    let not_modified = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == rendered.etag || t.trim() == "*")
        });
    let mut resp = if not_modified {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if rendered.json.len() >= GZIP_MIN_BYTES && accepts_gzip(headers) {
        let mut r = json_response(StatusCode::OK, Vec::new());
        *r.body_mut() = Body::from(rendered.gzip());
        r.headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        let mut r = json_response(StatusCode::OK, Vec::new());
        *r.body_mut() = Body::from(rendered.json.clone());
        r
    };
    let h = resp.headers_mut();
    h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(etag) = etag {
        h.insert(ETAG, etag);
    }
    resp
}

async fn odata(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "The catalog is read-only over the API; change it with the `balena-os admin` commands",
        ));
    }
    let path_and_query = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    if path_and_query.len() > MAX_URL_LEN {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("The URL is longer than {MAX_URL_LEN} bytes"),
        ));
    }
    let actor = actor(&state.auth, &headers, uri.query().unwrap_or("")).await?;
    let visibility = Visibility::from(&actor);
    // The key's rights are in `visibility`; the key itself stays out of the cache.
    let cache_key = without_api_key(path_and_query);
    if let Some(hit) = state.cache.get(&cache_key, &visibility) {
        return Ok(respond(&hit, &headers));
    }
    let stamp = state.cache.stamp();
    let (version, request) = PineRequest::parse(path_and_query).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Malformed url: '{path_and_query}': {e}"),
        )
    })?;
    if version != "v7" && version != "v6" {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Unknown API version '{version}'"),
        ));
    }
    let plan =
        query::plan(&request, &actor, state.db.backend(), state.limits).map_err(|e| match e {
            PlanError::UnknownResource(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            other => ApiError::new(StatusCode::BAD_REQUEST, other.to_string()),
        })?;
    let answer = query::execute(&state.db, &plan)
        .await
        .map_err(|e| match e {
            ExecError::TooLarge(_) | ExecError::BadValue(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
            }
            other => {
                tracing::error!(error = %crate::ErrorChain(&other), "query failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
            }
        })?;
    state.stats.record(&answer);
    tracing::Span::current().record("sql_statements", answer.statements());
    let rendered = Arc::new(Rendered::new(query::render(&plan, &answer)));
    if plan.is_cacheable() {
        state
            .cache
            .insert(stamp, &cache_key, visibility, rendered.clone());
    }
    Ok(respond(&rendered, &headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_stay_out_of_cache_keys() {
        assert_eq!(without_api_key("/v7/x?$top=1&apikey=abc"), "/v7/x?$top=1");
        assert_eq!(without_api_key("/v7/x?apikey=abc&$top=1"), "/v7/x?$top=1");
        assert_eq!(without_api_key("/v7/x?$top=1"), "/v7/x?$top=1");
        assert_eq!(without_api_key("/v7/x"), "/v7/x");
    }

    #[test]
    fn gzip_acceptance() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(ACCEPT_ENCODING, HeaderValue::from_str(v).expect("header"));
            m
        };
        assert!(accepts_gzip(&h("compress, gzip")));
        assert!(accepts_gzip(&h("br;q=1.0, gzip;q=0.5")));
        assert!(accepts_gzip(&h("*")));
        assert!(accepts_gzip(&h("gzip, deflate")));
        assert!(!accepts_gzip(&h("gzip;q=0")));
        assert!(!accepts_gzip(&h("gzip;q=0, br")));
        assert!(!accepts_gzip(&h("identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
