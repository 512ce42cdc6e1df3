//! What operators and browsers see: metrics, the verified-token cache, CORS, shutdown.

use std::time::Duration;

use crate::helpers::{spawn_app, spawn_app_with};

/// The value of the first metric line starting with `prefix`.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {prefix} in\\n{text}"))
}

#[tokio::test]
async fn metrics_count_requests_rejections_and_upstream_failures_by_kind() {
    let app = spawn_app().await;
    let token = app.sign(&app.claims("user1"));
    for _ in 0..3 {
        app.get_protected(&[("x-access-token", &token)]).await;
    }
    app.get_protected(&[("x-access-token", "garbage")]).await;
    let expired = {
        let mut claims = app.claims("user1");
        claims["exp"] = serde_json::json!(1);
        app.sign(&claims)
    };
    app.get_protected(&[("x-access-token", &expired)]).await;
    app.get_protected(&[]).await;
    let admin = app
        .client
        .get(app.url("/admin"))
        .header("x-access-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status().as_u16(), 403);
    app.client.get(app.url("/down")).send().await.unwrap();

    let text = app.metrics().await;
    assert_eq!(
        metric(
            &text,
            r#"gateway_requests_total{route="/protected",status="200"}"#
        ),
        3.0
    );
    assert_eq!(
        metric(
            &text,
            r#"gateway_requests_total{route="/protected",status="403"}"#
        ),
        // Garbage, expired, and no token at all.
        3.0
    );
    assert_eq!(
        metric(
            &text,
            r#"gateway_token_rejections_total{reason="malformed"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(&text, r#"gateway_token_rejections_total{reason="expired"}"#),
        1.0
    );
    for (reason, count) in [
        ("missing_token", 1.0),
        ("invalid_token", 2.0),
        ("role_denied", 1.0),
    ] {
        let name = format!("gateway_refusals_total{{reason=\"{reason}\"}}");
        assert_eq!(metric(&text, &name), count, "{reason}");
    }
    assert_eq!(
        metric(
            &text,
            r#"gateway_upstream_errors_total{upstream="dead",kind="unavailable"}"#
        ),
        1.0
    );
    // The first request verified the token; the next two and the one to /admin found it
    // in the cache.
    assert_eq!(
        metric(&text, r#"gateway_token_cache_total{result="hit"}"#),
        3.0
    );
    assert!(
        text.contains("gateway_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(!text.contains(&token), "metrics never carry a token");
}

#[tokio::test]
async fn the_cache_never_serves_a_token_past_its_expiry() {
    let app = spawn_app_with(|s| {
        s.jwt.mode = gateway::configuration::VerificationMode::Hs256;
        s.jwt.leeway_seconds = 0;
    })
    .await;
    let mut claims = app.claims("user1");
    claims["exp"] = serde_json::json!(crate::helpers::now() + 2);
    let token = app.sign(&claims);
    assert_eq!(
        app.get_protected(&[("x-access-token", &token)])
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        app.get_protected(&[("x-access-token", &token)])
            .await
            .status()
            .as_u16(),
        200
    );
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        app.get_protected(&[("x-access-token", &token)])
            .await
            .status()
            .as_u16(),
        403
    );
}

#[tokio::test]
async fn cors_preflight_and_responses_follow_the_settings() {
    let app = spawn_app().await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/protected"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "x-access-token")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert_eq!(preflight.headers()["access-control-max-age"], "3600");
    assert!(
        preflight
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );

    let simple = app
        .client
        .get(app.url("/"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(simple.headers()["access-control-allow-origin"], "*");
    let exposed = simple.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    for header in ["x-request-id", "retry-after", "ratelimit-remaining"] {
        assert!(exposed.contains(header), "{exposed}");
    }
}

#[tokio::test]
async fn an_origin_outside_the_list_gets_no_cors_headers_and_a_json_preflight_refusal() {
    let app = spawn_app_with(|s| {
        s.jwt.mode = gateway::configuration::VerificationMode::Hs256;
        s.cors.allowed_origins = vec!["https://app.example".into()];
        s.cors.allow_credentials = true;
    })
    .await;
    let allowed = app
        .client
        .get(app.url("/"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );

    // A simple request is answered without CORS headers: the browser keeps the answer
    // from the page. A preflight is refused outright, as JSON.
    let simple = app
        .client
        .get(app.url("/"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        simple
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/protected"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 400);
    let body: serde_json::Value = preflight.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("origin"),
        "{body}"
    );
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish_and_refuses_new_ones() {
    let app = spawn_app_with(|s| {
        s.jwt.mode = gateway::configuration::VerificationMode::Hs256;
        s.proxy.request_timeout_ms = 5_000;
    })
    .await;
    let in_flight = {
        let (client, url) = (app.client.clone(), app.url("/slow"));
        tokio::spawn(async move { client.get(url).send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = tokio::spawn(app.handle.stop(true));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let fresh = reqwest::Client::new().get(app.url("/")).send().await;
    assert!(
        fresh.is_err(),
        "a new connection was accepted during shutdown"
    );
    let finished = in_flight.await.unwrap().unwrap();
    assert_eq!(
        finished.status().as_u16(),
        200,
        "the request in flight was cut off"
    );
    stopping.await.unwrap();
}
