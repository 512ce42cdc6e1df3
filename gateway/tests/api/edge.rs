//! Clients that hold connections open or ask for what is not served (slow headers, a
//! stalled second request, slow bodies, upgrades, tunnels, odd expectations, too many
//! connections): each is cut off within its deadline, or refused at once, while a normal
//! client is answered as usual.

use gateway::configuration::Settings;
use service_kit::testing::attacks;

use crate::helpers::{TestApp, spawn_app_with};

/// The gateway with short deadlines (seconds); `adjust` has the last word.
async fn spawn(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|settings| {
        let application = &mut settings.application;
        application.header_timeout_ms = 1000;
        application.body_idle_timeout_ms = 1000;
        application.body_timeout_ms = 3000;
        application.keep_alive_timeout_ms = 6000;
        adjust(settings);
    })
    .await
}

fn raw_address(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// A normal client gets the welcome while an attack goes on.
async fn normal_welcome(app: &TestApp) {
    let response = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["message"], "Welcome to the Flask JWT API!");
}

#[tokio::test]
async fn slow_headers_of_a_first_request_are_cut_off() {
    let app = spawn(|_| {}).await;
    let limits = app.settings.application.clone();
    attacks::slow_first_headers(&raw_address(&app), &limits, async || {
        normal_welcome(&app).await
    })
    .await;
}

#[tokio::test]
async fn a_stalled_second_request_on_a_kept_connection_is_cut_off() {
    let app = spawn(|_| {}).await;
    let limits = app.settings.application.clone();
    attacks::stalled_second_request(&raw_address(&app), "/", &limits, async || {
        normal_welcome(&app).await
    })
    .await;
}

#[tokio::test]
async fn a_stalled_proxied_body_gets_408_not_502() {
    let app = spawn(|_| {}).await;
    let limits = app.settings.application.clone();
    attacks::stalled_body(&raw_address(&app), "/login", &limits, async || {
        normal_welcome(&app).await
    })
    .await;
}

#[tokio::test]
async fn a_trickled_streamed_body_gets_408_at_the_total_deadline() {
    // The upstream exchange may last longer than the body: the body's deadline strikes.
    let app = spawn(|settings| settings.proxy.request_timeout_ms = 10_000).await;
    let limits = app.settings.application.clone();
    // Chunked: the body streams to the upstream rather than being held.
    attacks::trickled_body(&raw_address(&app), "/login", true, &limits, async || {
        normal_welcome(&app).await
    })
    .await;
    // The client's fault: the upstream is not blamed, let alone ejected.
    let metrics = app
        .client
        .get(format!("{}/metrics", app.admin_address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !metrics.contains(r#"gateway_upstream_errors_total{upstream="auth""#),
        "{metrics}"
    );
    let after = app
        .client
        .post(app.url("/login"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200);
    assert_eq!(after.headers()["x-upstream"], "echo");
}

#[tokio::test]
async fn upgrades_tunnels_and_unknown_expectations_are_refused_at_once() {
    let app = spawn(|_| {}).await;
    let address = raw_address(&app);
    let normal = async || normal_welcome(&app).await;
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
    let app = spawn(|settings| {
        settings.application.max_connections = 5;
        settings.application.keep_alive_timeout_ms = 2000;
        settings.application.header_timeout_ms = 2000;
    })
    .await;
    let limits = app.settings.application.clone();
    attacks::connection_cap(&raw_address(&app), "/", &limits).await;
}

/// Sends `GET /slow` (answered after two seconds), shuts the sending side and reads what
/// comes back within three seconds.
async fn half_closed_slow_request(app: &TestApp) -> service_kit::testing::edge::Received {
    use service_kit::testing::edge::{read_until_closed, send};
    use tokio::io::AsyncWriteExt;
    let mut stream = send(
        &raw_address(app),
        b"GET /slow HTTP/1.1\r\nHost: half\r\n\r\n",
    )
    .await;
    stream.shutdown().await.unwrap();
    read_until_closed(&mut stream, std::time::Duration::from_secs(3)).await
}

#[tokio::test]
async fn a_client_that_shuts_its_sending_side_is_dropped_with_its_request() {
    let app = spawn(|settings| settings.proxy.request_timeout_ms = 5000).await;
    let received = half_closed_slow_request(&app).await;
    assert!(received.closed, "{}", received.text());
    assert!(received.bytes.is_empty(), "{}", received.text());
    assert!(received.elapsed < std::time::Duration::from_secs(1));
    normal_welcome(&app).await;
}

#[tokio::test]
async fn with_half_closed_allowed_the_request_is_still_answered() {
    let app = spawn(|settings| {
        settings.proxy.request_timeout_ms = 5000;
        settings.application.allow_half_closed = true;
    })
    .await;
    let received = half_closed_slow_request(&app).await;
    assert_eq!(received.status(), Some(200), "{}", received.text());
    assert_eq!(received.json().unwrap()["path"], "/slow");
}
