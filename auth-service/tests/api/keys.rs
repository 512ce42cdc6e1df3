use jsonwebtoken::jwk::AlgorithmParameters;
use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_with, test_settings};
use auth_service::configuration::SigningAlgorithm;

crate::on_both_backends!(
    the_jwks_publishes_the_signing_key_and_never_a_private_part,
    a_rotated_key_is_published_before_it_signs_and_the_old_one_stays,
);

async fn the_jwks_publishes_the_signing_key_and_never_a_private_part(backend: Backend) {
    let app = spawn_with(test_settings(&backend).await).await;
    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "public, max-age=60");
    let raw: Value = response.json().await.unwrap();
    let keys = raw["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert_eq!(
        (key["alg"].as_str(), key["use"].as_str()),
        (Some("EdDSA"), Some("sig"))
    );
    assert!(
        key.get("d").is_none(),
        "private key material published: {key}"
    );

    let tokens = app.login_ok("user1", "password123").await;
    let header = jsonwebtoken::decode_header(tokens["token"].as_str().unwrap()).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    app.decode(tokens["token"].as_str().unwrap()).await;
}

async fn a_rotated_key_is_published_before_it_signs_and_the_old_one_stays(backend: Backend) {
    let settings = test_settings(&backend).await;
    let app = spawn_with(settings.clone()).await;
    let old_kid = app.jwks().await.keys[0].common.key_id.clone().unwrap();
    let pool = auth_service::db::connect(&settings.database).await.unwrap();

    // Published ahead: visible in the JWKS at once, not yet signing.
    let upcoming = auth_service::keys::create(&pool, 3600).await.unwrap();
    wait_for_reload(&app, 2).await;
    let kid_of = |body: &Value| {
        jsonwebtoken::decode_header(body["token"].as_str().unwrap())
            .unwrap()
            .kid
            .unwrap()
    };
    assert_eq!(kid_of(&app.login_ok("user1", "password123").await), old_kid);

    // Active now: it signs, and the old key stays published for tokens in flight.
    let active = auth_service::keys::create(&pool, 0).await.unwrap();
    wait_for_reload(&app, 3).await;
    let fresh = app.login_ok("user1", "password123").await;
    assert_eq!(kid_of(&fresh), active.kid);
    app.decode(fresh["token"].as_str().unwrap()).await;
    let kids: Vec<_> = app
        .jwks()
        .await
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert!(
        kids.contains(&old_kid) && kids.contains(&upcoming.kid),
        "{kids:?}"
    );
}

/// Waits until the JWKS lists `count` keys (the ring reloads every second in tests).
async fn wait_for_reload(app: &crate::helpers::TestApp, count: usize) {
    for _ in 0..50 {
        if app.jwks().await.keys.len() == count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the JWKS never reached {count} keys");
}

#[tokio::test]
async fn the_first_key_survives_a_restart() {
    let settings = test_settings(&Backend::Sqlite).await;
    let first = spawn_with(settings.clone()).await;
    let before = first.jwks().await.keys[0].common.key_id.clone();
    let tokens = first.login_ok("user1", "password123").await;
    let second = spawn_with(settings).await;
    assert_eq!(second.jwks().await.keys[0].common.key_id, before);
    second.decode(tokens["token"].as_str().unwrap()).await;
}

#[tokio::test]
async fn hs256_mode_signs_with_the_secret_and_publishes_nothing() {
    let mut settings = test_settings(&Backend::Sqlite).await;
    settings.jwt.algorithm = SigningAlgorithm::HS256;
    let app = spawn_with(settings).await;
    assert!(app.jwks().await.keys.is_empty());
    let tokens = app.login_ok("user1", "password123").await;
    let token = tokens["token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(token).unwrap().alg,
        jsonwebtoken::Algorithm::HS256
    );
    assert_eq!(app.decode(token).await.user, "user1");
}

#[tokio::test]
async fn discovery_names_the_public_url_whatever_host_the_request_claims() {
    let mut settings = test_settings(&Backend::Sqlite).await;
    settings.public_url = "https://api.example.com".into();
    settings.jwt.issuer = "https://api.example.com".into();
    let app = spawn_with(settings).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let body: Value = app
            .client
            .get(app.url(path))
            .header("Host", "evil.example")
            .header("X-Forwarded-Host", "evil.example")
            .header("Forwarded", "host=evil.example;proto=http")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["issuer"], "https://api.example.com", "{path}");
        assert_eq!(
            body["jwks_uri"], "https://api.example.com/.well-known/jwks.json",
            "{path}"
        );
        assert_eq!(body["subject_types_supported"], json!(["public"]), "{path}");
        assert!(body.get("authorization_endpoint").is_none(), "{path}");
        assert!(
            body.get("id_token_signing_alg_values_supported").is_none(),
            "{path}"
        );
    }
    let tokens = app.login_ok("user1", "password123").await;
    let claims = app.decode(tokens["token"].as_str().unwrap()).await;
    assert_eq!(
        claims.iss, "https://api.example.com",
        "tokens carry the issuer"
    );
    let keys = app.jwks().await;
    assert!(matches!(
        keys.keys[0].algorithm,
        AlgorithmParameters::OctetKeyPair(_)
    ));
}

/// Replicas starting together on an empty PostgreSQL database (SQLite has one instance):
/// the migrations run once (sqlx's lock), and one signing key is made between them.
#[tokio::test]
async fn replicas_starting_together_make_one_signing_key() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    for _ in 0..3 {
        let settings = test_settings(&backend).await;
        let mut pools = Vec::new();
        for _ in 0..8 {
            pools.push(auth_service::db::connect(&settings.database).await.unwrap());
        }
        // Migrated and empty: eight instances load their keys at the same moment.
        let loads = pools
            .iter()
            .map(|pool| auth_service::keys::KeyRing::load(pool.clone(), 3600));
        let rings = futures_util::future::join_all(loads).await;
        assert!(rings.iter().all(Result::is_ok), "every replica starts");
        assert_eq!(auth_service::keys::list(&pools[0]).await.unwrap().len(), 1);
    }
}
