//! W3C Trace Context through the gateway: the client's trace continued (or a new one
//! started), the gateway's own hop named as the upstream's parent, the trace id on the
//! request's log line.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{listening_port, spawn_app, start_gateway_process};

const CLIENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The `traceparent` the upstream received for a public request carrying `sent`.
async fn forwarded(app: &crate::helpers::TestApp, sent: Option<&str>) -> String {
    let mut request = app.client.get(app.url("/public"));
    if let Some(sent) = sent {
        request = request.header("traceparent", sent);
    }
    let echoed: Value = request.send().await.unwrap().json().await.unwrap();
    echoed["headers"]["traceparent"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The four fields of a well-formed version-00 `traceparent`.
fn fields(value: &str) -> Vec<&str> {
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "{value}");
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    assert_eq!(lens, [2, 32, 16, 2], "{value}");
    assert!(value.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));
    parts
}

#[tokio::test]
async fn the_clients_trace_is_continued_with_the_gateway_as_parent() {
    let app = spawn_app().await;
    let seen = forwarded(&app, Some(CLIENT)).await;
    let parts = fields(&seen);
    assert_eq!(
        parts[1], "4bf92f3577b34da6a3ce929d0e0e4736",
        "the trace id is kept"
    );
    assert_ne!(
        parts[2], "00f067aa0ba902b7",
        "the gateway's hop is the parent"
    );
    assert_eq!(parts[3], "01", "the sampled flag is kept");
}

#[tokio::test]
async fn a_missing_or_invalid_traceparent_starts_a_new_trace_per_request() {
    let app = spawn_app().await;
    let mut traces = Vec::new();
    for sent in [
        None,
        None,
        Some("garbage"),
        Some(&CLIENT.replace("-01", "-01-x")),
    ] {
        let seen = forwarded(&app, sent).await;
        let parts = fields(&seen);
        assert_ne!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736", "{sent:?}");
        assert_ne!(parts[1], "0".repeat(32), "{sent:?}");
        traces.push(parts[1].to_owned());
    }
    traces.dedup();
    assert_eq!(traces.len(), 4, "each request its own trace: {traces:?}");
}

#[tokio::test]
async fn the_request_log_line_carries_the_trace_id() {
    let (mut child, lines) = start_gateway_process(&[]);
    let port = listening_port(&lines);
    let answer = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/"))
        .header("traceparent", CLIENT)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let mut found = None;
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        if line.contains("request completed") {
            found = Some(line);
            break;
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let line: Value = serde_json::from_str(&found.expect("no request line")).unwrap();
    assert_eq!(
        line["span"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
        "{line}"
    );
    assert_eq!(line["span"]["span_id"].as_str().unwrap().len(), 16);
}
