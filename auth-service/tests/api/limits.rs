use crate::helpers::{Backend, TestApp, spawn_with, test_settings};

async fn spawn(per_username: u32, per_address: u32) -> TestApp {
    let mut settings = test_settings(&Backend::Sqlite).await;
    settings.login.max_failures_per_username = per_username;
    settings.login.max_failures_per_address = per_address;
    spawn_with(settings).await
}

/// A login as seen from `address` (the test client is on loopback, a trusted proxy, so its
/// X-Forwarded-For is believed, as the gateway's is).
async fn login_from(
    app: &TestApp,
    address: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/login"))
        .header("x-forwarded-for", address)
        .json(&serde_json::json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_username_under_attack_gets_429_with_retry_after_even_for_the_right_password() {
    let app = spawn(3, 1000).await;
    for i in 0..3 {
        let response = login_from(&app, &format!("198.51.100.{i}"), "user1", "guess").await;
        assert_eq!(response.status().as_u16(), 401);
    }
    let blocked = login_from(&app, "198.51.100.200", "user1", "password123").await;
    assert_eq!(blocked.status().as_u16(), 429);
    let retry_after: u64 = blocked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = blocked.json().await.unwrap();
    assert_eq!(
        body["message"],
        "Too many failed login attempts; try again later."
    );

    // Other users are not slowed by user1's attackers.
    app.register("bystander", "password-1234").await;
    let other = login_from(&app, "198.51.100.1", "bystander", "password-1234").await;
    assert_eq!(other.status().as_u16(), 200);
}

#[tokio::test]
async fn an_address_guessing_across_usernames_is_blocked_and_others_are_not() {
    let app = spawn(1000, 5).await;
    for i in 0..5 {
        let response = login_from(&app, "203.0.113.9", &format!("victim{i}"), "guess").await;
        assert_eq!(response.status().as_u16(), 401);
    }
    let blocked = login_from(&app, "203.0.113.9", "user1", "password123").await;
    assert_eq!(blocked.status().as_u16(), 429);
    let elsewhere = login_from(&app, "203.0.113.10", "user1", "password123").await;
    assert_eq!(elsewhere.status().as_u16(), 200);
}

#[tokio::test]
async fn a_success_resets_the_usernames_count() {
    let app = spawn(3, 1000).await;
    for _ in 0..2 {
        login_from(&app, "192.0.2.1", "user1", "typo").await;
    }
    assert_eq!(
        login_from(&app, "192.0.2.1", "user1", "password123")
            .await
            .status()
            .as_u16(),
        200
    );
    for _ in 0..2 {
        login_from(&app, "192.0.2.1", "user1", "typo").await;
    }
    assert_eq!(
        login_from(&app, "192.0.2.1", "user1", "password123")
            .await
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn simultaneous_guesses_for_one_username_are_checked_at_most_up_to_the_limit() {
    // 120 wrong passwords at once, each on its own connection and address: without a
    // reservation before the hash, every one of them was checked against a limit of 10.
    const GUESSES: usize = 120;
    let app = spawn(10, 1000).await;
    let statuses = futures_util::future::join_all((0..GUESSES).map(|i| {
        let app = &app;
        async move {
            let client = reqwest::Client::new();
            let response = client
                .post(app.url("/login"))
                .header("x-forwarded-for", format!("198.51.100.{}", i % 250))
                .json(&serde_json::json!({ "username": "user1", "password": "guess" }))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            assert!(
                status != 429 || response.headers().contains_key("retry-after"),
                "429 without Retry-After"
            );
            status
        }
    }))
    .await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (10, GUESSES - 10), "{statuses:?}");
}
