//! The access log, run as a process: one line per request served, none lost to the
//! buffered writer, SIGTERM included.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Requests sent before the stop; enough to fill the writer's buffer several times.
const REQUESTS: usize = 600;

fn start_gateway() -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .env_clear()
        .envs([
            ("RUST_LOG", "info"),
            ("GATEWAY__TELEMETRY__FORMAT", "json"),
            ("GATEWAY__APPLICATION__PORT", "0"),
            ("GATEWAY__ADMIN__PORT", "0"),
            // Nothing listens there: the keys are never needed by `GET /`.
            ("GATEWAY__JWT__JWKS_URL", "http://127.0.0.1:9/jwks.json"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, received)
}

fn listening_port(lines: &mpsc::Receiver<String>) -> u16 {
    loop {
        let line = lines.recv_timeout(Duration::from_secs(10)).unwrap();
        if line.contains("gateway listening") {
            let value: serde_json::Value = serde_json::from_str(&line).unwrap();
            return u16::try_from(value["port"].as_u64().unwrap()).unwrap();
        }
    }
}

#[tokio::test]
async fn every_request_served_has_its_line_when_the_process_is_stopped() {
    let (mut child, lines) = start_gateway();
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
