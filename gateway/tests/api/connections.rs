//! Upstream connections: kept and reused between requests, and never a failed request
//! because the upstream closed one while it sat idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::{TestApp, route_to_upstream, spawn_app_with};

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

/// The answer to a request head: `{"ok":true}`, or for `/raw/big/<n>` `n` bytes of `x`
/// (with a length), for `/raw/chunked` a chunked body, for `/raw/204` no content; `HEAD`
/// gets the head of `{"ok":true}`.
fn answer_to(head: &str) -> Vec<u8> {
    let mut request_line = head.lines().next().unwrap_or_default().split(' ');
    let (method, path) = (
        request_line.next().unwrap_or_default(),
        request_line.next().unwrap_or_default(),
    );
    if method.eq_ignore_ascii_case("HEAD") {
        return ANSWER[..ANSWER.len() - 11].to_vec();
    }
    if let Some(size) = path
        .strip_prefix("/raw/big/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        let mut answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n").into_bytes();
        answer.resize(answer.len() + size, b'x');
        return answer;
    }
    match path {
        "/raw/chunked" => {
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                .to_vec()
        }
        "/raw/204" => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
        _ => ANSWER.to_vec(),
    }
}

/// An upstream speaking plain HTTP/1.1 over TCP, answering as [`answer_to`] says (request
/// bodies, if any, are small and arrive with the head). Returns its URL and the number of
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
                        let head = String::from_utf8_lossy(&seen[..end]).into_owned();
                        let body = head
                            .to_ascii_lowercase()
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:").map(str::to_owned))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if seen.len() < end + 4 + body {
                            break;
                        }
                        seen.drain(..end + 4 + body);
                        if socket.write_all(&answer_to(&head)).await.is_err() {
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
        route_to_upstream(settings, "raw", url);
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

#[tokio::test]
async fn a_connection_is_reused_after_every_kind_of_answer() {
    let (url, accepted) = raw_upstream(AfterAnswer::KeepOpen).await;
    let app = gateway_to(url).await;
    let get = |path: &str| app.client.get(app.url(path)).send();

    let long = get("/raw/big/100000").await.unwrap();
    assert_eq!(long.status().as_u16(), 200);
    assert_eq!(long.bytes().await.unwrap(), vec![b'x'; 100_000]);
    let head = app.client.head(app.url("/raw")).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(head.headers()["content-length"], "11");
    let chunked = get("/raw/chunked").await.unwrap();
    assert_eq!(chunked.text().await.unwrap(), "abcde");
    let empty = get("/raw/204").await.unwrap();
    assert_eq!(empty.status().as_u16(), 204);
    assert_eq!(empty.bytes().await.unwrap().len(), 0);
    let short = get("/raw").await.unwrap();
    assert_eq!(short.text().await.unwrap(), r#"{"ok":true}"#);

    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_answer_the_client_walked_away_from_never_reaches_the_next_request() {
    let (url, accepted) = raw_upstream(AfterAnswer::KeepOpen).await;
    let app = gateway_to(url).await;
    // Far more than the socket buffers on the way hold: it cannot have come through whole
    // when the client drops it after the head.
    let abandoned = app
        .client
        .get(app.url("/raw/big/33554432"))
        .send()
        .await
        .unwrap();
    assert_eq!(abandoned.status().as_u16(), 200);
    drop(abandoned);
    for _ in 0..3 {
        let next = app.client.get(app.url("/raw")).send().await.unwrap();
        assert_eq!(next.text().await.unwrap(), r#"{"ok":true}"#);
    }
    // The abandoned answer's connection was closed, not pooled; the next requests shared one.
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}
