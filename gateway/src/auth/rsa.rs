//! RS256/384/512 and PS256/384/512 checked with ring (the TLS stack's own crypto) instead
//! of RustCrypto's `rsa`. RustCrypto builds its big-integer key and Montgomery parameters
//! for every token and checks in portable code: a 2048-bit RS256 check cost the gateway
//! about 50 µs of its own code, more than twice what HAProxy's OpenSSL spends, which is
//! every request's cost once a population of tokens outgrows the verified-token cache
//! (`bench/run.py`, "Many users"). ring's check runs in assembly.
//!
//! ring accepts moduli of 2048 to 8192 bits; a smaller key (which no provider should
//! publish any more) keeps RustCrypto's check, as before.

use jsonwebtoken::DecodingKeyKind;
use jsonwebtoken::crypto::JwtVerifier;
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use ring::signature::{self as ring_signature, RsaParameters, RsaPublicKeyComponents};

/// Smallest modulus ring accepts, in bytes.
const MIN_MODULUS_BYTES: usize = 2048 / 8;

/// ring's verifier for `algorithm` on `key`, or `None` where this module does not apply
/// (another algorithm or key family, a modulus under 2048 bits).
pub fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Option<Box<dyn JwtVerifier>> {
    let parameters: &'static RsaParameters = match algorithm {
        Algorithm::RS256 => &ring_signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &ring_signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &ring_signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &ring_signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &ring_signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &ring_signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    };
    if key.family() != AlgorithmFamily::Rsa {
        return None;
    }
    // Keys from a JWKS come as modulus and exponent. A PKCS#1 DER key (from PEM) would be
    // parsed by ring on each check, its size unknown until then: RustCrypto keeps those.
    let DecodingKeyKind::RsaModulusExponent { n, e } = key.kind() else {
        return None;
    };
    let n = strip_leading_zeros(n);
    if n.len() < MIN_MODULUS_BYTES {
        return None;
    }
    Some(Box::new(RingRsa {
        algorithm: *algorithm,
        parameters,
        n: n.to_vec(),
        e: strip_leading_zeros(e).to_vec(),
    }))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// One check's key and parameters.
struct RingRsa {
    algorithm: Algorithm,
    parameters: &'static RsaParameters,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl Verifier<Vec<u8>> for RingRsa {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        RsaPublicKeyComponents {
            n: &self.n,
            e: &self.e,
        }
        .verify(self.parameters, message, signature)
        .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingRsa {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use jsonwebtoken::crypto::rust_crypto;
    use jsonwebtoken::{EncodingKey, Header, Validation};
    use serde_json::{Value, json};

    use super::*;

    const KEYS: &str = include_str!("../../tests/api/fixtures/provider-keys.json");

    /// The fixtures' RSA key: its private key and its public key as a JWKS would give it.
    fn key(name: &str) -> (EncodingKey, DecodingKey) {
        let all: Value = serde_json::from_str(KEYS).unwrap();
        let der = STANDARD
            .decode(all[name]["pkcs1_der"].as_str().unwrap())
            .unwrap();
        let public = DecodingKey::from_rsa_components(
            all[name]["n"].as_str().unwrap(),
            all[name]["e"].as_str().unwrap(),
        )
        .unwrap();
        (EncodingKey::from_rsa_der(&der), public)
    }

    #[test]
    fn ring_checks_what_rustcrypto_checks_for_every_rsa_algorithm() {
        let (private, public) = key("rsa");
        let (_, other) = key("rsa_other");
        for algorithm in [
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ] {
            let token =
                jsonwebtoken::encode(&Header::new(algorithm), &json!({"sub": "s"}), &private)
                    .unwrap();
            let (signed, signature) = token.rsplit_once('.').unwrap();
            let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(signature)
                .unwrap();
            let ring = verifier(&algorithm, &public).expect("a 2048-bit JWKS key");
            assert_eq!(ring.algorithm(), algorithm);
            assert!(ring.verify(signed.as_bytes(), &signature).is_ok());
            let default =
                (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(&algorithm, &public).unwrap();
            assert!(default.verify(signed.as_bytes(), &signature).is_ok());
            // Another key, another message, a flipped bit: refused by both.
            let wrong = verifier(&algorithm, &other).unwrap();
            assert!(wrong.verify(signed.as_bytes(), &signature).is_err());
            assert!(ring.verify(b"another message", &signature).is_err());
            let mut flipped = signature.clone();
            flipped[10] ^= 1;
            assert!(ring.verify(signed.as_bytes(), &flipped).is_err());
            assert!(default.verify(signed.as_bytes(), &flipped).is_err());
            // And a whole decode through the gateway's provider accepts it.
            crate::auth::ed25519::install_provider();
            let mut validation = Validation::new(algorithm);
            validation.required_spec_claims.clear();
            validation.validate_exp = false;
            jsonwebtoken::decode::<Value>(&token, &public, &validation).unwrap();
        }
    }

    #[test]
    fn other_algorithms_and_key_families_are_left_to_the_default_provider() {
        let (_, public) = key("rsa");
        assert!(verifier(&Algorithm::ES256, &public).is_none());
        assert!(
            verifier(
                &Algorithm::RS256,
                &DecodingKey::from_secret(b"secret").unwrap()
            )
            .is_none()
        );
        let small = DecodingKey::from_rsa_raw_components(&[0xc5; 128], &[1, 0, 1]);
        assert!(verifier(&Algorithm::RS256, &small).is_none(), "1024 bits");
    }
}
