//! Token verification: where the token is found, which keys verify it, what makes it
//! valid, and why it was not.

mod cache;
mod jwks;
mod verifier;

pub use cache::TokenCache;
pub use jwks::JwksCache;
pub use verifier::TokenVerifier;

use shared::headers::ACCESS_TOKEN;

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
    /// `iss` is not ours.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` is not ours.
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim is absent.
    #[error("missing claim")]
    MissingClaim,
    /// No `kid`, or one the JWKS does not have (even after a refetch).
    #[error("unknown key")]
    UnknownKey,
    /// The JWKS has never been fetched: nothing can be verified yet.
    #[error("keys unavailable")]
    KeysUnavailable,
}

/// Stands in for a header value that is not visible ASCII: such a value cannot be a token,
/// but the client did send one, so it must be refused as invalid rather than as missing.
const NOT_A_TOKEN: &str = "!";

/// The token a request carries: `x-access-token` (the seed's header), else an
/// `Authorization: Bearer` credential. Empty values count as no token, as in the seed.
pub fn token_from(headers: &actix_web::http::header::HeaderMap) -> Option<&str> {
    let header = |name| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or(NOT_A_TOKEN))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    if let Some(token) = header(ACCESS_TOKEN) {
        return Some(token);
    }
    let authorization = header(actix_web::http::header::AUTHORIZATION.as_str())?;
    let (scheme, credential) = authorization.split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}
