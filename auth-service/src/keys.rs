//! Ed25519 signing keys: generated on first start, kept in the database, published as a
//! JWKS, rotated without rejecting a token in flight.
//!
//! A key is published from the moment it is created, signs from `activates_at` until the
//! next key activates, and stays published until every token it signed has expired.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::EncodingKey;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::{Pool, now};

mod changes;

use changes::create_first;
pub use changes::withdraw;

/// The fixed PKCS#8 v1 header of an Ed25519 private key (RFC 8410 §7); the 32-byte seed
/// follows it.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Extra seconds a retired key stays published beyond the last token's expiry, covering
/// clock skew and the verifiers' leeway.
pub const RETIREMENT_MARGIN_SECONDS: i64 = 300;

/// The only algorithm these keys sign with.
pub const ALGORITHM: &str = "EdDSA";

/// One key as stored.
#[derive(Clone)]
pub struct StoredKey {
    /// Key id: the RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// PKCS#8 DER of the private key.
    private_der: Vec<u8>,
    /// Public key, base64url (the JWK's `x`).
    pub public_x: String,
    /// When it was created.
    pub created_at: i64,
    /// When it starts signing.
    pub activates_at: i64,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

/// A public key in JWK form (RFC 8037).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Jwk {
    /// `OKP`.
    #[schema(value_type = String)]
    kty: &'static str,
    /// `Ed25519`.
    #[schema(value_type = String)]
    crv: &'static str,
    /// The public key, base64url.
    x: String,
    /// Key id: the key's RFC 7638 thumbprint, named in the tokens it signs.
    kid: String,
    /// `EdDSA`.
    #[schema(value_type = String)]
    alg: &'static str,
    /// `sig`.
    #[serde(rename = "use")]
    #[schema(value_type = String)]
    use_: &'static str,
}

/// A JWK Set.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Jwks {
    /// The published keys, newest first.
    pub keys: Vec<Jwk>,
}

fn generate() -> anyhow::Result<StoredKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    let public_x = URL_SAFE_NO_PAD.encode(public);
    // RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
    let thumbprint_input = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{public_x}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint_input.as_bytes()));
    let mut private_der = PKCS8_ED25519_PREFIX.to_vec();
    private_der.extend_from_slice(&seed);
    let now = now();
    Ok(StoredKey {
        kid,
        private_der,
        public_x,
        created_at: now,
        activates_at: now,
    })
}

/// Creates a key that starts signing `delay_seconds` from now; returns its kid.
pub async fn create(pool: &Pool, delay_seconds: u64) -> anyhow::Result<StoredKey> {
    let mut conn = pool.acquire().await.context("signing keys")?;
    create_in(&mut conn, delay_seconds).await
}

async fn create_in(
    conn: &mut sqlx::AnyConnection,
    delay_seconds: u64,
) -> anyhow::Result<StoredKey> {
    let mut key = generate()?;
    key.activates_at = key.created_at + i64::try_from(delay_seconds).unwrap_or(i64::MAX / 2);
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created_at, activates_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.kid)
    .bind(ALGORITHM)
    .bind(STANDARD.encode(&key.private_der))
    .bind(&key.public_x)
    .bind(key.created_at)
    .bind(key.activates_at)
    .execute(&mut *conn)
    .await
    .context("storing a signing key")?;
    Ok(key)
}

/// Every stored key not withdrawn, oldest activation first.
pub async fn list(pool: &Pool) -> anyhow::Result<Vec<StoredKey>> {
    let rows = sqlx::query(
        "SELECT kid, private_key, public_key, created_at, activates_at FROM signing_keys \
         WHERE algorithm = $1 AND withdrawn_at IS NULL ORDER BY activates_at, created_at",
    )
    .bind(ALGORITHM)
    .fetch_all(pool)
    .await
    .context("reading signing keys")?;
    rows.iter()
        .map(|row| {
            let private: String = row.try_get("private_key")?;
            Ok(StoredKey {
                kid: row.try_get("kid")?,
                private_der: STANDARD
                    .decode(private)
                    .context("stored private key is not base64")?,
                public_x: row.try_get("public_key")?,
                created_at: row.try_get("created_at")?,
                activates_at: row.try_get("activates_at")?,
            })
        })
        .collect()
}

/// The keys of this instance, re-read from the database periodically.
#[derive(Debug)]
pub struct KeyRing {
    pool: Pool,
    keys: RwLock<Arc<Vec<StoredKey>>>,
    access_ttl_seconds: i64,
}

impl KeyRing {
    /// Loads the keys, creating a first one that signs at once if there is none. Replicas
    /// starting together on an empty database make one key between them: the check and
    /// the insert run under a PostgreSQL advisory lock (SQLite has one writer).
    pub async fn load(pool: Pool, access_ttl_seconds: u64) -> anyhow::Result<Self> {
        let mut keys = list(&pool).await?;
        if keys.is_empty() {
            if let Some(key) = create_first(&pool).await? {
                tracing::info!(kid = %key.kid, "generated the first signing key");
            }
            keys = list(&pool).await?;
        }
        Ok(Self {
            pool,
            keys: RwLock::new(Arc::new(keys)),
            access_ttl_seconds: i64::try_from(access_ttl_seconds).unwrap_or(i64::MAX / 4),
        })
    }

    fn snapshot(&self) -> Arc<Vec<StoredKey>> {
        match self.keys.read() {
            Ok(keys) => Arc::clone(&keys),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads the keys (rotations by the command line or other instances).
    pub async fn reload(&self) -> anyhow::Result<()> {
        let keys = Arc::new(list(&self.pool).await?);
        match self.keys.write() {
            Ok(mut slot) => *slot = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        Ok(())
    }

    /// Reloads every `interval` until the returned task is aborted.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let ring = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            loop {
                ticker.tick().await;
                if let Err(e) = ring.reload().await {
                    tracing::warn!(error = %e, "reloading signing keys failed; keeping the old set");
                }
            }
        })
    }

    /// The key that signs now: the latest activated one.
    pub fn signer(&self) -> anyhow::Result<(String, EncodingKey)> {
        let now = now();
        let keys = self.snapshot();
        let key = keys
            .iter()
            .rev()
            .find(|k| k.activates_at <= now)
            .context("no signing key is active")?;
        Ok((key.kid.clone(), EncodingKey::from_ed_der(&key.private_der)))
    }

    /// The public key (`x`) of `kid`, if it is published.
    pub fn published_key(&self, kid: &str) -> Option<String> {
        self.jwks()
            .keys
            .into_iter()
            .find(|k| k.kid == kid)
            .map(|k| k.x)
    }

    /// The published keys: upcoming ones, the active one, and retired ones whose tokens
    /// may still be alive.
    pub fn jwks(&self) -> Jwks {
        let now = now();
        let keys = self.snapshot();
        let published = keys.iter().enumerate().filter(|(i, _)| {
            match keys[i + 1..].iter().find(|next| next.activates_at <= now) {
                // Superseded: keep it while a token it signed can still be valid.
                Some(next) => {
                    next.activates_at + self.access_ttl_seconds + RETIREMENT_MARGIN_SECONDS > now
                }
                // The active key, or one published ahead of its activation.
                None => true,
            }
        });
        let mut keys: Vec<Jwk> = published
            .map(|(_, key)| Jwk {
                kty: "OKP",
                crv: "Ed25519",
                x: key.public_x.clone(),
                kid: key.kid.clone(),
                alg: ALGORITHM,
                use_: "sig",
            })
            .collect();
        keys.reverse();
        Jwks { keys }
    }
}
