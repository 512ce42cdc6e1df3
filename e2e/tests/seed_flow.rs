//! The seed tutorial's flow and its failure cases, end to end: auth-service,
//! resource-service and gateway started for real, every request sent to the gateway.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use e2e::spawn_stack;
use serde_json::{Value, json};

#[tokio::test]
async fn the_seeds_curl_flow_works_unchanged_through_the_gateway() {
    let stack = spawn_stack(true).await;

    let home = stack.client.get(stack.url("/")).send().await.unwrap();
    assert_eq!(home.status().as_u16(), 200);
    let body: Value = home.json().await.unwrap();
    assert_eq!(body, json!({"message": "Welcome to the Flask JWT API!"}));

    let token = stack.token().await;
    assert_eq!(token.split('.').count(), 3, "a compact JWS");

    let (status, body) = stack.protected(&[("x-access-token", &token)]).await;
    assert_eq!(status, 200);
    assert_eq!(body["message"], "This is a protected route!");
    assert_eq!(body["user"], "user1");

    let bearer = format!("Bearer {token}");
    let (status, body) = stack.protected(&[("authorization", &bearer)]).await;
    assert_eq!((status, &body["user"]), (200, &json!("user1")));
}

#[tokio::test]
async fn the_seeds_failure_answers_come_back_through_the_gateway() {
    let stack = spawn_stack(true).await;
    let token = stack.token().await;
    let (head, rest) = token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let tampered = format!("{head}.eyJ1c2VyIjoiYWRtaW4ifQ.{signature}");

    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Headers, u16, &str); 4] = [
        (&[], 403, "Token is missing!"),
        (
            &[("x-access-token", "not-a-token")],
            403,
            "Token is invalid!",
        ),
        (&[("x-access-token", &tampered)], 403, "Token is invalid!"),
        (
            &[("authorization", "Bearer a.b.c")],
            403,
            "Token is invalid!",
        ),
    ];
    for (headers, status, message) in cases {
        let answer = stack.protected(headers).await;
        assert_eq!(
            answer,
            (status, json!({ "message": message })),
            "{headers:?}"
        );
    }

    let wrong = stack
        .login(r#"{"username":"user1","password":"nope"}"#)
        .await;
    assert_eq!(wrong.status().as_u16(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body, json!({"message": "Invalid credentials!"}));
}

#[tokio::test]
async fn bad_input_through_the_gateway_gets_4xx_json() {
    let stack = spawn_stack(true).await;
    let huge = format!(r#"{{"username":"{}","password":"x"}}"#, "u".repeat(3 << 20));
    let cases = [
        ("{", 400, "Request body is not valid JSON."),
        ("[]", 400, "Request body must be a JSON object."),
        (
            r#"{"username":7,"password":"x"}"#,
            400,
            "Field \"username\" must be a string.",
        ),
        (
            r#"{"username":"user1"}"#,
            400,
            "Field \"password\" is required.",
        ),
        (
            huge.as_str(),
            413,
            "Request body is too large (limit 1048576 bytes).",
        ),
    ];
    for (body, status, message) in cases {
        let response = stack.login(body).await;
        assert_eq!(response.status().as_u16(), status, "{message}");
        let json: Value = response.json().await.unwrap();
        assert_eq!(json, json!({ "message": message }));
    }

    let big_header = stack
        .client
        .get(stack.url("/protected"))
        .header("x-padding", "p".repeat(64 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(big_header.status().as_u16(), 431);
    let json: Value = big_header.json().await.unwrap();
    assert!(json["message"].as_str().unwrap().contains("too large"));
}

#[tokio::test]
async fn a_client_cannot_claim_someone_elses_identity() {
    let stack = spawn_stack(true).await;
    let token = stack.token().await;
    let (status, body) = stack
        .protected(&[
            ("x-access-token", &token),
            ("x-auth-user", "admin"),
            ("x-auth-roles", "admin"),
        ])
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["user"], "user1");
    assert_eq!(body["roles"], json!([]));

    let (status, body) = stack.protected(&[("x-auth-user", "admin")]).await;
    assert_eq!(
        (status, body),
        (403, json!({"message": "Token is missing!"}))
    );
}

#[tokio::test]
async fn the_request_id_travels_to_the_auth_service_and_back() {
    let stack = spawn_stack(true).await;
    let response = stack
        .client
        .post(stack.url("/login"))
        .header("x-request-id", "e2e-7")
        .body(r#"{"username":"user1","password":"password123"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["x-request-id"], "e2e-7");
}

#[tokio::test]
async fn with_the_auth_service_down_login_gets_502_json() {
    let stack = spawn_stack(false).await;
    let response = stack
        .login(r#"{"username":"user1","password":"password123"}"#)
        .await;
    assert_eq!(response.status().as_u16(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"message": "Upstream service is unavailable."}));
}
