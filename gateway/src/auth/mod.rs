//! Token verification: where the token is found, which keys verify it, what makes it
//! valid, and why it was not.

mod cache;
mod claims;
pub mod ed25519;
mod http_client;
mod jwks;
mod providers;
pub mod revocation;
mod rsa;
mod verifier;

pub use cache::TokenCache;
pub use claims::ClaimMapping;
pub use http_client::{KeysClient, keys_client};
pub use jwks::{JwksCache, JwksCollector};
pub use providers::{Provider, Providers};
pub use revocation::Revocations;
pub use verifier::TokenVerifier;

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use shared::Identity;
use shared::headers::ACCESS_TOKEN;

/// A verified token's identity, with the headers that carry it upstream encoded once, when
/// the token is first verified, rather than on every request that presents it, and what a
/// revocation can name it by.
#[derive(Debug)]
pub struct Verified {
    /// Who the token speaks for.
    pub identity: Identity,
    /// `x-auth-*` names and percent-encoded values (see [`Identity::to_headers`]).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// The issuer (`iss`) of the token.
    pub issuer: Box<str>,
    /// Its session (`sid`), if it names one.
    pub session: Option<Box<str>>,
    /// When it was issued (`iat`), if it says.
    pub issued_at: Option<u64>,
    /// The key id it verified with (JWKS keys).
    pub kid: Option<Box<str>>,
    /// The revocation list's epoch it was last checked at (see [`Revocations`]).
    pub revocation_epoch: std::sync::atomic::AtomicU64,
}

impl Verified {
    /// `identity` from a token of `issuer` with `claims`, verified with key `kid`.
    pub fn from_token(
        identity: Identity,
        issuer: &str,
        claims: &serde_json::Value,
        kid: Option<&str>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            session: claims
                .get("sid")
                .and_then(serde_json::Value::as_str)
                .map(Box::from),
            issued_at: claims
                .get("iat")
                .and_then(|iat| iat.as_u64().or_else(|| iat.as_f64().map(|f| f as u64))),
            kid: kid.map(Box::from),
            ..Self::new(identity)
        }
    }

    /// Encodes `identity`'s headers (a token nothing else is known of).
    pub fn new(identity: Identity) -> Self {
        let headers = identity
            .to_headers()
            .into_iter()
            .filter_map(|(name, value)| {
                // Static lowercase names and percent-encoded values: always valid.
                Some((
                    http::HeaderName::from_static(name),
                    http::HeaderValue::from_str(&value).ok()?,
                ))
            })
            .collect();
        Self {
            identity,
            headers,
            issuer: Box::from(""),
            session: None,
            issued_at: None,
            kid: None,
            revocation_epoch: std::sync::atomic::AtomicU64::new(u64::MAX),
        }
    }

    /// The encoded value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .and_then(|(_, v)| v.to_str().ok())
    }
}

/// Why a token was refused. Clients only ever see the seed's "Token is invalid!"; the
/// reason goes to the logs for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Longer than the configured limit; not parsed at all.
    #[error("token too large")]
    TooLarge,
    /// Not three base64url parts of JSON, claims of the wrong shape, or a `crit` header
    /// naming an extension we do not implement (RFC 7515 §4.1.11).
    #[error("malformed token")]
    Malformed,
    /// `alg` is not on the allow-list (including `none`).
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    /// The signature does not verify with our key.
    #[error("bad signature")]
    BadSignature,
    /// Past `exp` (plus leeway).
    #[error("expired")]
    Expired,
    /// Before `nbf` (minus leeway).
    #[error("not yet valid")]
    NotYetValid,
    /// `iss` names no configured provider, or not the one whose key signed.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` is not ours.
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim (`exp`, `iss`, `sub`, `aud` where audiences are set) is absent.
    #[error("missing claim")]
    MissingClaim,
    /// None of the provider's username claims is present.
    #[error("no username claim")]
    NoUsername,
    /// `iat` lies in the future (beyond the leeway).
    #[error("issued in the future")]
    IssuedInFuture,
    /// No `kid`, or one the JWKS does not have (even after a refetch).
    #[error("unknown key")]
    UnknownKey,
    /// The JWKS has never been fetched: nothing can be verified yet.
    #[error("keys unavailable")]
    KeysUnavailable,
    /// Revoked: a logout, a user's change, an admin, or its key withdrawn.
    #[error("revoked")]
    Revoked,
    /// The revocation list is stale and `revocations.when_stale` is `closed`.
    #[error("revocations stale")]
    RevocationsStale,
}

impl Rejection {
    /// The reason as a metric label value (snake_case).
    pub fn label(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::AlgorithmNotAllowed => "algorithm_not_allowed",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::MissingClaim => "missing_claim",
            Self::NoUsername => "no_username",
            Self::IssuedInFuture => "issued_in_future",
            Self::UnknownKey => "unknown_key",
            Self::KeysUnavailable => "keys_unavailable",
            Self::Revoked => "revoked",
            Self::RevocationsStale => "revocations_stale",
        }
    }
}

/// Stands in for a header value that is not visible ASCII: such a value cannot be a token,
/// but the client did send one, so it must be refused as invalid rather than as missing.
const NOT_A_TOKEN: &str = "!";

/// The seed's header, as a name made once rather than parsed on every lookup.
static ACCESS_TOKEN_HEADER: HeaderName = HeaderName::from_static(ACCESS_TOKEN);

/// The token a request carries: `x-access-token` (the seed's header), else an
/// `Authorization: Bearer` credential. Empty values count as no token, as in the seed.
pub fn token_from(headers: &HeaderMap) -> Option<&str> {
    let header = |name| {
        headers
            .get(name)
            .map(|v| visible_ascii(v).unwrap_or(NOT_A_TOKEN))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    if let Some(token) = header(&ACCESS_TOKEN_HEADER) {
        return Some(token);
    }
    let authorization = header(&header::AUTHORIZATION)?;
    let (scheme, credential) = authorization.split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

/// The value as text when it is visible ASCII (tabs allowed), as `HeaderValue::to_str`
/// decides, but checked without a branch per byte: tokens are hundreds of bytes long and
/// this runs on every request.
fn visible_ascii(value: &HeaderValue) -> Option<&str> {
    let bytes = value.as_bytes();
    let visible = bytes.iter().fold(true, |ok, &b| {
        ok & ((0x20..0x7f).contains(&b) | (b == b'\t'))
    });
    if visible {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_seed_header_comes_first_then_a_bearer_credential() {
        let both = headers(&[
            ("x-access-token", b" a.b.c "),
            ("authorization", b"Bearer d.e.f"),
        ]);
        assert_eq!(token_from(&both), Some("a.b.c"));
        let bearer = headers(&[("authorization", b"bEaReR   d.e.f ")]);
        assert_eq!(token_from(&bearer), Some("d.e.f"));
        for missing in [
            headers(&[]),
            headers(&[("x-access-token", b"  ")]),
            headers(&[("authorization", b"Basic dXNlcjpwYXNz")]),
            headers(&[("authorization", b"Bearer  ")]),
        ] {
            assert_eq!(token_from(&missing), None, "{missing:?}");
        }
    }

    #[test]
    fn a_value_that_is_not_visible_ascii_is_a_token_that_cannot_verify() {
        // Control characters never make it into a header value; bytes past ASCII do.
        for value in [&b"a.b.\xc3\xa9"[..], b"\xff.a.b", b"a.\x80.b"] {
            let map = headers(&[("x-access-token", value)]);
            assert_eq!(token_from(&map), Some(NOT_A_TOKEN), "{value:?}");
            let value = HeaderValue::from_bytes(value).unwrap();
            assert_eq!(visible_ascii(&value), value.to_str().ok());
        }
        let tab = HeaderValue::from_static("a.b\t.c");
        assert_eq!(visible_ascii(&tab), tab.to_str().ok());
    }
}
