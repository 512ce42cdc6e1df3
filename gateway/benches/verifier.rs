//! The gateway's own token check, as a request pays for it: JWKS key lookup by `kid`,
//! EdDSA signature and claims (cache off), and the verified-token cache hit.
//!
//! `cargo bench -p gateway --bench verifier`

// Benchmarks set up fixed inputs; a panic there is a broken benchmark.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use gateway::auth::{JwksCache, TokenVerifier};
use gateway::configuration::{Settings, VerificationMode};
use gateway::metrics::Metrics;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use service_kit::configuration::{EnvVars, Environment};

const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const SEED: [u8; 32] = [9; 32];

fn bench(c: &mut Criterion) {
    // As in the gateway: chosen before any other token work in the process.
    gateway::auth::ed25519::install_provider();
    assert!(gateway::auth::ed25519::provider_installed());
    let mut settings =
        Settings::load_with(Environment::Local, EnvVars::Given(HashMap::new())).unwrap();
    settings.jwt.mode = VerificationMode::Jwks;
    let public = ed25519_dalek::SigningKey::from_bytes(&SEED)
        .verifying_key()
        .to_bytes();
    let set: JwkSet = serde_json::from_value(serde_json::json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "bench",
        "x": URL_SAFE_NO_PAD.encode(public),
    }]}))
    .unwrap();
    let jwks = Arc::new(JwksCache::new(&settings.jwt).unwrap());
    jwks.install(&set).unwrap();

    let mut private = PKCS8_ED25519_PREFIX.to_vec();
    private.extend_from_slice(&SEED);
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("bench".into());
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "user": "user1", "sub": "6f1f4d7e-8f7a-4a49-9a5e-2c6f2b1f0c11", "roles": ["reader"],
        "iat": now, "nbf": now, "exp": now + 3600,
        "iss": settings.jwt.issuer, "aud": settings.jwt.audience,
        "jti": "0b7c2d6e-2f67-4f0a-b1de-1d5b8a0c9e11",
    });
    let token =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&private)).unwrap();

    let metrics = Arc::new(Metrics::default());
    let mut uncached_settings = settings.jwt.clone();
    uncached_settings.cache_bytes = 0;
    let uncached = TokenVerifier::new(
        &uncached_settings,
        Some(Arc::clone(&jwks)),
        Arc::clone(&metrics),
    )
    .unwrap();
    let cached = TokenVerifier::new(&settings.jwt, Some(jwks), metrics).unwrap();
    // Neither path waits on anything once the key is known, so no runtime is needed.
    let verify = |v: &TokenVerifier, t: &str| v.verify(t).now_or_never().unwrap().unwrap();
    verify(&cached, &token);

    c.bench_function("gateway/verify-eddsa-uncached", |b| {
        b.iter(|| verify(&uncached, black_box(&token)))
    });
    c.bench_function("gateway/verify-cached", |b| {
        b.iter(|| verify(&cached, black_box(&token)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
