//! Signing access tokens.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::ExposeSecret;
use shared::Claims;

use crate::configuration::JwtSettings;
use crate::users::AuthenticatedUser;

/// A freshly signed access token.
#[derive(Debug)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Signs access tokens with the configured key, issuer, audience and lifetime.
pub struct TokenIssuer {
    key: EncodingKey,
    header: Header,
    issuer: String,
    audience: String,
    ttl_seconds: u64,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of every log line.
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl_seconds", &self.ttl_seconds)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An HS256 issuer for the configured shared secret.
    pub fn new(settings: &JwtSettings) -> anyhow::Result<Self> {
        let key = EncodingKey::from_secret(settings.secret.expose_secret().as_bytes())
            .context("building the HS256 signing key")?;
        Ok(Self {
            key,
            header: Header::new(Algorithm::HS256),
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl_seconds: settings.access_token_ttl_seconds,
        })
    }

    /// Signs a token for `user`, valid from now for the configured lifetime.
    pub fn issue(&self, user: &AuthenticatedUser) -> anyhow::Result<IssuedToken> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("system clock is before 1970")?
            .as_secs();
        let claims = Claims {
            user: user.username.clone(),
            sub: user.subject.clone(),
            exp: now + self.ttl_seconds,
            iat: now,
            nbf: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            roles: user.roles.clone(),
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.key)
            .context("signing an access token")?;
        Ok(IssuedToken {
            token,
            expires_in: self.ttl_seconds,
        })
    }
}
