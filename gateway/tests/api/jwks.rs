//! JWKS mode: the gateway verifies EdDSA tokens with keys it fetches from a stand-in
//! auth-service, and holds no secret.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::join_all;
use gateway::configuration::VerificationMode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_json_error, closed_port_address, spawn_app_with};

/// PKCS#8 v1 header of an Ed25519 private key (RFC 8410); the seed follows.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

struct TestKey {
    kid: String,
    private_der: Vec<u8>,
    public: [u8; 32],
}

impl TestKey {
    fn generate(kid: &str) -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        let public = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
        let mut private_der = PKCS8_ED25519_PREFIX.to_vec();
        private_der.extend_from_slice(&seed);
        Self {
            kid: kid.into(),
            private_der,
            public,
        }
    }

    fn jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
               "kid": self.kid, "x": URL_SAFE_NO_PAD.encode(self.public)})
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_ed_der(&self.private_der),
        )
        .unwrap()
    }
}

/// A stand-in auth-service: serves whatever key set the test puts in, counts fetches.
#[derive(Clone)]
struct JwksServer {
    url: String,
    keys: Arc<RwLock<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    /// Seconds the `Date` of its answers is ahead of the real time.
    skew: Arc<AtomicI64>,
}

impl JwksServer {
    fn start(keys: Vec<Value>) -> Self {
        let keys = Arc::new(RwLock::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let skew = Arc::new(AtomicI64::new(0));
        let (k, f, d, s) = (keys.clone(), fetches.clone(), down.clone(), skew.clone());
        let server = HttpServer::new(move || {
            let (k, f, d, s) = (k.clone(), f.clone(), d.clone(), s.clone());
            App::new().route(
                "/.well-known/jwks.json",
                web::get().to(move || {
                    let (k, f, d, s) = (k.clone(), f.clone(), d.clone(), s.clone());
                    async move {
                        f.fetch_add(1, Ordering::SeqCst);
                        if d.load(Ordering::SeqCst) {
                            return HttpResponse::ServiceUnavailable().finish();
                        }
                        let ahead = Duration::from_secs(s.load(Ordering::SeqCst).unsigned_abs());
                        let date = httpdate::fmt_http_date(std::time::SystemTime::now() + ahead);
                        HttpResponse::Ok()
                            .insert_header(("date", date))
                            .json(json!({ "keys": *k.read().unwrap() }))
                    }
                }),
            )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let url = format!("http://{}/.well-known/jwks.json", server.addrs()[0]);
        tokio::spawn(server.run());
        Self {
            url,
            keys,
            fetches,
            down,
            skew,
        }
    }

    /// Dates its answers `seconds` ahead of the real time, as a host whose clock is off.
    fn date_ahead(&self, seconds: i64) {
        self.skew.store(seconds, Ordering::SeqCst);
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn publish(&self, keys: Vec<Value>) {
        *self.keys.write().unwrap() = keys;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn spawn_jwks_gateway(jwks_url: String, cooldown_seconds: u64) -> TestApp {
    let app = spawn_app_with(move |settings| {
        settings.jwt.mode = VerificationMode::Jwks;
        settings.jwt.jwks_url = jwks_url;
        settings.jwt.jwks_refetch_cooldown_seconds = cooldown_seconds;
    })
    .await;
    // Ready means the first fetch is done.
    for _ in 0..100 {
        let ready = app
            .client
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap();
        if ready.status().is_success() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app
}

async fn status_with(app: &TestApp, token: &str) -> u16 {
    app.get_protected(&[("x-access-token", token)])
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn eddsa_tokens_verify_against_the_published_key() {
    let key = TestKey::generate("k1");
    let jwks = JwksServer::start(vec![key.jwk()]);
    let app = spawn_jwks_gateway(jwks.url.clone(), 5).await;
    let response = app
        .get_protected(&[("x-access-token", &key.sign(&app.claims("user1")))])
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["headers"]["x-auth-user"], "user1");
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_under_traffic_with_no_rejection() {
    let old = TestKey::generate("old");
    let new = TestKey::generate("new");
    let jwks = JwksServer::start(vec![old.jwk()]);
    // A long cooldown: the pick-up must come from the unknown-kid refetch, once.
    let app = spawn_jwks_gateway(jwks.url.clone(), 60).await;
    let claims = app.claims("user1");
    let (old_token, new_token) = (old.sign(&claims), new.sign(&claims));

    let mut statuses = Vec::new();
    for round in 0..10 {
        if round == 5 {
            // The auth-service publishes the new key and starts signing with it.
            jwks.publish(vec![new.jwk(), old.jwk()]);
        }
        let token = if round < 5 { &old_token } else { &new_token };
        let batch = join_all((0..20).map(|_| status_with(&app, token))).await;
        statuses.extend(batch);
        // Tokens of the old key stay valid after the rotation.
        statuses.push(status_with(&app, &old_token).await);
    }
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

#[tokio::test]
async fn random_kids_cannot_flood_the_auth_service() {
    let key = TestKey::generate("real");
    let jwks = JwksServer::start(vec![key.jwk()]);
    let app = spawn_jwks_gateway(jwks.url.clone(), 60).await;
    let before = jwks.fetches();
    let forged: Vec<String> = (0..100)
        .map(|i| TestKey::generate(&format!("random-{i}")).sign(&app.claims("user1")))
        .collect();
    let statuses = join_all(forged.iter().map(|t| status_with(&app, t))).await;
    assert!(statuses.iter().all(|s| *s == 403), "{statuses:?}");
    let extra = jwks.fetches() - before;
    assert!(extra <= 1, "{extra} JWKS fetches for 100 unknown kids");
}

#[tokio::test]
async fn cached_keys_keep_serving_while_the_auth_service_is_down_or_broken() {
    let key = TestKey::generate("k1");
    let jwks = JwksServer::start(vec![key.jwk()]);
    let app = spawn_jwks_gateway(jwks.url.clone(), 0).await;
    let token = key.sign(&app.claims("user1"));
    let stranger = TestKey::generate("k2").sign(&app.claims("user1"));
    assert_eq!(status_with(&app, &token).await, 200);

    // Unknown kids force refetches (cooldown 0) that fail; the cached key still verifies.
    jwks.set_down(true);
    assert_eq!(status_with(&app, &stranger).await, 403);
    assert_eq!(status_with(&app, &token).await, 200);

    // Up again but answering a set with no usable key, as a broken deployment might.
    jwks.set_down(false);
    jwks.publish(vec![json!({"kty": "nonsense"})]);
    assert_eq!(status_with(&app, &stranger).await, 403);
    jwks.publish(vec![]);
    assert_eq!(status_with(&app, &stranger).await, 403);
    assert_eq!(status_with(&app, &token).await, 200);
}

/// The value of the sample named exactly `name` in the metrics text.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test]
async fn jwks_fetches_the_keys_age_and_the_providers_clock_are_in_the_metrics() {
    let key = TestKey::generate("k1");
    let jwks = JwksServer::start(vec![key.jwk()]);
    jwks.date_ahead(120);
    let app = spawn_jwks_gateway(jwks.url.clone(), 0).await;
    // An unknown kid while the provider is down: a refetch that fails.
    jwks.set_down(true);
    let stranger = TestKey::generate("k2").sign(&app.claims("user1"));
    assert_eq!(status_with(&app, &stranger).await, 403);

    let text = app.metrics().await;
    let fetches = |outcome: &str| {
        let name = format!(
            "gateway_jwks_fetches_total{{provider=\"auth-service\",outcome=\"{outcome}\"}}"
        );
        sample(&text, &name)
    };
    assert!(fetches("success") >= 1.0);
    assert!(fetches("failure") >= 1.0);
    let age = sample(
        &text,
        r#"gateway_jwks_age_seconds{provider="auth-service"}"#,
    );
    assert!((0.0..10.0).contains(&age), "age {age}");
    let offset = sample(
        &text,
        r#"gateway_clock_offset_seconds{provider="auth-service"}"#,
    );
    assert!((118.0..=122.0).contains(&offset), "offset {offset}");
}

#[tokio::test]
async fn before_any_key_is_known_tokens_get_503_and_the_gateway_is_not_ready() {
    let app = spawn_app_with(|settings| {
        settings.jwt.mode = VerificationMode::Jwks;
        settings.jwt.jwks_url = format!("{}/.well-known/jwks.json", closed_port_address());
    })
    .await;
    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let token = TestKey::generate("k1").sign(&app.claims("user1"));
    let response = app.get_protected(&[("x-access-token", &token)]).await;
    assert_json_error(response, 503, "Token verification is unavailable.").await;
    let response = app.get_protected(&[]).await;
    assert_json_error(response, 403, "Token is missing!").await;
}

#[tokio::test]
async fn forged_tokens_are_refused_whatever_the_header_claims() {
    let key = TestKey::generate("k1");
    let jwks = JwksServer::start(vec![key.jwk()]);
    let app = spawn_jwks_gateway(jwks.url.clone(), 60).await;
    let claims = app.claims("admin");
    let attacker = TestKey::generate("attacker");

    let mut hs_with_public_key = Header::new(Algorithm::HS256);
    hs_with_public_key.kid = Some("k1".into());
    let confusion = app.sign_with(hs_with_public_key.clone(), &claims, &key.public);
    let confusion_b64 = app.sign_with(
        hs_with_public_key,
        &claims,
        URL_SAFE_NO_PAD.encode(key.public).as_bytes(),
    );

    let mut embedded = Header::new(Algorithm::EdDSA);
    embedded.kid = Some("attacker".into());
    embedded.jwk = Some(serde_json::from_value(attacker.jwk()).unwrap());
    embedded.jku = Some(jwks.url.clone());
    let embedded_key = jsonwebtoken::encode(
        &embedded,
        &claims,
        &EncodingKey::from_ed_der(&attacker.private_der),
    )
    .unwrap();

    let mut forged_kid = Header::new(Algorithm::EdDSA);
    forged_kid.kid = Some("k1".into());
    let wrong_key_right_kid = jsonwebtoken::encode(
        &forged_kid,
        &claims,
        &EncodingKey::from_ed_der(&attacker.private_der),
    )
    .unwrap();

    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let payload = b64(claims.clone());
    let cases = [
        (confusion, "HS256 keyed with the public key (alg confusion)"),
        (confusion_b64, "HS256 keyed with the public key's base64"),
        (embedded_key, "own key embedded as jwk/jku"),
        (wrong_key_right_kid, "right kid, wrong key"),
        (
            format!("{}.{payload}.", b64(json!({"alg": "none", "kid": "k1"}))),
            "alg none with a good kid",
        ),
        (
            format!("{}.{payload}.", b64(json!({"alg": "NoNe", "kid": "k1"}))),
            "alg NoNe",
        ),
        (
            format!("{}.{payload}.", b64(json!({"alg": "EdDSA"}))),
            "no kid",
        ),
        (
            attacker
                .sign(&claims)
                .replace("attacker", "../../../etc/passwd"),
            "kid path traversal",
        ),
        (
            TestKey::generate(&"k".repeat(200)).sign(&claims),
            "oversized kid",
        ),
    ];
    for (token, why) in cases {
        let response = app.get_protected(&[("x-access-token", &token)]).await;
        assert_eq!(response.status().as_u16(), 403, "{why}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"message": "Token is invalid!"}), "{why}");
    }
}

#[tokio::test]
async fn a_clock_off_past_the_leeway_fails_readiness_only_where_configured() {
    let key = TestKey::generate("k1");
    let jwks = JwksServer::start(vec![key.jwk()]);
    jwks.date_ahead(120);
    let ready = |app: &TestApp| {
        let request = app.client.get(app.url("/health/ready"));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // Spawned the usual way: ready once its keys are in, the offset only logged.
    let lenient = spawn_jwks_gateway(jwks.url.clone(), 0).await;
    assert_eq!(ready(&lenient).await, 200);
    let url = jwks.url.clone();
    let strict = spawn_app_with(move |settings| {
        settings.jwt.mode = VerificationMode::Jwks;
        settings.jwt.jwks_url = url;
        settings.jwt.clock_offset_fails_readiness = true;
    })
    .await;
    let token = key.sign(&strict.claims("user1"));
    // Tokens still verify (the keys are fetched by the first one at the latest); only
    // readiness says the clock is off.
    assert_eq!(status_with(&strict, &token).await, 200);
    assert_eq!(ready(&strict).await, 503);
    jwks.date_ahead(0);
    let other = TestKey::generate("k9").sign(&strict.claims("user1"));
    // An unknown kid makes it fetch again, reading the corrected clock.
    assert_eq!(status_with(&strict, &other).await, 403);
    assert_eq!(ready(&strict).await, 200);
}
