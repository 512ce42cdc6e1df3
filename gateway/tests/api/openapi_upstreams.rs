//! Stand-in upstreams serving small OpenAPI documents, and the gateway in front of them,
//! for `openapi.rs` and `openapi_merge.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{App, HttpResponse, HttpServer, web};
use gateway::configuration::{Access, RouteSettings, UpstreamSettings};
use serde_json::{Value, json};

use crate::helpers::{TestApp, closed_port_address, spawn_app_with};

/// An upstream serving `document` at `/openapi.json`, counting the fetches.
fn document_upstream(document: Value) -> (String, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&fetches);
    let server = HttpServer::new(move || {
        let document = document.clone();
        let counter = Arc::clone(&counter);
        App::new().route(
            "/openapi.json",
            web::get().to(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let document = document.clone();
                async move { HttpResponse::Ok().json(document) }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    tokio::spawn(server.run());
    (url, fetches)
}

fn operation(id: &str, statuses: &[&str]) -> Value {
    let responses: serde_json::Map<String, Value> = statuses
        .iter()
        .map(|s| {
            (
                s.to_string(),
                json!({"description": format!("upstream {s}")}),
            )
        })
        .collect();
    json!({"operationId": id, "responses": responses})
}

/// The auth stand-in: `/login` (routed to it), `/internal` (no route) and `/health/live`
/// (routed to it, but the gateway's own path); an `ErrorBody` of the gateway's shape and a `HealthStatus`
/// that is not.
fn auth_document() -> Value {
    let mut login = operation("login", &["200", "401"]);
    login["requestBody"] = json!({"content": {"application/json": {"schema": {"type": "object"}}}});
    login["responses"]["200"]["content"] =
        json!({"application/json": {"schema": {"$ref": "#/components/schemas/HealthStatus"}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "auth", "version": "1"},
        "servers": [{"url": "http://10.0.0.9:8081"}],
        "paths": {
            "/login": {"post": login},
            "/internal": {"get": operation("internal", &["200"])},
            "/health/live": {"get": operation("upstream_live", &["200"])},
        },
        "components": {"schemas": {
            "ErrorBody": {"type": "object", "description": "theirs", "required": ["message"],
                          "properties": {"message": {"type": "string", "description": "why"}}},
            "HealthStatus": {"type": "object", "properties": {"token": {"type": "string"}}},
        }},
    })
}

/// The resource stand-in: `/protected` and `/admin/users` (routed to it), `/login` and
/// `/login/extra` (routed to auth).
fn resource_document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "resource", "version": "1"},
        "paths": {
            "/protected": {"get": operation("protected", &["200", "403"])},
            "/admin/users": {"get": operation("users", &["200"])},
            "/login": {"get": operation("not_ours", &["200"])},
            "/login/extra": {"get": operation("not_ours_either", &["200"])},
        },
    })
}

fn route(path: &str, upstream: &str, access: Access) -> RouteSettings {
    RouteSettings {
        path: path.into(),
        upstream: upstream.into(),
        access,
        roles: vec![],
        rate_limit: Default::default(),
    }
}

/// The gateway in front of both stand-ins, with `/login` rate-limited, `/admin` needing a
/// role, 401 as the refusal status, and, when `with_dead` is set, a route to an upstream
/// nothing listens on.
pub async fn app(with_dead: bool) -> (TestApp, Arc<AtomicUsize>) {
    let (auth, fetches) = document_upstream(auth_document());
    let (resource, _) = document_upstream(resource_document());
    let app = spawn_app_with(move |s| {
        s.jwt.refusal_status = 401;
        s.upstreams = [("auth", auth), ("resource", resource)]
            .into_iter()
            .map(|(name, url)| (name.to_owned(), UpstreamSettings { url }))
            .collect();
        let mut login = route("/login", "auth", Access::Public);
        login.rate_limit.per_address = "10/s".into();
        let mut admin = route("/admin", "resource", Access::Protected);
        admin.roles = vec!["admin".into()];
        // `/health` reaches the auth stand-in, but `/health/live` is the gateway's own.
        let health = route("/health", "auth", Access::Public);
        s.routes = vec![
            login,
            route("/protected", "resource", Access::Protected),
            admin,
            health,
        ];
        if with_dead {
            let url = closed_port_address();
            s.upstreams.insert("dead".into(), UpstreamSettings { url });
            s.routes.push(route("/down", "dead", Access::Public));
        }
    })
    .await;
    (app, fetches)
}

pub async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

pub fn statuses(operation: &Value) -> Vec<&str> {
    let mut statuses: Vec<&str> = operation["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    statuses.sort();
    statuses
}
