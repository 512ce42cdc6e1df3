//! The edge defences of service-kit's server hold here too: a stalled second request on a
//! kept connection is cut off, upgrades are refused at once, and connections over the cap
//! get 503 while open ones are served.

use service_kit::testing::attacks;

use crate::helpers::{TestApp, spawn_app_with};

/// The service with short deadlines (seconds).
async fn spawn(max_connections: usize) -> TestApp {
    spawn_app_with(|settings| {
        let application = &mut settings.application;
        application.header_timeout_ms = 1000;
        application.body_idle_timeout_ms = 1000;
        application.body_timeout_ms = 3000;
        application.keep_alive_timeout_ms = 6000;
        application.max_connections = max_connections;
    })
    .await
}

fn raw_address(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// A normal client's liveness check, answered while an attack goes on.
async fn normal_live(app: &TestApp) {
    let response = app
        .client
        .get(format!("{}/health/live", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn a_stalled_second_request_on_a_kept_connection_is_cut_off() {
    let app = spawn(100).await;
    let limits = app.settings.application.clone();
    attacks::stalled_second_request(&raw_address(&app), "/health/live", &limits, async || {
        normal_live(&app).await
    })
    .await;
}

#[tokio::test]
async fn an_upgrade_is_refused_at_once() {
    let app = spawn(100).await;
    let request = attacks::upgrade_request("/protected");
    attacks::refused_at_once(&raw_address(&app), &request, 400, true, async || {
        normal_live(&app).await
    })
    .await;
}

#[tokio::test]
async fn connections_over_the_cap_get_503_and_open_ones_are_served() {
    let app = spawn_app_with(|settings| {
        let application = &mut settings.application;
        application.header_timeout_ms = 2000;
        application.keep_alive_timeout_ms = 2000;
        application.max_connections = 5;
    })
    .await;
    let limits = app.settings.application.clone();
    attacks::connection_cap(&raw_address(&app), "/health/live", &limits).await;
}
