//! Ed25519 public keys decoded once, not once per token.
//!
//! `jsonwebtoken` keeps a key as its 32 encoded bytes and decompresses the curve point
//! again for every signature it checks, about a tenth of an EdDSA check's cost. The gateway
//! installs, as the process's `jsonwebtoken` crypto provider, RustCrypto's provider with
//! two changes: EdDSA verifiers come from a small cache of decoded keys (the check itself is
//! the same call on the same key type), and RSA checks are ring's (`super::rsa`). Every other
//! algorithm, and signing, are untouched.

use std::sync::{LazyLock, RwLock};

use ed25519_dalek::{Signature, VerifyingKey};
use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, rust_crypto};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

/// Decoded keys held at most; keys only ever come from our JWKS, a handful at a time.
const MAX_KEYS: usize = 64;

static DECODED: RwLock<Vec<([u8; 32], VerifyingKey)>> = RwLock::new(Vec::new());

static PROVIDER: LazyLock<CryptoProvider> = LazyLock::new(|| CryptoProvider {
    verifier_factory: new_verifier,
    ..rust_crypto::DEFAULT_PROVIDER.clone()
});

/// Makes this the process's provider; the gateway calls it once at start-up, before any
/// token is checked. Without effect (and harmless) when a provider was already chosen, by
/// an earlier call or by a `jsonwebtoken` call made before this one.
///
/// Process-wide state, kept because it pays for itself: with it an uncached EdDSA check
/// costs 1.10x the raw signature check instead of decoding the key for every token
/// (`cargo bench -p gateway --bench verifier`).
pub fn install_provider() {
    let _ = CryptoProvider::install_default(LazyLock::force(&PROVIDER));
}

/// Whether the decoded-key provider is the one in use.
pub fn provider_installed() -> bool {
    CryptoProvider::try_get_default().is_some_and(|p| std::ptr::eq(p, LazyLock::force(&PROVIDER)))
}

fn new_verifier(
    algorithm: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    if *algorithm == Algorithm::EdDSA && key.family() == AlgorithmFamily::Ed {
        // An Ed25519 public key is 32 bytes; anything else is refused here (the default
        // verifier would slice it, and panic on a shorter one).
        let decoded = key
            .try_get_as_bytes()
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .and_then(|bytes| decoded(&bytes))
            .ok_or(ErrorKind::InvalidEddsaKey)?;
        return Ok(Box::new(DecodedEd25519(decoded)));
    }
    if let Some(verifier) = super::rsa::verifier(algorithm, key) {
        return Ok(verifier);
    }
    (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(algorithm, key)
}

/// The decoded form of `bytes`, from the cache or decoded now; `None` if they are not a
/// valid key.
fn decoded(bytes: &[u8; 32]) -> Option<VerifyingKey> {
    let cached = DECODED
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .find(|(raw, _)| raw == bytes)
        .map(|(_, key)| *key);
    if cached.is_some() {
        return cached;
    }
    let key = VerifyingKey::from_bytes(bytes).ok()?;
    let mut keys = DECODED
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if keys.len() >= MAX_KEYS {
        keys.clear();
    }
    keys.push((*bytes, key));
    Some(key)
}

/// RustCrypto's EdDSA check, on a key decoded beforehand.
struct DecodedEd25519(VerifyingKey);

impl Verifier<Vec<u8>> for DecodedEd25519 {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        self.0.verify(message, &Signature::from_slice(signature)?)
    }
}

impl JwtVerifier for DecodedEd25519 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn verifies_what_the_key_signed_and_nothing_else() {
        let signing = SigningKey::from_bytes(&[7; 32]);
        let public = signing.verifying_key().to_bytes();
        let signature = signing.sign(b"header.claims").to_bytes().to_vec();
        let key = DecodingKey::from_ed_der(&public);
        for _ in 0..2 {
            // The second time the key comes from the cache.
            let verifier = new_verifier(&Algorithm::EdDSA, &key).unwrap();
            assert!(verifier.verify(b"header.claims", &signature).is_ok());
            assert!(verifier.verify(b"header.claimz", &signature).is_err());
            let mut forged = signature.clone();
            forged[5] ^= 1;
            assert!(verifier.verify(b"header.claims", &forged).is_err());
            assert!(
                verifier
                    .verify(b"header.claims", &signature[..63].to_vec())
                    .is_err()
            );
        }
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes();
        let verifier = new_verifier(&Algorithm::EdDSA, &DecodingKey::from_ed_der(&other)).unwrap();
        assert!(verifier.verify(b"header.claims", &signature).is_err());
    }

    #[test]
    fn other_algorithms_go_to_the_default_verifier_and_bad_keys_are_refused() {
        let secret = DecodingKey::from_secret(b"secret").unwrap();
        assert!(new_verifier(&Algorithm::HS256, &secret).is_ok());
        assert!(
            new_verifier(&Algorithm::EdDSA, &secret).is_err(),
            "an HMAC secret is not an Ed25519 key"
        );
        for length in [0, 16, 31, 33, 44] {
            let key = DecodingKey::from_ed_der(&vec![1; length]);
            assert!(
                new_verifier(&Algorithm::EdDSA, &key).is_err(),
                "{length} bytes"
            );
        }
    }
}
