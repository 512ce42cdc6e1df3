//! Upstream connections: kept and reused between requests, and never a failed request
//! because the upstream closed one while it sat idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gateway::configuration::{Access, RouteSettings, UpstreamSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::{TestApp, spawn_app_with};

const ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";

/// How a raw upstream treats a connection after each answer.
#[derive(Clone, Copy)]
enum AfterAnswer {
    /// Waits for the next request (HTTP/1.1 keep-alive).
    KeepOpen,
    /// Closes it shortly after, without having said `Connection: close`: what an upstream
    /// does when its keep-alive timeout strikes.
    CloseSoon,
}

/// An upstream speaking plain HTTP/1.1 over TCP, answering `{"ok":true}` to every request
/// (bodies, if any, are small and arrive with the head). Returns its URL and the number of
/// connections it has accepted.
async fn raw_upstream(after: AfterAnswer) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 16 * 1024];
                let mut seen = Vec::new();
                loop {
                    let Ok(read) = socket.read(&mut buffer).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buffer[..read]);
                    // One answer per request head received.
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                        let body = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if seen.len() < end + 4 + body {
                            break;
                        }
                        seen.drain(..end + 4 + body);
                        if socket.write_all(ANSWER).await.is_err() {
                            return;
                        }
                        if matches!(after, AfterAnswer::CloseSoon) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, accepted)
}

/// A gateway with one worker whose public `/raw` route goes to `url`.
async fn gateway_to(url: String) -> TestApp {
    spawn_app_with(move |settings| {
        settings.application.workers = Some(1);
        settings
            .upstreams
            .insert("raw".into(), UpstreamSettings { url });
        settings.routes.push(RouteSettings {
            path: "/raw".into(),
            upstream: "raw".into(),
            access: Access::Public,
            roles: vec![],
        });
    })
    .await
}

#[tokio::test]
async fn one_upstream_connection_carries_request_after_request() {
    let (url, accepted) = raw_upstream(AfterAnswer::KeepOpen).await;
    let app = gateway_to(url).await;
    for _ in 0..10 {
        let response = app.client.get(app.url("/raw")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.text().await.unwrap(), r#"{"ok":true}"#);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn connections_the_upstream_closed_while_idle_cost_no_request() {
    let (url, accepted) = raw_upstream(AfterAnswer::CloseSoon).await;
    let app = gateway_to(url).await;
    // Every connection goes back to the pool open and is closed there by the upstream. POSTs
    // are not retried after a failed exchange: each must go out on a fresh connection.
    for i in 0..20 {
        let response = app
            .client
            .post(app.url("/raw"))
            .body(format!("{{\"n\":{i}}}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "request {i}");
        assert_eq!(response.text().await.unwrap(), r#"{"ok":true}"#);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 20);
}
