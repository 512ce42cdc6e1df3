//! One provider's public keys, fetched from its JWKS and cached.
//!
//! Refreshed on a timer; a token with a `kid` the cache does not know triggers one refetch,
//! at most once per cooldown, so random kids cannot turn the gateway into a flood against
//! the provider. While the provider is down, the cached keys keep serving. Without a
//! configured JWKS URL, the provider's OpenID discovery document names it.

mod discovery;
mod keys;
mod stats;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, Validation};

pub use keys::{VerifyingKey, template};
pub use stats::{FetchStats, JwksCollector};

use super::Rejection;
use super::http_client::{KeysClient, keys_client};
use crate::configuration::{JwtSettings, ProviderSettings};

/// Retry pace, for both the timer and unknown kids, until the first fetch succeeds (the
/// gateway may well start before the auth-service).
pub const UNLOADED_RETRY: Duration = Duration::from_millis(500);
/// Largest JWKS or discovery document read.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

type KeyMap = HashMap<String, Arc<VerifyingKey>>;

/// The cache of one provider's published keys.
pub struct JwksCache {
    /// The provider's name, for logs.
    name: String,
    issuer: String,
    /// The configured JWKS URL; empty: discovered.
    configured_url: String,
    discovered_url: RwLock<Option<String>>,
    client: KeysClient,
    allowed: Vec<Algorithm>,
    template: Validation,
    cooldown: Duration,
    keys: RwLock<Option<Arc<KeyMap>>>,
    /// Bumped whenever the set of key ids changes, so verified-token caches forget; shared
    /// by every provider's cache.
    generation: Arc<AtomicU64>,
    /// One fetch at a time; holds when the last fetch for an unknown kid started.
    /// Scheduled refreshes do not count against the cooldown.
    fetching: tokio::sync::Mutex<Option<Instant>>,
    /// Fetches by outcome, the keys' age, the provider's clock.
    stats: FetchStats,
    /// Clock skew tolerated on tokens: a provider's clock further off is logged.
    leeway: Duration,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("provider", &self.name)
            .field("url", &self.configured_url)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// An empty cache for the default provider, our auth-service, as `[jwt]` sets it up.
    pub fn new(settings: &JwtSettings) -> anyhow::Result<Self> {
        Self::for_provider(
            &ProviderSettings::from_jwt(settings),
            settings,
            Arc::new(AtomicU64::new(0)),
        )
    }

    /// An empty cache for `provider`; `jwt` gives the leeway and the refetch cooldown, and
    /// `generation` is the counter shared by all providers' caches.
    pub fn for_provider(
        provider: &ProviderSettings,
        jwt: &JwtSettings,
        generation: Arc<AtomicU64>,
    ) -> anyhow::Result<Self> {
        let allowed = provider
            .algorithms
            .iter()
            .map(|a| Algorithm::from_str(a).map_err(|_| anyhow::anyhow!("algorithm {a:?}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            name: provider.name.clone(),
            issuer: provider.issuer.clone(),
            configured_url: provider.jwks_url.clone(),
            discovered_url: RwLock::new(None),
            // Discovery may name an https JWKS whatever the issuer's scheme.
            client: keys_client(
                provider.ca_file.as_deref(),
                provider.jwks_url.is_empty() || provider.jwks_url.starts_with("https://"),
            )
            .with_context(|| format!("provider {}", provider.name))?,
            allowed,
            template: template(&provider.issuer, &provider.audiences, jwt.leeway_seconds),
            cooldown: Duration::from_secs(jwt.jwks_refetch_cooldown_seconds),
            keys: RwLock::new(None),
            generation,
            fetching: tokio::sync::Mutex::new(None),
            stats: FetchStats::default(),
            leeway: Duration::from_secs(jwt.leeway_seconds),
        })
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What its fetches came to.
    pub fn stats(&self) -> &FetchStats {
        &self.stats
    }

    /// Whether the provider's clock, as last read, is off from ours by more than the
    /// leeway (whole seconds, so one more second is allowed).
    pub fn clock_is_off(&self) -> bool {
        let limit = self.leeway.as_secs_f64() + 1.0;
        self.stats.offset_seconds().is_some_and(|o| o.abs() > limit)
    }

    fn snapshot(&self) -> Option<Arc<KeyMap>> {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Changes whenever the published key ids change.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The counter behind [`Self::generation`], for caches that share it.
    pub fn generation_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.generation)
    }

    /// Whether keys have been fetched at least once.
    pub fn is_loaded(&self) -> bool {
        self.snapshot().is_some()
    }

    /// The key `kid`, refetching the JWKS once (cooldown permitting) when it is unknown.
    pub async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, Rejection> {
        if let Some(key) = self.snapshot().and_then(|keys| keys.get(kid).cloned()) {
            return Ok(key);
        }
        let mut last = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.snapshot().and_then(|keys| keys.get(kid).cloned()) {
            return Ok(key);
        }
        let cooldown = if self.is_loaded() {
            self.cooldown
        } else {
            UNLOADED_RETRY
        };
        if last.is_none_or(|at| at.elapsed() >= cooldown) {
            *last = Some(Instant::now());
            if let Err(e) = self.fetch().await {
                tracing::warn!(provider = %self.name, error = %format!("{e:#}"), "JWKS refetch for an unknown kid failed");
            }
        }
        drop(last);
        match self.snapshot() {
            None => Err(Rejection::KeysUnavailable),
            Some(keys) => keys.get(kid).cloned().ok_or(Rejection::UnknownKey),
        }
    }

    /// Fetches the JWKS now (waiting for a fetch already running).
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let _one_at_a_time = self.fetching.lock().await;
        self.fetch().await
    }

    /// Fetches and installs the keys, counting the outcome and reading the provider's clock.
    async fn fetch(&self) -> anyhow::Result<()> {
        match self.fetch_keys().await {
            Ok(date) => {
                let offset = self.stats.succeeded(date);
                if let Some(offset) = offset.filter(|o| o.abs() > self.leeway.as_secs_f64() + 1.0) {
                    tracing::warn!(
                        provider = %self.name,
                        offset_seconds = offset,
                        leeway_seconds = self.leeway.as_secs(),
                        "the provider's clock is off from ours by more than the leeway"
                    );
                }
                Ok(())
            }
            Err(error) => {
                self.stats.failed();
                Err(error)
            }
        }
    }

    /// The keys installed, and the `Date` of the answer that had them.
    async fn fetch_keys(&self) -> anyhow::Result<Option<std::time::SystemTime>> {
        let url = self.jwks_url().await?;
        let (body, date) = self.client.get_dated(&url, MAX_JWKS_BYTES).await?;
        let set: JwkSet = serde_json::from_slice(&body).context("parsing the JWKS")?;
        self.install(&set)?;
        Ok(date)
    }

    /// Takes the usable keys of `set` as the current ones. A set without any usable key is
    /// refused (an error, the old keys stay): a broken auth-service must not wipe the keys
    /// that verify every token in flight.
    pub fn install(&self, set: &JwkSet) -> anyhow::Result<()> {
        let mut keys = KeyMap::new();
        for jwk in &set.keys {
            match keys::verifying_key(jwk, &self.allowed, &self.template) {
                Ok((kid, key)) => {
                    keys.insert(kid, Arc::new(key));
                }
                Err(e) => tracing::warn!(provider = %self.name, error = %e, "JWKS key skipped"),
            }
        }
        if keys.is_empty() {
            anyhow::bail!("JWKS holds no usable key");
        }
        tracing::debug!(provider = %self.name, keys = keys.len(), "JWKS fetched");
        let changed = self.snapshot().is_none_or(|old| {
            old.len() != keys.len() || old.keys().any(|kid| !keys.contains_key(kid))
        });
        if changed {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        let keys = Some(Arc::new(keys));
        match self.keys.write() {
            Ok(mut slot) => *slot = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        Ok(())
    }

    /// Fetches now and then every `interval` (every [`UNLOADED_RETRY`] until the first
    /// success) until the cache is dropped: the task holds it only weakly. Failures are
    /// logged; cached keys stay.
    pub fn spawn_refresher(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let cache: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                // Held only for one refresh: once the gateway drops the cache, this ends.
                let Some(cache) = cache.upgrade() else {
                    return;
                };
                match cache.refresh().await {
                    Ok(()) => {}
                    Err(e) if cache.is_loaded() => {
                        tracing::warn!(provider = %cache.name, error = %format!("{e:#}"), "JWKS refresh failed; keeping the cached keys");
                    }
                    Err(e) => {
                        tracing::info!(provider = %cache.name, error = %format!("{e:#}"), "JWKS not reachable yet")
                    }
                }
                let pause = if cache.is_loaded() {
                    interval
                } else {
                    UNLOADED_RETRY
                };
                drop(cache);
                tokio::time::sleep(pause).await;
            }
        })
    }
}

#[cfg(test)]
mod tests;
