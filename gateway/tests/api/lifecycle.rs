//! The gateway's background tasks end with it.

use std::time::{Duration, Instant};

use gateway::configuration::{Settings, UpstreamSettings, VerificationMode};
use gateway::startup::Application;
use service_kit::testing::local_settings_on_free_ports;

use crate::helpers::closed_port_address;

/// Longest a task may outlive the application: its next look at its owner, at most the
/// pool sweeper's interval, plus slack for a loaded machine.
const TASK_END_BOUND: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_dropped_gateway_leaves_no_background_task() {
    let mut settings: Settings =
        local_settings_on_free_ports("GATEWAY", &["application", "admin"], Settings::load_with);
    settings.jwt.mode = VerificationMode::Jwks;
    settings.jwt.jwks_url = format!("{}/.well-known/jwks.json", closed_port_address());
    settings.jwt.jwks_refresh_seconds = 1;
    settings.revocations.url = format!("{}/revocations", closed_port_address());
    settings.proxy.resolve_interval_seconds = 1;
    for upstream in settings.upstreams.values_mut() {
        *upstream = UpstreamSettings {
            url: "http://localhost:1".into(),
        };
    }
    let app = Application::build(settings).unwrap();
    let tasks = app.background_tasks();
    // The refresher, the revocation follower, and a resolver and a sweeper per upstream
    // (auth, resource).
    assert_eq!(tasks.len(), 6);
    tokio::task::yield_now().await;
    assert!(
        tasks.iter().all(|task| !task.is_finished()),
        "they run with it"
    );

    drop(app);
    let started = Instant::now();
    while tasks.iter().any(|task| !task.is_finished()) {
        assert!(
            started.elapsed() < TASK_END_BOUND,
            "{} of {} tasks outlived the gateway",
            tasks.iter().filter(|task| !task.is_finished()).count(),
            tasks.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
