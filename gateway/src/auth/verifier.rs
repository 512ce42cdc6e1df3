//! Checking a token: size, the provider its `iss` names, key, algorithm pinned to the key,
//! signature, then `exp`, `nbf`, `iat`, `iss`, `aud`, and the provider's claim mapping.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::providers::{Provider, ProviderKeys, Providers};
use super::{JwksCache, Rejection, Revocations, TokenCache, Verified};
use crate::configuration::JwtSettings;
use crate::metrics::Metrics;

/// Longest `kid` looked up; ours are 43 characters.
pub const MAX_KID_BYTES: usize = 128;

/// Verifies access tokens against the keys of the provider that issued them (our
/// auth-service's published keys, its shared secret in HS256 mode, or another OpenID
/// provider's JWKS), remembering the ones that verified until they expire.
pub struct TokenVerifier {
    providers: Providers,
    leeway_seconds: u64,
    max_token_bytes: usize,
    cache: TokenCache,
    revocations: Arc<Revocations>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("providers", &self.providers)
            .field("max_token_bytes", &self.max_token_bytes)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// A verifier of our auth-service's tokens alone: `jwks` is its key cache in JWKS
    /// mode (required there), unused in HS256 mode.
    pub fn new(
        settings: &JwtSettings,
        jwks: Option<Arc<JwksCache>>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        Ok(Self::with_providers(
            settings,
            Providers::single(settings, jwks)?,
            metrics,
        ))
    }

    /// A verifier of every provider in `providers`.
    pub fn with_providers(
        settings: &JwtSettings,
        providers: Providers,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            providers,
            leeway_seconds: settings.leeway_seconds,
            max_token_bytes: settings.max_token_bytes,
            cache: TokenCache::new(settings.cache_bytes),
            revocations: Arc::new(Revocations::disabled()),
            metrics,
        }
    }

    /// The same verifier, refusing what `revocations` holds.
    pub fn with_revocations(self, revocations: Arc<Revocations>) -> Self {
        Self {
            revocations,
            ..self
        }
    }

    /// The accepted providers.
    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// The identity a valid token carries, or why it is not valid.
    pub async fn verify(&self, token: &str) -> Result<Arc<Verified>, Rejection> {
        if token.len() > self.max_token_bytes {
            return Err(Rejection::TooLarge);
        }
        let now = jsonwebtoken::get_current_timestamp();
        let generation = self.providers.generation();
        // Read before any check: a revocation applied meanwhile moves it on, and the token
        // is checked again on its next use.
        let epoch = self.revocations.epoch();
        if let Some(identity) = self.cache.get(token, now, generation) {
            self.metrics.token_cache_hits.inc();
            if let Err(refused) = self.revocations.admit(&identity, epoch, now) {
                if refused == Rejection::Revoked {
                    self.cache.remove(token);
                }
                return Err(refused);
            }
            return Ok(identity);
        }
        self.metrics.token_cache_misses.inc();
        // With one provider its own checks refuse a foreign `iss`; with several, the
        // unverified `iss` only picks whose keys and rules apply, and those rules then
        // require that very `iss`.
        let provider = if self.providers.is_single() {
            self.providers.default_provider()
        } else {
            self.providers
                .find(&unverified_issuer(token)?)
                .ok_or(Rejection::WrongIssuer)?
        };
        let (claims, kid) = self.checked_claims(provider, token, now).await?;
        let identity = Arc::new(Verified::from_token(
            provider.mapping.identity(&claims)?,
            &provider.issuer,
            &claims,
            kid.as_deref(),
        ));
        self.revocations.admit(&identity, epoch, now)?;
        // `exp` is required and was checked to be a number by now.
        let expires_at = claims["exp"]
            .as_u64()
            .or_else(|| claims["exp"].as_f64().map(|f| f as u64))
            .ok_or(Rejection::Malformed)?;
        self.cache.insert(
            token,
            Arc::clone(&identity),
            kid.as_deref(),
            expires_at,
            now,
            generation,
        );
        Ok(identity)
    }

    /// The claims of `token` once its signature and registered claims hold for
    /// `provider`, and the key id it was verified with (JWKS keys).
    async fn checked_claims(
        &self,
        provider: &Provider,
        token: &str,
        now: u64,
    ) -> Result<(Value, Option<String>), Rejection> {
        let (claims, kid) = match &provider.keys {
            ProviderKeys::Secret(hs) => (decode(token, &hs.0, &hs.1)?, None),
            ProviderKeys::Jwks(cache) => {
                // Only the key id is taken from the unverified header; the algorithm
                // comes from the key itself.
                let header = jsonwebtoken::decode_header(token).map_err(|e| rejection(e.kind()))?;
                let kid = header
                    .kid
                    .filter(|kid| kid.len() <= MAX_KID_BYTES)
                    .ok_or(Rejection::UnknownKey)?;
                let key = cache.key(&kid).await?;
                (decode(token, &key.key, &key.validation)?, Some(kid))
            }
        };
        if !claims.is_object() {
            return Err(Rejection::Malformed);
        }
        // `iat` is optional; when present it must not lie in the future.
        if let Some(iat) = claims.get("iat") {
            let iat = iat.as_f64().ok_or(Rejection::Malformed)?;
            if iat > (now + self.leeway_seconds) as f64 {
                return Err(Rejection::IssuedInFuture);
            }
        }
        Ok((claims, kid))
    }

    /// The verified-token cache, to drop entries from (revocations, retired keys).
    pub fn cache(&self) -> &TokenCache {
        &self.cache
    }
}

/// The `iss` of a token not verified yet: it only chooses the provider whose rules then
/// check it.
fn unverified_issuer(token: &str) -> Result<String, Rejection> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: Option<String>,
    }
    let payload = token.split('.').nth(1).ok_or(Rejection::Malformed)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Rejection::Malformed)?;
    let issuer: Issuer = serde_json::from_slice(&json).map_err(|_| Rejection::Malformed)?;
    issuer.iss.ok_or(Rejection::MissingClaim)
}

fn decode(token: &str, key: &DecodingKey, validation: &Validation) -> Result<Value, Rejection> {
    jsonwebtoken::decode::<Value>(token, key, validation)
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
