//! The token issuers the gateway accepts, each found by a token's `iss`: our auth-service
//! (the default provider, `[jwt]`) first, then every `[[providers]]` entry.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use tokio::task::JoinHandle;

use super::claims::ClaimMapping;
use super::jwks::{JwksCache, template};
use crate::configuration::{JwtSettings, ProviderSettings, RolesClaim, Settings, VerificationMode};

/// Where a provider's keys come from.
pub enum ProviderKeys {
    /// HS256 mode: the secret shared with our auth-service, and the rules for it.
    Secret(Box<(DecodingKey, Validation)>),
    /// A JWKS, fetched and cached.
    Jwks(Arc<JwksCache>),
}

impl std::fmt::Debug for ProviderKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret([REDACTED])"),
            Self::Jwks(cache) => f.debug_tuple("Jwks").field(cache).finish(),
        }
    }
}

/// One issuer: its keys and how its claims map onto an identity.
pub struct Provider {
    /// A name for logs.
    pub name: String,
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// Its keys.
    pub keys: ProviderKeys,
    /// Username and roles from its claims.
    pub mapping: ClaimMapping,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Every accepted issuer, the default provider first.
#[derive(Debug)]
pub struct Providers {
    list: Vec<Provider>,
    /// Bumped by any provider's cache when its key ids change.
    generation: Arc<AtomicU64>,
}

fn mapping(username_claims: &[String], roles_claim: &str) -> anyhow::Result<ClaimMapping> {
    Ok(ClaimMapping {
        username_claims: username_claims.to_vec(),
        roles: RolesClaim::parse("roles_claim", roles_claim)?,
    })
}

impl Providers {
    /// The default provider alone, with `jwks` as its keys (JWKS mode) or the shared
    /// secret (HS256 mode). Providers added later count key changes on `jwks`'s counter.
    pub fn single(jwt: &JwtSettings, jwks: Option<Arc<JwksCache>>) -> anyhow::Result<Self> {
        let generation = jwks.as_ref().map_or_else(
            || Arc::new(AtomicU64::new(0)),
            |cache| cache.generation_counter(),
        );
        let keys = match jwt.mode {
            VerificationMode::Hs256 => {
                let key = DecodingKey::from_secret(jwt.secret.expose_secret().as_bytes())
                    .map_err(|e| anyhow::anyhow!("building the HS256 key: {e}"))?;
                let mut validation = template(
                    &jwt.issuer,
                    std::slice::from_ref(&jwt.audience),
                    jwt.leeway_seconds,
                );
                validation.algorithms = vec![Algorithm::HS256];
                ProviderKeys::Secret(Box::new((key, validation)))
            }
            VerificationMode::Jwks => ProviderKeys::Jwks(
                jwks.ok_or_else(|| anyhow::anyhow!("JWKS mode needs a key cache"))?,
            ),
        };
        Ok(Self {
            list: vec![Provider {
                name: "auth-service".into(),
                issuer: jwt.issuer.clone(),
                keys,
                mapping: mapping(&jwt.username_claims, &jwt.roles_claim)?,
            }],
            generation,
        })
    }

    /// The default provider with `jwks` as its keys, then every configured provider with
    /// a key cache of its own.
    pub fn new(settings: &Settings, jwks: Option<Arc<JwksCache>>) -> anyhow::Result<Self> {
        let mut providers = Self::single(&settings.jwt, jwks)?;
        for provider in &settings.providers {
            providers.add(provider, &settings.jwt)?;
        }
        Ok(providers)
    }

    fn add(&mut self, provider: &ProviderSettings, jwt: &JwtSettings) -> anyhow::Result<()> {
        for algorithm in &provider.algorithms {
            Algorithm::from_str(algorithm).map_err(|_| {
                anyhow::anyhow!("provider {}: algorithm {algorithm:?}", provider.name)
            })?;
        }
        let cache = JwksCache::for_provider(provider, jwt, Arc::clone(&self.generation))?;
        self.list.push(Provider {
            name: provider.name.clone(),
            issuer: provider.issuer.clone(),
            keys: ProviderKeys::Jwks(Arc::new(cache)),
            mapping: mapping(&provider.username_claims, &provider.roles_claim)?,
        });
        Ok(())
    }

    /// The default provider, our auth-service.
    pub fn default_provider(&self) -> &Provider {
        &self.list[0]
    }

    /// Whether the default provider is the only one.
    pub fn is_single(&self) -> bool {
        self.list.len() == 1
    }

    /// The provider whose tokens carry `iss`.
    pub fn find(&self, issuer: &str) -> Option<&Provider> {
        self.list.iter().find(|p| p.issuer == issuer)
    }

    /// A number that changes whenever any provider's key ids change.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Starts the key refreshers of the providers other than the default one (whose
    /// refresher the gateway starts with its own cache).
    /// Every provider's JWKS cache (HS256 mode's secret has none).
    pub fn jwks_caches(&self) -> Vec<Arc<JwksCache>> {
        self.list
            .iter()
            .filter_map(|p| match &p.keys {
                ProviderKeys::Jwks(cache) => Some(Arc::clone(cache)),
                ProviderKeys::Secret(_) => None,
            })
            .collect()
    }

    pub fn spawn_refreshers(&self, interval: Duration) -> Vec<JoinHandle<()>> {
        self.list[1..]
            .iter()
            .filter_map(|p| match &p.keys {
                ProviderKeys::Jwks(cache) => Some(cache.spawn_refresher(interval)),
                ProviderKeys::Secret(_) => None,
            })
            .collect()
    }
}
