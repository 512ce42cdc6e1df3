//! The identity assertion as an upstream checks it: signed over the path that upstream
//! receives, behind whatever prefix its URL has, for every instance and every attempt.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use gateway::configuration::{Access, RouteSettings, Settings, UpstreamSettings};
use serde_json::{Value, json};
use service_kit::assertion::IdentitySigner;
use shared::Identity;

use crate::helpers::{closed_port_address, now, spawn_app_with};

/// Answers 200 with the path it saw and the verified user when the request's assertion
/// verifies, exactly as the resource-service checks it (method, `req.path()`, identity
/// headers, time); 403 otherwise.
async fn checked(req: HttpRequest, signer: web::Data<IdentitySigner>) -> HttpResponse {
    let headers = req.headers();
    let get = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let verified = signer
        .verify(now(), req.method().as_str(), req.path(), get)
        .map_err(|e| e.to_string())
        .and_then(|()| Identity::from_headers(get).map_err(|e| e.to_string()));
    match verified {
        Ok(identity) => HttpResponse::Ok().json(json!({
            "path": req.path(),
            "user": identity.user,
            "instance": req.app_config().local_addr().port(),
        })),
        Err(reason) => HttpResponse::Forbidden().json(json!({ "message": reason })),
    }
}

/// A stand-in upstream that checks assertions with the gateway's identity secret; returns
/// its base URL (no prefix).
fn spawn_checking_upstream(settings: &Settings) -> String {
    let signer = web::Data::new(IdentitySigner::new(&settings.identity.secret).unwrap());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(signer.clone())
            .default_service(web::to(checked))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    tokio::spawn(server.run());
    url
}

/// Adds upstream `checked` made of `urls` and a protected route `/items` to it.
fn protected_route_to(settings: &mut Settings, urls: impl FnOnce(&str) -> String) {
    let base = spawn_checking_upstream(settings);
    settings
        .upstreams
        .insert("checked".into(), UpstreamSettings { url: urls(&base) });
    settings.routes.push(RouteSettings {
        path: "/items".into(),
        upstream: "checked".into(),
        access: Access::Protected,
        roles: vec![],
        rate_limit: Default::default(),
    });
}

#[tokio::test]
async fn a_protected_route_to_an_upstream_with_a_path_prefix_verifies_upstream() {
    let app = spawn_app_with(|settings| {
        protected_route_to(settings, |base| format!("{base}/v1"));
    })
    .await;
    let token = app.sign(&app.claims("user1"));
    let response = app
        .client
        .get(app.url("/items/42?color=red"))
        .header("x-access-token", token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "/v1/items/42");
    assert_eq!(body["user"], "user1");
}

#[tokio::test]
async fn instances_with_different_prefixes_each_verify_their_own_path() {
    let app = spawn_app_with(|settings| {
        protected_route_to(settings, |base| format!("{base}/v1,{base}/v2"));
    })
    .await;
    let token = app.sign(&app.claims("user1"));
    let mut paths = Vec::new();
    for _ in 0..4 {
        let response = app
            .client
            .get(app.url("/items/7"))
            .header("x-access-token", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        paths.push(body["path"].as_str().unwrap().to_owned());
    }
    paths.sort();
    paths.dedup();
    assert_eq!(paths, ["/v1/items/7", "/v2/items/7"]);
}

#[tokio::test]
async fn a_retry_on_an_instance_with_another_prefix_is_signed_for_that_instance() {
    let app = spawn_app_with(|settings| {
        protected_route_to(settings, |base| {
            format!("{}/dead,{base}/live", closed_port_address())
        });
    })
    .await;
    let token = app.sign(&app.claims("user1"));
    // Round-robin starts at either instance: two requests meet the dead one first once.
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url("/items"))
            .header("x-access-token", &token)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["path"], "/live/items");
    }
}
