use std::collections::HashSet;

use futures_util::future::join_all;
use serde_json::Value;

use crate::helpers::{Backend, assert_json_error, spawn_app, spawn_with, test_settings};

crate::on_both_backends!(
    a_registered_user_can_log_in_and_gets_a_stable_subject,
    a_taken_username_gets_409,
    hundreds_of_concurrent_registrations_lose_nobody,
    racing_registrations_of_one_name_create_it_once,
);

async fn a_registered_user_can_log_in_and_gets_a_stable_subject(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.register("zoë 東京", "correct horse battery").await;
    assert_eq!(response.status().as_u16(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["username"], "zoë 東京");
    assert_eq!(created["roles"], serde_json::json!([]));
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());

    let tokens = app.login_ok("zoë 東京", "correct horse battery").await;
    let claims = app.decode(tokens["token"].as_str().unwrap()).await;
    assert_eq!(claims.user, "zoë 東京");
    assert_eq!(claims.sub, created["id"].as_str().unwrap());
}

async fn a_taken_username_gets_409(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_json_error(
        app.register("user1", "another password").await,
        409,
        "Username is already taken.",
    )
    .await;
    // The demo user's password is unchanged.
    app.login_ok("user1", "password123").await;
}

async fn hundreds_of_concurrent_registrations_lose_nobody(backend: Backend) {
    const USERS: usize = 200;
    // All of them wait for a hash: this test is about the store, not the hashing queue's
    // bound (tests/api/hashing.rs), so the queue holds them all.
    let mut settings = test_settings(&backend).await;
    settings.hashing.max_waiting = USERS;
    let app = spawn_with(settings).await;
    let statuses = join_all((0..USERS).map(|i| {
        let app = &app;
        async move {
            app.register(&format!("user-{i}"), "password-1234")
                .await
                .status()
                .as_u16()
        }
    }))
    .await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    for i in [0, USERS / 2, USERS - 1] {
        app.login_ok(&format!("user-{i}"), "password-1234").await;
    }
    let logins = join_all((0..USERS).step_by(10).map(|i| {
        let app = &app;
        async move {
            app.login(&format!("user-{i}"), "password-1234")
                .await
                .status()
                .as_u16()
        }
    }))
    .await;
    assert!(logins.iter().all(|s| *s == 200), "{logins:?}");
}

async fn racing_registrations_of_one_name_create_it_once(backend: Backend) {
    // Twenty passwords are tried at once below: more than the login limiter lets through
    // for one username, which is not what this test is about.
    let mut settings = test_settings(&backend).await;
    settings.login.max_failures_per_username_and_address = 100;
    let app = spawn_with(settings).await;
    let statuses = join_all((0..20).map(|i| {
        let app = &app;
        async move {
            app.register("contested", &format!("password-{i:04}"))
                .await
                .status()
                .as_u16()
        }
    }))
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    let winners: HashSet<_> = join_all((0..20).map(|i| {
        let app = &app;
        async move {
            (
                i,
                app.login("contested", &format!("password-{i:04}"))
                    .await
                    .status(),
            )
        }
    }))
    .await
    .into_iter()
    .filter(|(_, s)| s.is_success())
    .map(|(i, _)| i)
    .collect();
    assert_eq!(winners.len(), 1, "exactly one password works: {winners:?}");
}

#[tokio::test]
async fn registration_rules_are_enforced_with_a_400_naming_the_rule() {
    let app = spawn_app(Backend::Sqlite).await;
    let cases = [
        (
            "",
            "password-1234",
            "Username must be 1 to 64 characters long.",
        ),
        (
            &"x".repeat(65),
            "password-1234",
            "Username must be 1 to 64 characters long.",
        ),
        (
            " padded",
            "password-1234",
            "Username must not contain control characters or blank ends.",
        ),
        (
            "tab\tname",
            "password-1234",
            "Username must not contain control characters or blank ends.",
        ),
        (
            "newuser",
            "short",
            "Password must be at least 8 characters long.",
        ),
        (
            "newuser",
            "",
            "Password must be at least 8 characters long.",
        ),
    ];
    for (username, password, message) in cases {
        assert_json_error(app.register(username, password).await, 400, message).await;
    }
    let sql = "x'); DROP TABLE users; --";
    assert_eq!(
        app.register(sql, "password-1234").await.status().as_u16(),
        201
    );
    app.login_ok(sql, "password-1234").await;
    app.login_ok("user1", "password123").await;
}

#[tokio::test]
async fn registration_can_be_switched_off() {
    let mut settings = test_settings(&Backend::Sqlite).await;
    settings.registration.enabled = false;
    let app = spawn_with(settings).await;
    assert_json_error(
        app.register("newuser", "password-1234").await,
        403,
        "Registration is disabled.",
    )
    .await;
}
