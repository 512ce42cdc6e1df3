//! Revocation end to end: a change at the auth-service, and the gateway refusing the tokens
//! it names (and only those) once the revocation stream has carried it. How fast is
//! measured by the benchmark (`bench/`); here a refusal only has to come within 10 s.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use auth_service::cli::{self, Admin, KeysCommand, SessionsCommand};
use e2e::{Stack, spawn_stack};
use serde_json::{Value, json};

async fn login(stack: &Stack) -> Value {
    let response = stack
        .login(r#"{"username":"user1","password":"password123"}"#)
        .await;
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

async fn status_of(stack: &Stack, token: &str) -> u16 {
    let bearer = format!("Bearer {token}");
    stack.protected(&[("authorization", &bearer)]).await.0
}

/// Waits until `token` is refused; fails after 10 s.
async fn until_refused(stack: &Stack, token: &str) -> Duration {
    let started = Instant::now();
    loop {
        let bearer = format!("Bearer {token}");
        let (status, body) = stack.protected(&[("authorization", &bearer)]).await;
        if status != 200 {
            assert_eq!(
                (status, body),
                (403, json!({"message": "Token is invalid!"}))
            );
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still accepted after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn admin(stack: &Stack, command: Admin) -> String {
    let mut out = Vec::new();
    let settings = stack.auth.clone().unwrap();
    cli::run(settings, command, &mut out, &mut std::io::sink())
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

async fn metrics(stack: &Stack) -> String {
    let url = format!("{}/metrics", stack.gateway_admin);
    stack
        .client
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_logout_ends_its_sessions_access_tokens_and_no_other() {
    let stack = spawn_stack(true).await;
    let first = login(&stack).await;
    let second = login(&stack).await;
    let token = first["token"].as_str().unwrap();
    let other = second["token"].as_str().unwrap();
    // Both verified and cached before the logout.
    assert_eq!(status_of(&stack, token).await, 200);
    assert_eq!(status_of(&stack, other).await, 200);

    let logout = stack
        .client
        .post(stack.url("/logout"))
        .json(&json!({"refresh_token": first["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status().as_u16(), 200);
    let took = until_refused(&stack, token).await;
    println!("a logged-out token was refused {took:?} after the logout");
    assert_eq!(
        status_of(&stack, other).await,
        200,
        "the other session lives on"
    );

    let exported = metrics(&stack).await;
    assert!(
        exported.contains("gateway_revocations_total{kind=\"session\"} 1\n"),
        "{exported}"
    );
    let lag = exported
        .lines()
        .find_map(|l| l.strip_prefix("gateway_revocation_lag_seconds "))
        .unwrap();
    assert!(lag.parse::<u64>().unwrap() <= 2, "lag {lag}");
}

#[tokio::test]
async fn an_admin_ends_every_session_of_a_user_and_a_withdrawn_key_every_token_it_signed() {
    let stack = spawn_stack(true).await;
    let before = [login(&stack).await, login(&stack).await];
    for tokens in &before {
        assert_eq!(
            status_of(&stack, tokens["token"].as_str().unwrap()).await,
            200
        );
    }
    admin(
        &stack,
        Admin::Sessions(SessionsCommand::Revoke {
            name: "user1".into(),
            session: None,
        }),
    )
    .await;
    for tokens in &before {
        until_refused(&stack, tokens["token"].as_str().unwrap()).await;
    }
    // A login right after is not covered by the revocation.
    let after = login(&stack).await;
    let token = after["token"].as_str().unwrap().to_owned();
    assert_eq!(status_of(&stack, &token).await, 200);

    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    let kid = header["kid"].as_str().unwrap().to_owned();
    let out = admin(
        &stack,
        Admin::Keys(KeysCommand::Revoke { kid: kid.clone() }),
    )
    .await;
    assert!(out.contains("new key "), "{out}");
    until_refused(&stack, &token).await;
    // The new key signs at once, and the gateway knows it from the stream.
    let fresh = login(&stack).await;
    let fresh = fresh["token"].as_str().unwrap();
    assert_eq!(status_of(&stack, fresh).await, 200);
    let jwks: Value = stack
        .client
        .get(stack.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kid"] != kid.as_str()),
        "{jwks}"
    );
}
