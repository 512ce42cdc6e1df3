//! Several instances per upstream: turns, passive health, safe retries, 503 when none is
//! healthy; and bodies too large to keep, streamed through within the limit.

use std::collections::HashMap;

use serde_json::Value;

use crate::helpers::{
    TestApp, assert_json_error, closed_port_address, route_to_upstream, spawn_app_with,
    spawn_echo_upstream, spawn_echo_upstream_at,
};

/// A gateway whose `/pool` route goes to an upstream made of `urls`.
async fn gateway_over(urls: Vec<String>, max_body_bytes: usize) -> TestApp {
    spawn_app_with(move |settings| {
        settings.proxy.max_body_bytes = max_body_bytes;
        settings.proxy.eject_seconds = 1;
        route_to_upstream(settings, "pool", urls.join(","));
    })
    .await
}

async fn instance_of(response: reqwest::Response) -> u64 {
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    body["instance"].as_u64().unwrap()
}

#[tokio::test]
async fn requests_take_turns_over_the_instances() {
    let app = gateway_over(vec![spawn_echo_upstream(), spawn_echo_upstream()], 1 << 20).await;
    let mut served: HashMap<u64, usize> = HashMap::new();
    for _ in 0..10 {
        let response = app.client.get(app.url("/pool")).send().await.unwrap();
        *served.entry(instance_of(response).await).or_default() += 1;
    }
    assert_eq!(served.len(), 2, "{served:?}");
    assert!(served.values().all(|n| *n == 5), "{served:?}");
}

#[tokio::test]
async fn a_dead_instance_costs_no_failed_request_and_is_skipped() {
    let app = gateway_over(vec![closed_port_address(), spawn_echo_upstream()], 1 << 20).await;
    for i in 0..6 {
        // POST too: a refused connection sent nothing, so any method may be retried.
        let response = if i % 2 == 0 {
            app.client.get(app.url("/pool")).send().await.unwrap()
        } else {
            app.client
                .post(app.url("/pool"))
                .body("payload")
                .send()
                .await
                .unwrap()
        };
        assert_eq!(response.status().as_u16(), 200, "request {i}");
    }
}

/// An address that takes no connection and refuses none: a listener with a backlog of
/// none whose one queue slot is taken, so the kernel drops further handshakes unanswered,
/// as a host that vanished from the network does. Keep the returned sockets alive.
async fn unanswering_address() -> (String, tokio::net::TcpListener, tokio::net::TcpStream) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let address = listener.local_addr().unwrap();
    let filler = tokio::net::TcpStream::connect(address).await.unwrap();
    let blocked = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        tokio::net::TcpStream::connect(address),
    )
    .await;
    assert!(blocked.is_err(), "the listener still answers handshakes");
    (format!("http://{address}"), listener, filler)
}

#[tokio::test]
async fn an_instance_that_never_answers_the_handshake_is_retried_past_any_method() {
    let (silent, _listener, _filler) = unanswering_address().await;
    let app = spawn_app_with(move |settings| {
        settings.proxy.connect_timeout_ms = 100;
        settings.proxy.eject_seconds = 60;
        route_to_upstream(
            settings,
            "pool",
            format!("{silent},{}", spawn_echo_upstream()),
        );
    })
    .await;
    // Turns alternate, so one of the first two requests meets the silent instance first: it
    // waits out the connect timeout, then goes to the other instance, though it is a POST.
    let mut slowest = std::time::Duration::ZERO;
    for i in 0..4 {
        let started = std::time::Instant::now();
        let response = app
            .client
            .post(app.url("/pool"))
            .body("payload")
            .send()
            .await
            .unwrap();
        slowest = slowest.max(started.elapsed());
        assert_eq!(response.status().as_u16(), 200, "request {i}");
        let echoed: Value = response.json().await.unwrap();
        assert_eq!(echoed["body"], "payload");
    }
    assert!(
        slowest >= std::time::Duration::from_millis(100),
        "no request waited for the connect timeout: {slowest:?}"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"gateway_upstream_errors_total{upstream="pool",kind="retry"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn with_every_instance_down_the_first_request_gets_502_then_503() {
    let app = gateway_over(vec![closed_port_address(), closed_port_address()], 1 << 20).await;
    let first = app.client.get(app.url("/pool")).send().await.unwrap();
    assert_json_error(first, 502, "Upstream service is unavailable.").await;
    let next = app.client.get(app.url("/pool")).send().await.unwrap();
    assert_json_error(next, 503, "No healthy upstream instance.").await;
}

#[tokio::test]
async fn large_bodies_stream_through_whole_and_over_the_limit_get_413() {
    const LIMIT: usize = 512 * 1024;
    let app = gateway_over(vec![spawn_echo_upstream()], LIMIT).await;
    let chunks = |count: usize| {
        let parts: Vec<Result<Vec<u8>, std::io::Error>> =
            (0..count).map(|_| Ok(vec![b'q'; 64 * 1024])).collect();
        reqwest::Body::wrap_stream(futures_util::stream::iter(parts))
    };
    let whole = app
        .client
        .post(app.url("/pool"))
        .body(chunks(5))
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status().as_u16(), 200);
    let echoed: Value = whole.json().await.unwrap();
    assert_eq!(echoed["body"].as_str().unwrap().len(), 5 * 64 * 1024);

    let declared = app
        .client
        .post(app.url("/pool"))
        .body(vec![b'q'; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(
        declared.status().as_u16(),
        200,
        "a large body with Content-Length streams too"
    );

    let over = app
        .client
        .post(app.url("/pool"))
        .body(chunks(9))
        .send()
        .await
        .unwrap();
    assert_json_error(
        over,
        413,
        &format!("Request body is too large (limit {LIMIT} bytes)."),
    )
    .await;
}

#[tokio::test]
async fn a_flapping_instance_is_skipped_while_down_and_serves_again_once_back() {
    let (flapping, handle) = spawn_echo_upstream_at("127.0.0.1:0");
    let steady = spawn_echo_upstream();
    let port: u64 = flapping.rsplit(':').next().unwrap().parse().unwrap();
    let app = gateway_over(vec![flapping.clone(), steady], 1 << 20).await;

    handle.stop(false).await;
    for _ in 0..6 {
        let response = app.client.get(app.url("/pool")).send().await.unwrap();
        assert_ne!(
            instance_of(response).await,
            port,
            "served by a stopped instance"
        );
    }

    let (_, _back) = spawn_echo_upstream_at(flapping.trim_start_matches("http://"));
    // Past the ejection (1 s here), the instance takes its turns again.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let mut served_by_it = 0;
    for _ in 0..6 {
        let response = app.client.get(app.url("/pool")).send().await.unwrap();
        if instance_of(response).await == port {
            served_by_it += 1;
        }
    }
    assert_eq!(
        served_by_it, 3,
        "the recovered instance should serve every other request"
    );
}
