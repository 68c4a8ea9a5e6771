//! [`PineRequest`]: resource, key and options of one pine GET.

use crate::ast::{Identifier, ResourceKey};
use crate::encode::{self, Mode};
use crate::error::{IdentifierError, ParseError};
use crate::options::ODataOptions;

/// One pine request: `/<version>/<resource>[(<key>)]?<options>`.
///
/// ```
/// use balena_pine::{ODataOptions, PineRequest, ResourceKey};
/// use serde_json::json;
///
/// let mut request = PineRequest::new("device_type", ODataOptions::from_json(&json!({"$select": "slug"})).unwrap());
/// request.key = Some(ResourceKey::Integer(2));
/// assert_eq!(request.to_url_path("v7"), "/v7/device_type(2)?$select=slug");
///
/// let (version, parsed) = PineRequest::parse("/v7/device_type(2)?$select=slug").unwrap();
/// assert_eq!(version, "v7");
/// assert_eq!(parsed, request);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PineRequest {
    /// The resource (`application`, `release`, …). Parsed requests always
    /// hold a valid [`Identifier`]; see [`try_new`](Self::try_new).
    pub resource: String,
    /// The key, for single-row addressing.
    pub key: Option<ResourceKey>,
    /// The query options, including custom parameters such as `apikey` and
    /// the count flag (`/$count`).
    pub options: ODataOptions,
}

impl PineRequest {
    /// A request without a key.
    pub fn new(resource: impl Into<String>, options: ODataOptions) -> Self {
        PineRequest {
            resource: resource.into(),
            key: None,
            options,
        }
    }

    /// Like [`new`](Self::new), checking that the resource name is an
    /// identifier (which the parser requires).
    ///
    /// # Errors
    /// [`IdentifierError`] for a bad resource name.
    pub fn try_new(
        resource: impl Into<String>,
        options: ODataOptions,
    ) -> Result<Self, IdentifierError> {
        let resource = resource.into();
        Identifier::new(resource.as_str())?;
        Ok(PineRequest::new(resource, options))
    }

    /// The path and query the JavaScript SDK requests, byte for byte:
    /// `/v7/application?$select=…`. `api_version` is the first path segment
    /// without slashes (`"v7"`).
    ///
    /// Like pinejs-client, the resource name is written with
    /// `encodeURIComponent`, and a count request puts `/$count` before the key.
    pub fn to_url_path(&self, api_version: &str) -> String {
        let mut out = String::with_capacity(64);
        out.push('/');
        encode::encode_uri_component(&mut out, api_version.trim_matches('/'));
        out.push('/');
        encode::encode_uri_component(&mut out, &self.resource);
        if self.options.is_count() {
            out.push_str("/$count");
        }
        if let Some(key) = &self.key {
            out.push('(');
            encode::write_key(&mut out, key);
            out.push(')');
        }
        if !self.options.options().is_empty() {
            out.push('?');
            encode::write_options(&mut out, &self.options, Mode::Query, false);
        }
        out
    }

    /// Parses a request target (`/v7/application(1)?$select=id`) into the API
    /// version (`"v7"`) and the request.
    ///
    /// Accepted: `/<vN>/<resource>`, then optionally `/$count`, `(<key>)`
    /// (`1`, `'text'`, `name='text',other=2`), `/$count` (if not given
    /// before), and a query string; see [`ODataOptions::parse_query`].
    ///
    /// # Errors
    /// [`ParseError`] with the byte offset in `path_and_query` and what was
    /// expected there.
    pub fn parse(path_and_query: &str) -> Result<(String, PineRequest), ParseError> {
        crate::parse::parse_request(path_and_query)
    }

    /// The `apikey` query parameter, if given (the server accepts it as
    /// an alternative to the `Authorization` header).
    pub fn api_key(&self) -> Option<&str> {
        self.options.custom_param("apikey")
    }
}
