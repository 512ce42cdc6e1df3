use crate::helpers::{Backend, assert_json_error, spawn_app};

crate::on_both_backends!(
    login_with_the_seeds_demo_user_returns_signed_tokens,
    wrong_credentials_get_the_seeds_401,
);

async fn login_with_the_seeds_demo_user_returns_signed_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.login("user1", "password123").await;
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 43);
    assert_eq!(body["refresh_expires_in"], 1_209_600);

    let token = body["token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    let claims = app.decode(token).await;
    let now = service_kit::clock::unix_seconds();
    assert_eq!(claims.user, "user1");
    assert_eq!(claims.sub.len(), 36, "sub is the user's stable id");
    assert_eq!(claims.iss, "http://localhost:8080", "the public URL");
    assert_eq!(claims.aud, "api");
    assert!(
        claims.iat.abs_diff(now) <= 5,
        "iat {} vs now {now}",
        claims.iat
    );
    assert_eq!(claims.nbf, claims.iat);
    assert_eq!(claims.exp, claims.iat + 3600);
    assert_eq!(claims.jti.len(), 36);
}

#[tokio::test]
async fn every_token_gets_its_own_id() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let body: serde_json::Value = app
            .login("user1", "password123")
            .await
            .json()
            .await
            .unwrap();
        ids.push(app.decode(body["token"].as_str().unwrap()).await.jti);
    }
    assert_ne!(ids[0], ids[1]);
}

async fn wrong_credentials_get_the_seeds_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        ("user1", "wrong", "wrong password"),
        ("nobody", "password123", "unknown user"),
        ("USER1", "password123", "usernames are case-sensitive"),
        ("user1", "", "empty password"),
        ("", "", "empty username"),
        ("user1' OR '1'='1", "x' OR '1'='1", "SQL metacharacters"),
        ("zoë東京", "pässwörd", "unicode"),
    ];
    for (username, password, why) in cases {
        let response = app.login(username, password).await;
        assert_eq!(response.status().as_u16(), 401, "{why}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({"message": "Invalid credentials!"}),
            "{why}"
        );
    }
}

#[tokio::test]
async fn malformed_bodies_get_a_400_naming_the_problem() {
    let app = spawn_app(Backend::Sqlite).await;
    let cases = [
        (
            "{not json",
            "Request body is not valid JSON.",
            "broken JSON",
        ),
        ("", "Request body is not valid JSON.", "empty body"),
        ("[1,2]", "Request body must be a JSON object.", "array"),
        ("\"user1\"", "Request body must be a JSON object.", "string"),
        ("null", "Request body must be a JSON object.", "null"),
        (
            r#"{"password":"p"}"#,
            "Field \"username\" is required.",
            "no username",
        ),
        (
            r#"{"username":"user1"}"#,
            "Field \"password\" is required.",
            "no password",
        ),
        (
            r#"{"username":1,"password":"p"}"#,
            "Field \"username\" must be a string.",
            "number",
        ),
        (
            r#"{"username":"u","password":null}"#,
            "Field \"password\" must be a string.",
            "null pw",
        ),
        (
            r#"{"username":"u","password":["p"]}"#,
            "Field \"password\" must be a string.",
            "array pw",
        ),
    ];
    for (body, message, why) in cases {
        let response = app.post_login_raw(body).await;
        assert_eq!(response.status().as_u16(), 400, "{why}");
        let json: serde_json::Value = response.json().await.unwrap();
        assert_eq!(json["message"], message, "{why}");
    }
}

#[tokio::test]
async fn overlong_fields_are_refused_before_any_hashing() {
    let app = spawn_app(Backend::Sqlite).await;
    let long_user = app.login(&"u".repeat(257), "pw").await;
    assert_json_error(
        long_user,
        400,
        "Field \"username\" is too long (at most 256 characters).",
    )
    .await;
    let long_password = app.login("user1", &"p".repeat(1025)).await;
    assert_json_error(
        long_password,
        400,
        "Field \"password\" is too long (at most 1024 characters).",
    )
    .await;
}

#[tokio::test]
async fn a_body_of_megabytes_gets_a_json_413() {
    let app = spawn_app(Backend::Sqlite).await;
    let huge = format!(
        r#"{{"username":"user1","password":"{}"}}"#,
        "p".repeat(4 << 20)
    );
    let response = app.post_login_raw(huge).await;
    assert_eq!(response.status().as_u16(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("size limit"),
        "{body}"
    );
}

#[tokio::test]
async fn a_non_json_content_type_gets_a_415() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .client
        .post(format!("{}/login", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=user1&password=password123")
        .send()
        .await
        .unwrap();
    assert_json_error(response, 415, "Content-Type must be application/json.").await;
}

#[tokio::test]
async fn a_json_body_without_content_type_is_accepted() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .client
        .post(format!("{}/login", app.address))
        .body(r#"{"username":"user1","password":"password123"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}
