//! The verification endpoint for proxies in front (nginx `auth_request`, Traefik
//! `forwardAuth`): the route found from the original URI, the token from the request's own
//! headers, the identity signed for the original method and path.

use serde_json::{Value, json};
use service_kit::assertion::IdentitySigner;

use crate::helpers::{TestApp, assert_json_error, now, spawn_app_with};

const VERIFY: &str = "/auth/verify";

async fn app() -> TestApp {
    spawn_app_with(|settings| settings.forward_auth.path = VERIFY.into()).await
}

async fn verify(app: &TestApp, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.client.get(app.url(VERIFY));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_valid_token_for_a_protected_route_gets_its_identity_signed_for_that_request() {
    let app = app().await;
    let token = app.sign(&app.claims("user1"));
    for (uri_header, method_header, uri, method) in [
        (
            "x-original-uri",
            "x-original-method",
            "/protected/item?id=7",
            "DELETE",
        ),
        ("x-forwarded-uri", "x-forwarded-method", "/protected", "GET"),
    ] {
        let res = verify(
            &app,
            &[
                (uri_header, uri),
                (method_header, method),
                ("authorization", &format!("Bearer {token}")),
            ],
        )
        .await;
        assert_eq!(res.status().as_u16(), 200, "{uri}");
        let headers = res.headers().clone();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(header("x-auth-user"), Some("user1"));
        assert_eq!(header("x-auth-roles"), Some("reader"));
        let path = uri.split('?').next().unwrap();
        let signer = IdentitySigner::new(&app.settings.identity.secret).unwrap();
        signer
            .verify(now(), method, path, header)
            .expect("the identity is signed for the original method and path");
        assert!(
            signer.verify(now(), method, "/elsewhere", header).is_err(),
            "the signature covers the path"
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body,
            json!({"access": "protected", "user": "user1", "roles": ["reader"]})
        );
    }
}

#[tokio::test]
async fn refusals_are_the_gateways_own() {
    let app = app().await;
    let reader = app.sign(&app.claims("user1"));
    let missing = verify(&app, &[("x-original-uri", "/protected")]).await;
    assert!(missing.headers().contains_key("www-authenticate"));
    assert_json_error(missing, 403, "Token is missing!").await;
    let invalid = verify(
        &app,
        &[
            ("x-original-uri", "/protected"),
            ("x-access-token", "a.b.c"),
        ],
    )
    .await;
    assert_json_error(invalid, 403, "Token is invalid!").await;
    // `/admin` needs role admin or ops; the reader has neither.
    let role = verify(
        &app,
        &[
            ("x-original-uri", "/admin/users"),
            ("x-access-token", &reader),
        ],
    )
    .await;
    let challenge = role.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert_eq!(role.status().as_u16(), 403);
    let nowhere = verify(&app, &[("x-original-uri", "/nowhere")]).await;
    assert_json_error(nowhere, 404, "Not found.").await;
    let unsafe_path = verify(&app, &[("x-original-uri", "/protected/../admin")]).await;
    assert_eq!(unsafe_path.status().as_u16(), 400);
}

#[tokio::test]
async fn a_public_route_passes_without_identity_and_a_bad_question_is_400() {
    let app = app().await;
    let res = verify(&app, &[("x-original-uri", "/public/page")]).await;
    assert_eq!(res.status().as_u16(), 200);
    assert!(!res.headers().contains_key("x-auth-user"));
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"access": "public"})
    );
    let res = verify(&app, &[]).await;
    assert_json_error(res, 400, "X-Original-URI or X-Forwarded-Uri is required.").await;
}

#[tokio::test]
async fn the_endpoint_is_off_unless_a_path_is_set() {
    let app = spawn_app_with(|_| {}).await;
    let res = verify(&app, &[("x-original-uri", "/protected")]).await;
    // No route matches the path: the proxy's own 404, not a verification.
    assert_json_error(res, 404, "Not found.").await;
}
