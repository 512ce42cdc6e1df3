//! The access log, run as a process: one line per request served, none lost to the
//! buffered writer, SIGTERM included.

use std::process::Command;
use std::time::Duration;

use crate::helpers::{listening_port, start_gateway_process};

/// Requests sent before the stop; enough to fill the writer's buffer several times.
const REQUESTS: usize = 600;

#[tokio::test]
async fn every_request_served_has_its_line_when_the_process_is_stopped() {
    let (mut child, lines) = start_gateway_process(&[]);
    let port = listening_port(&lines);
    let client = reqwest::Client::new();
    for _ in 0..REQUESTS {
        let res = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    // SIGTERM, as an orchestrator stops a container; the answers above are all in.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut logged = 0;
    let mut ended = false;
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(20)) {
        if line.contains(r#""message":"request completed""#) {
            logged += 1;
        }
    }
    for _ in 0..100 {
        if child.try_wait().unwrap().is_some() {
            ended = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !ended {
        child.kill().unwrap();
    }
    assert!(ended, "the gateway did not stop on SIGTERM");
    assert_eq!(logged, REQUESTS, "log lines for {REQUESTS} requests served");
}
