//! Hop-by-hop headers stay on their hop in both directions, those a message's own
//! `Connection` header names included (RFC 9110 §7.6.1).

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{route_to_upstream, spawn_app_with};

/// An upstream written byte for byte (an HTTP library may write `Connection` itself): every
/// answer names `x-session-hint` in `Connection`, and sends it, `Keep-Alive` and `x-kept`.
async fn spawn_raw_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Connection: x-session-hint\r\nX-Session-Hint: abc\r\n\
                     Keep-Alive: timeout=5\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\n{}";
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test]
async fn answers_drop_hop_by_hop_headers_and_those_their_connection_header_names() {
    let upstream = spawn_raw_upstream().await;
    let app = spawn_app_with(|settings| route_to_upstream(settings, "raw", upstream)).await;
    let response = app.client.get(app.url("/raw")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers();
    assert_eq!(headers["x-kept"], "yes", "end-to-end headers pass");
    assert!(headers.get("x-session-hint").is_none(), "{headers:?}");
    assert!(headers.get("keep-alive").is_none(), "{headers:?}");
}

#[tokio::test]
async fn requests_drop_hop_by_hop_headers_and_those_their_connection_header_names() {
    let app = spawn_app_with(|_| {}).await;
    let response = app
        .client
        .get(app.url("/public"))
        .header("connection", "x-client-hint")
        .header("x-client-hint", "1")
        .header("te", "trailers")
        .header("x-kept", "yes")
        .send()
        .await
        .unwrap();
    let echoed: Value = response.json().await.unwrap();
    let seen = &echoed["headers"];
    assert_eq!(seen["x-kept"], "yes");
    assert!(seen.get("x-client-hint").is_none(), "{seen}");
    assert!(seen.get("te").is_none(), "{seen}");
}
