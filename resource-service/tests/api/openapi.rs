//! `GET /openapi.json`: the resource-service's own OpenAPI document.

use serde_json::{Value, json};
use shared::openapi::{ACCESS_TOKEN_SCHEME, BEARER_SCHEME};

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_document_is_served_without_the_gateways_identity() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "metadata, like the health probes"
    );
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: Value = response.json().await.unwrap();
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        document["openapi"]
    );
}

#[tokio::test]
async fn protected_is_described_with_its_statuses_and_the_tokens_two_schemes() {
    let app = spawn_app().await;
    let document: Value = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert_eq!(paths.keys().collect::<Vec<_>>(), ["/protected"]);
    let operation = &document["paths"]["/protected"]["get"];
    let mut statuses: Vec<&String> = operation["responses"].as_object().unwrap().keys().collect();
    statuses.sort();
    assert_eq!(statuses, ["200", "401", "403"]);
    assert_eq!(
        operation["security"],
        json!([{BEARER_SCHEME: []}, {ACCESS_TOKEN_SCHEME: []}])
    );
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes[BEARER_SCHEME]["scheme"], "bearer");
    assert_eq!(schemes[ACCESS_TOKEN_SCHEME]["in"], "header");
    assert_eq!(schemes[ACCESS_TOKEN_SCHEME]["name"], "x-access-token");
    let body = &document["components"]["schemas"]["ProtectedBody"];
    let mut required: Vec<&str> = body["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort();
    assert_eq!(required, ["message", "roles", "user"]);
}
