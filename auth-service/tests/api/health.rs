use crate::helpers::{Backend, assert_json_error, spawn_app};

#[tokio::test]
async fn liveness_and_readiness_answer_ok_json() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in ["/health/live", "/health/ready"] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"status": "ok"}), "{path}");
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json_not_html() {
    let app = spawn_app(Backend::Sqlite).await;
    let missing = app
        .client
        .get(format!("{}/nope", app.address))
        .send()
        .await
        .unwrap();
    assert_json_error(missing, 404, "Not found.").await;

    let wrong_method = app
        .client
        .get(format!("{}/login", app.address))
        .send()
        .await
        .unwrap();
    assert_json_error(wrong_method, 405, "Method Not Allowed.").await;
}

#[tokio::test]
async fn a_get_only_path_answers_other_methods_405_naming_get() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in [
        "/health/live",
        "/health/ready",
        "/.well-known/jwks.json",
        "/openapi.json",
    ] {
        let response = app
            .client
            .request(reqwest::Method::TRACE, app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], "GET", "{path}");
        assert_json_error(response, 405, "Method Not Allowed.").await;
    }
}

#[tokio::test]
async fn a_request_id_is_echoed_or_created() {
    let app = spawn_app(Backend::Sqlite).await;
    let url = format!("{}/health/live", app.address);

    let echoed = app
        .client
        .get(&url)
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");

    for bad in ["", "has space", &"x".repeat(200)] {
        let created = app
            .client
            .get(&url)
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let id = created.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(id.len(), 36, "a fresh UUID replaces {bad:?}");
    }
}

#[tokio::test]
async fn oversized_headers_get_a_json_431() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .client
        .get(format!("{}/health/live", app.address))
        .header("x-filler", "a".repeat(64 * 1024))
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
