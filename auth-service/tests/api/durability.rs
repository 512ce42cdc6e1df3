use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::Backend;
use crate::process::ServiceProcess;

crate::on_both_backends!(every_acknowledged_write_survives_kill_9_mid_traffic);

async fn post(
    client: &reqwest::Client,
    address: &str,
    path: &str,
    body: Value,
) -> Option<(u16, Value)> {
    let response = client
        .post(format!("{address}{path}"))
        .json(&body)
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.ok()?))
}

async fn every_acknowledged_write_survives_kill_9_mid_traffic(backend: Backend) {
    const WRITERS: usize = 60;
    let url = backend.fresh_database_url().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let first = ServiceProcess::start(&url);
    let before = first.address.clone();

    let (status, tokens) = post(
        &client,
        &before,
        "/login",
        json!({"username": "user1", "password": "password123"}),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let jwks_before: Value = client
        .get(format!("{before}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Registrations in flight while the process is killed: some answered, some cut off.
    // The kill follows the first acknowledgement rather than a fixed delay, which a slow
    // or busy machine could outlast before any registration had finished.
    let answered = AtomicUsize::new(0);
    let registrations = join_all((0..WRITERS).map(|i| {
        let (client, before, answered) = (&client, &before, &answered);
        async move {
            let body = json!({"username": format!("writer-{i}"), "password": "password-1234"});
            let answer = post(client, before, "/register", body).await;
            if matches!(answer, Some((201, _))) {
                answered.fetch_add(1, Ordering::SeqCst);
            }
            (i, answer)
        }
    }));
    let killer = async {
        let waited = std::time::Instant::now();
        while answered.load(Ordering::SeqCst) == 0 && waited.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        first.kill_hard();
    };
    let (answers, ()) = tokio::join!(registrations, killer);
    let acknowledged: Vec<usize> = answers
        .iter()
        .filter(|(_, answer)| matches!(answer, Some((201, _))))
        .map(|(i, _)| *i)
        .collect();
    assert!(
        !acknowledged.is_empty(),
        "the kill came before any registration finished"
    );

    let second = ServiceProcess::start(&url);
    let after = second.address.clone();
    for i in &acknowledged {
        let body = json!({"username": format!("writer-{i}"), "password": "password-1234"});
        let (status, _) = post(&client, &after, "/login", body).await.unwrap();
        assert_eq!(status, 200, "writer-{i} was acknowledged, then lost");
    }
    // Refresh tokens and keys survived too: the old refresh token rotates, and the access
    // token signed before the crash is signed by a key still published.
    let (status, _) = post(
        &client,
        &after,
        "/refresh",
        json!({"refresh_token": tokens["refresh_token"]}),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let jwks_after: Value = client
        .get(format!("{after}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks_after, jwks_before);
    let kid = jsonwebtoken::decode_header(tokens["token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    assert_eq!(jwks_after["keys"][0]["kid"], kid.as_str());
}
