//! Signing and verifying an access token per candidate algorithm, beside the raw Ed25519
//! signature check: the numbers behind the choice of EdDSA (see the README).
//!
//! `cargo bench -p gateway --bench signatures`

// Benchmarks set up fixed inputs; a panic there is a broken benchmark.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use shared::Claims;

const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const SEED: [u8; 32] = [7; 32];

fn claims() -> Claims {
    Claims {
        user: "user1".into(),
        sub: "6f1f4d7e-8f7a-4a49-9a5e-2c6f2b1f0c11".into(),
        exp: 4_000_000_000,
        iat: 1_700_000_000,
        nbf: 1_700_000_000,
        iss: "auth-service".into(),
        aud: "api".into(),
        jti: "0b7c2d6e-2f67-4f0a-b1de-1d5b8a0c9e11".into(),
        roles: vec!["reader".into()],
        sid: Some("3c1a5e9f-7d2b-4e8a-9f60-5b4d2c1e0a77".into()),
    }
}

fn validation(algorithm: Algorithm) -> Validation {
    let mut v = Validation::new(algorithm);
    v.set_issuer(&["auth-service"]);
    v.set_audience(&["api"]);
    v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    v
}

fn keys() -> Vec<(Algorithm, EncodingKey, DecodingKey)> {
    let fixture = |name: &str| {
        std::fs::read(format!(
            "{}/benches/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let ed_public = ed25519_dalek::SigningKey::from_bytes(&SEED)
        .verifying_key()
        .to_bytes();
    let mut ed_private = PKCS8_ED25519_PREFIX.to_vec();
    ed_private.extend_from_slice(&SEED);
    let es_public = fixture("es256-public.spki.der");
    // The uncompressed SEC1 point is the last 65 bytes of the SubjectPublicKeyInfo.
    let es_point = es_public[es_public.len() - 65..].to_vec();
    vec![
        (
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(&ed_private),
            DecodingKey::from_ed_der(&ed_public),
        ),
        (
            Algorithm::ES256,
            EncodingKey::from_ec_der(&fixture("es256-private.pk8.der")),
            DecodingKey::from_ec_der(&es_point),
        ),
        (
            Algorithm::RS256,
            EncodingKey::from_rsa_der(&fixture("rs256-private.pkcs1.der")),
            DecodingKey::from_rsa_der(&fixture("rs256-public.pkcs1.der")),
        ),
        (
            Algorithm::HS256,
            EncodingKey::from_secret(&[42; 32]).unwrap(),
            DecodingKey::from_secret(&[42; 32]).unwrap(),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let claims = claims();
    for (algorithm, encoding, decoding) in keys() {
        let header = Header::new(algorithm);
        let token = jsonwebtoken::encode(&header, &claims, &encoding).unwrap();
        let rules = validation(algorithm);
        jsonwebtoken::decode::<Claims>(&token, &decoding, &rules).unwrap();
        c.bench_function(&format!("sign/{algorithm:?}"), |b| {
            b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &encoding).unwrap())
        });
        c.bench_function(&format!("verify/{algorithm:?}"), |b| {
            b.iter(|| jsonwebtoken::decode::<Claims>(black_box(&token), &decoding, &rules).unwrap())
        });
    }
    // The primitive alone: what a token check cannot go below.
    let key = ed25519_dalek::SigningKey::from_bytes(&SEED);
    let message = [0u8; 300];
    let signature = key.sign(&message);
    let public = key.verifying_key();
    c.bench_function("raw/ed25519-verify", |b| {
        b.iter(|| public.verify(black_box(&message), &signature).unwrap())
    });
    // What a check pays on top when the key is kept encoded: decompressing the point.
    let encoded = public.to_bytes();
    c.bench_function("raw/ed25519-decode-key", |b| {
        b.iter(|| ed25519_dalek::VerifyingKey::from_bytes(black_box(&encoded)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
