//! The bounded hashing queue over HTTP: past it, 503 with `Retry-After` at once, and the
//! refused logins count as no failure.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_with, test_settings};

const BUSY: &str = "The service is busy; try again shortly.";

#[tokio::test]
async fn a_full_hashing_queue_answers_503_at_once_and_counts_no_failure() {
    const BURST: usize = 24;
    const ADDRESS: &str = "203.0.113.50";
    let mut settings = test_settings(&Backend::Sqlite).await;
    settings.hashing.concurrent_hashes = 1;
    settings.hashing.max_waiting = 1;
    settings.hashing.busy_retry_after_seconds = 2;
    // Had the refused logins counted, this address would be out of guesses after the burst:
    // its limit is the number of logins in it.
    let logins = (0..BURST).filter(|i| i % 3 != 2).count();
    settings.login.max_failures_per_address = u32::try_from(logins).unwrap();
    let app = spawn_with(settings).await;

    let started = Instant::now();
    let answers = join_all((0..BURST).map(|i| {
        let app = &app;
        async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            // Logins of different (unknown) users, and registrations, share the queue.
            let (path, username) = if i % 3 == 2 {
                ("/register", format!("newcomer-{i}"))
            } else {
                ("/login", format!("someone-{i}"))
            };
            let response = client
                .post(app.url(path))
                .header("x-forwarded-for", ADDRESS)
                .json(&json!({ "username": username, "password": "guess-1234" }))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: Value = response.json().await.unwrap();
            (path, status, retry_after, body)
        }
    }))
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the burst took {:?}",
        started.elapsed()
    );
    let mut busy = 0;
    for (path, status, retry_after, body) in &answers {
        match (*path, status) {
            (_, 503) => {
                busy += 1;
                assert_eq!(retry_after.as_deref(), Some("2"));
                assert_eq!(body, &json!({ "message": BUSY }));
            }
            ("/login", 401) => assert_eq!(body, &json!({ "message": "Invalid credentials!" })),
            ("/register", 201) => assert!(body["id"].is_string(), "{body}"),
            (path, other) => panic!("unexpected {other} from {path}: {body}"),
        }
    }
    assert!(busy > 0, "no request was refused: {answers:?}");
    assert!(busy < BURST, "every request was refused: {answers:?}");
    let refused_logins = answers
        .iter()
        .filter(|(path, status, ..)| *path == "/login" && *status == 503)
        .count();
    assert!(refused_logins > 0, "no login was refused: {answers:?}");

    // After the burst, a normal login from the same address is served.
    let response = app
        .client
        .post(app.url("/login"))
        .header("x-forwarded-for", ADDRESS)
        .json(&json!({ "username": "user1", "password": "password123" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        app.decode(body["token"].as_str().unwrap()).await.user,
        "user1"
    );
}

/// The server drops a connection (and its request's future) when the client closes it
/// (`application.allow_half_closed` off); without that the departed logins below would be
/// hashed for nobody. The queue's own part, a dropped future never hashing, is tested in
/// `password::hasher`.
#[tokio::test]
async fn clients_that_leave_while_queued_never_get_their_hash() {
    // One hash at a time and room for everyone to wait: a hundred logins whose clients give
    // up after 100 ms. Had their hashes run, the next login would wait behind all of them.
    const LEAVERS: usize = 100;
    let mut settings = test_settings(&Backend::Sqlite).await;
    settings.hashing.concurrent_hashes = 1;
    settings.hashing.max_waiting = LEAVERS;
    let app = spawn_with(settings).await;
    let normal_login = || async {
        let started = Instant::now();
        let response = app.login("user1", "password123").await;
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            app.decode(body["token"].as_str().unwrap()).await.user,
            "user1"
        );
        started.elapsed()
    };
    let alone = normal_login().await;

    join_all((0..LEAVERS).map(|i| {
        let app = &app;
        async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_millis(100))
                .build()
                .unwrap();
            let sent = client
                .post(app.url("/login"))
                .header("x-forwarded-for", format!("198.51.100.{i}"))
                .json(&json!({ "username": format!("leaver-{i}"), "password": "guess" }))
                .send()
                .await;
            assert!(sent.is_err() || sent.unwrap().status().as_u16() == 401);
        }
    }))
    .await;
    let after = normal_login().await;
    assert!(
        after < alone * 20 + Duration::from_millis(300),
        "a login after the leavers took {after:?}, alone {alone:?}"
    );
}
