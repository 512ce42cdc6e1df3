//! Which keys of a JWKS may verify, and with which one algorithm each: the algorithm
//! follows from the key's type and its declared `alg`, and must be on the provider's
//! allow-list. A token's own `alg` never chooses it (it must merely agree).

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

/// Smallest RSA modulus accepted, in bytes (2048 bits, NIST SP 800-131A).
pub const MIN_RSA_MODULUS_BYTES: usize = 256;

/// A key with the one algorithm it may verify.
#[derive(Clone)]
pub struct VerifyingKey {
    /// The public key.
    pub key: DecodingKey,
    /// The provider's validation rules with the algorithm pinned to this key's.
    pub validation: Validation,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

/// One provider's validation rules before a key pins the algorithm: its issuer, its
/// audiences (when it has any; a token's `aud` may be a string or a list), the leeway;
/// `exp`, `iss` and `sub` required, `aud` too where audiences are set; `nbf` checked when
/// present.
pub fn template(issuer: &str, audiences: &[String], leeway_seconds: u64) -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    // Pinned per key (see `verifying_key`); nothing verifies with the template itself.
    validation.algorithms.clear();
    validation.leeway = leeway_seconds;
    validation.validate_nbf = true;
    validation.set_issuer(&[issuer]);
    if audiences.is_empty() {
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    } else {
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    }
    validation
}

/// The algorithm an RSA key serves: the one its JWK declares, else the provider's only
/// RSA algorithm (with two allowed, an undeclared key is ambiguous and skipped).
fn rsa_algorithm(declared: Option<KeyAlgorithm>, allowed: &[Algorithm]) -> Option<Algorithm> {
    match declared {
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
        Some(_) => None,
        None => {
            let mut rsa = allowed
                .iter()
                .filter(|a| matches!(a, Algorithm::RS256 | Algorithm::PS256));
            match (rsa.next(), rsa.next()) {
                (Some(only), None) => Some(*only),
                _ => None,
            }
        }
    }
}

/// The key id and the verifying key of `jwk`, or why it is skipped: no `kid`, an
/// encryption key, a type or curve we do not verify, a declared `alg` that contradicts the
/// key, an algorithm off `allowed`, a short Ed25519 or RSA key.
pub fn verifying_key(
    jwk: &Jwk,
    allowed: &[Algorithm],
    template: &Validation,
) -> anyhow::Result<(String, VerifyingKey)> {
    let kid = jwk.common.key_id.clone().context("key without kid")?;
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        anyhow::bail!("key {kid}: not a signature key");
    }
    let declared = jwk.common.key_algorithm;
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            // Checked here whatever verifier runs later: jsonwebtoken's own slices the key
            // as 32 bytes, and panics on a shorter one.
            let length = URL_SAFE_NO_PAD.decode(&p.x).map_or(0, |x| x.len());
            if length != 32 {
                anyhow::bail!("key {kid}: an Ed25519 key is 32 bytes, not {length}");
            }
            matches!(declared, None | Some(KeyAlgorithm::EdDSA)).then_some(Algorithm::EdDSA)
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            matches!(declared, None | Some(KeyAlgorithm::ES256)).then_some(Algorithm::ES256)
        }
        AlgorithmParameters::RSA(p) => {
            let modulus = URL_SAFE_NO_PAD.decode(&p.n).map_or(0, |n| n.len());
            if modulus < MIN_RSA_MODULUS_BYTES {
                anyhow::bail!("key {kid}: an RSA modulus of {modulus} bytes is too short");
            }
            rsa_algorithm(declared, allowed)
        }
        _ => anyhow::bail!("key {kid}: unsupported key type"),
    };
    let algorithm = algorithm.with_context(|| {
        format!("key {kid}: its declared alg does not fit its type, or is ambiguous")
    })?;
    if !allowed.contains(&algorithm) {
        anyhow::bail!("key {kid}: {algorithm:?} is not allowed for this provider");
    }
    let key = DecodingKey::from_jwk(jwk).with_context(|| format!("key {kid}"))?;
    let mut validation = template.clone();
    validation.algorithms = vec![algorithm];
    Ok((kid, VerifyingKey { key, validation }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa(alg: Option<&str>) -> Jwk {
        let mut jwk = serde_json::json!({
            "kty": "RSA", "kid": "r", "e": "AQAB",
            "n": URL_SAFE_NO_PAD.encode([0xc5; 256]),
        });
        if let Some(alg) = alg {
            jwk["alg"] = alg.into();
        }
        serde_json::from_value(jwk).unwrap()
    }

    fn template() -> Validation {
        Validation::new(Algorithm::RS256)
    }

    #[test]
    fn an_rsa_key_serves_the_algorithm_its_jwk_declares() {
        let both = [Algorithm::RS256, Algorithm::PS256];
        for (alg, expected) in [("RS256", Algorithm::RS256), ("PS256", Algorithm::PS256)] {
            let (_, key) = verifying_key(&rsa(Some(alg)), &both, &template()).unwrap();
            assert_eq!(key.validation.algorithms, [expected]);
        }
        // Undeclared: the provider's only RSA algorithm, or nothing when there are two.
        let (_, key) = verifying_key(&rsa(None), &[Algorithm::PS256], &template()).unwrap();
        assert_eq!(key.validation.algorithms, [Algorithm::PS256]);
        assert!(verifying_key(&rsa(None), &both, &template()).is_err());
    }

    #[test]
    fn keys_off_the_allow_list_or_contradicting_their_type_are_skipped() {
        assert!(verifying_key(&rsa(Some("PS256")), &[Algorithm::RS256], &template()).is_err());
        assert!(verifying_key(&rsa(Some("ES256")), &[Algorithm::ES256], &template()).is_err());
        assert!(verifying_key(&rsa(Some("HS256")), &[Algorithm::HS256], &template()).is_err());
    }

    #[test]
    fn short_rsa_keys_and_encryption_keys_are_skipped() {
        let mut short: serde_json::Value = serde_json::to_value(rsa(Some("RS256"))).unwrap();
        short["n"] = URL_SAFE_NO_PAD.encode([0xc5; 128]).into();
        let short: Jwk = serde_json::from_value(short).unwrap();
        assert!(verifying_key(&short, &[Algorithm::RS256], &template()).is_err());
        let mut enc: serde_json::Value = serde_json::to_value(rsa(Some("RS256"))).unwrap();
        enc["use"] = "enc".into();
        let enc: Jwk = serde_json::from_value(enc).unwrap();
        assert!(verifying_key(&enc, &[Algorithm::RS256], &template()).is_err());
    }
}
