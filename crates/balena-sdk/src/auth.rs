//! Credentials: API keys and session tokens (JWTs).
//!
//! The official SDK stores one key and sends it as `Authorization: Bearer
//! <key>` whether it is an API key or a session token. A key counts as a
//! session token when its middle segment decodes to a JSON object (what
//! `jwt-decode` accepts); everything else is an API key.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Session tokens issued this long ago are refreshed before REST calls,
/// like the official SDK does.
pub(crate) const REFRESH_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Credentials used to authenticate requests.
///
/// `Debug` never prints the secret.
///
/// ```
/// use balena_sdk::Credentials;
/// let c = Credentials::from_token("abcdefABCDEF0123456789apikey").unwrap();
/// assert!(matches!(c, Credentials::ApiKey(_)));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// A balena API key (named or legacy).
    ApiKey(String),
    /// A session token (a JWT), as stored by `balena login`.
    SessionToken(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Credentials::SessionToken(_) => f.write_str("SessionToken(<redacted>)"),
        }
    }
}

impl Credentials {
    /// Classifies a token like the official SDK: a decodable JWT is a
    /// session token, anything else an API key. Surrounding whitespace is
    /// trimmed. Fails on an empty token or one containing whitespace or
    /// control characters (it could not be sent in a header).
    pub fn from_token(token: &str) -> Result<Self> {
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::InvalidParameter {
                name: "token",
                value: String::new(),
                reason: "a token cannot be empty".into(),
            });
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::InvalidParameter {
                name: "token",
                value: "<redacted>".into(),
                reason: "a token cannot contain whitespace or control characters".into(),
            });
        }
        Ok(if JwtClaims::decode(token).is_some() {
            Credentials::SessionToken(token.to_owned())
        } else {
            Credentials::ApiKey(token.to_owned())
        })
    }

    /// The secret as sent in the `Authorization` header.
    pub fn token(&self) -> &str {
        match self {
            Credentials::ApiKey(t) | Credentials::SessionToken(t) => t,
        }
    }

    /// Checks a session token's `exp` claim; API keys always pass.
    pub(crate) fn check_not_expired(&self, now: SystemTime) -> Result<()> {
        if let Credentials::SessionToken(t) = self
            && let Some(claims) = JwtClaims::decode(t)
            && let Some(exp) = claims.exp
        {
            let now_s = now
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            if exp <= now_s {
                return Err(Error::ExpiredToken { expired_at: exp });
            }
        }
        Ok(())
    }

    /// True for a session token whose `iat` is at least 24 hours old.
    pub(crate) fn needs_refresh(&self, now: SystemTime) -> bool {
        let Credentials::SessionToken(t) = self else {
            return false;
        };
        let Some(iat) = JwtClaims::decode(t).and_then(|c| c.iat) else {
            return false;
        };
        let issued = UNIX_EPOCH + Duration::from_secs(iat);
        now.duration_since(issued)
            .is_ok_and(|age| age >= REFRESH_AFTER)
    }
}

/// The claims of a JWT that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JwtClaims {
    pub iat: Option<u64>,
    pub exp: Option<u64>,
}

impl JwtClaims {
    /// Decodes the payload segment (no signature check: the API does that).
    pub(crate) fn decode(token: &str) -> Option<Self> {
        let mut parts = token.split('.');
        let _header = parts.next()?;
        let payload = parts.next()?;
        let bytes = base64url_decode(payload)?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let obj = value.as_object()?;
        let num = |k: &str| {
            obj.get(k)
                .and_then(|v| v.as_f64())
                .filter(|n| *n >= 0.0)
                .map(|n| n as u64)
        };
        Some(JwtClaims {
            iat: num("iat"),
            exp: num("exp"),
        })
    }
}

/// Decodes unpadded (or padded) base64url; `None` on any invalid character.
fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if s.len() % 4 == 1 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Same shape as the node-sdk-wire fixtures: header.payload.signature.
    const OLD_JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6MSwiYWN0b3IiOjExLCJqd3Rfc2VjcmV0IjoieCIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwfQ.c2lnbmF0dXJl";

    #[test]
    fn base64url_roundtrip_known() {
        assert_eq!(base64url_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64url_decode("aGVsbG8=").unwrap(), b"hello");
        assert!(base64url_decode("a").is_none());
        assert!(base64url_decode("a$b").is_none());
    }

    #[test]
    fn classifies_tokens() {
        assert!(matches!(
            Credentials::from_token(OLD_JWT).unwrap(),
            Credentials::SessionToken(_)
        ));
        assert!(matches!(
            Credentials::from_token("plainkey").unwrap(),
            Credentials::ApiKey(_)
        ));
        assert!(Credentials::from_token("  ").is_err());
        assert!(Credentials::from_token("a b").is_err());
    }

    #[test]
    fn refresh_and_expiry() {
        let c = Credentials::from_token(OLD_JWT).unwrap();
        let claims = JwtClaims::decode(OLD_JWT).unwrap();
        assert_eq!(claims.iat, Some(1_700_000_000));
        assert_eq!(claims.exp, Some(4_102_444_800));
        let just_after = UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 60);
        assert!(!c.needs_refresh(just_after));
        let day_after = UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 86_400);
        assert!(c.needs_refresh(day_after));
        assert!(c.check_not_expired(day_after).is_ok());
        let far = UNIX_EPOCH + Duration::from_secs(4_102_444_800);
        assert!(matches!(
            c.check_not_expired(far),
            Err(Error::ExpiredToken { .. })
        ));
        let debug = format!("{c:?}");
        assert!(!debug.contains("eyJ"));
    }
}
