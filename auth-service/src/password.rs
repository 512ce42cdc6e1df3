//! Password hashing with argon2id, run off the async workers and bounded in concurrency.

use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// Memory cost in KiB: OWASP's first recommended argon2id configuration (19 MiB, t=2, p=1).
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Iterations, per the same recommendation.
pub const ITERATIONS: u32 = 2;
/// Lanes, per the same recommendation.
pub const PARALLELISM: u32 = 1;

/// Hashes and verifies passwords. Each hash holds [`MEMORY_KIB`] of memory for its whole
/// run, so at most one hash per core runs at once; the rest wait their turn instead of
/// exhausting memory under a login flood.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    slots: Arc<Semaphore>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            slots: Arc::new(Semaphore::new(cores)),
        }
    }
}

fn argon2() -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with a fresh random salt into a PHC string. Blocking: call it from a
/// blocking context or at start-up.
pub fn hash_blocking(password: &SecretString) -> anyhow::Result<String> {
    let hash = argon2()?
        .hash_password(password.expose_secret().as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    Ok(hash.to_string())
}

impl PasswordHasher {
    /// Hashes `password` off the async workers, waiting for a free slot.
    pub async fn hash(&self, password: SecretString) -> anyhow::Result<String> {
        let _slot = self
            .slots
            .acquire()
            .await
            .context("password hasher closed")?;
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .context("password hashing task failed")?
    }

    /// Whether `password` matches the PHC string `hash`. A malformed hash counts as no match
    /// but is reported, since it means the store is damaged.
    pub async fn verify(&self, password: SecretString, hash: String) -> anyhow::Result<bool> {
        let _slot = self
            .slots
            .acquire()
            .await
            .context("password hasher closed")?;
        tokio::task::spawn_blocking(move || {
            let parsed = argon2::PasswordHash::new(&hash)
                .map_err(|e| anyhow::anyhow!("stored password hash is malformed: {e}"))?;
            Ok(argon2()?
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok())
        })
        .await
        .context("password verification task failed")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hash = hash_blocking(&SecretString::from("correct horse")).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let hasher = PasswordHasher::default();
        assert!(
            hasher
                .verify("correct horse".into(), hash.clone())
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("correct horse ".into(), hash.clone())
                .await
                .unwrap()
        );
        assert!(!hasher.verify("".into(), hash).await.unwrap());
    }

    #[tokio::test]
    async fn two_hashes_of_one_password_differ_by_salt() {
        let a = hash_blocking(&SecretString::from("pw")).unwrap();
        let b = hash_blocking(&SecretString::from("pw")).unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn a_malformed_hash_is_an_error_not_a_match() {
        let hasher = PasswordHasher::default();
        assert!(
            hasher
                .verify("pw".into(), "not-a-hash".into())
                .await
                .is_err()
        );
    }
}
