//! The read deadlines on the TLS listener, on HTTP/1.1 and HTTP/2.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Client, Pki, socket, spawn_tls_app};

#[tokio::test]
async fn read_deadlines_hold_on_the_tls_listener_while_others_are_served() {
    let pki = Pki::new();
    let app = spawn_tls_app(&pki, |s| {
        s.application.header_timeout_ms = 500;
        s.application.keep_alive_timeout_ms = 800;
    })
    .await;
    let mut normal = Client::over(pki.connect(socket(&app), &[b"h2"]).await).await;

    // No ClientHello at all.
    let silent = TcpStream::connect(socket(&app)).await.unwrap();
    // A handshake, then half a request's headers.
    let mut partial = pki.connect(socket(&app), &[b"http/1.1"]).await;
    partial
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // HTTP/2 agreed, then not a single request.
    let mut idle_h2 = pki.connect(socket(&app), &[b"h2"]).await;
    idle_h2
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let closes = tokio::spawn(async move {
        let (a, b, c) = tokio::join!(
            time_to_close(silent),
            time_to_close(partial),
            time_to_close(idle_h2)
        );
        [a, b, c]
    });
    for _ in 0..10 {
        assert_eq!(normal.get("/", None).await.0, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (what, took) in ["silent", "partial headers", "idle HTTP/2"]
        .iter()
        .zip(closes.await.unwrap())
    {
        assert!(took < Duration::from_secs(3), "{what} held on {took:?}");
    }
    assert_eq!(normal.get("/", None).await.0, 200);
}

#[tokio::test]
async fn an_http2_connection_idle_past_its_keep_alive_is_closed() {
    let pki = Pki::new();
    // Wide margins: the whole suite runs at once on two cores, where a 100 ms pause between
    // requests can stretch to several hundred.
    let app = spawn_tls_app(&pki, |s| s.application.keep_alive_timeout_ms = 1500).await;
    let mut client = Client::over(pki.connect(socket(&app), &[b"h2"]).await).await;
    let started = Instant::now();
    // Busy past the keep-alive: a connection in use is not closed.
    while started.elapsed() < Duration::from_millis(3000) {
        assert_eq!(client.get("/", None).await.0, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Client::H2(send) = &client else {
        panic!("HTTP/2 was not agreed")
    };
    let idle = Instant::now();
    while !send.is_closed() {
        assert!(
            idle.elapsed() < Duration::from_secs(6),
            "an idle HTTP/2 connection was kept open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_http2_body_too_slow_gets_408_and_the_connection_serves_on() {
    let pki = Pki::new();
    let app = spawn_tls_app(&pki, |s| s.application.body_idle_timeout_ms = 500).await;
    let mut client = Client::over(pki.connect(socket(&app), &[b"h2"]).await).await;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, _>>(1);
    sender
        .send(Ok(Frame::data(Bytes::from_static(b"{\"a\":"))))
        .await
        .unwrap();
    let stalled = StreamBody::new(tokio_stream_of(receiver)).boxed();
    let request = http::Request::post("https://127.0.0.1/public")
        .header("content-type", "application/json")
        .body(stalled)
        .unwrap();
    let (status, _, body) = client.send(request).await;
    assert_eq!(status, 408);
    assert_eq!(
        body,
        r#"{"message":"The request body did not arrive in time."}"#
    );
    drop(sender);
    let posted = http::Request::post("https://127.0.0.1/public")
        .body(Full::new(Bytes::from_static(b"{}")).boxed())
        .unwrap();
    assert_eq!(client.send(posted).await.0, 200);
}

/// The receiving end of a channel as a stream of body frames.
fn tokio_stream_of<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + Sync + 'static {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

/// Reads until the server closes the connection; how long that took.
async fn time_to_close(mut io: impl tokio::io::AsyncRead + Unpin) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("the connection was not closed");
    started.elapsed()
}
