//! Tokens of other OpenID providers: Keycloak-, Auth0- and minimal-shaped RS256, PS256 and
//! ES256 tokens, keys fetched over HTTPS (a private CA handed to the gateway), one of them
//! through discovery. The forwarded identity follows each provider's claim mapping; wrong
//! issuers, audiences, keys, algorithms and expired tokens are refused.

use gateway::configuration::ProviderSettings;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::helpers::{TestApp, now, spawn_app_with};
use crate::identity_provider::{IdentityProvider, ec_key, jwk, rsa_key, sign};

const KEYCLOAK_KID: &str = "kc-rsa";
const AUTH0_KID: &str = "a0-rsa";
const MINIMAL_KID: &str = "min-ec";
const AUTH0_ROLES: &str = "https://api.example.com/roles";

struct Providers {
    idp: IdentityProvider,
    app: TestApp,
}

impl Providers {
    fn keycloak_issuer(&self) -> String {
        self.idp.url("/realms/test")
    }
    fn auth0_issuer(&self) -> String {
        self.idp.url("/auth0/")
    }
    fn minimal_issuer(&self) -> String {
        self.idp.url("/minimal")
    }

    fn keycloak_claims(&self) -> Value {
        let now = now();
        json!({
            "iss": self.keycloak_issuer(), "aud": ["api", "account"], "sub": "f81d4fae-7dec",
            "exp": now + 300, "iat": now, "typ": "Bearer", "azp": "web",
            "preferred_username": "alice", "realm_access": {"roles": ["offline_access", "admin"]},
        })
    }

    fn auth0_claims(&self) -> Value {
        let now = now();
        json!({
            "iss": self.auth0_issuer(), "aud": "https://api.example.com", "sub": "auth0|42",
            "exp": now + 300, "iat": now, "scope": "openid profile",
            AUTH0_ROLES: ["reader"],
        })
    }

    fn minimal_claims(&self) -> Value {
        json!({"iss": self.minimal_issuer(), "sub": "svc-7", "aud": "api", "exp": now() + 300})
    }

    async fn status_and_identity(&self, token: &str) -> (u16, Value, String) {
        let res = self
            .app
            .get_protected(&[("authorization", &format!("Bearer {token}"))])
            .await;
        let status = res.status().as_u16();
        let challenge = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body: Value = res.json().await.unwrap();
        (status, body, challenge)
    }
}

async fn setup() -> Providers {
    let idp = IdentityProvider::start().await;
    let (rsa, ec) = (rsa_key(false), ec_key());
    // Keycloak: keys found through discovery; Auth0 and the minimal one: JWKS URLs given.
    let keycloak = idp.url("/realms/test");
    idp.put(
        "/realms/test/.well-known/openid-configuration",
        json!({
            "issuer": keycloak,
            "jwks_uri": idp.url("/realms/test/protocol/openid-connect/certs"),
            "response_types_supported": ["code"],
        }),
    );
    idp.put(
        "/realms/test/protocol/openid-connect/certs",
        json!({"keys": [jwk(&rsa, KEYCLOAK_KID, Some("RS256"))]}),
    );
    idp.put(
        "/auth0/.well-known/jwks.json",
        json!({"keys": [jwk(&rsa, AUTH0_KID, Some("PS256"))]}),
    );
    // No `alg` in the JWK: a P-256 key can only serve ES256.
    idp.put(
        "/minimal/jwks",
        json!({"keys": [jwk(&ec, MINIMAL_KID, None)]}),
    );
    let provider = |name: &str, issuer: String, jwks_url: String| ProviderSettings {
        name: name.into(),
        issuer,
        jwks_url,
        audiences: vec!["api".into()],
        algorithms: vec!["RS256".into(), "PS256".into(), "ES256".into()],
        username_claims: vec!["user".into(), "preferred_username".into(), "sub".into()],
        roles_claim: "/roles".into(),
        ca_file: Some(idp.ca_file.clone()),
    };
    let providers = vec![
        ProviderSettings {
            algorithms: vec!["RS256".into()],
            roles_claim: "/realm_access/roles".into(),
            ..provider("keycloak", keycloak, String::new())
        },
        ProviderSettings {
            audiences: vec!["https://api.example.com".into()],
            roles_claim: "/https:~1~1api.example.com~1roles".into(),
            ..provider(
                "auth0",
                idp.url("/auth0/"),
                idp.url("/auth0/.well-known/jwks.json"),
            )
        },
        ProviderSettings {
            roles_claim: "scope".into(),
            ..provider("minimal", idp.url("/minimal"), idp.url("/minimal/jwks"))
        },
    ];
    let app = spawn_app_with(move |settings| settings.providers = providers).await;
    Providers { idp, app }
}

fn forwarded(body: &Value, header: &str) -> String {
    body["headers"][header]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn tokens_of_each_provider_are_accepted_with_their_own_claim_mapping() {
    let p = setup().await;
    let rsa = rsa_key(false);
    // (provider, token, forwarded user, subject, roles), values percent-encoded.
    let cases = [
        (
            "keycloak RS256",
            sign(&rsa, Algorithm::RS256, KEYCLOAK_KID, &p.keycloak_claims()),
            ["alice", "f81d4fae-7dec", "offline_access,admin"],
        ),
        (
            "auth0 PS256",
            sign(&rsa, Algorithm::PS256, AUTH0_KID, &p.auth0_claims()),
            ["auth0%7C42", "auth0%7C42", "reader"],
        ),
        (
            "minimal ES256",
            sign(
                &ec_key(),
                Algorithm::ES256,
                MINIMAL_KID,
                &p.minimal_claims(),
            ),
            ["svc-7", "svc-7", ""],
        ),
    ];
    for (name, token, [user, subject, roles]) in cases {
        let (status, body, _) = p.status_and_identity(&token).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(forwarded(&body, "x-auth-user"), user, "{name}");
        assert_eq!(forwarded(&body, "x-auth-subject"), subject, "{name}");
        assert_eq!(forwarded(&body, "x-auth-roles"), roles, "{name}");
        assert!(
            body["headers"].get("authorization").is_none(),
            "{name}: the credential went upstream"
        );
    }
    // The minimal token has no scope claim here; with one, each scope is a role.
    let mut scoped = p.minimal_claims();
    scoped["scope"] = "read:a write:b".into();
    let (status, body, _) = p
        .status_and_identity(&sign(&ec_key(), Algorithm::ES256, MINIMAL_KID, &scoped))
        .await;
    assert_eq!(status, 200);
    assert_eq!(forwarded(&body, "x-auth-roles"), "read%3Aa,write%3Ab");

    // Our own auth-service's tokens keep working beside them, word for word.
    let ours = p.app.sign(&p.app.claims("user1"));
    let (status, body, _) = p.status_and_identity(&ours).await;
    assert_eq!(status, 200);
    assert_eq!(forwarded(&body, "x-auth-user"), "user1");
}

#[tokio::test]
async fn wrong_issuer_audience_key_algorithm_or_expiry_is_refused() {
    let p = setup().await;
    let (rsa, other) = (rsa_key(false), rsa_key(true));
    let keycloak = p.keycloak_claims();
    let with = |name: &str, value: Value| {
        let mut claims = keycloak.clone();
        claims[name] = value;
        claims
    };
    let mut no_sub = p.minimal_claims();
    no_sub.as_object_mut().unwrap().remove("sub");
    let secret = rsa.public["n"].as_str().unwrap().as_bytes().to_vec();
    let refused = [
        (
            "an unknown issuer",
            sign(
                &rsa,
                Algorithm::RS256,
                KEYCLOAK_KID,
                &with("iss", p.idp.url("/realms/other").into()),
            ),
        ),
        (
            "another provider's issuer",
            sign(
                &rsa,
                Algorithm::RS256,
                KEYCLOAK_KID,
                &with("iss", p.auth0_issuer().into()),
            ),
        ),
        (
            "a wrong audience",
            sign(
                &rsa,
                Algorithm::RS256,
                KEYCLOAK_KID,
                &with("aud", json!(["account"])),
            ),
        ),
        (
            "another key under the provider's kid",
            sign(&other, Algorithm::RS256, KEYCLOAK_KID, &keycloak),
        ),
        (
            "PS256 on a key published for RS256",
            sign(&rsa, Algorithm::PS256, KEYCLOAK_KID, &keycloak),
        ),
        (
            "HS256 with the public key as the secret",
            p.app.sign_with(
                {
                    let mut h = jsonwebtoken::Header::new(Algorithm::HS256);
                    h.kid = Some(KEYCLOAK_KID.into());
                    h
                },
                &keycloak,
                &secret,
            ),
        ),
        (
            "an unknown kid",
            sign(&rsa, Algorithm::RS256, "nobody", &keycloak),
        ),
        (
            "no sub",
            sign(&ec_key(), Algorithm::ES256, MINIMAL_KID, &no_sub),
        ),
        (
            "issued in the future",
            sign(
                &rsa,
                Algorithm::RS256,
                KEYCLOAK_KID,
                &with("iat", (now() + 3600).into()),
            ),
        ),
    ];
    for (name, token) in refused {
        let (status, body, challenge) = p.status_and_identity(&token).await;
        assert_eq!(status, 403, "{name}");
        assert_eq!(body, json!({"message": "Token is invalid!"}), "{name}");
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{name}: {challenge}"
        );
    }
    let expired = sign(
        &rsa,
        Algorithm::RS256,
        KEYCLOAK_KID,
        &with("exp", (now() - 120).into()),
    );
    let (status, body, challenge) = p.status_and_identity(&expired).await;
    assert_eq!(status, 403);
    assert_eq!(body, json!({"message": "Token is invalid!"}));
    assert!(challenge.contains("expired"), "{challenge}");
}

#[tokio::test]
async fn a_provider_whose_certificate_is_not_trusted_verifies_nothing() {
    let idp = IdentityProvider::start().await;
    let rsa = rsa_key(false);
    idp.put("/jwks", json!({"keys": [jwk(&rsa, "k", Some("RS256"))]}));
    let issuer = idp.url("/untrusted");
    let provider = ProviderSettings {
        name: "untrusted".into(),
        issuer: issuer.clone(),
        jwks_url: idp.url("/jwks"),
        audiences: vec![],
        algorithms: vec!["RS256".into()],
        username_claims: vec!["sub".into()],
        roles_claim: "/roles".into(),
        // No CA file: the test CA is in no trust store.
        ca_file: None,
    };
    let app = spawn_app_with(move |settings| settings.providers = vec![provider]).await;
    let token = sign(
        &rsa,
        Algorithm::RS256,
        "k",
        &json!({"iss": issuer, "sub": "s", "exp": now() + 60}),
    );
    let res = app
        .get_protected(&[("authorization", &format!("Bearer {token}"))])
        .await;
    // The keys never load: the gateway cannot tell a good token from a bad one, and says
    // so with 503 rather than refusing a token that may be good.
    assert_eq!(res.status().as_u16(), 503);
    let body: Value = res.json().await.unwrap();
    assert!(body["message"].is_string(), "{body}");
}
