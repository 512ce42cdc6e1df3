//! The gateway following a revocation stream (a stub of the auth-service's here): what it
//! names is refused, nothing else is, a reconnection resumes after the last one applied,
//! and a stale list closes the door only where configured.

use std::time::{Duration, Instant};

use gateway::configuration::WhenStale;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, assert_json_error, closed_port_address, spawn_app_with};

/// A stream server: each connection gets `events` (SSE blocks) and then heartbeats every
/// 200 ms for 3 s before it is closed. The `since` of every connection is sent on the
/// returned channel.
async fn stub_stream(events: Vec<String>) -> (String, tokio::sync::mpsc::UnboundedReceiver<i64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/revocations", listener.local_addr().unwrap());
    let (seen, since) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Bounded: a handful of connections per test.
        for _ in 0..20 {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).await.unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let asked: i64 = head
                .split_once("since=")
                .and_then(|(_, rest)| rest.split(' ').next()?.parse().ok())
                .unwrap_or(-1);
            let _ = seen.send(asked);
            let events = events.clone();
            tokio::spawn(async move {
                let start = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
                let _ = socket.write_all(start.as_bytes()).await;
                for event in events.iter().filter(|e| seq_of(e) > asked) {
                    let _ = socket.write_all(event.as_bytes()).await;
                }
                for _ in 0..15 {
                    let beat = "event: heartbeat\ndata: {\"latest\":2,\"time\":0}\n\n";
                    if socket.write_all(beat.as_bytes()).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        }
    });
    (url, since)
}

fn seq_of(event: &str) -> i64 {
    event
        .strip_prefix("id: ")
        .and_then(|rest| rest.split('\n').next()?.parse().ok())
        .unwrap_or(0)
}

fn revocation(seq: i64, kind: &str, issuer: &str, value: &str) -> String {
    let now = service_kit::clock::unix_seconds() as i64;
    let data = json!({
        "seq": seq, "kind": kind, "issuer": issuer, "value": value, "subject": value,
        "not_before": now, "expires_at": now + 3600, "created_at": now,
    });
    format!("id: {seq}\nevent: revocation\ndata: {data}\n\n")
}

async fn status(app: &TestApp, token: &str) -> u16 {
    let bearer = format!("Bearer {token}");
    app.get_protected(&[("authorization", &bearer)])
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn what_the_stream_revokes_is_refused_and_nothing_else() {
    let issuer = crate::helpers::spawn_settings().jwt.issuer;
    let (url, mut since) = stub_stream(vec![
        revocation(1, "token", &issuer, "jti-1"),
        // Another issuer's user-wide revocation of bob's subject: not ours.
        revocation(2, "subject", "https://idp.example.com", "sub-bob"),
    ])
    .await;
    let app = spawn_app_with(|settings| settings.revocations.url = url).await;
    assert_eq!(
        since.recv().await,
        Some(0),
        "a new gateway reads from the start"
    );
    let revoked = app.sign(&app.claims("alice"));
    let mut other = app.claims("bob");
    other["jti"] = json!("jti-2");
    let other = app.sign(&other);
    let started = Instant::now();
    while status(&app, &revoked).await == 200 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not refused within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let bearer = format!("Bearer {revoked}");
    let refused = app.get_protected(&[("authorization", &bearer)]).await;
    assert_json_error(refused, 403, "Token is invalid!").await;
    assert_eq!(status(&app, &other).await, 200, "bob's token is not named");

    // When the stub closes the stream, the gateway resumes after the last one applied.
    let resumed = tokio::time::timeout(Duration::from_secs(10), since.recv())
        .await
        .unwrap();
    assert_eq!(resumed, Some(2));
    let metrics = app.metrics().await;
    for line in [
        "gateway_revocations_total{kind=\"token\"} 1",
        "gateway_revocations_total{kind=\"subject\"} 1",
        "gateway_revocation_sequence 2",
        "gateway_token_rejections_total{reason=\"revoked\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    assert!(
        metrics.contains("gateway_revocation_entries 2"),
        "{metrics}"
    );
    let ready: serde_json::Value = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lag = ready["revocations"]["lag_seconds"].clone();
    assert!(lag.as_u64().unwrap() <= 1, "{ready}");
    let expected = json!({"status": "ok", "revocations": {
        "lag_seconds": lag, "sequence": 2, "entries": 2, "folds": 0,
    }});
    assert_eq!(ready, expected);
}

#[tokio::test]
async fn a_stale_list_closes_the_door_only_where_configured() {
    let unreachable = format!("{}/revocations", closed_port_address());
    let closed = spawn_app_with(|settings| {
        settings.revocations.url = unreachable.clone();
        settings.revocations.when_stale = WhenStale::Closed;
    })
    .await;
    let token = closed.sign(&closed.claims("alice"));
    let bearer = format!("Bearer {token}");
    let refused = closed.get_protected(&[("authorization", &bearer)]).await;
    assert_json_error(refused, 503, "Token verification is unavailable.").await;
    let ready = closed
        .client
        .get(closed.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["revocations"]["lag_seconds"].as_u64().unwrap() > 1_000_000,
        "{body}"
    );
    // The public routes do not need the list.
    assert_eq!(closed.raw_get("/").await.0, 200);

    let open = spawn_app_with(|settings| settings.revocations.url = unreachable).await;
    assert_eq!(status(&open, &token).await, 200);
    let ready = open
        .client
        .get(open.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(
        body["status"], "ok",
        "open: serving, and saying how stale: {body}"
    );
    assert_eq!(body["revocations"]["entries"], 0);
    let metrics = open.metrics().await;
    let lag = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gateway_revocation_lag_seconds "))
        .unwrap();
    assert!(
        lag.parse::<u64>().unwrap() > 1_000_000,
        "never heard from: {lag}"
    );
}
