use crate::helpers::{assert_json_error, spawn_app};

#[tokio::test]
async fn root_answers_the_seeds_welcome_message() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"message": "Welcome to the Flask JWT API!"})
    );
}

#[tokio::test]
async fn the_gateways_own_paths_answer_other_methods_405_naming_get() {
    let app = spawn_app().await;
    for path in ["/", "/health/live", "/health/ready", "/openapi.json"] {
        let response = app.client.post(app.url(path)).send().await.unwrap();
        assert_eq!(response.headers()["allow"], "GET", "{path}");
        assert_json_error(response, 405, "Method Not Allowed.").await;
    }
}

#[tokio::test]
async fn unknown_paths_get_404_json() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/nowhere")).send().await.unwrap();
    assert_json_error(response, 404, "Not found.").await;
}

#[tokio::test]
async fn paths_with_dot_segments_or_encoded_separators_get_400() {
    let app = spawn_app().await;
    // Sent raw: HTTP clients normalise such paths before they leave, attackers do not.
    for path in [
        "/public/../protected",
        "/public/%2e%2e/protected",
        "/public%2Fx",
        "/public/%2E/x",
    ] {
        let (status, body) = app.raw_get(path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(
            body,
            serde_json::json!({"message": "Path contains dot segments or encoded separators."}),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_64_kib_header_gets_a_json_4xx() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/protected"))
        .header("x-access-token", "a".repeat(64 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 431);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("too large"),
        "{body}"
    );
}
