//! Request parameters of the image endpoints: the query string and the body
//! merged into one object, the body winning (as open-balena-api's
//! `{...query, ...body}`), with typed accessors that turn wrong types into
//! 400 answers.
//!
//! The query string is percent-decoded without turning `+` into a space, so
//! `version=2.19.0+rev1.prod` typed by hand means what it says (the SDKs
//! send `%2B`). A body may be JSON (an object) or a URL-encoded form.

use axum::http::StatusCode;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::http::ApiError;

/// Largest request body accepted by the image endpoints.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Merged request parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    map: Map<String, Value>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

fn decode(s: &str, plus_is_space: bool) -> Result<String, ApiError> {
    let s = if plus_is_space {
        std::borrow::Cow::Owned(s.replace('+', " "))
    } else {
        std::borrow::Cow::Borrowed(s)
    };
    percent_decode_str(&s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| bad("Request parameters must be UTF-8"))
}

fn parse_pairs(
    raw: &str,
    plus_is_space: bool,
    map: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode(k, plus_is_space)?;
        let v = decode(v, plus_is_space)?;
        if k.chars().any(char::is_control) {
            return Err(bad("Parameter names must not contain control characters"));
        }
        map.insert(k, Value::String(v));
    }
    Ok(())
}

impl Params {
    /// Parses a raw query string and an optional body (`content_type` says
    /// how). Parameters of the body override those of the query.
    ///
    /// ```
    /// use balena_os_server::images::params::Params;
    /// let p = Params::parse("version=2.19.0+rev1.prod&appId=1", Some("application/json"), br#"{"appId": 7}"#).unwrap();
    /// assert_eq!(p.string("version").unwrap().as_deref(), Some("2.19.0+rev1.prod"));
    /// assert_eq!(p.integer("appId", "bad").unwrap(), Some(7));
    /// ```
    pub fn parse(
        raw_query: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Params, ApiError> {
        let mut map = Map::new();
        parse_pairs(raw_query, false, &mut map)?;
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request body is larger than 64 KiB",
            ));
        }
        let trimmed = body.iter().all(u8::is_ascii_whitespace);
        if !trimmed {
            let ct = content_type.unwrap_or("").to_ascii_lowercase();
            if ct.starts_with("application/x-www-form-urlencoded") {
                let text = std::str::from_utf8(body).map_err(|_| bad("The body must be UTF-8"))?;
                parse_pairs(text.trim(), true, &mut map)?;
            } else {
                match serde_json::from_slice::<Value>(body) {
                    Ok(Value::Object(obj)) => {
                        for (k, v) in obj {
                            map.insert(k, v);
                        }
                    }
                    Ok(_) => return Err(bad("The request body must be a JSON object")),
                    Err(e) => return Err(bad(format!("The request body is not valid JSON: {e}"))),
                }
            }
        }
        Ok(Params { map })
    }

    /// Parameters from an object (for callers that already have one).
    pub fn from_map(map: Map<String, Value>) -> Params {
        Params { map }
    }

    /// The merged object.
    pub fn map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// A raw value; `null` counts as absent.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A string parameter (numbers and booleans are accepted as their
    /// text); absent, `null` and the empty string give `None`.
    pub fn string(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(bad(format!("{key} must be a string"))),
        }
    }

    /// A string parameter that must be a JSON string when given in a body
    /// (numbers are refused with `message`).
    pub fn strict_string(&self, key: &str, message: &str) -> Result<Option<String>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(message)),
        }
    }

    /// An integer parameter (a JSON integer or a decimal string); `message`
    /// is the 400 answer for anything else.
    pub fn integer(&self, key: &str, message: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| bad(message)),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| bad(message)),
            Some(_) => Err(bad(message)),
        }
    }

    /// A boolean parameter: `true`/`on`/`1` and `false`/`off`/`0` (as JSON
    /// booleans, numbers or strings); `None` when absent or empty.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, ApiError> {
        let text = match self.get(key) {
            None => return Ok(None),
            Some(Value::Bool(b)) => return Ok(Some(*b)),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
            Some(_) => return Err(bad(format!("{key} must be true or false"))),
        };
        match text.as_str() {
            "" => Ok(None),
            "true" | "on" | "1" | "yes" => Ok(Some(true)),
            "false" | "off" | "0" | "no" => Ok(Some(false)),
            _ => Err(bad(format!("{key} must be true or false"))),
        }
    }

    /// A non-negative number of minutes (`appUpdatePollInterval`).
    pub fn minutes(&self, key: &str) -> Result<Option<u64>, ApiError> {
        let message = format!("{key} must be a whole number of minutes");
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| bad(message)),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| bad(message)),
            Some(_) => Err(bad(message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_body_merge() {
        let p = Params::parse(
            "deviceType=raspberrypi3&wifiKey=s3cr3t%20pass%26%3D%2B%2F&wifiSsid=My%20Wifi%2F%C3%84%C3%96&version=2.88.4%2Brev1.prod",
            None,
            b"",
        )
        .expect("parse");
        assert_eq!(
            p.string("wifiKey").expect("s").as_deref(),
            Some("s3cr3t pass&=+/")
        );
        assert_eq!(
            p.string("wifiSsid").expect("s").as_deref(),
            Some("My Wifi/ÄÖ")
        );
        assert_eq!(
            p.string("version").expect("s").as_deref(),
            Some("2.88.4+rev1.prod")
        );
        let p = Params::parse(
            "a=1&b=2",
            Some("application/x-www-form-urlencoded"),
            b"b=x+y&c=3",
        )
        .expect("form");
        assert_eq!(p.string("b").expect("s").as_deref(), Some("x y"));
        assert!(Params::parse("", Some("application/json"), b"[1]").is_err());
        assert!(Params::parse("", Some("application/json"), b"{").is_err());
        assert!(Params::parse("a=%FF", None, b"").is_err());
    }

    #[test]
    fn typed_values() {
        let p = Params::parse(
            "",
            Some("application/json"),
            br#"{"n": 5, "s": "6", "e": "", "z": null, "b": "on", "f": 0, "x": {}, "neg": -1, "t": true}"#,
        )
        .expect("parse");
        assert_eq!(p.integer("n", "m").expect("i"), Some(5));
        assert_eq!(p.integer("s", "m").expect("i"), Some(6));
        assert_eq!(p.integer("e", "m").expect("i"), None);
        assert_eq!(p.integer("z", "m").expect("i"), None);
        assert!(p.integer("b", "m").is_err());
        assert_eq!(p.boolean("b").expect("b"), Some(true));
        assert_eq!(p.boolean("f").expect("b"), Some(false));
        assert_eq!(p.boolean("t").expect("b"), Some(true));
        assert!(p.boolean("x").is_err());
        assert!(p.minutes("neg").is_err());
        assert_eq!(p.minutes("n").expect("m"), Some(5));
        assert!(p.string("x").is_err());
        assert!(p.strict_string("n", "must").is_err());
    }
}
