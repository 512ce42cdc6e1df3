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
    // Had the refused logins counted, this address would be out of guesses after the burst.
    settings.login.max_failures_per_address = u32::try_from(BURST).unwrap();
    let app = spawn_with(settings).await;

    let started = Instant::now();
    let answers = join_all((0..BURST).map(|i| {
        let app = &app;
        async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let response = client
                .post(app.url("/login"))
                .header("x-forwarded-for", ADDRESS)
                .json(&json!({ "username": format!("someone-{i}"), "password": "guess" }))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: Value = response.json().await.unwrap();
            (status, retry_after, body)
        }
    }))
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the burst took {:?}",
        started.elapsed()
    );
    let mut busy = 0;
    for (status, retry_after, body) in &answers {
        match status {
            503 => {
                busy += 1;
                assert_eq!(retry_after.as_deref(), Some("2"));
                assert_eq!(body, &json!({ "message": BUSY }));
            }
            401 => assert_eq!(body, &json!({ "message": "Invalid credentials!" })),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(busy > 0, "no request was refused: {answers:?}");
    assert!(busy < BURST, "every request was refused: {answers:?}");

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
