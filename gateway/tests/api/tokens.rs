use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};
use service_kit::assertion::IdentitySigner;

use crate::helpers::{TestApp, assert_json_error, now, spawn_app};

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A token with any header at all and no signature, as an attacker would write it.
fn unsigned(header: Value, claims: &Value) -> String {
    format!("{}.{}.", b64(&header), b64(claims))
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn invalid_tokens(app: &TestApp) -> Vec<(String, &'static str)> {
    let good = app.claims("user1");
    let valid = app.sign(&good);
    let (head, rest) = valid.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let forged_payload = b64(&with(good.clone(), "user", json!("admin")));
    let mut crit = Header::new(Algorithm::HS256);
    crit.crit = Some(vec!["exp-critical".into()]);
    let mut embedded_key = Header::new(Algorithm::HS256);
    embedded_key.jku = Some("http://127.0.0.1:1/jwks.json".into());
    vec![
        ("garbage".into(), "not a JWT at all"),
        ("a.b".into(), "two parts"),
        ("a.b.c.d".into(), "four parts"),
        (
            format!("{head}.{forged_payload}.{signature}"),
            "payload tampered after signing",
        ),
        (
            format!("{}x", &valid[..valid.len() - 1]),
            "signature tampered",
        ),
        (
            app.sign_with(
                Header::new(Algorithm::HS256),
                &good,
                b"another-secret-another-secret-32b",
            ),
            "signed with another key",
        ),
        (
            app.sign(&with(good.clone(), "exp", json!(now() - 3600))),
            "expired an hour ago",
        ),
        (
            app.sign(&with(good.clone(), "nbf", json!(now() + 3600))),
            "not valid for an hour",
        ),
        (
            app.sign(&with(good.clone(), "iss", json!("someone-else"))),
            "wrong issuer",
        ),
        (
            app.sign(&with(good.clone(), "aud", json!("other-api"))),
            "wrong audience",
        ),
        (app.sign(&without(good.clone(), "exp")), "no exp"),
        (app.sign(&without(good.clone(), "sub")), "no sub"),
        (
            app.sign(&without(good.clone(), "user")),
            "no seed user claim",
        ),
        (
            app.sign(&with(good.clone(), "exp", json!("tomorrow"))),
            "exp not a number",
        ),
        (
            unsigned(json!({"alg": "none", "typ": "JWT"}), &good),
            "alg none",
        ),
        (unsigned(json!({"alg": "None"}), &good), "alg None"),
        (unsigned(json!({"alg": "NONE"}), &good), "alg NONE"),
        (unsigned(json!({"alg": "nOnE"}), &good), "alg nOnE"),
        (unsigned(json!({"typ": "JWT"}), &good), "no alg"),
        (
            app.sign_with(Header::new(Algorithm::HS512), &good, app.secret()),
            "HS512, same key",
        ),
        (
            app.sign_with(Header::new(Algorithm::HS384), &good, app.secret()),
            "HS384, same key",
        ),
        (
            app.sign_with(crit, &good, app.secret()),
            "unknown crit extension",
        ),
        (
            app.sign_with(embedded_key, &good, b"attacker-key-attacker-key-32bytes"),
            "jku to own key",
        ),
        ("a".repeat(9000), "longer than the token limit"),
        (format!("{valid} "), "trailing blank"),
    ]
}

#[tokio::test]
async fn protected_returns_403_when_token_is_missing() {
    let app = spawn_app().await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[], "no header"),
        (
            &[("x-access-token", "")],
            "empty x-access-token, as the seed's `if not token`",
        ),
        (
            &[("authorization", "Bearer")],
            "bearer scheme without credential",
        ),
        (
            &[("authorization", "Bearer   ")],
            "bearer scheme with blanks",
        ),
        (
            &[("authorization", "Basic dXNlcjE6cGFzc3dvcmQxMjM=")],
            "basic credentials",
        ),
    ];
    for (headers, why) in cases {
        let response = app.get_protected(headers).await;
        assert_eq!(response.status().as_u16(), 403, "{why}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"message": "Token is missing!"}), "{why}");
    }
}

#[tokio::test]
async fn protected_returns_403_when_token_is_invalid() {
    let app = spawn_app().await;
    for (token, why) in invalid_tokens(&app) {
        for header in ["x-access-token", "authorization"] {
            let value = if header == "authorization" {
                format!("Bearer {token}")
            } else {
                token.clone()
            };
            let Ok(value) = reqwest::header::HeaderValue::from_str(&value) else {
                continue;
            };
            let response = app
                .client
                .get(app.url("/protected"))
                .header(header, value)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            if why == "trailing blank" {
                // Surrounding blanks are not part of a header value (RFC 9110 §5.5).
                assert_eq!(status, 200, "{why} via {header}");
                continue;
            }
            assert_eq!(status, 403, "{why} via {header}: {body}");
            assert_eq!(
                body,
                json!({"message": "Token is invalid!"}),
                "{why} via {header}"
            );
        }
    }
}

#[tokio::test]
async fn a_header_value_that_is_not_ascii_is_an_invalid_token() {
    let app = spawn_app().await;
    let value = reqwest::header::HeaderValue::from_bytes(b"\xfftoken").unwrap();
    let response = app
        .client
        .get(app.url("/protected"))
        .header("x-access-token", value)
        .send()
        .await
        .unwrap();
    assert_json_error(response, 403, "Token is invalid!").await;
}

#[tokio::test]
async fn a_valid_token_reaches_the_upstream_as_verified_identity_only() {
    let app = spawn_app().await;
    let token = app.sign(&app.claims("zoë"));
    let bearer = format!("bEaReR {token}");
    let cases: [(&str, &str); 2] = [("x-access-token", &token), ("authorization", &bearer)];
    for (header, value) in cases {
        let response = app
            .client
            .get(app.url("/protected?page=2"))
            .header(header, value)
            .header("x-auth-user", "admin")
            .header("X-Auth-Roles", "superuser")
            .header("x-auth-anything", "spoofed")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{header}");
        assert_eq!(response.headers()["x-upstream"], "echo");
        let echoed: Value = response.json().await.unwrap();
        let seen = &echoed["headers"];
        assert_eq!(seen["x-auth-user"], "zo%C3%AB", "{header}");
        assert_eq!(seen["x-auth-subject"], "sub-zo%C3%AB");
        assert_eq!(seen["x-auth-roles"], "reader");
        assert_eq!(seen["x-auth-token-id"], "jti-1");
        assert!(
            seen.get("x-auth-anything").is_none(),
            "spoofed header forwarded"
        );
        let signer = IdentitySigner::new(&app.settings.identity.secret).unwrap();
        let get = |name: &str| seen.get(name).and_then(Value::as_str);
        assert_eq!(
            signer.verify(now(), "GET", "/protected", get),
            Ok(()),
            "{header}"
        );
        assert!(
            seen.get("x-access-token").is_none(),
            "token forwarded upstream"
        );
        assert!(
            seen.get("authorization").is_none(),
            "token forwarded upstream"
        );
        assert_eq!(echoed["path"], "/protected");
        assert_eq!(echoed["query"], "page=2");
    }
}

#[tokio::test]
async fn x_access_token_wins_over_authorization() {
    let app = spawn_app().await;
    let good = format!("Bearer {}", app.sign(&app.claims("user1")));
    let response = app
        .get_protected(&[("x-access-token", "garbage"), ("authorization", &good)])
        .await;
    assert_json_error(response, 403, "Token is invalid!").await;
}

#[tokio::test]
async fn clock_skew_within_the_leeway_is_tolerated() {
    let app = spawn_app().await;
    let leeway = app.settings.jwt.leeway_seconds;
    let claims = app.claims("user1");
    let just_expired = with(claims.clone(), "exp", json!(now() - leeway / 2));
    let almost_valid = with(claims, "nbf", json!(now() + leeway / 2));
    for claims in [just_expired, almost_valid] {
        let response = app
            .get_protected(&[("x-access-token", &app.sign(&claims))])
            .await;
        assert_eq!(response.status().as_u16(), 200, "{claims}");
    }
}

#[tokio::test]
async fn a_route_with_roles_admits_only_tokens_carrying_one() {
    let app = spawn_app().await;
    let cases = [
        (json!(["reader"]), 403, "no required role"),
        (json!([]), 403, "no roles at all"),
        (json!(["reader", "ops"]), 200, "one of the roles"),
        (json!(["admin"]), 200, "the other role"),
    ];
    for (roles, status, why) in cases {
        let token = app.sign(&with(app.claims("user1"), "roles", roles));
        let response = app
            .client
            .get(app.url("/admin/users"))
            .header("x-access-token", token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{why}");
        if status == 403 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(
                body,
                json!({"message": "Token lacks a role this route requires."})
            );
        }
    }
}

/// The `WWW-Authenticate` challenge and status of a `/protected` or `/admin` request.
async fn challenge(app: &TestApp, path: &str, token: Option<&str>) -> (u16, String, Value) {
    let mut request = app.client.get(app.url(path));
    if let Some(token) = token {
        request = request.header("x-access-token", token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let header = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, header, response.json().await.unwrap())
}

#[tokio::test]
async fn refusals_carry_an_rfc_6750_challenge_that_only_tells_expiry_apart() {
    let app = spawn_app().await;
    let good = app.claims("user1");
    let expired = app.sign(&with(good.clone(), "exp", json!(now() - 3600)));
    let tampered = format!("{}x", &app.sign(&good)[..app.sign(&good).len() - 1]);
    let cases = [
        (
            None,
            r#"Bearer realm="api""#,
            "Token is missing!",
            "no token: no error code",
        ),
        (
            Some(expired.as_str()),
            r#"Bearer realm="api", error="invalid_token", error_description="The access token expired""#,
            "Token is invalid!",
            "expired: the client should refresh",
        ),
        (
            Some(tampered.as_str()),
            r#"Bearer realm="api", error="invalid_token", error_description="The access token is invalid""#,
            "Token is invalid!",
            "tampered: no reason disclosed",
        ),
    ];
    for (token, expected, message, why) in cases {
        let (status, header, body) = challenge(&app, "/protected", token).await;
        assert_eq!(status, 403, "{why}: the seed's status by default");
        assert_eq!(header, expected, "{why}");
        assert_eq!(
            body,
            json!({ "message": message }),
            "{why}: the seed's body"
        );
    }
    let (status, header, _) = challenge(&app, "/admin", Some(&app.sign(&good))).await;
    assert_eq!(status, 403);
    assert!(header.contains(r#"error="insufficient_scope""#), "{header}");
}

#[tokio::test]
async fn a_setting_answers_missing_and_invalid_tokens_with_401_and_a_missing_role_with_403() {
    let app = crate::helpers::spawn_app_with(|s| s.jwt.refusal_status = 401).await;
    let good = app.claims("user1");
    let expired = app.sign(&with(good.clone(), "exp", json!(now() - 3600)));
    assert_eq!(challenge(&app, "/protected", None).await.0, 401);
    let (status, header, body) = challenge(&app, "/protected", Some(&expired)).await;
    assert_eq!(
        (status, body),
        (401, json!({"message": "Token is invalid!"}))
    );
    assert!(header.contains("expired"), "{header}");
    assert_eq!(
        challenge(&app, "/admin", Some(&app.sign(&good))).await.0,
        403
    );
    let (status, _, _) = challenge(&app, "/protected", Some(&app.sign(&good))).await;
    assert_eq!(status, 200, "valid tokens are unaffected");
}
