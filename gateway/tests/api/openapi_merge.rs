//! `GET /openapi.json`: how upstreams' documents are merged (components), kept (the cache)
//! and missed (an upstream that cannot be reached), on the stand-ins of `openapi_upstreams.rs`.

use std::sync::atomic::Ordering;

use serde_json::json;

use crate::openapi_upstreams::{app, document};

#[tokio::test]
async fn an_upstreams_components_are_shared_when_alike_and_renamed_when_not() {
    let (app, _) = app(false).await;
    let document = document(&app).await;
    let schemas = document["components"]["schemas"].as_object().unwrap();
    assert!(
        schemas["ErrorBody"]["description"]
            .as_str()
            .unwrap()
            .starts_with("Body of every error")
    );
    assert!(
        schemas.get("auth.ErrorBody").is_none(),
        "the same shape is shared"
    );
    assert_eq!(
        schemas["HealthStatus"]["properties"]["status"]["type"],
        "string"
    );
    assert_eq!(
        schemas["auth.HealthStatus"]["properties"]["token"]["type"],
        "string"
    );
    let answer = &document["paths"]["/login"]["post"]["responses"]["200"]["content"]["application/json"]
        ["schema"]["$ref"];
    assert_eq!(answer, "#/components/schemas/auth.HealthStatus");
}

#[tokio::test]
async fn the_document_is_built_once_and_then_served_from_its_cache() {
    let (app, fetches) = app(false).await;
    let first = document(&app).await;
    let second = document(&app).await;
    assert_eq!(first, second);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_upstream_that_cannot_be_reached_is_left_out_and_the_document_says_so() {
    let (app, _) = app(true).await;
    let document = document(&app).await;
    assert_eq!(document["x-missing-upstreams"], json!(["dead"]));
    let description = document["info"]["description"].as_str().unwrap();
    assert!(
        description.contains("Incomplete") && description.contains("dead"),
        "{description}"
    );
    assert!(
        document["paths"].get("/protected").is_some(),
        "the others are still there"
    );
}
