//! The verified identity the gateway forwards to upstream services, and its header encoding.
//!
//! Usernames may hold any Unicode, but header values are safest as visible ASCII, so every
//! value is percent-encoded (RFC 3986 unreserved characters stay as they are).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::headers::{IDENTITY_ROLES, IDENTITY_SUBJECT, IDENTITY_TOKEN_ID, IDENTITY_USER};

/// Who made a request, as the gateway verified it from the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's `user`.
    pub user: String,
    /// The token's `sub`.
    pub subject: String,
    /// The token's `roles`.
    pub roles: Vec<String>,
    /// The token's `jti`.
    pub token_id: String,
}

/// Why identity headers could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityError {
    /// A required identity header is absent.
    Missing(&'static str),
    /// An identity header is not valid percent-encoded UTF-8.
    Malformed(&'static str),
}

impl std::fmt::Display for IdentityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(name) => write!(f, "identity header {name} is missing"),
            Self::Malformed(name) => write!(f, "identity header {name} is malformed"),
        }
    }
}

impl std::error::Error for IdentityError {}

impl Identity {
    /// The headers that carry this identity, values percent-encoded.
    pub fn to_headers(&self) -> [(&'static str, String); 4] {
        let roles: Vec<String> = self.roles.iter().map(|r| percent_encode(r)).collect();
        [
            (IDENTITY_USER, percent_encode(&self.user)),
            (IDENTITY_SUBJECT, percent_encode(&self.subject)),
            (IDENTITY_ROLES, roles.join(",")),
            (IDENTITY_TOKEN_ID, percent_encode(&self.token_id)),
        ]
    }

    /// Reads an identity back from headers; `get` looks a header up by its lowercase name.
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, IdentityError> {
        let required = |name: &'static str| {
            let raw = get(name).ok_or(IdentityError::Missing(name))?;
            percent_decode(raw).ok_or(IdentityError::Malformed(name))
        };
        let user = required(IDENTITY_USER)?;
        if user.is_empty() {
            return Err(IdentityError::Missing(IDENTITY_USER));
        }
        let roles = match get(IDENTITY_ROLES) {
            None | Some("") => Vec::new(),
            Some(raw) => raw
                .split(',')
                .map(|r| percent_decode(r).ok_or(IdentityError::Malformed(IDENTITY_ROLES)))
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            user,
            subject: required(IDENTITY_SUBJECT)?,
            roles,
            token_id: required(IDENTITY_TOKEN_ID)?,
        })
    }
}

/// Everything but RFC 3986 unreserved characters is escaped.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(value: &str) -> String {
    utf8_percent_encode(value, ESCAPED).to_string()
}

/// Reverses [`percent_encode`]; `None` on a bad escape or bytes that are not UTF-8.
pub fn percent_decode(value: &str) -> Option<String> {
    // The decoder passes a malformed escape through as it is; here it is refused.
    let bytes = value.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_decode_str(value)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn identity(user: &str, roles: &[&str]) -> Identity {
        Identity {
            user: user.into(),
            subject: format!("sub-{user}"),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            token_id: "jti-1".into(),
        }
    }

    fn round_trip(id: &Identity) -> Result<Identity, IdentityError> {
        let headers: HashMap<&str, String> = id.to_headers().into_iter().collect();
        Identity::from_headers(|name| headers.get(name).map(String::as_str))
    }

    #[test]
    fn identities_survive_the_header_round_trip() {
        let cases = [
            ("plain ascii", identity("user1", &[])),
            ("unicode name", identity("zoë 東京", &["admin"])),
            (
                "separators in values",
                identity("a,b%c=d;e", &["x,y", "r%2C"]),
            ),
        ];
        for (why, id) in cases {
            assert_eq!(round_trip(&id).as_ref(), Ok(&id), "{why}");
        }
    }

    #[test]
    fn encoded_values_are_visible_ascii_only() {
        for (_, value) in identity("zoë\r\nx-evil: 1", &["a b"]).to_headers() {
            assert!(value.bytes().all(|b| b.is_ascii_graphic()), "{value}");
        }
    }

    #[test]
    fn bad_identity_headers_are_refused() {
        type Headers = &'static [(&'static str, &'static str)];
        let cases: [(&str, Headers, IdentityError); 3] = [
            ("no user", &[], IdentityError::Missing(IDENTITY_USER)),
            (
                "truncated escape",
                &[(IDENTITY_USER, "ab%4")],
                IdentityError::Malformed(IDENTITY_USER),
            ),
            (
                "invalid utf-8",
                &[(IDENTITY_USER, "%FF")],
                IdentityError::Malformed(IDENTITY_USER),
            ),
        ];
        for (why, headers, expected) in cases {
            let map: HashMap<&str, &str> = headers.iter().copied().collect();
            assert_eq!(
                Identity::from_headers(|n| map.get(n).copied()),
                Err(expected),
                "{why}"
            );
        }
    }
}
