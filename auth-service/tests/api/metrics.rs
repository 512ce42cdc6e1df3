//! The admin listener's metrics: what logins, refreshes, registrations and logouts came to,
//! revocations and the hashing queue, in the OpenMetrics text format; never a secret.

use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_with, test_settings};

/// The admin listener's `/metrics` text, after checking its media type.
async fn scrape(app: &crate::helpers::TestApp) -> String {
    let response = app
        .client
        .get(format!("{}/metrics", app.admin_address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn every_outcome_is_counted_on_the_admin_listener_and_no_secret_shows() {
    let mut settings = test_settings(&Backend::Sqlite).await;
    // A rotated token presented again is reuse at once.
    settings.jwt.refresh_reuse_grace_seconds = 0;
    let app = spawn_with(settings).await;
    let login = app.login_ok("user1", "password123").await;
    assert_eq!(app.login("user1", "wrong-password").await.status(), 401);
    assert_eq!(app.post_login_raw("{").await.status(), 400);
    let first = login["refresh_token"].as_str().unwrap().to_owned();
    let rotated: Value = app.refresh(&first).await.json().await.unwrap();
    // The first token again, a second later (times are whole seconds): reuse, and the
    // family is revoked.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.refresh(&first).await.status(), 401);
    assert_eq!(
        app.register("metrics-user", "a-long-password-1")
            .await
            .status(),
        201
    );
    let logout = app
        .post_json(
            "/logout",
            json!({ "refresh_token": rotated["refresh_token"] }).to_string(),
        )
        .await;
    assert_eq!(logout.status(), 200);
    // The reuse revoked the session (the logout then found it revoked already); the poll
    // hands the revocation out.
    let mut text = scrape(&app).await;
    for _ in 0..100 {
        if text.lines().any(|l| l == "auth_revocation_sequence 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        text = scrape(&app).await;
    }
    for line in [
        "auth_logins_total{outcome=\"success\"} 1",
        "auth_logins_total{outcome=\"invalid_credentials\"} 1",
        "auth_logins_total{outcome=\"bad_request\"} 1",
        "auth_refreshes_total{outcome=\"success\"} 1",
        "auth_refreshes_total{outcome=\"refresh_reused\"} 1",
        "auth_revocations_total{reason=\"reuse_detected\"} 1",
        "auth_registrations_total{outcome=\"success\"} 1",
        "auth_logouts_total{outcome=\"success\"} 1",
        "auth_hash_queue_waiting 0",
        "auth_hash_running 0",
        // Three passwords checked (two logins, one registration's hash).
        "auth_hash_wait_seconds_count 3",
        "auth_revocation_sequence 1",
        "auth_revocation_streams 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    assert!(text.ends_with("# EOF\n"));
    let polls = text
        .lines()
        .find_map(|l| l.strip_prefix("auth_database_latency_seconds_count "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(
        polls.is_some_and(|n| n > 0),
        "the database's latency is read: {text}"
    );
    for secret in ["password123", "wrong-password", first.as_str()] {
        assert!(!text.contains(secret), "a secret reached the metrics");
    }
}
