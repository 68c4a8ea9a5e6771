//! The `Balena` client: configuration, credentials and the transport that
//! sends the requests described in [`crate::request`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT,
};
use url::Url;

use crate::auth::Credentials;
use crate::cache::{CACHE_TTL, Memo};
use crate::error::{Error, Result};
use crate::os::OsModel;
use crate::os::queries::ReleaseFilter;
use crate::os::version::OsVersion;
use crate::request::{ApiRequest, Method, RawResponse, RequestKind, ResponseBody};

/// The default API endpoint.
pub const DEFAULT_API_URL: &str = "https://api.balena-cloud.com/";
/// The pine API version used for OData requests.
pub const API_VERSION: &str = "v7";
/// Default timeout of non-streamed requests (the official SDK's 59 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(59);
/// The `X-Balena-Client` header value sent with every request.
pub const CLIENT_HEADER: &str = concat!("balena-os-rs-sdk/", env!("CARGO_PKG_VERSION"));
const X_BALENA_CLIENT: HeaderName = HeaderName::from_static("x-balena-client");
const MAX_REDIRECTS: usize = 20;

pub(crate) struct Caches {
    pub versions: Memo<(Vec<String>, ReleaseFilter), BTreeMap<String, Vec<OsVersion>>>,
    pub slugs: Memo<String, String>,
    pub sizes: Memo<(String, String), u64>,
}

impl Caches {
    fn new() -> Self {
        Caches {
            versions: Memo::new(CACHE_TTL),
            slugs: Memo::new(CACHE_TTL),
            sizes: Memo::new(CACHE_TTL),
        }
    }

    fn clear(&self) {
        self.versions.clear();
        self.slugs.clear();
        self.sizes.clear();
    }
}

struct Inner {
    http: reqwest::Client,
    api_url: Url,
    origin: Url,
    timeout: Duration,
    user_agent: HeaderValue,
    credentials: RwLock<Option<Credentials>>,
    caches: Caches,
}

/// An async balena API client. Cheap to clone (an `Arc` inside), `Send +
/// Sync`; clones share credentials and caches.
///
/// ```no_run
/// # async fn demo() -> Result<(), balena_sdk::Error> {
/// let balena = balena_sdk::Balena::builder().api_key("my-api-key").build()?;
/// let versions = balena.os().get_available_os_versions("raspberrypi4-64", &Default::default()).await?;
/// if let Some(newest) = versions.first() {
///     println!("newest: {}", newest.raw_version);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Balena {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Balena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balena")
            .field("api_url", &self.inner.api_url.as_str())
            .field("logged_in", &self.is_logged_in())
            .finish_non_exhaustive()
    }
}

/// Where the builder gets its proxy from.
#[derive(Debug, Clone)]
enum ProxyChoice {
    /// `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` (reqwest's system proxy).
    System,
    None,
    Url(String),
}

/// Builder for [`Balena`].
///
/// ```
/// use std::time::Duration;
/// let balena = balena_sdk::Balena::builder()
///     .api_url("https://api.balena-cloud.com")
///     .timeout(Duration::from_secs(30))
///     .build()
///     .unwrap();
/// assert!(!balena.is_logged_in());
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct BalenaBuilder {
    api_url: String,
    token: Option<String>,
    token_kind: Option<fn(String) -> Credentials>,
    timeout: Duration,
    user_agent: String,
    proxy: ProxyChoice,
    http_client: Option<reqwest::Client>,
    env_error: Option<String>,
}

impl Default for BalenaBuilder {
    fn default() -> Self {
        BalenaBuilder {
            api_url: DEFAULT_API_URL.to_owned(),
            token: None,
            token_kind: None,
            timeout: DEFAULT_TIMEOUT,
            user_agent: CLIENT_HEADER.to_owned(),
            proxy: ProxyChoice::System,
            http_client: None,
            env_error: None,
        }
    }
}

impl BalenaBuilder {
    /// The API URL (default `https://api.balena-cloud.com/`). Like the
    /// official SDK, only its origin is used: requests go to absolute paths
    /// (`/v7/...`, `/download`), so a path in this URL is ignored.
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = url.into();
        self
    }

    /// Authenticate with an API key (sent as `Authorization: Bearer <key>`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.token = Some(key.into());
        self.token_kind = Some(Credentials::ApiKey);
        self
    }

    /// Authenticate with a session token (JWT).
    pub fn session_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self.token_kind = Some(Credentials::SessionToken);
        self
    }

    /// Authenticate with a token of either kind; a decodable JWT counts as a
    /// session token, like `auth.loginWithToken` in the JS SDK.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self.token_kind = None;
        self
    }

    /// Reads settings from the environment: `BALENA_API_URL` (the API URL),
    /// then credentials from `BALENA_API_KEY`, or else from the balena CLI's
    /// token file (`$BALENARC_DATA_DIRECTORY/token`, default
    /// `~/.balena/token`). Values set on the builder before stay unless the
    /// environment provides one.
    pub fn with_env(self) -> Self {
        self.with_env_from(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// [`Self::with_env`] with variables looked up through `lookup` (for
    /// tests and embedders that keep settings elsewhere).
    ///
    /// ```
    /// let b = balena_sdk::Balena::builder()
    ///     .with_env_from(|name| (name == "BALENA_API_KEY").then(|| "k".to_owned()))
    ///     .build()
    ///     .unwrap();
    /// assert!(b.is_logged_in());
    /// ```
    pub fn with_env_from(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(url) = non_empty("BALENA_API_URL") {
            self.api_url = url;
        }
        if let Some(key) = non_empty("BALENA_API_KEY") {
            return self.api_key(key);
        }
        let dir = non_empty("BALENARC_DATA_DIRECTORY")
            .map(PathBuf::from)
            .or_else(|| non_empty("HOME").map(|h| PathBuf::from(h).join(".balena")));
        if let Some(path) = dir.map(|d| d.join("token")) {
            match std::fs::read_to_string(&path) {
                Ok(t) if !t.trim().is_empty() => return self.token(t.trim().to_owned()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    self.env_error = Some(format!("cannot read {}: {e}", path.display()));
                }
            }
        }
        self
    }

    /// Timeout of each non-streamed request (default 59 s). Downloads have
    /// no overall timeout; a stalled download fails after this long
    /// without data.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `User-Agent` header (default `balena-os-rs-sdk/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Send every request through this proxy instead of the one named by
    /// `HTTPS_PROXY`/`HTTP_PROXY` (which are honoured by default, with `NO_PROXY`).
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = ProxyChoice::Url(url.into());
        self
    }

    /// Ignore proxy environment variables and connect directly.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxyChoice::None;
        self
    }

    /// Use a preconfigured `reqwest::Client` (proxy and timeout settings of
    /// this builder then do not apply to it, except the per-request timeout).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Validates the settings and builds the client.
    pub fn build(self) -> Result<Balena> {
        if let Some(e) = self.env_error {
            return Err(Error::Configuration(e));
        }
        let api_url = Url::parse(self.api_url.trim()).map_err(|e| {
            Error::Configuration(format!("API URL {:?} is not a URL: {e}", self.api_url))
        })?;
        if !matches!(api_url.scheme(), "http" | "https") || api_url.host().is_none() {
            return Err(Error::Configuration(format!(
                "API URL {:?} must be an http(s) URL with a host",
                self.api_url
            )));
        }
        let origin = Url::parse(&api_url.origin().ascii_serialization()).map_err(|e| {
            Error::Configuration(format!(
                "API URL {:?} has no usable origin: {e}",
                self.api_url
            ))
        })?;
        if self.timeout.is_zero() {
            return Err(Error::Configuration(
                "the timeout must be longer than zero".into(),
            ));
        }
        let user_agent = HeaderValue::from_str(&self.user_agent).map_err(|_| {
            Error::Configuration(format!(
                "user agent {:?} is not a valid header value",
                self.user_agent
            ))
        })?;
        let credentials = match self.token {
            None => None,
            Some(t) => {
                let c = match self.token_kind {
                    None => Credentials::from_token(&t)?,
                    Some(kind) => {
                        // Validate the characters, then keep the requested kind.
                        Credentials::from_token(&t)?;
                        kind(t.trim().to_owned())
                    }
                };
                c.check_not_expired(SystemTime::now())?;
                Some(c)
            }
        };
        let http = match self.http_client {
            Some(c) => c,
            None => {
                let mut b = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
                    .connect_timeout(self.timeout)
                    .read_timeout(self.timeout);
                match &self.proxy {
                    ProxyChoice::System => {}
                    ProxyChoice::None => b = b.no_proxy(),
                    ProxyChoice::Url(u) => {
                        let p = reqwest::Proxy::all(u.as_str()).map_err(|e| {
                            Error::Configuration(format!("proxy {u:?} is not usable: {e}"))
                        })?;
                        b = b.proxy(p);
                    }
                }
                b.build().map_err(|e| {
                    Error::Configuration(format!("cannot build the HTTP client: {e}"))
                })?
            }
        };
        Ok(Balena {
            inner: Arc::new(Inner {
                http,
                api_url,
                origin,
                timeout: self.timeout,
                user_agent,
                credentials: RwLock::new(credentials),
                caches: Caches::new(),
            }),
        })
    }
}

/// A response to [`Balena::send`].
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// HTTP status (below 400; higher statuses are errors).
    pub status: u16,
    /// The body: JSON when the content type says so, text otherwise.
    pub body: ResponseBody,
}

impl Balena {
    /// A builder with the defaults (balenaCloud, no credentials).
    pub fn builder() -> BalenaBuilder {
        BalenaBuilder::default()
    }

    /// A client configured from the environment only (see
    /// [`BalenaBuilder::with_env`]).
    ///
    /// ```no_run
    /// let balena = balena_sdk::Balena::from_env()?;
    /// # Ok::<(), balena_sdk::Error>(())
    /// ```
    pub fn from_env() -> Result<Balena> {
        Balena::builder().with_env().build()
    }

    /// The configured API URL.
    pub fn api_url(&self) -> &Url {
        &self.inner.api_url
    }

    /// The `os` model: balenaOS versions, downloads, config.json, updates.
    pub fn os(&self) -> OsModel<'_> {
        OsModel::new(self)
    }

    /// Device type lookups.
    pub fn device_types(&self) -> crate::models::DeviceTypes<'_> {
        crate::models::DeviceTypes::new(self)
    }

    /// Application lookups.
    pub fn applications(&self) -> crate::models::Applications<'_> {
        crate::models::Applications::new(self)
    }

    /// True when credentials are configured.
    pub fn is_logged_in(&self) -> bool {
        self.read_credentials().is_some()
    }

    /// The stored credentials, if any.
    pub fn credentials(&self) -> Option<Credentials> {
        self.read_credentials()
    }

    /// Stores a token (API key or session token), like the JS SDK's
    /// `auth.loginWithToken`. An expired session token is refused with
    /// [`Error::ExpiredToken`] and nothing changes. Clears every cache.
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// balena.login_with_token("my-api-key")?;
    /// # Ok(()) }
    /// ```
    pub fn login_with_token(&self, token: &str) -> Result<()> {
        let c = Credentials::from_token(token)?;
        c.check_not_expired(SystemTime::now())?;
        self.set_credentials(Some(c));
        Ok(())
    }

    /// Replaces the credentials (`None` logs out). Clears every cache.
    pub fn set_credentials(&self, credentials: Option<Credentials>) {
        *self
            .inner
            .credentials
            .write()
            .unwrap_or_else(|p| p.into_inner()) = credentials;
        self.inner.caches.clear();
    }

    /// Forgets the credentials and clears every cache.
    pub fn logout(&self) {
        self.set_credentials(None);
    }

    /// Empties the OS model's caches (versions, slugs, download sizes).
    pub fn clear_caches(&self) {
        self.inner.caches.clear();
    }

    pub(crate) fn caches(&self) -> &Caches {
        &self.inner.caches
    }

    fn read_credentials(&self) -> Option<Credentials> {
        self.inner
            .credentials
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The full URL of a request: the API origin joined with the absolute
    /// path (the WHATWG URL rules then escape spaces and quotes in the query,
    /// exactly as the official SDK's requests are escaped).
    pub fn url_for(&self, request: &ApiRequest) -> Result<Url> {
        if !request.path_and_query.starts_with('/') || request.path_and_query.starts_with("//") {
            return Err(Error::InvalidParameter {
                name: "path_and_query",
                value: request.path_and_query.clone(),
                reason: "must be an absolute path on the API host".into(),
            });
        }
        self.inner
            .origin
            .join(&request.path_and_query)
            .map_err(|e| Error::InvalidParameter {
                name: "path_and_query",
                value: request.path_and_query.clone(),
                reason: e.to_string(),
            })
    }

    /// The token to send, refreshing an old session token first for REST
    /// and streamed requests (never for pine ones, like the official SDK).
    async fn token_for(&self, request: &ApiRequest) -> Result<Option<String>> {
        if !request.send_token {
            return Ok(None);
        }
        let Some(creds) = self.read_credentials() else {
            return Ok(None);
        };
        if request.kind != RequestKind::Pine && creds.needs_refresh(SystemTime::now()) {
            let refreshed = self.refresh_session_token(&creds).await?;
            return Ok(Some(refreshed));
        }
        Ok(Some(creds.token().to_owned()))
    }

    async fn refresh_session_token(&self, old: &Credentials) -> Result<String> {
        let req = ApiRequest::rest(Method::Get, "/user/v1/refresh-token".into(), None);
        let resp = self.execute_with_token(&req, Some(old.token())).await?;
        crate::request::check_status(&req, &resp, true)?;
        let token = String::from_utf8_lossy(&resp.body).trim().to_owned();
        let fresh = Credentials::from_token(&token).map_err(|_| Error::UnexpectedResponse {
            request: req.describe(),
            reason: "the refreshed token is empty or malformed".into(),
        })?;
        // A refresh is not a change of identity: caches stay.
        *self
            .inner
            .credentials
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(fresh);
        Ok(token)
    }

    fn headers(&self, token: Option<&str>, json_body: bool) -> Result<HeaderMap> {
        let mut h = HeaderMap::new();
        h.insert(X_BALENA_CLIENT, HeaderValue::from_static(CLIENT_HEADER));
        h.insert(USER_AGENT, self.inner.user_agent.clone());
        if let Some(t) = token {
            let mut v = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                Error::Configuration("the stored token is not a valid header value".into())
            })?;
            v.set_sensitive(true);
            h.insert(AUTHORIZATION, v);
        }
        if json_body {
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        Ok(h)
    }

    fn transport_error(request: &ApiRequest, source: reqwest::Error) -> Error {
        Error::Transport {
            request: request.describe(),
            source,
        }
    }

    async fn execute_with_token(
        &self,
        request: &ApiRequest,
        token: Option<&str>,
    ) -> Result<RawResponse> {
        let url = self.url_for(request)?;
        let mut rb = self
            .inner
            .http
            .request(request.method.to_reqwest(), url)
            .headers(self.headers(token, request.body.is_some())?)
            .timeout(self.inner.timeout);
        if let Some(body) = &request.body {
            rb = rb.body(body.to_string());
        }
        tracing::debug!(request = %request.describe(), "sending");
        let resp = rb
            .send()
            .await
            .map_err(|e| Self::transport_error(request, e))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .bytes()
            .await
            .map_err(|e| Self::transport_error(request, e))?;
        Ok(RawResponse {
            status,
            content_type,
            body,
        })
    }

    /// Sends a described request and reads the whole answer. Returns the
    /// response and whether credentials were sent.
    pub(crate) async fn execute(&self, request: &ApiRequest) -> Result<(RawResponse, bool)> {
        let token = self.token_for(request).await?;
        let resp = self.execute_with_token(request, token.as_deref()).await?;
        Ok((resp, token.is_some()))
    }

    /// Sends a streamed request (no overall timeout) with extra headers and
    /// returns the live response whatever its status.
    pub(crate) async fn execute_stream(
        &self,
        request: &ApiRequest,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<(reqwest::Response, bool)> {
        let token = self.token_for(request).await?;
        let url = self.url_for(request)?;
        let mut headers = self.headers(token.as_deref(), request.body.is_some())?;
        for (k, v) in extra {
            headers.insert(k.clone(), v.clone());
        }
        let mut rb = self
            .inner
            .http
            .request(request.method.to_reqwest(), url)
            .headers(headers);
        if let Some(body) = &request.body {
            rb = rb.body(body.to_string());
        }
        tracing::debug!(request = %request.describe(), "sending (streamed)");
        let resp = rb
            .send()
            .await
            .map_err(|e| Self::transport_error(request, e))?;
        Ok((resp, token.is_some()))
    }

    /// Low-level: sends any request and returns its status and body. A
    /// status of 400 or more is an error (message extracted like the
    /// official SDK). Use [`ApiRequest::with_api_key_query`] for the
    /// `?apikey=` form and `send_token: false` to leave out the stored
    /// credentials.
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// use balena_sdk::request::ApiRequest;
    /// let resp = balena.send(&ApiRequest::pine("/v7/device_type?$select=slug".into())).await?;
    /// println!("{:?}", resp.body);
    /// # Ok(()) }
    /// ```
    pub async fn send(&self, request: &ApiRequest) -> Result<ApiResponse> {
        let (resp, authenticated) = self.execute(request).await?;
        crate::request::check_status(request, &resp, authenticated)?;
        Ok(ApiResponse {
            status: resp.status,
            body: resp.body(),
        })
    }

    /// Sends a pine request and returns its rows.
    pub(crate) async fn pine_rows(&self, request: &ApiRequest) -> Result<Vec<serde_json::Value>> {
        let (resp, authenticated) = self.execute(request).await?;
        crate::request::decode_pine_rows(request, &resp, authenticated)
    }

    /// Sends a pine request addressed to one row.
    pub(crate) async fn pine_single(
        &self,
        request: &ApiRequest,
    ) -> Result<Option<serde_json::Value>> {
        let (resp, authenticated) = self.execute(request).await?;
        crate::request::decode_pine_single(request, &resp, authenticated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_validates() {
        assert!(Balena::builder().api_url("not a url").build().is_err());
        assert!(Balena::builder().api_url("ftp://x").build().is_err());
        assert!(Balena::builder().timeout(Duration::ZERO).build().is_err());
        assert!(Balena::builder().api_key("").build().is_err());
        assert!(Balena::builder().user_agent("bad\nagent").build().is_err());
        let b = Balena::builder()
            .api_url("http://127.0.0.1:9/some/prefix/")
            .api_key("k")
            .build()
            .unwrap();
        assert!(b.is_logged_in());
        let url = b
            .url_for(&ApiRequest::pine("/v7/x?$filter=a eq 'b'".into()))
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/v7/x?$filter=a%20eq%20%27b%27"
        );
        assert!(
            b.url_for(&ApiRequest::pine("//evil.example/x".into()))
                .is_err()
        );
        b.logout();
        assert!(!b.is_logged_in());
    }

    #[test]
    fn environment_settings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "  file-token\n").unwrap();
        let d = dir.path().to_string_lossy().into_owned();
        let env = |vars: Vec<(&'static str, String)>| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            }
        };
        // The key variable wins over the token file.
        let b = Balena::builder()
            .with_env_from(env(vec![
                ("BALENA_API_KEY", "env-key".into()),
                ("BALENARC_DATA_DIRECTORY", d.clone()),
            ]))
            .build()
            .unwrap();
        assert_eq!(b.credentials(), Some(Credentials::ApiKey("env-key".into())));
        // Else the CLI's token file.
        let b = Balena::builder()
            .with_env_from(env(vec![
                ("BALENARC_DATA_DIRECTORY", d.clone()),
                ("BALENA_API_URL", "http://127.0.0.1:1".into()),
            ]))
            .build()
            .unwrap();
        assert_eq!(
            b.credentials(),
            Some(Credentials::ApiKey("file-token".into()))
        );
        assert_eq!(b.api_url().as_str(), "http://127.0.0.1:1/");
        // No file, no variables: anonymous.
        let empty = tempfile::tempdir().unwrap();
        let b = Balena::builder()
            .with_env_from(env(vec![(
                "HOME",
                empty.path().to_string_lossy().into_owned(),
            )]))
            .build()
            .unwrap();
        assert!(!b.is_logged_in());
        // An unreadable token "file" (a directory) is a configuration error.
        std::fs::create_dir(empty.path().join("token")).unwrap();
        let e = Balena::builder()
            .with_env_from(env(vec![(
                "BALENARC_DATA_DIRECTORY",
                empty.path().to_string_lossy().into_owned(),
            )]))
            .build();
        assert!(matches!(e, Err(Error::Configuration(_))));
    }

    #[test]
    fn expired_token_is_refused() {
        // {"alg":"HS256","typ":"JWT"} . {"id":1,"actor":11,"iat":1600000000,"exp":1600000100}
        let expired = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6MSwiYWN0b3IiOjExLCJpYXQiOjE2MDAwMDAwMDAsImV4cCI6MTYwMDAwMDEwMH0.c2lnbmF0dXJl";
        let b = Balena::builder().build().unwrap();
        assert!(matches!(
            b.login_with_token(expired),
            Err(Error::ExpiredToken { .. })
        ));
        assert!(!b.is_logged_in());
        assert!(Balena::builder().token(expired).build().is_err());
    }
}
