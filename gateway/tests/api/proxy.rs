use std::time::{Duration, Instant};

use serde_json::Value;

use gateway::configuration::VerificationMode;

use crate::helpers::{
    MAX_BODY_BYTES, REQUEST_TIMEOUT_MS, STREAM_CHUNK_BYTES, assert_json_error, spawn_app,
    spawn_app_with,
};

#[tokio::test]
async fn public_routes_forward_method_path_query_body_and_status() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/login?next=%2Fhome"))
        .header("content-type", "application/json")
        .body(r#"{"username":"user1","password":"password123"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["path"], "/login");
    assert_eq!(echoed["query"], "next=%2Fhome");
    assert_eq!(
        echoed["body"],
        r#"{"username":"user1","password":"password123"}"#
    );
    assert_eq!(echoed["headers"]["content-type"], "application/json");

    let status = app.client.get(app.url("/status/418")).send().await.unwrap();
    assert_eq!(
        status.status().as_u16(),
        418,
        "upstream statuses pass through"
    );
}

#[tokio::test]
async fn identity_and_forwarding_headers_from_clients_never_pass() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/public"))
        .header("x-auth-user", "admin")
        .header("x-forwarded-for", "10.9.9.9")
        .header("forwarded", "for=10.9.9.9")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("x-custom", "kept")
        .send()
        .await
        .unwrap();
    let echoed: Value = response.json().await.unwrap();
    let seen = &echoed["headers"];
    assert!(seen.get("x-auth-user").is_none(), "{seen}");
    assert!(seen.get("forwarded").is_none(), "{seen}");
    assert!(seen.get("proxy-authorization").is_none(), "{seen}");
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["x-custom"], "kept");
}

#[tokio::test]
async fn the_request_id_is_forwarded_and_echoed() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/public"))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-42");
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["headers"]["x-request-id"], "trace-42");

    let fresh = app.client.get(app.url("/public")).send().await.unwrap();
    let id = fresh.headers()["x-request-id"].to_str().unwrap().to_owned();
    let echoed: Value = fresh.json().await.unwrap();
    assert_eq!(echoed["headers"]["x-request-id"], id.as_str());
}

#[tokio::test]
async fn an_upstream_that_is_down_gets_502_json() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/down")).send().await.unwrap();
    assert_json_error(response, 502, "Upstream service is unavailable.").await;
}

#[tokio::test]
async fn a_slow_upstream_gets_504_json_after_the_timeout() {
    let app = spawn_app().await;
    let started = Instant::now();
    let response = app.client.get(app.url("/slow")).send().await.unwrap();
    let elapsed = started.elapsed();
    assert_json_error(response, 504, "Upstream service timed out.").await;
    assert!(
        elapsed >= Duration::from_millis(REQUEST_TIMEOUT_MS),
        "{elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(1900),
        "answered before the upstream: {elapsed:?}"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_json_declared_or_streamed() {
    let app = spawn_app().await;
    let message = format!("Request body is too large (limit {MAX_BODY_BYTES} bytes).");
    let declared = app
        .client
        .post(app.url("/login"))
        .body(vec![b'x'; MAX_BODY_BYTES + 1])
        .send()
        .await
        .unwrap();
    assert_json_error(declared, 413, &message).await;

    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..4).map(|_| Ok(vec![b'y'; MAX_BODY_BYTES / 2])).collect();
    let streamed = app
        .client
        .post(app.url("/login"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_json_error(streamed, 413, &message).await;
}

#[tokio::test]
async fn a_body_at_the_limit_is_forwarded_whole() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/public"))
        .body(vec![b'z'; MAX_BODY_BYTES])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["body"].as_str().unwrap().len(), MAX_BODY_BYTES);
}

#[tokio::test]
async fn answers_without_a_length_stream_through_whole() {
    let app = spawn_app().await;
    // 40 chunks of 16 KiB: far past what the gateway reads whole before answering.
    let response = app.client.get(app.url("/stream/40")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().get("content-length").is_none());
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), 40 * STREAM_CHUNK_BYTES);
    assert!(body.iter().all(|&b| b == b'x'));
}

#[tokio::test]
async fn an_answer_that_stalls_is_cut_off_at_the_deadline() {
    let app = spawn_app().await;
    let started = Instant::now();
    let response = app.client.get(app.url("/stall")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "the head came in time");
    let body = response.bytes().await;
    assert!(
        body.is_err(),
        "the client sees a broken answer, not a complete one: {body:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(REQUEST_TIMEOUT_MS) && took < Duration::from_millis(1900),
        "cut off at the request deadline, not when the upstream finished: {took:?}"
    );
}

#[tokio::test]
async fn head_requests_get_the_upstream_headers_and_no_body() {
    let app = spawn_app().await;
    let response = app.client.head(app.url("/public")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["x-upstream"], "echo");
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_path_too_long_to_forward_gets_414_json() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The upstream's path prefix takes a path the gateway accepted (just under the 64 KiB
    // a URI may hold) over that limit. HTTP clients refuse such lengths: a plain socket.
    let app = spawn_app_with(|settings| {
        settings.jwt.mode = VerificationMode::Hs256;
        let auth = settings.upstreams.get_mut("auth").unwrap();
        auth.url = format!("{}/{}", auth.url, "p".repeat(40));
    })
    .await;
    let path = format!("/public/{}", "a".repeat(65_530 - "/public/".len()));
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 414"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    assert!(
        answer.contains(r#"{"message":"Request path is too long."}"#),
        "{answer}"
    );
}
