use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_json_error, spawn_with, test_settings};

crate::on_both_backends!(
    a_refresh_rotates_both_tokens,
    reusing_a_refresh_token_after_the_grace_window_revokes_the_family,
    a_retry_within_the_grace_window_voids_the_unseen_successor,
    presenting_a_successor_voided_by_a_grace_replay_revokes_the_family,
    logout_revokes_the_family,
    concurrent_refreshes_of_one_token_leave_exactly_one_live_successor,
);

const REUSED: &str = "Refresh token was already used; the session has been revoked.";
const INVALID: &str = "Refresh token is invalid.";

async fn spawn(backend: Backend, grace_seconds: u64) -> TestApp {
    let mut settings = test_settings(&backend).await;
    settings.jwt.refresh_reuse_grace_seconds = grace_seconds;
    spawn_with(settings).await
}

fn refresh_token(body: &Value) -> String {
    body["refresh_token"].as_str().unwrap().to_owned()
}

async fn a_refresh_rotates_both_tokens(backend: Backend) {
    let app = spawn(backend, 0).await;
    let login = app.login_ok("user1", "password123").await;
    let response = app.refresh(&refresh_token(&login)).await;
    assert_eq!(response.status().as_u16(), 200);
    let refreshed: Value = response.json().await.unwrap();
    assert_ne!(refreshed["refresh_token"], login["refresh_token"]);
    assert_ne!(refreshed["token"], login["token"]);
    let claims = app.decode(refreshed["token"].as_str().unwrap()).await;
    assert_eq!(claims.user, "user1");
    // The successor works in turn.
    assert_eq!(
        app.refresh(&refresh_token(&refreshed))
            .await
            .status()
            .as_u16(),
        200
    );
}

async fn reusing_a_refresh_token_after_the_grace_window_revokes_the_family(backend: Backend) {
    let app = spawn(backend, 0).await;
    let login = app.login_ok("user1", "password123").await;
    let stolen = refresh_token(&login);
    let successor: Value = app.refresh(&stolen).await.json().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    assert_json_error(app.refresh(&stolen).await, 401, REUSED).await;
    // The legitimate holder's successor died with the family.
    assert_json_error(app.refresh(&refresh_token(&successor)).await, 401, INVALID).await;
    // Another login is another family and is unaffected.
    let other = app.login_ok("user1", "password123").await;
    assert_eq!(
        app.refresh(&refresh_token(&other)).await.status().as_u16(),
        200
    );
}

async fn a_retry_within_the_grace_window_voids_the_unseen_successor(backend: Backend) {
    let app = spawn(backend, 30).await;
    let login = app.login_ok("user1", "password123").await;
    let lost: Value = app
        .refresh(&refresh_token(&login))
        .await
        .json()
        .await
        .unwrap();
    let retried = app.refresh(&refresh_token(&login)).await;
    assert_eq!(
        retried.status().as_u16(),
        200,
        "a retry gets a fresh successor"
    );
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(
        app.refresh(&refresh_token(&retried))
            .await
            .status()
            .as_u16(),
        200,
        "the retrying client goes on"
    );
    // The successor it never saw is void; presenting it is reuse.
    assert_json_error(app.refresh(&refresh_token(&lost)).await, 401, REUSED).await;
}

async fn presenting_a_successor_voided_by_a_grace_replay_revokes_the_family(backend: Backend) {
    // The holder exchanged R1 for R2; a thief replays R1 within the grace window and gets
    // R3, voiding R2. When the holder presents R2, that is reuse: nobody keeps the session.
    let app = spawn(backend, 30).await;
    let login = app.login_ok("user1", "password123").await;
    let holders: Value = app
        .refresh(&refresh_token(&login))
        .await
        .json()
        .await
        .unwrap();
    let thiefs = app.refresh(&refresh_token(&login)).await;
    assert_eq!(
        thiefs.status().as_u16(),
        200,
        "the replay looks like a retry"
    );
    let thiefs: Value = thiefs.json().await.unwrap();

    assert_json_error(app.refresh(&refresh_token(&holders)).await, 401, REUSED).await;
    assert_json_error(app.refresh(&refresh_token(&thiefs)).await, 401, INVALID).await;
}

async fn logout_revokes_the_family(backend: Backend) {
    let app = spawn(backend, 0).await;
    let login = app.login_ok("user1", "password123").await;
    let successor: Value = app
        .refresh(&refresh_token(&login))
        .await
        .json()
        .await
        .unwrap();
    let body = json!({ "refresh_token": refresh_token(&successor) }).to_string();
    let response = app.post_json("/logout", body.clone()).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"message": "Logged out."})
    );
    assert_json_error(app.refresh(&refresh_token(&successor)).await, 401, INVALID).await;
    // Idempotent, and silent about unknown tokens.
    assert_eq!(app.post_json("/logout", body).await.status().as_u16(), 200);
    let unknown = json!({ "refresh_token": "never-issued" }).to_string();
    assert_eq!(
        app.post_json("/logout", unknown).await.status().as_u16(),
        200
    );
}

async fn concurrent_refreshes_of_one_token_leave_exactly_one_live_successor(backend: Backend) {
    const RACERS: usize = 50;
    let app = spawn(backend, 30).await;
    let login = app.login_ok("user1", "password123").await;
    let token = refresh_token(&login);
    let answers = join_all((0..RACERS).map(|_| {
        let (app, token) = (&app, &token);
        async move {
            let response = app.refresh(token).await;
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    }))
    .await;
    let successors: Vec<String> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| refresh_token(body))
        .collect();
    assert!(!successors.is_empty(), "{answers:?}");
    // Exactly one successor is live, the others voided. Counted in the store: presenting a
    // voided successor counts as reuse and would revoke the family.
    let pool = auth_service::db::connect(&app.settings.database)
        .await
        .unwrap();
    let live: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM refresh_tokens WHERE revoked_at IS NULL AND use_count = 0",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(live, 1, "{} successors handed out", successors.len());
    let mut exchanged = 0;
    for successor in &successors {
        if app.refresh(successor).await.status().as_u16() == 200 {
            exchanged += 1;
        }
    }
    assert!(exchanged <= 1, "{exchanged} successors exchanged");
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused() {
    let mut settings = test_settings(&Backend::Sqlite).await;
    settings.jwt.access_token_ttl_seconds = 1;
    settings.jwt.refresh_token_ttl_seconds = 1;
    let app = spawn_with(settings).await;
    let login = app.login_ok("user1", "password123").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_json_error(app.refresh(&refresh_token(&login)).await, 401, INVALID).await;
}

#[tokio::test]
async fn malformed_refresh_requests_get_400() {
    let app = spawn_with(test_settings(&Backend::Sqlite).await).await;
    let cases = [
        ("{}", "Field \"refresh_token\" is required."),
        (
            r#"{"refresh_token": 5}"#,
            "Field \"refresh_token\" must be a string.",
        ),
        ("nope", "Request body is not valid JSON."),
    ];
    for (body, message) in cases {
        assert_json_error(app.post_json("/refresh", body).await, 400, message).await;
        assert_json_error(app.post_json("/logout", body).await, 400, message).await;
    }
    let long = json!({ "refresh_token": "x".repeat(300) }).to_string();
    assert_json_error(
        app.post_json("/refresh", long).await,
        400,
        "Field \"refresh_token\" is too long (at most 256 characters).",
    )
    .await;
}
