//! `GET /openapi.json`: the auth-service's own OpenAPI document.

use serde_json::Value;

use crate::helpers::{Backend, spawn_app};

async fn document() -> (crate::helpers::TestApp, Value) {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document = response.json().await.unwrap();
    (app, document)
}

fn statuses(document: &Value, method: &str, path: &str) -> Vec<String> {
    let responses = &document["paths"][path][method]["responses"];
    let mut statuses: Vec<String> = responses
        .as_object()
        .unwrap_or_else(|| panic!("no {method} {path} in the document"))
        .keys()
        .cloned()
        .collect();
    statuses.sort();
    statuses
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_every_operation_with_each_status_it_answers() {
    let (_app, document) = document().await;
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        document["openapi"]
    );
    let cases: [(&str, &str, &[&str]); 7] = [
        (
            "post",
            "/login",
            &["200", "400", "401", "413", "415", "429", "503"],
        ),
        (
            "post",
            "/register",
            &["201", "400", "403", "409", "413", "415", "503"],
        ),
        (
            "post",
            "/refresh",
            &["200", "400", "401", "413", "415", "429"],
        ),
        ("post", "/logout", &["200", "400", "413", "415"]),
        ("get", "/.well-known/jwks.json", &["200"]),
        ("get", "/.well-known/oauth-authorization-server", &["200"]),
        ("get", "/.well-known/openid-configuration", &["200"]),
    ];
    for (method, path, expected) in cases {
        assert_eq!(
            statuses(&document, method, path),
            expected,
            "{method} {path}"
        );
    }
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(operations, cases.len(), "no operation left undescribed");
    let error = &document["paths"]["/login"]["post"]["responses"]["401"]["content"]["application/json"]
        ["schema"]["$ref"];
    assert_eq!(error, "#/components/schemas/ErrorBody");
    let body = &document["components"]["schemas"]["ErrorBody"];
    assert_eq!(body["required"], serde_json::json!(["message"]));
    let retry = &document["paths"]["/login"]["post"]["responses"]["429"]["headers"];
    assert!(retry.get("Retry-After").is_some(), "{retry}");
}

#[tokio::test]
async fn the_documented_length_limits_are_the_ones_login_enforces() {
    let (app, document) = document().await;
    let fields = &document["components"]["schemas"]["Credentials"]["properties"];
    for field in ["username", "password"] {
        let max = fields[field]["maxLength"].as_u64().unwrap() as usize;
        // Two bytes a character: a limit in bytes would refuse these.
        let longest = "é".repeat(max);
        let too_long = "é".repeat(max + 1);
        let other = if field == "username" {
            "password"
        } else {
            "username"
        };
        let body = |value: &str| serde_json::json!({ field: value, other: "x" }).to_string();
        let accepted = app.post_login_raw(body(&longest)).await;
        assert_eq!(
            accepted.status().as_u16(),
            401,
            "{field} of {max} characters"
        );
        let refused = app.post_login_raw(body(&too_long)).await;
        assert_eq!(
            refused.status().as_u16(),
            400,
            "{field} of {} characters",
            max + 1
        );
    }
}

#[tokio::test]
async fn registration_rules_are_in_the_document() {
    let (_app, document) = document().await;
    let fields = &document["components"]["schemas"]["NewUser"]["properties"];
    assert_eq!(fields["username"]["minLength"], 1);
    assert_eq!(fields["username"]["maxLength"], 64);
    assert_eq!(fields["password"]["minLength"], 8);
    assert!(
        fields["username"]["pattern"]
            .as_str()
            .unwrap()
            .starts_with('^')
    );
}
