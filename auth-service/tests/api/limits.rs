//! The login limiter over HTTP: per (username, address), per username across addresses,
//! per address across usernames; each attack beside a client that must still be served. On
//! PostgreSQL the counts are in the database (`limits.store = "auto"`).

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_with, test_settings};

const TOO_MANY: &str = "Too many failed login attempts; try again later.";

crate::on_both_backends!(
    the_owner_logs_in_from_their_address_while_another_has_used_up_its_guesses,
    a_distributed_guesser_gets_the_cross_address_limit_and_no_lockout_of_the_owner,
    an_address_guessing_across_usernames_is_blocked_and_others_are_not,
    a_success_resets_the_count_of_its_username_at_its_address,
    simultaneous_guesses_from_one_address_are_checked_at_most_up_to_the_limit,
);

async fn spawn(
    backend: &Backend,
    per_pair: u32,
    across_addresses: u32,
    per_address: u32,
) -> TestApp {
    let mut settings = test_settings(backend).await;
    settings.login.max_failures_per_username_and_address = per_pair;
    settings.login.max_failures_per_username_across_addresses = across_addresses;
    settings.login.max_failures_per_address = per_address;
    let app = spawn_with(settings).await;
    assert_eq!(
        app.register("bystander", "password-1234").await.status(),
        201
    );
    app
}

/// A login as seen from `address` (the test client is on loopback, a trusted proxy, so its
/// X-Forwarded-For is believed, as the gateway's is), on its own connection.
pub async fn login_from(
    app: &TestApp,
    address: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/login"))
        .header("x-forwarded-for", address)
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap()
}

/// Asserts a 429 with the JSON message and a `Retry-After` within the 15-minute window.
async fn assert_refused(response: reqwest::Response) {
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "message": TOO_MANY }));
}

/// Asserts a 200 carrying tokens for `username`.
async fn assert_logged_in(app: &TestApp, response: reqwest::Response, username: &str) {
    assert_eq!(response.status().as_u16(), 200, "login of {username}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        app.decode(body["token"].as_str().unwrap()).await.user,
        username
    );
}

async fn the_owner_logs_in_from_their_address_while_another_has_used_up_its_guesses(
    backend: Backend,
) {
    let app = spawn(&backend, 3, 100, 1000).await;
    for _ in 0..3 {
        let response = login_from(&app, "203.0.113.9", "user1", "guess").await;
        assert_eq!(response.status().as_u16(), 401);
    }
    // The attacker is refused, even with the right password; at the same time the owner,
    // from their own address, is served.
    let (attacker, owner) = tokio::join!(
        login_from(&app, "203.0.113.9", "user1", "password123"),
        login_from(&app, "198.51.100.7", "user1", "password123"),
    );
    assert_refused(attacker).await;
    assert_logged_in(&app, owner, "user1").await;
}

async fn a_distributed_guesser_gets_the_cross_address_limit_and_no_lockout_of_the_owner(
    backend: Backend,
) {
    let app = spawn(&backend, 3, 5, 1000).await;
    // The owner has logged in from home before.
    let home = "198.51.100.7";
    assert_logged_in(
        &app,
        login_from(&app, home, "user1", "password123").await,
        "user1",
    )
    .await;

    // Twenty addresses, one guess each, at once, beside a normal client.
    let guesses = join_all((0..20).map(|i| {
        let app = &app;
        async move { login_from(app, &format!("203.0.113.{i}"), "user1", "guess").await }
    }));
    let (answers, bystander) = tokio::join!(
        guesses,
        login_from(&app, "192.0.2.44", "bystander", "password-1234")
    );
    assert_logged_in(&app, bystander, "bystander").await;
    let checked = checked_guesses(answers).await;
    assert_eq!(checked, 5, "guesses checked across addresses");

    // A new address is refused for user1 even with the right password; home is not.
    assert_refused(login_from(&app, "203.0.113.200", "user1", "password123").await).await;
    assert_logged_in(
        &app,
        login_from(&app, home, "user1", "password123").await,
        "user1",
    )
    .await;
}

async fn an_address_guessing_across_usernames_is_blocked_and_others_are_not(backend: Backend) {
    let app = spawn(&backend, 1000, 1000, 5).await;
    for i in 0..5 {
        let response = login_from(&app, "203.0.113.9", &format!("victim{i}"), "guess").await;
        assert_eq!(response.status().as_u16(), 401);
    }
    assert_refused(login_from(&app, "203.0.113.9", "user1", "password123").await).await;
    let elsewhere = login_from(&app, "203.0.113.10", "user1", "password123").await;
    assert_logged_in(&app, elsewhere, "user1").await;
}

async fn a_success_resets_the_count_of_its_username_at_its_address(backend: Backend) {
    let app = spawn(&backend, 3, 1000, 1000).await;
    for _ in 0..2 {
        for _ in 0..2 {
            login_from(&app, "192.0.2.1", "user1", "typo").await;
        }
        let response = login_from(&app, "192.0.2.1", "user1", "password123").await;
        assert_logged_in(&app, response, "user1").await;
    }
}

async fn simultaneous_guesses_from_one_address_are_checked_at_most_up_to_the_limit(
    backend: Backend,
) {
    // 100 wrong passwords for one username from one address at once, each on its own
    // connection: without a reservation before the hash, every one was checked.
    const GUESSES: usize = 100;
    let app = spawn(&backend, 10, 1000, 1000).await;
    let guesses = join_all((0..GUESSES).map(|_| {
        let app = &app;
        async move { login_from(app, "203.0.113.77", "user1", "guess").await }
    }));
    let (answers, bystander) = tokio::join!(
        guesses,
        login_from(&app, "192.0.2.44", "bystander", "password-1234")
    );
    assert_logged_in(&app, bystander, "bystander").await;
    let checked = checked_guesses(answers).await;
    assert_eq!(checked, 10);
}

/// How many of `answers` were checked against the password (401); every other one must be
/// a refusal with `Retry-After`.
async fn checked_guesses(answers: Vec<reqwest::Response>) -> usize {
    let mut checked = 0;
    for response in answers {
        match response.status().as_u16() {
            401 => checked += 1,
            _ => assert_refused(response).await,
        }
    }
    checked
}
