//! The client's address and scheme as upstreams see them, with and without a trusted proxy
//! in front (the test client, on 127.0.0.1, plays the proxy).

use serde_json::Value;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

async fn forwarded(app: &TestApp, headers: &[(&str, &str)]) -> Value {
    let mut request = app.client.get(app.url("/public"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let echoed: Value = response.json().await.unwrap();
    echoed["headers"].clone()
}

async fn behind_loopback_proxy() -> TestApp {
    spawn_app_with(|s| {
        s.client_address.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await
}

#[tokio::test]
async fn without_a_trusted_proxy_a_client_cannot_claim_another_address_or_scheme() {
    let app = spawn_app().await;
    let seen = forwarded(
        &app,
        &[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_nearest_untrusted_address_is_the_client() {
    let app = behind_loopback_proxy().await;
    // The leftmost entry is the client's own claim; the proxy appended the real address.
    let seen = forwarded(
        &app,
        &[
            ("x-forwarded-for", "198.51.100.1, 203.0.113.7, 127.0.0.2"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert_eq!(seen["x-forwarded-for"], "203.0.113.7", "{seen}");
    assert_eq!(seen["x-forwarded-proto"], "https");
    let direct = forwarded(&app, &[]).await;
    assert_eq!(direct["x-forwarded-for"], "127.0.0.1");
    assert_eq!(direct["x-forwarded-proto"], "http");
}
