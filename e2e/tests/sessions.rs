//! Sessions beyond the seed, end to end through the gateway: sign-up, refresh, logout,
//! and the published keys.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2e::spawn_stack;
use serde_json::{Value, json};

async fn post(stack: &e2e::Stack, path: &str, body: Value) -> (u16, Value) {
    let response = stack
        .client
        .post(stack.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_session_lives_through_refreshes_and_ends_with_logout() {
    let stack = spawn_stack(true).await;
    let (status, _) = post(
        &stack,
        "/register",
        json!({"username": "alice", "password": "wonderland-42"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, login) = post(
        &stack,
        "/login",
        json!({"username": "alice", "password": "wonderland-42"}),
    )
    .await;
    assert_eq!(status, 200);

    let (status, body) = stack
        .protected(&[("x-access-token", login["token"].as_str().unwrap())])
        .await;
    assert_eq!((status, &body["user"]), (200, &json!("alice")));

    let (status, refreshed) = post(
        &stack,
        "/refresh",
        json!({"refresh_token": login["refresh_token"]}),
    )
    .await;
    assert_eq!(status, 200);
    let bearer = format!("Bearer {}", refreshed["token"].as_str().unwrap());
    let (status, body) = stack.protected(&[("authorization", &bearer)]).await;
    assert_eq!((status, &body["user"]), (200, &json!("alice")));

    let (status, body) = post(
        &stack,
        "/logout",
        json!({"refresh_token": refreshed["refresh_token"]}),
    )
    .await;
    assert_eq!((status, body), (200, json!({"message": "Logged out."})));
    let (status, body) = post(
        &stack,
        "/refresh",
        json!({"refresh_token": refreshed["refresh_token"]}),
    )
    .await;
    assert_eq!(
        (status, body),
        (401, json!({"message": "Refresh token is invalid."}))
    );
}

#[tokio::test]
async fn the_published_keys_are_reachable_through_the_gateway_and_sign_the_tokens() {
    let stack = spawn_stack(true).await;
    let jwks: Value = stack
        .client
        .get(stack.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = stack.token().await;
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
}
