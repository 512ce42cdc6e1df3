//! The attacks every service must withstand, each as a scenario run against a live service
//! (`address` is `host:port`) whose limits are those of `limits`. `normal` is a well-behaved
//! client's request with its checks, run while the attack's connections are open.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use super::edge::{
    SLACK, assert_json_error_then_close, connect, read_answer, read_until_closed, send,
};
use crate::configuration::ApplicationSettings;

fn ms(value: u64) -> Duration {
    Duration::from_millis(value)
}

/// A first request whose headers never end: the connection is closed within the header
/// timeout.
pub async fn slow_first_headers(
    address: &str,
    limits: &ApplicationSettings,
    normal: impl AsyncFn(),
) {
    let started = Instant::now();
    let mut stream = send(address, b"GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: ").await;
    normal().await;
    let received = read_until_closed(&mut stream, ms(limits.header_timeout_ms) + SLACK).await;
    assert!(received.closed, "still open after {:?}", started.elapsed());
    assert!(started.elapsed() <= ms(limits.header_timeout_ms) + SLACK);
}

/// A request answered, then one byte of a second one on the same connection and nothing
/// more: closed within the header timeout, well before the keep-alive timeout.
pub async fn stalled_second_request(
    address: &str,
    path: &str,
    limits: &ApplicationSettings,
    normal: impl AsyncFn(),
) {
    assert!(limits.keep_alive_timeout_ms > limits.header_timeout_ms + 2 * SLACK.as_millis() as u64);
    let request = format!("GET {path} HTTP/1.1\r\nHost: stall\r\n\r\n");
    let mut stream = send(address, request.as_bytes()).await;
    let first = read_answer(&mut stream, SLACK).await;
    assert_eq!(first.status(), Some(200), "{}", first.text());
    assert_eq!(first.header("connection"), None, "{}", first.text());
    let started = Instant::now();
    stream.write_all(b"G").await.unwrap();
    normal().await;
    let received = read_until_closed(&mut stream, ms(limits.header_timeout_ms) + SLACK).await;
    assert!(received.closed, "still open after {:?}", started.elapsed());
    assert!(started.elapsed() >= ms(limits.header_timeout_ms) - ms(200));
}

fn post_head(path: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: body\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

/// A body that stops after its first byte: 408 JSON with `Connection: close` once the body
/// idle timeout passes, then the connection is closed.
pub async fn stalled_body(
    address: &str,
    path: &str,
    limits: &ApplicationSettings,
    normal: impl AsyncFn(),
) {
    let started = Instant::now();
    let mut stream = send(address, format!("{}{{", post_head(path, 1000)).as_bytes()).await;
    normal().await;
    let received = read_until_closed(&mut stream, ms(limits.body_idle_timeout_ms) + SLACK).await;
    assert_json_error_then_close(&received, 408);
    assert!(started.elapsed() >= ms(limits.body_idle_timeout_ms) - ms(200));
}

/// A body trickled in a byte at a time, each within the idle timeout: 408 JSON and close once
/// the total body deadline passes. `chunked` sends it in chunks of one byte, else with a
/// declared length of 10,000 bytes.
pub async fn trickled_body(
    address: &str,
    path: &str,
    chunked: bool,
    limits: &ApplicationSettings,
    normal: impl AsyncFn(),
) {
    let gap = ms(limits.body_idle_timeout_ms / 3);
    let started = Instant::now();
    let head = if chunked {
        format!(
            "POST {path} HTTP/1.1\r\nHost: body\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n\r\n"
        )
    } else {
        post_head(path, 10_000)
    };
    let piece: &[u8] = if chunked { b"1\r\n \r\n" } else { b" " };
    let mut stream = send(address, head.as_bytes()).await;
    normal().await;
    let mut received = None;
    let rounds = limits.body_timeout_ms / gap.as_millis() as u64 + 10;
    for _ in 0..rounds {
        if stream.write_all(piece).await.is_err() {
            break;
        }
        let got = read_until_closed(&mut stream, gap).await;
        if !got.bytes.is_empty() || got.closed {
            let mut rest = read_until_closed(&mut stream, SLACK).await;
            let mut bytes = got.bytes;
            bytes.append(&mut rest.bytes);
            rest.bytes = bytes;
            received = Some(rest);
            break;
        }
    }
    let received = received.expect("no answer to a trickled body");
    assert_json_error_then_close(&received, 408);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= ms(limits.body_timeout_ms) - ms(200),
        "{elapsed:?}"
    );
    assert!(elapsed <= ms(limits.body_timeout_ms) + SLACK, "{elapsed:?}");
}

/// Requests the services do not serve: answered at once with `status` and JSON, and the
/// connection closed. With `pipelined`, a request sent right behind stays unanswered.
pub async fn refused_at_once(
    address: &str,
    request: &str,
    status: u16,
    pipelined: bool,
    normal: impl AsyncFn(),
) {
    let behind = if pipelined {
        "GET / HTTP/1.1\r\nHost: next\r\n\r\n"
    } else {
        ""
    };
    let mut stream = send(address, format!("{request}{behind}").as_bytes()).await;
    let answer = read_answer(&mut stream, ms(1000)).await;
    assert!(
        answer.status().is_some(),
        "no answer within 1 s (before: none within 5 s): {}",
        answer.text()
    );
    normal().await;
    let mut received = read_until_closed(&mut stream, SLACK).await;
    let mut bytes = answer.bytes;
    bytes.append(&mut received.bytes);
    received.bytes = bytes;
    assert_json_error_then_close(&received, status);
    if pipelined {
        assert_eq!(received.answers(), 1, "{}", received.text());
    }
}

/// A `POST` asking for a WebSocket, with a small body.
pub fn upgrade_request(path: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: up\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
    )
}

/// A tunnel request.
pub const CONNECT_REQUEST: &str =
    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";

/// A `POST` with an expectation nobody can meet.
pub fn bad_expect_request(path: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: ex\r\nExpect: 200-ok\r\nContent-Type: application/json\r\n\
         Content-Length: 2\r\n\r\n{{}}"
    )
}

/// With `limits.max_connections` connections open, one more is answered 503 JSON with
/// `Retry-After` and closed at once; an open connection is still served; once the idle
/// ones time out a new client is served again. `path` answers 200 to a `GET`.
pub async fn connection_cap(address: &str, path: &str, limits: &ApplicationSettings) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: cap\r\n\r\n");
    let mut open = Vec::new();
    // Each answered, so that all are in before the one too many (workers take connections
    // in no set order).
    for _ in 0..limits.max_connections {
        let mut stream = connect(address).await;
        let served = read_answer_on(&mut stream, &request).await;
        assert_eq!(served.status(), Some(200), "{}", served.text());
        open.push(stream);
    }

    let mut extra = connect(address).await;
    let refused = read_until_closed(&mut extra, SLACK).await;
    let text = refused.text();
    assert_eq!(refused.status(), Some(503), "{text}");
    assert!(refused.header("retry-after").is_some(), "{text}");
    assert_eq!(
        refused.header("connection").as_deref(),
        Some("close"),
        "{text}"
    );
    assert!(
        refused.json().is_some_and(|b| b["message"].is_string()),
        "{text}"
    );
    assert!(
        refused.closed && refused.elapsed < Duration::from_secs(1),
        "{text}"
    );

    let again = read_answer_on(&mut open[0], &request).await;
    assert_eq!(
        again.status(),
        Some(200),
        "an open connection was not served"
    );

    let started = Instant::now();
    let give_up = ms(limits.header_timeout_ms.max(limits.keep_alive_timeout_ms)) + 2 * SLACK;
    for _ in 0..100 {
        let mut fresh = connect(address).await;
        let answer = read_answer_on(&mut fresh, &request).await;
        if answer.status() == Some(200) {
            return;
        }
        assert!(
            started.elapsed() < give_up,
            "never served again: {}",
            answer.text()
        );
        tokio::time::sleep(ms(250)).await;
    }
    panic!("never served again");
}

async fn read_answer_on(
    stream: &mut tokio::net::TcpStream,
    request: &str,
) -> super::edge::Received {
    stream.write_all(request.as_bytes()).await.unwrap();
    read_answer(stream, SLACK).await
}
