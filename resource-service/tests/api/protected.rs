use serde_json::{Value, json};
use service_kit::assertion::{IdentitySigner, MAX_AGE_SECONDS};

use crate::helpers::{now, spawn_app};

const FULL_IDENTITY: &[(&str, &str)] = &[
    ("x-auth-user", "user1"),
    ("x-auth-subject", "6f1f4d7e"),
    ("x-auth-roles", "reader,admin"),
    ("x-auth-token-id", "0b7c-jti"),
];

const NOT_FORWARDED: &str = "This service only answers requests forwarded by the gateway.";
const FORGED: &str = "The forwarded identity could not be verified.";

#[tokio::test]
async fn protected_answers_the_seeds_message_for_the_forwarded_user() {
    let app = spawn_app().await;
    let response = app.get_protected_signed(FULL_IDENTITY).await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "message": "This is a protected route!",
            "user": "user1",
            "roles": ["reader", "admin"],
        })
    );
}

#[tokio::test]
async fn percent_encoded_unicode_usernames_are_decoded() {
    let app = spawn_app().await;
    let headers = [
        ("x-auth-user", "zo%C3%AB"),
        ("x-auth-subject", "s"),
        ("x-auth-token-id", "t"),
    ];
    let body: Value = app
        .get_protected_signed(&headers)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["user"], "zoë");
    assert_eq!(body["roles"], json!([]));
}

#[tokio::test]
async fn direct_requests_that_bypass_the_gateway_get_401() {
    let app = spawn_app().await;
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[], "no identity headers at all"),
        (
            &[("x-access-token", "eyJ.a.b")],
            "a raw token is not an identity",
        ),
        (FULL_IDENTITY, "identity headers a client typed in"),
    ];
    for (headers, why) in cases {
        let response = app.get_protected(headers).await;
        assert_eq!(response.status().as_u16(), 401, "{why}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({ "message": NOT_FORWARDED }), "{why}");
    }
}

#[tokio::test]
async fn forged_altered_or_replayed_identities_get_403() {
    let app = spawn_app().await;
    let good = app.assertion(FULL_IDENTITY, "/protected", now());
    let stale = app.assertion(FULL_IDENTITY, "/protected", now() - MAX_AGE_SECONDS - 5);
    let other_path = app.assertion(FULL_IDENTITY, "/other", now());
    let attacker = IdentitySigner::new(&"attacker-secret-attacker-secret-1234".to_owned().into())
        .unwrap()
        .sign(now(), "GET", "/protected", |n| {
            FULL_IDENTITY.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
        });
    let mut promoted = FULL_IDENTITY.to_vec();
    promoted[0] = ("x-auth-user", "admin");
    type Headers<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(Headers, &str, &str)> = vec![
        (promoted, &good, "user swapped after signing"),
        (
            FULL_IDENTITY.to_vec(),
            &stale,
            "assertion older than the window",
        ),
        (
            FULL_IDENTITY.to_vec(),
            &other_path,
            "assertion made for another path",
        ),
        (
            FULL_IDENTITY.to_vec(),
            &attacker,
            "signed with another secret",
        ),
        (FULL_IDENTITY.to_vec(), "v1,garbage", "malformed assertion"),
    ];
    for (mut headers, signature, why) in cases {
        headers.push(("x-auth-signature", signature));
        let response = app.get_protected(&headers).await;
        assert_eq!(response.status().as_u16(), 403, "{why}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({ "message": FORGED }), "{why}");
    }
}

#[tokio::test]
async fn a_signed_request_without_a_user_is_refused() {
    let app = spawn_app().await;
    let headers = [("x-auth-subject", "s"), ("x-auth-token-id", "t")];
    let response = app.get_protected_signed(&headers).await;
    assert_eq!(response.status().as_u16(), 403);
}
