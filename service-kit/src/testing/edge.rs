//! Raw-socket clients that misbehave the ways attackers do (slow headers, a stalled second
//! request, a trickled body, protocol upgrades, too many connections), and what a service
//! must answer them. Every wait is bounded.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Slack given on top of a deadline for the server to act on it.
pub const SLACK: Duration = Duration::from_millis(1500);

/// What a raw connection received before it was closed or the wait ended.
#[derive(Debug)]
pub struct Received {
    /// Every byte received.
    pub bytes: Vec<u8>,
    /// Whether the server closed the connection (EOF or reset) within the wait.
    pub closed: bool,
    /// Time from the start of the wait to the close (or to the end of the wait).
    pub elapsed: Duration,
}

impl Received {
    /// The received bytes as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The status code of the first answer, if one came.
    pub fn status(&self) -> Option<u16> {
        self.text().split(' ').nth(1)?.parse().ok()
    }

    /// The value of header `name` in the first answer, lower-cased.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = self.text();
        let head = text.split("\r\n\r\n").next()?;
        head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_ascii_lowercase())
        })
    }

    /// The body of the first answer parsed as JSON.
    pub fn json(&self) -> Option<Value> {
        let text = self.text();
        let (_, body) = text.split_once("\r\n\r\n")?;
        serde_json::from_str(body).ok()
    }

    /// Number of answers (status lines) received.
    pub fn answers(&self) -> usize {
        self.text().matches("HTTP/1.1 ").count()
    }
}

/// Opens a raw connection to `address` (`host:port`).
pub async fn connect(address: &str) -> TcpStream {
    TcpStream::connect(address).await.expect("connecting")
}

/// Reads until the server closes the connection or `wait` passes.
pub async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Received {
    let started = Instant::now();
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    let closed = loop {
        let left = wait.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => break false,
            Ok(Ok(0) | Err(_)) => break true,
            Ok(Ok(n)) => bytes.extend_from_slice(&buffer[..n]),
        }
    };
    Received {
        bytes,
        closed,
        elapsed: started.elapsed(),
    }
}

/// Reads one whole answer that carries a `content-length` (at most `wait`).
pub async fn read_answer(stream: &mut TcpStream, wait: Duration) -> Received {
    let started = Instant::now();
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if bytes.len() >= end + 4 + length {
                break;
            }
        }
        let left = wait.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => bytes.extend_from_slice(&buffer[..n]),
            _ => break,
        }
    }
    Received {
        bytes,
        closed: false,
        elapsed: started.elapsed(),
    }
}

/// Sends `bytes` on a new connection and returns it.
pub async fn send(address: &str, bytes: &[u8]) -> TcpStream {
    let mut stream = connect(address).await;
    stream.write_all(bytes).await.expect("writing");
    stream
}

/// Asserts an answer is the JSON error every service gives: `status`, a JSON body with a
/// non-empty `message`, and `Connection: close`.
pub fn assert_json_error_then_close(received: &Received, status: u16) {
    let text = received.text();
    assert_eq!(received.status(), Some(status), "{text}");
    assert_eq!(
        received.header("connection").as_deref(),
        Some("close"),
        "{text}"
    );
    let content_type = received.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "{text}");
    let message = received
        .json()
        .and_then(|body| body["message"].as_str().map(str::to_owned));
    assert!(message.is_some_and(|m| !m.is_empty()), "{text}");
    assert!(received.closed, "the connection was left open: {text}");
}
