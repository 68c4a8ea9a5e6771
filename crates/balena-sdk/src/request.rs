//! Sans-I/O request descriptions and response decoding.
//!
//! Everything here is pure: functions build an [`ApiRequest`] (method, path
//! with its already-encoded query, JSON body) or turn a [`RawResponse`]
//! (status, content type, body bytes) into a result or an [`Error`]. The
//! [`crate::Balena`] client only sends what these functions describe, which
//! keeps the wire format testable without a network.

use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};

/// The HTTP methods the SDK uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method as it goes on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    pub(crate) fn to_reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        }
    }
}

/// How a request is sent and how its answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestKind {
    /// A pine (OData) query under `/v7/`: the answer must be `{"d": [...]}`;
    /// a 401 without credentials becomes [`Error::Unauthorized`].
    Pine,
    /// A REST call (`/download-config`, `/device-types/v1/...`): a session
    /// token older than a day is refreshed first.
    Rest,
    /// A streamed download (`/download`): no overall timeout.
    Stream,
}

/// A request, fully described: the client adds the base URL and headers.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: Method,
    /// Absolute path plus the already percent-encoded query
    /// (e.g. `/v7/device_type?$select=slug`).
    pub path_and_query: String,
    /// JSON body, sent with `Content-Type: application/json`.
    pub body: Option<Value>,
    /// How to send and decode it.
    pub kind: RequestKind,
    /// Whether to send the stored credentials (`Authorization: Bearer`).
    pub send_token: bool,
}

impl ApiRequest {
    /// A `GET` of a pine path.
    ///
    /// ```
    /// use balena_sdk::request::ApiRequest;
    /// let r = ApiRequest::pine("/v7/device_type(1)?$select=slug".into());
    /// assert_eq!(r.describe(), "GET /v7/device_type(1)");
    /// ```
    pub fn pine(path_and_query: String) -> Self {
        ApiRequest {
            method: Method::Get,
            path_and_query,
            body: None,
            kind: RequestKind::Pine,
            send_token: true,
        }
    }

    /// A REST request with an optional JSON body.
    pub fn rest(method: Method, path_and_query: String, body: Option<Value>) -> Self {
        ApiRequest {
            method,
            path_and_query,
            body,
            kind: RequestKind::Rest,
            send_token: true,
        }
    }

    /// Appends `apikey=<key>` to the query by plain concatenation, the way
    /// balena-request does (the API accepts a key in the query string).
    /// The key is percent-encoded so it cannot change the query's structure.
    pub fn with_api_key_query(mut self, key: &str) -> Self {
        let sep = if self.path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        self.path_and_query.push(sep);
        self.path_and_query.push_str("apikey=");
        self.path_and_query.push_str(&encode_query_component(key));
        self
    }

    /// `METHOD /path` (without the query, which can hold secrets such as a
    /// wifi key): how requests are named in error messages.
    pub fn describe(&self) -> String {
        let path = self.path_and_query.split('?').next().unwrap_or_default();
        format!("{} {}", self.method.as_str(), path)
    }
}

/// A response as read from the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct RawResponse {
    /// HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The complete body.
    pub body: Bytes,
}

/// A response body interpreted like balena-request does: JSON when the
/// content type says so, text otherwise.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseBody {
    /// A parsed JSON document.
    Json(Value),
    /// Anything else, as text (lossy UTF-8).
    Text(String),
}

impl RawResponse {
    pub(crate) fn is_json(&self) -> bool {
        self.content_type
            .as_deref()
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("application/json"))
    }

    /// The body interpreted by content type. Invalid JSON under a JSON
    /// content type is returned as text.
    pub fn body(&self) -> ResponseBody {
        if self.is_json()
            && let Ok(v) = serde_json::from_slice(&self.body)
        {
            return ResponseBody::Json(v);
        }
        ResponseBody::Text(String::from_utf8_lossy(&self.body).into_owned())
    }
}

/// Extracts the human message from an error body, in the official SDK's
/// order: empty body → "The request was unsuccessful"; `error.text`;
/// `message` (a string); `error` (a string); else the body itself. A JSON
/// body with none of those fields is rendered as compact JSON (the official
/// SDK prints `[object Object]` there).
///
/// ```
/// use balena_sdk::request::{error_message, ResponseBody};
/// let body = ResponseBody::Json(serde_json::json!({"error": {"text": "Bad filter"}}));
/// assert_eq!(error_message(&body), "Bad filter");
/// assert_eq!(error_message(&ResponseBody::Text(String::new())), "The request was unsuccessful");
/// ```
pub fn error_message(body: &ResponseBody) -> String {
    const EMPTY: &str = "The request was unsuccessful";
    match body {
        ResponseBody::Text(t) if t.is_empty() => EMPTY.to_owned(),
        ResponseBody::Text(t) => t.clone(),
        ResponseBody::Json(v) => {
            if let Some(t) = v.pointer("/error/text").and_then(Value::as_str) {
                return t.to_owned();
            }
            if let Some(m) = v.get("message").and_then(Value::as_str) {
                return m.to_owned();
            }
            if let Some(e) = v.get("error").and_then(Value::as_str) {
                return e.to_owned();
            }
            match v {
                Value::String(s) if s.is_empty() => EMPTY.to_owned(),
                Value::String(s) => s.clone(),
                Value::Null => EMPTY.to_owned(),
                other => other.to_string(),
            }
        }
    }
}

/// Turns a status of 400 or more into [`Error::RequestFailed`] (or
/// [`Error::Unauthorized`] for a pine 401 sent without credentials).
pub fn check_status(req: &ApiRequest, resp: &RawResponse, authenticated: bool) -> Result<()> {
    if resp.status < 400 {
        return Ok(());
    }
    if resp.status == 401 && req.kind == RequestKind::Pine && !authenticated {
        return Err(Error::Unauthorized {
            request: req.describe(),
        });
    }
    let body = resp.body();
    let message = error_message(&body);
    Err(Error::RequestFailed {
        request: req.describe(),
        status: resp.status,
        message,
        body: match body {
            ResponseBody::Json(v) => Some(v),
            ResponseBody::Text(_) => None,
        },
    })
}

/// Decodes a pine answer into its `d` rows.
pub fn decode_pine_rows(
    req: &ApiRequest,
    resp: &RawResponse,
    authenticated: bool,
) -> Result<Vec<Value>> {
    check_status(req, resp, authenticated)?;
    let value = match resp.body() {
        ResponseBody::Json(v) => v,
        ResponseBody::Text(_) => {
            return Err(Error::UnexpectedResponse {
                request: req.describe(),
                reason: format!(
                    "expected a JSON object, got content type {:?}",
                    resp.content_type.as_deref().unwrap_or("(none)")
                ),
            });
        }
    };
    match value {
        Value::Object(mut obj) => match obj.remove("d") {
            Some(Value::Array(rows)) => Ok(rows),
            Some(other) => Err(Error::Decode {
                request: req.describe(),
                path: "d".into(),
                message: format!("expected an array, got {}", json_type(&other)),
            }),
            None => Err(Error::UnexpectedResponse {
                request: req.describe(),
                reason: "the 'd' property is missing".into(),
            }),
        },
        other => Err(Error::UnexpectedResponse {
            request: req.describe(),
            reason: format!("expected a JSON object, got {}", json_type(&other)),
        }),
    }
}

/// Decodes a pine answer addressed to one row: `None` when `d` is empty,
/// an error when it has several rows.
pub fn decode_pine_single(
    req: &ApiRequest,
    resp: &RawResponse,
    authenticated: bool,
) -> Result<Option<Value>> {
    let mut rows = decode_pine_rows(req, resp, authenticated)?;
    match rows.len() {
        0 => Ok(None),
        1 => Ok(rows.pop()),
        n => Err(Error::UnexpectedResponse {
            request: req.describe(),
            reason: format!("returned {n} results when only one was expected"),
        }),
    }
}

/// Decodes a JSON value into `T`, reporting the path of the first mismatch.
pub fn decode_value<T: DeserializeOwned>(req: &ApiRequest, value: Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| Error::Decode {
        request: req.describe(),
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// Decodes a successful REST answer's JSON body into `T`.
pub fn decode_json<T: DeserializeOwned>(
    req: &ApiRequest,
    resp: &RawResponse,
    authenticated: bool,
) -> Result<T> {
    check_status(req, resp, authenticated)?;
    let mut de = serde_json::Deserializer::from_slice(&resp.body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| Error::Decode {
        request: req.describe(),
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// RFC 3986 unreserved characters stay; everything else is percent-encoded
/// (what `qs.stringify` does by default).
const QS_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a query key or value like `qs.stringify` (space `%20`,
/// `+` `%2B`, `/` `%2F`, UTF-8 bytes escaped; `-._~` kept).
///
/// ```
/// assert_eq!(balena_sdk::request::encode_query_component("a b+/Ä"), "a%20b%2B%2F%C3%84");
/// ```
pub fn encode_query_component(s: &str) -> String {
    utf8_percent_encode(s, QS_COMPONENT).to_string()
}

/// Builds `k1=v1&k2=v2` with [`encode_query_component`].
pub fn encode_query<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                encode_query_component(k),
                encode_query_component(&v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resp(status: u16, ct: &str, body: &str) -> RawResponse {
        RawResponse {
            status,
            content_type: Some(ct.into()),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn message_extraction_order() {
        let j = |v: Value| error_message(&ResponseBody::Json(v));
        assert_eq!(j(json!({"error": {"text": "t"}, "message": "m"})), "t");
        assert_eq!(j(json!({"message": "m", "error": "e"})), "m");
        assert_eq!(j(json!({"message": 5, "error": "e"})), "e");
        assert_eq!(j(json!({"foo": "bar"})), r#"{"foo":"bar"}"#);
        assert_eq!(j(json!("plain")), "plain");
    }

    #[test]
    fn pine_decoding() {
        let req = ApiRequest::pine("/v7/x?$select=a".into());
        assert_eq!(
            decode_pine_rows(&req, &resp(200, "application/json", r#"{"d":[1]}"#), true).unwrap(),
            vec![json!(1)]
        );
        let e = decode_pine_rows(&req, &resp(200, "text/plain", r#"{"d":[]}"#), true).unwrap_err();
        assert!(matches!(e, Error::UnexpectedResponse { .. }), "{e}");
        let e = decode_pine_rows(
            &req,
            &resp(200, "application/json", r#"{"value":[]}"#),
            true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("'d' property is missing"));
        let e =
            decode_pine_rows(&req, &resp(401, "text/plain", "Unauthorized"), false).unwrap_err();
        assert!(matches!(e, Error::Unauthorized { .. }));
        let e = decode_pine_rows(&req, &resp(401, "text/plain", "Unauthorized"), true).unwrap_err();
        assert!(matches!(e, Error::RequestFailed { status: 401, .. }));
        let e = decode_pine_rows(&req, &resp(503, "text/plain", ""), true).unwrap_err();
        assert!(e.to_string().contains("The request was unsuccessful"));
        let e = decode_pine_single(&req, &resp(200, "application/json", r#"{"d":[1,2]}"#), true)
            .unwrap_err();
        assert!(e.to_string().contains("only one"));
    }

    #[test]
    fn decode_reports_path() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct S {
            size: u64,
        }
        let req = ApiRequest::rest(Method::Get, "/x".into(), None);
        let e = decode_json::<S>(
            &req,
            &resp(200, "application/json", r#"{"size":"x"}"#),
            true,
        )
        .unwrap_err();
        match e {
            Error::Decode { path, .. } => assert_eq!(path, "size"),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn api_key_query_and_description() {
        let r = ApiRequest::pine("/v7/device_type?$select=slug".into()).with_api_key_query("k&y");
        assert_eq!(
            r.path_and_query,
            "/v7/device_type?$select=slug&apikey=k%26y"
        );
        let r = ApiRequest::rest(Method::Get, "/download?wifiKey=secret".into(), None);
        assert_eq!(r.describe(), "GET /download");
    }
}
