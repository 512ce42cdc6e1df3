//! Per-route rate limits: per client address (the test client plays a trusted proxy to
//! speak for several addresses) and per verified subject.

use crate::helpers::{TestApp, assert_json_error, spawn_app_with};

/// `/public` limited to 2 at once per address (refilling 1 a minute), `/protected` to 2
/// per subject; the test client (127.0.0.1) is a trusted proxy.
async fn limited_app() -> TestApp {
    spawn_app_with(|s| {
        s.client_address.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        for route in &mut s.routes {
            match route.path.as_str() {
                "/public" => route.rate_limit.per_address = "1/m burst 2".into(),
                "/protected" => route.rate_limit.per_subject = "1/m burst 2".into(),
                _ => {}
            }
        }
    })
    .await
}

async fn from(app: &TestApp, client: &str) -> reqwest::Response {
    app.client
        .get(app.url("/public"))
        .header("x-forwarded-for", client)
        .send()
        .await
        .unwrap()
}

fn header<'r>(response: &'r reqwest::Response, name: &str) -> &'r str {
    response.headers()[name].to_str().unwrap()
}

#[tokio::test]
async fn an_address_over_its_limit_gets_429_with_the_limit_headers_and_others_do_not() {
    let app = limited_app().await;
    for remaining in ["1", "0"] {
        let ok = from(&app, "203.0.113.7").await;
        assert_eq!(ok.status().as_u16(), 200);
        assert_eq!(header(&ok, "ratelimit-limit"), "2");
        assert_eq!(header(&ok, "ratelimit-remaining"), remaining);
        assert!(header(&ok, "ratelimit-reset").parse::<u64>().unwrap() > 0);
    }
    let refused = from(&app, "203.0.113.7").await;
    let retry_after: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(header(&refused, "ratelimit-limit"), "2");
    assert_eq!(header(&refused, "ratelimit-remaining"), "0");
    assert_eq!(header(&refused, "ratelimit-reset"), retry_after.to_string());
    assert_json_error(refused, 429, "Too many requests.").await;

    let other = from(&app, "198.51.100.1").await;
    assert_eq!(
        other.status().as_u16(),
        200,
        "another client has its own bucket"
    );
    assert_eq!(header(&other, "ratelimit-remaining"), "1");
    let unlimited = app.client.get(app.url("/status/200")).send().await.unwrap();
    assert!(unlimited.headers().get("ratelimit-limit").is_none());
}

#[tokio::test]
async fn a_subject_over_its_limit_is_refused_from_any_address() {
    let app = limited_app().await;
    let alice = app.sign(&app.claims("alice"));
    let bob = app.sign(&app.claims("bob"));
    for client in ["203.0.113.1", "203.0.113.2"] {
        let ok = app
            .get_protected(&[("x-access-token", &alice), ("x-forwarded-for", client)])
            .await;
        assert_eq!(ok.status().as_u16(), 200);
    }
    let refused = app
        .get_protected(&[
            ("x-access-token", &alice),
            ("x-forwarded-for", "203.0.113.3"),
        ])
        .await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(header(&refused, "ratelimit-remaining"), "0");
    assert_json_error(refused, 429, "Too many requests.").await;

    let other = app.get_protected(&[("x-access-token", &bob)]).await;
    assert_eq!(other.status().as_u16(), 200);
    assert_eq!(header(&other, "ratelimit-remaining"), "1");
}
