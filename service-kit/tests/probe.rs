//! The container health probe against real listeners.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpListener;

fn serve_once(answer: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 256];
        let _ = stream.read(&mut request);
        stream.write_all(answer.as_bytes()).unwrap();
    });
    port
}

#[test]
fn the_probe_passes_only_on_200() {
    assert!(service_kit::health::probe(serve_once(
        "HTTP/1.1 200 OK\r\n\r\n{}"
    )));
    assert!(!service_kit::health::probe(serve_once(
        "HTTP/1.1 503 Service Unavailable\r\n\r\n"
    )));
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert!(!service_kit::health::probe(closed));
}
