//! Checking a token: size, key, algorithm pinned to the key, signature, then `exp`, `nbf`,
//! `iss`, `aud`.

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use shared::{Claims, Identity};

use super::{JwksCache, Rejection, TokenCache, Verified};
use crate::configuration::{JwtSettings, VerificationMode};
use crate::metrics::Metrics;

/// Longest `kid` looked up; ours are 43 characters.
pub const MAX_KID_BYTES: usize = 128;

/// The validation rules shared by every key; only the algorithm differs per key.
pub fn base_validation(settings: &JwtSettings, algorithm: Algorithm) -> Validation {
    // The allow-list is ours, never the token's: a token naming any other algorithm,
    // `none` included, is refused before its signature is looked at.
    let mut validation = Validation::new(algorithm);
    validation.leeway = settings.leeway_seconds;
    validation.validate_nbf = true;
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation
}

enum Keys {
    Hs256(Box<(DecodingKey, Validation)>),
    Jwks(Arc<JwksCache>),
}

/// Verifies access tokens against the auth-service's published keys (or, in HS256 mode,
/// the shared secret), remembering the ones that verified until they expire.
pub struct TokenVerifier {
    keys: Keys,
    max_token_bytes: usize,
    cache: TokenCache,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.keys {
            Keys::Hs256(..) => "HS256",
            Keys::Jwks(_) => "JWKS",
        };
        f.debug_struct("TokenVerifier")
            .field("mode", &mode)
            .field("max_token_bytes", &self.max_token_bytes)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// A verifier for the configured mode; `jwks` is required in JWKS mode.
    pub fn new(
        settings: &JwtSettings,
        jwks: Option<Arc<JwksCache>>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let keys = match settings.mode {
            VerificationMode::Hs256 => {
                let key = DecodingKey::from_secret(settings.secret.expose_secret().as_bytes())
                    .map_err(|e| anyhow::anyhow!("building the HS256 key: {e}"))?;
                Keys::Hs256(Box::new((key, base_validation(settings, Algorithm::HS256))))
            }
            VerificationMode::Jwks => {
                Keys::Jwks(jwks.ok_or_else(|| anyhow::anyhow!("JWKS mode needs a key cache"))?)
            }
        };
        Ok(Self {
            keys,
            max_token_bytes: settings.max_token_bytes,
            cache: TokenCache::new(settings.cache_capacity),
            metrics,
        })
    }

    /// The identity a valid token carries, or why it is not valid.
    pub async fn verify(&self, token: &str) -> Result<Arc<Verified>, Rejection> {
        if token.len() > self.max_token_bytes {
            return Err(Rejection::TooLarge);
        }
        let now = jsonwebtoken::get_current_timestamp();
        let generation = match &self.keys {
            Keys::Hs256(_) => 0,
            Keys::Jwks(cache) => cache.generation(),
        };
        if let Some(identity) = self.cache.get(token, now, generation) {
            self.metrics.token_cache_hits.inc();
            return Ok(identity);
        }
        self.metrics.token_cache_misses.inc();
        let claims = match &self.keys {
            Keys::Hs256(hs) => decode(token, &hs.0, &hs.1)?,
            Keys::Jwks(cache) => {
                // Only the key id is taken from the unverified header; the algorithm
                // comes from the key itself.
                let header = jsonwebtoken::decode_header(token).map_err(|e| rejection(e.kind()))?;
                let kid = header
                    .kid
                    .filter(|kid| kid.len() <= MAX_KID_BYTES)
                    .ok_or(Rejection::UnknownKey)?;
                let key = cache.key(&kid).await?;
                decode(token, &key.key, &key.validation)?
            }
        };
        let expires_at = claims.exp;
        let identity = Arc::new(Verified::new(Identity {
            user: claims.user,
            subject: claims.sub,
            roles: claims.roles,
            token_id: claims.jti,
        }));
        self.cache
            .insert(token, Arc::clone(&identity), expires_at, now, generation);
        Ok(identity)
    }
}

fn decode(token: &str, key: &DecodingKey, validation: &Validation) -> Result<Claims, Rejection> {
    jsonwebtoken::decode::<Claims>(token, key, validation)
        .map(|data| data.claims)
        .map_err(|e| rejection(e.kind()))
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
