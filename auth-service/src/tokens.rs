//! Signing access tokens, with the rotating Ed25519 keys or the HS256 shared secret.

use std::sync::Arc;

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use shared::Claims;

use crate::configuration::{JwtSettings, SigningAlgorithm};
use crate::keys::KeyRing;
use crate::users::User;

/// A freshly signed access token.
#[derive(Debug)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

enum Signer {
    EdDSA(Arc<KeyRing>),
    Hs256(EncodingKey, DecodingKey),
}

/// Signs access tokens with the configured keys, issuer, audience and lifetime.
pub struct TokenIssuer {
    signer: Signer,
    issuer: String,
    audience: String,
    ttl_seconds: u64,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of every log line.
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl_seconds", &self.ttl_seconds)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer for the configured algorithm; `keys` is required for EdDSA.
    pub fn new(settings: &JwtSettings, keys: Option<Arc<KeyRing>>) -> anyhow::Result<Self> {
        let signer = match settings.algorithm {
            SigningAlgorithm::EdDSA => Signer::EdDSA(keys.context("EdDSA needs a key ring")?),
            SigningAlgorithm::HS256 => {
                let secret = settings.secret.expose_secret().as_bytes();
                Signer::Hs256(
                    EncodingKey::from_secret(secret).context("building the HS256 signing key")?,
                    DecodingKey::from_secret(secret).context("building the HS256 key")?,
                )
            }
        };
        Ok(Self {
            signer,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl_seconds: settings.access_token_ttl_seconds,
        })
    }

    /// Signs a token for `user` in session `sid` (none outside a login), valid from now
    /// for the configured lifetime. If the user's tokens were revoked within this second,
    /// it is dated the next one: revocations cover tokens issued at or before their time,
    /// and this one must not be among them.
    pub fn issue(&self, user: &User, sid: Option<&str>) -> anyhow::Result<IssuedToken> {
        let revoked_before = user
            .revoked_before
            .and_then(|t| u64::try_from(t).ok())
            .unwrap_or(0);
        let now = service_kit::clock::unix_seconds().max(revoked_before + 1);
        let claims = Claims {
            user: user.username.clone(),
            sub: user.id.clone(),
            exp: now + self.ttl_seconds,
            iat: now,
            nbf: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            roles: user.roles.clone(),
            sid: sid.map(str::to_owned),
        };
        let token = match &self.signer {
            Signer::Hs256(key, _) => {
                jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)
            }
            Signer::EdDSA(ring) => {
                let (kid, key) = ring.signer()?;
                let mut header = Header::new(Algorithm::EdDSA);
                header.kid = Some(kid);
                jsonwebtoken::encode(&header, &claims, &key)
            }
        }
        .context("signing an access token")?;
        Ok(IssuedToken {
            token,
            expires_in: self.ttl_seconds,
        })
    }

    /// The claims of `token` and the key id it names, if it is one of ours: signed by a
    /// published key (or the shared secret), with our issuer and audience, not expired and
    /// already valid (2 s of leeway: a token dated a second ahead, after a revocation within
    /// its second, is valid at once). Revocations are not looked at.
    pub fn verify(&self, token: &str) -> Option<(Claims, Option<String>)> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let (key, algorithm) = match &self.signer {
            Signer::Hs256(_, key) => (key.clone(), Algorithm::HS256),
            Signer::EdDSA(ring) => {
                let kid = header.kid.as_deref()?;
                let x = ring.published_key(kid)?;
                (DecodingKey::from_ed_components(&x).ok()?, Algorithm::EdDSA)
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = 2;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).ok()?;
        Some((data.claims, header.kid))
    }
}
