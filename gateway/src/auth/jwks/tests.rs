//! Unit tests of the JWKS cache: the refresher ends with it, and which keys it keeps.

use super::*;
use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;

use service_kit::configuration::{EnvVars, Environment};

fn cache() -> JwksCache {
    let settings = crate::configuration::Settings::load_with(
        Environment::Local,
        EnvVars::Given(HashMap::new()),
    )
    .unwrap();
    JwksCache::new(&settings.jwt).unwrap()
}

fn ed25519(kid: &str, x: &[u8]) -> Jwk {
    serde_json::from_value(serde_json::json!({
        "kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(x),
    }))
    .unwrap()
}

#[tokio::test]
async fn the_refresher_ends_when_its_cache_is_dropped() {
    let cache = Arc::new(cache());
    let refresher = cache.spawn_refresher(Duration::from_secs(60));
    let weak = Arc::downgrade(&cache);
    drop(cache);
    assert!(
        weak.upgrade().is_none(),
        "the refresher keeps the cache alive"
    );
    // A bound, not a pause: the task ends at its first look at the cache.
    tokio::time::timeout(Duration::from_secs(5), refresher)
        .await
        .expect("the refresher still runs")
        .unwrap();
}

#[test]
fn ed25519_keys_of_any_length_but_32_bytes_are_skipped() {
    let cache = cache();
    for length in [0, 16, 31, 33, 64] {
        let set = JwkSet {
            keys: vec![ed25519("short", &vec![7; length])],
        };
        assert!(
            cache.install(&set).is_err(),
            "a {length}-byte key was taken"
        );
    }
    let set = JwkSet {
        keys: vec![ed25519("odd", &[7; 16]), ed25519("good", &[7; 32])],
    };
    cache.install(&set).unwrap();
    let keys = cache.snapshot().unwrap();
    assert!(keys.contains_key("good"));
    assert!(!keys.contains_key("odd"));
}
