//! The access log, run as a process: one line per request served, none lost to the
//! buffered writer, SIGTERM included; off when the filter says so; the request's fields on
//! human-readable lines too.

use std::process::Command;
use std::time::Duration;

use crate::helpers::{listening_port, start_gateway_process};

/// Requests sent before the stop; enough to fill the writer's buffer several times.
const REQUESTS: usize = 600;

#[tokio::test]
async fn every_request_served_has_its_line_when_the_process_is_stopped() {
    let written = lines_of_a_run(&[], REQUESTS).await;
    let logged = written
        .iter()
        .filter(|line| line.contains(r#""message":"request completed""#))
        .count();
    assert_eq!(logged, REQUESTS, "log lines for {REQUESTS} requests served");
}

/// Serves `requests` requests from a gateway started with `vars`, stops it with SIGTERM
/// and returns every line it wrote after saying where it listens.
async fn lines_of_a_run(vars: &[(&str, &str)], requests: usize) -> Vec<String> {
    let (mut child, lines) = start_gateway_process(vars);
    let port = listening_port(&lines);
    let client = reqwest::Client::new();
    for _ in 0..requests {
        let res = client
            .get(format!("http://127.0.0.1:{port}/"))
            .header("x-request-id", "access-log-test")
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
    let mut written = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(20)) {
        written.push(line);
    }
    let mut ended = false;
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
    written
}

#[tokio::test]
async fn the_filter_turns_the_access_log_off_and_leaves_the_other_lines() {
    let written = lines_of_a_run(&[("RUST_LOG", "info,service_kit::middleware=warn")], 20).await;
    assert!(
        !written.iter().any(|l| l.contains("request completed")),
        "{written:#?}"
    );
    assert!(
        written.iter().any(|l| l.contains(r#""level":"INFO""#)),
        "other info lines still written: {written:#?}"
    );
}

#[tokio::test]
async fn human_readable_access_lines_carry_the_request_s_fields() {
    let written = lines_of_a_run(&[("GATEWAY__TELEMETRY__FORMAT", "pretty")], 3).await;
    let access: Vec<_> = written
        .iter()
        .filter(|l| l.contains("request completed"))
        .collect();
    assert_eq!(access.len(), 3, "{written:#?}");
    for line in access {
        assert!(
            line.contains("request{request_id=access-log-test trace_id=")
                && line.contains(" method=GET path=/}")
                && line.contains("status=200"),
            "{line}"
        );
    }
}

#[tokio::test]
async fn access_lines_of_an_idle_gateway_are_written_within_about_a_second() {
    let (mut child, lines) = start_gateway_process(&[]);
    let port = listening_port(&lines);
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let res = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // No more traffic and no stop: the batch goes out on its timer.
    let sent = std::time::Instant::now();
    let mut logged = 0;
    while logged < 3 && sent.elapsed() < Duration::from_secs(5) {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(100))
            && line.contains("request completed")
        {
            logged += 1;
        }
    }
    let waited = sent.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(logged, 3);
    assert!(waited < Duration::from_millis(2500), "took {waited:?}");
}
