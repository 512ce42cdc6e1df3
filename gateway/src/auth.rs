//! Token verification: where the token is found, what makes it valid, and why it was not.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use shared::headers::ACCESS_TOKEN;
use shared::{Claims, Identity};

use crate::configuration::JwtSettings;

/// Why a token was refused. Clients only ever see the seed's "Token is invalid!"; the
/// reason goes to the logs for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
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

/// Verifies access tokens: HS256 only, signature first, then `exp`, `nbf`, `iss`, `aud`.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
    max_token_bytes: usize,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("algorithms", &self.validation.algorithms)
            .field("max_token_bytes", &self.max_token_bytes)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// A verifier for the configured secret, issuer, audience and leeway.
    pub fn new(settings: &JwtSettings) -> anyhow::Result<Self> {
        let key = DecodingKey::from_secret(settings.secret.expose_secret().as_bytes())
            .map_err(|e| anyhow::anyhow!("building the HS256 key: {e}"))?;
        // The allow-list is ours, never the token's: a token naming any other algorithm,
        // `none` included, is refused before its signature is looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = settings.leeway_seconds;
        validation.validate_nbf = true;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Ok(Self {
            key,
            validation,
            max_token_bytes: settings.max_token_bytes,
        })
    }

    /// The identity a valid token carries, or why it is not valid.
    pub fn verify(&self, token: &str) -> Result<Identity, Rejection> {
        if token.len() > self.max_token_bytes {
            return Err(Rejection::TooLarge);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| rejection(e.kind()))?;
        let claims = data.claims;
        Ok(Identity {
            user: claims.user,
            subject: claims.sub,
            roles: claims.roles,
            token_id: claims.jti,
        })
    }
}

fn rejection(kind: &ErrorKind) -> Rejection {
    match kind {
        ErrorKind::InvalidSignature => Rejection::BadSignature,
        ErrorKind::ExpiredSignature => Rejection::Expired,
        ErrorKind::ImmatureSignature => Rejection::NotYetValid,
        ErrorKind::InvalidIssuer => Rejection::WrongIssuer,
        ErrorKind::InvalidAudience => Rejection::WrongAudience,
        ErrorKind::MissingRequiredClaim(_) => Rejection::MissingClaim,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => Rejection::AlgorithmNotAllowed,
        _ => Rejection::Malformed,
    }
}
