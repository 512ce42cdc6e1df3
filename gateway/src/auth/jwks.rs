//! The auth-service's public keys, fetched from its JWKS and cached.
//!
//! Refreshed on a timer; a token with a `kid` the cache does not know triggers one refetch,
//! at most once per cooldown, so random kids cannot turn the gateway into a flood against
//! the auth-service. While the auth-service is down, the cached keys keep serving.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::Rejection;
use super::verifier::base_validation;
use crate::configuration::JwtSettings;

/// Time for one JWKS fetch, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// Retry pace, for both the timer and unknown kids, until the first fetch succeeds (the
/// gateway may well start before the auth-service).
pub const UNLOADED_RETRY: Duration = Duration::from_millis(500);
/// Largest JWKS document read.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// A key with the one algorithm it may verify.
#[derive(Clone)]
pub struct VerifyingKey {
    /// The public key.
    pub key: DecodingKey,
    /// Validation rules with the algorithm pinned to this key's.
    pub validation: Validation,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

type KeyMap = HashMap<String, Arc<VerifyingKey>>;

/// The cache of published keys.
pub struct JwksCache {
    url: String,
    client: reqwest::Client,
    settings: JwtSettings,
    cooldown: Duration,
    keys: RwLock<Option<Arc<KeyMap>>>,
    /// Bumped whenever the set of key ids changes, so verified-token caches forget.
    generation: AtomicU64,
    /// One fetch at a time; holds when the last fetch for an unknown kid started.
    /// Scheduled refreshes do not count against the cooldown.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// An empty cache for the configured JWKS URL.
    pub fn new(settings: &JwtSettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            url: settings.jwks_url.clone(),
            client,
            settings: settings.clone(),
            cooldown: Duration::from_secs(settings.jwks_refetch_cooldown_seconds),
            keys: RwLock::new(None),
            generation: AtomicU64::new(0),
            fetching: tokio::sync::Mutex::new(None),
        })
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
                tracing::warn!(error = %format!("{e:#}"), "JWKS refetch for an unknown kid failed");
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

    async fn fetch(&self) -> anyhow::Result<()> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .context("fetching the JWKS")?;
        if !response.status().is_success() {
            anyhow::bail!("JWKS answered {}", response.status());
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
        {
            anyhow::bail!("JWKS is larger than {MAX_JWKS_BYTES} bytes");
        }
        let body = response.bytes().await.context("reading the JWKS")?;
        if body.len() > MAX_JWKS_BYTES {
            anyhow::bail!("JWKS is larger than {MAX_JWKS_BYTES} bytes");
        }
        let set: JwkSet = serde_json::from_slice(&body).context("parsing the JWKS")?;
        self.install(&set)
    }

    /// Takes the usable keys of `set` as the current ones. A set without any usable key is
    /// refused (an error, the old keys stay): a broken auth-service must not wipe the keys
    /// that verify every token in flight.
    pub fn install(&self, set: &JwkSet) -> anyhow::Result<()> {
        let mut keys = KeyMap::new();
        for jwk in &set.keys {
            match self.verifying_key(jwk) {
                Ok((kid, key)) => {
                    keys.insert(kid, Arc::new(key));
                }
                Err(e) => tracing::warn!(error = %e, "JWKS key skipped"),
            }
        }
        if keys.is_empty() {
            anyhow::bail!("JWKS holds no usable key");
        }
        tracing::debug!(keys = keys.len(), "JWKS fetched");
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

    /// The key and its pinned algorithm. Only signature keys of the three algorithms the
    /// auth-service may use are taken; the algorithm follows from the key type, and a
    /// declared `alg` that contradicts it disqualifies the key.
    fn verifying_key(&self, jwk: &Jwk) -> anyhow::Result<(String, VerifyingKey)> {
        let kid = jwk.common.key_id.clone().context("key without kid")?;
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                // Checked here whatever verifier runs later: jsonwebtoken's own slices the
                // key as 32 bytes, and panics on a shorter one.
                let length = URL_SAFE_NO_PAD.decode(&p.x).map_or(0, |x| x.len());
                if length != 32 {
                    anyhow::bail!("key {kid}: an Ed25519 key is 32 bytes, not {length}");
                }
                Algorithm::EdDSA
            }
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            _ => anyhow::bail!("key {kid}: unsupported key type"),
        };
        let declared = jwk.common.key_algorithm;
        let agrees = match declared {
            None => true,
            Some(KeyAlgorithm::EdDSA) => algorithm == Algorithm::EdDSA,
            Some(KeyAlgorithm::ES256) => algorithm == Algorithm::ES256,
            Some(KeyAlgorithm::RS256) => algorithm == Algorithm::RS256,
            Some(_) => false,
        };
        if !agrees {
            anyhow::bail!("key {kid}: declared alg does not match its key type");
        }
        let key = DecodingKey::from_jwk(jwk).with_context(|| format!("key {kid}"))?;
        Ok((
            kid,
            VerifyingKey {
                key,
                validation: base_validation(&self.settings, algorithm),
            },
        ))
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
                        tracing::warn!(error = %format!("{e:#}"), "JWKS refresh failed; keeping the cached keys");
                    }
                    Err(e) => tracing::info!(error = %format!("{e:#}"), "JWKS not reachable yet"),
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
