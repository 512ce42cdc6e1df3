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
