#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc::Receiver;

use actix_web::{App, HttpResponse, test as actix_test, web};
use serde_json::Value;

use super::*;

/// A collector that answers 200 and passes on every body it gets (at most 10 requests).
fn stub_collector() -> (String, Receiver<(String, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let (bodies, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(10) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            let _ = bodies.send((request_line, serde_json::from_slice(&body).unwrap()));
        }
    });
    (url, received)
}

fn span_of(body: &Value) -> Vec<Value> {
    body["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn endpoints_are_http_urls_with_a_path() {
    let parsed = endpoint("http://collector:4318/v1/traces").unwrap();
    assert_eq!(
        (parsed.host.as_str(), parsed.path.as_str()),
        ("collector:4318", "/v1/traces")
    );
    assert_eq!(endpoint("http://collector").unwrap().host, "collector:80");
    assert!(endpoint("https://collector:4318/v1/traces").is_err());
    assert!(endpoint("http:///v1/traces").is_err());
}

// The only test that installs the exporter: there is one per process.
#[actix_web::test]
async fn requests_become_spans_of_their_trace_sent_to_the_collector() {
    let (url, received) = stub_collector();
    // Ratio 0: only traces a caller marked sampled.
    let exporter = install(&url, "test-service", 0.0).unwrap();
    let app = actix_test::init_service(crate::middleware::stack(
        App::new().route("/protected", web::get().to(HttpResponse::Ok)),
    ))
    .await;
    let sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let request = actix_test::TestRequest::get()
        .uri("/protected?token=secret")
        .insert_header(("traceparent", sampled))
        .to_request();
    assert!(
        actix_test::call_service(&app, request)
            .await
            .status()
            .is_success()
    );
    let unsampled = "00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let request = actix_test::TestRequest::get()
        .uri("/protected")
        .insert_header(("traceparent", unsampled))
        .to_request();
    actix_test::call_service(&app, request).await;
    let request = actix_test::TestRequest::get().uri("/nowhere").to_request();
    actix_test::call_service(&app, request).await;
    // Dropping the exporter sends what is queued.
    drop(exporter);

    let (request_line, body) = received.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(request_line, "POST /v1/traces HTTP/1.1\r\n");
    let resource = &body["resourceSpans"][0]["resource"]["attributes"][0];
    assert_eq!(resource["key"], "service.name");
    assert_eq!(resource["value"]["stringValue"], "test-service");
    let spans = span_of(&body);
    assert_eq!(spans.len(), 1, "only the sampled trace: {body}");
    let span = &spans[0];
    assert_eq!(span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(span["spanId"].as_str().unwrap().len(), 16);
    assert_eq!(span["name"], "GET /protected", "never the query string");
    assert_eq!(span["kind"], 2);
    let start: u128 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
    let end: u128 = span["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    assert!(start > 0 && end >= start);
    let status = span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "http.response.status_code")
        .unwrap();
    assert_eq!(status["value"]["intValue"], "200");
    assert!(!body.to_string().contains("secret"));
}
