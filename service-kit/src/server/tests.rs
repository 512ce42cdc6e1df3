#![allow(clippy::unwrap_used)]

use super::*;

fn settings() -> ApplicationSettings {
    ApplicationSettings {
        host: "127.0.0.1".into(),
        port: 0,
        workers: Some(1),
        header_timeout_ms: 1000,
        body_idle_timeout_ms: 1000,
        body_timeout_ms: 1000,
        keep_alive_timeout_ms: 1000,
        max_connections: 10,
        allow_half_closed: false,
        tls: None,
    }
}

#[test]
fn a_zero_deadline_or_cap_is_refused_naming_its_key() {
    type Adjust = fn(&mut ApplicationSettings);
    let cases: [(&str, Adjust); 5] = [
        ("header_timeout_ms", |s| s.header_timeout_ms = 0),
        ("body_idle_timeout_ms", |s| s.body_idle_timeout_ms = 0),
        ("body_timeout_ms", |s| s.body_timeout_ms = 0),
        ("keep_alive_timeout_ms", |s| s.keep_alive_timeout_ms = 0),
        ("max_connections", |s| s.max_connections = 0),
    ];
    for (key, adjust) in cases {
        let mut settings = settings();
        adjust(&mut settings);
        let error = limits(&settings).unwrap_err().to_string();
        assert_eq!(error, format!("application.{key} must be above 0"));
    }
    assert!(limits(&settings()).is_ok());
}

#[test]
fn a_burst_of_new_connections_beyond_std_s_backlog_of_128_is_queued_not_dropped() {
    let listener = bind(&settings()).unwrap();
    let address = listener.local_addr().unwrap();
    // The kernel caps the backlog at net.core.somaxconn (4096 on current kernels).
    let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(128);
    let burst = 500.min(somaxconn);
    // Nothing accepts: every connection has to wait in the listener's queue.
    let mut open = Vec::with_capacity(burst);
    for n in 0..burst {
        let connected =
            std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_millis(500));
        assert!(
            connected.is_ok(),
            "connection {n} of {burst} was not queued: {connected:?}"
        );
        open.push(connected.unwrap());
    }
    drop(listener);
}
