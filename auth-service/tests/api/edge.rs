//! Clients that hold connections open or ask for what is not served (slow headers, a
//! stalled second request, slow bodies, upgrades, tunnels, odd expectations, too many
//! connections): each is cut off within its deadline, or refused at once, while a normal
//! login is answered as usual.

use service_kit::configuration::ApplicationSettings;
use service_kit::testing::attacks;

use crate::helpers::{Backend, TestApp, spawn_with, test_settings};

/// The service with short deadlines (seconds), workers and connection cap as given.
async fn spawn(adjust: impl FnOnce(&mut ApplicationSettings)) -> TestApp {
    let mut settings = test_settings(&Backend::Sqlite).await;
    let application = &mut settings.application;
    application.header_timeout_ms = 1000;
    application.body_idle_timeout_ms = 1000;
    application.body_timeout_ms = 3000;
    application.keep_alive_timeout_ms = 6000;
    adjust(application);
    spawn_with(settings).await
}

fn raw_address(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// A normal client logs in while an attack goes on.
async fn normal_login(app: &TestApp) {
    let body = app.login_ok("user1", "password123").await;
    assert!(body["token"].is_string(), "{body}");
    assert_eq!(body["token_type"], "Bearer");
}

#[tokio::test]
async fn slow_headers_of_a_first_request_are_cut_off() {
    let app = spawn(|_| {}).await;
    let limits = app.settings.application.clone();
    attacks::slow_first_headers(&raw_address(&app), &limits, async || {
        normal_login(&app).await
    })
    .await;
}

#[tokio::test]
async fn a_stalled_second_request_on_a_kept_connection_is_cut_off() {
    let app = spawn(|_| {}).await;
    let limits = app.settings.application.clone();
    attacks::stalled_second_request(&raw_address(&app), "/health/live", &limits, async || {
        normal_login(&app).await
    })
    .await;
}

#[tokio::test]
async fn a_stalled_login_body_gets_408_and_the_connection_closes() {
    let app = spawn(|_| {}).await;
    let limits = app.settings.application.clone();
    attacks::stalled_body(&raw_address(&app), "/login", &limits, async || {
        normal_login(&app).await
    })
    .await;
}

#[tokio::test]
async fn a_trickled_login_body_gets_408_at_the_total_deadline() {
    let app = spawn(|_| {}).await;
    let limits = app.settings.application.clone();
    attacks::trickled_body(&raw_address(&app), "/login", false, &limits, async || {
        normal_login(&app).await
    })
    .await;
}

#[tokio::test]
async fn upgrades_tunnels_and_unknown_expectations_are_refused_at_once() {
    let app = spawn(|_| {}).await;
    let address = raw_address(&app);
    let normal = async || normal_login(&app).await;
    attacks::refused_at_once(
        &address,
        &attacks::upgrade_request("/login"),
        400,
        true,
        normal,
    )
    .await;
    attacks::refused_at_once(&address, attacks::CONNECT_REQUEST, 405, true, normal).await;
    attacks::refused_at_once(
        &address,
        &attacks::bad_expect_request("/login"),
        417,
        false,
        normal,
    )
    .await;
}

#[tokio::test]
async fn connections_over_the_cap_get_503_and_open_ones_are_served() {
    let app = spawn(|application| {
        application.max_connections = 5;
        application.keep_alive_timeout_ms = 2000;
        application.header_timeout_ms = 2000;
    })
    .await;
    let limits = app.settings.application.clone();
    attacks::connection_cap(&raw_address(&app), "/health/live", &limits).await;
}
