//! RFC 7009 revocation and RFC 7662 introspection for configured clients.

use auth_service::introspection::{ClientSettings, Listener};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_with, test_settings};

const SECRET: &str = "a-client-secret-of-forty-bytes-0123456789";

crate::on_both_backends!(
    clients_introspect_and_revoke_access_and_refresh_tokens,
    only_configured_clients_with_well_formed_requests_are_answered,
);

async fn app_with(backend: &Backend, listener: Listener) -> TestApp {
    let mut settings = test_settings(backend).await;
    let file = std::env::temp_dir().join(format!("client-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    settings.introspection.listener = listener;
    settings.introspection.clients = vec![ClientSettings {
        id: "billing".into(),
        secret_file: file,
    }];
    spawn_with(settings).await
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

async fn post(
    app: &TestApp,
    base: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    request.send().await.unwrap()
}

async fn introspect(app: &TestApp, token: &str) -> Value {
    let auth = basic("billing", SECRET);
    let body = format!("token={token}&token_type_hint=access_token");
    let response = post(app, &app.admin_address, "/introspect", Some(&auth), &body).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn revoke(app: &TestApp, token: &str) {
    let auth = basic("billing", SECRET);
    let response = post(
        app,
        &app.admin_address,
        "/revoke",
        Some(&auth),
        &format!("token={token}"),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}));
}

async fn clients_introspect_and_revoke_access_and_refresh_tokens(backend: Backend) {
    let app = app_with(&backend, Listener::Admin).await;
    let tokens = app.login_ok("user1", "password123").await;
    let access = tokens["token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let claims = app.decode(access).await;

    let active = introspect(&app, access).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["token_type"], "access_token");
    assert_eq!(active["client_id"], "billing");
    assert_eq!(active["sub"], claims.sub.as_str());
    assert_eq!(active["username"], "user1");
    assert_eq!(active["sid"], claims.sid.as_deref().unwrap());
    assert_eq!(active["exp"], claims.exp);
    let active = introspect(&app, refresh).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["token_type"], "refresh_token");
    assert_eq!(active["sid"], claims.sid.as_deref().unwrap());
    for nothing in ["not-a-token", "a.b.c", &format!("{access}x")] {
        assert_eq!(
            introspect(&app, nothing).await,
            json!({"active": false}),
            "{nothing}"
        );
    }

    // Revoking the access token ends that token only.
    revoke(&app, access).await;
    assert_eq!(introspect(&app, access).await, json!({"active": false}));
    assert_eq!(introspect(&app, refresh).await["active"], true);
    // Revoking the refresh token ends the session: its refresh tokens and access tokens.
    let refreshed: Value = app.refresh(refresh).await.json().await.unwrap();
    let next_access = refreshed["token"].as_str().unwrap();
    assert_eq!(introspect(&app, next_access).await["active"], true);
    revoke(&app, refresh).await;
    assert_eq!(
        introspect(&app, next_access).await,
        json!({"active": false})
    );
    let next_refresh = refreshed["refresh_token"].as_str().unwrap();
    assert_eq!(
        introspect(&app, next_refresh).await,
        json!({"active": false})
    );
    assert_eq!(app.refresh(next_refresh).await.status().as_u16(), 401);
    // Unknown tokens get the same answer as known ones.
    revoke(&app, "not-a-token").await;

    // A user-wide revocation covers tokens issued before it, not after.
    let url = secrecy::ExposeSecret::expose_secret(&app.settings.database.url).to_owned();
    let before = app.login_ok("user1", "password123").await;
    let (ok, _, err) = crate::process::run_cli(&url, &["sessions", "revoke", "user1"], "");
    assert!(ok, "{err}");
    let after = app.login_ok("user1", "password123").await;
    assert_eq!(
        introspect(&app, before["token"].as_str().unwrap()).await["active"],
        false
    );
    assert_eq!(
        introspect(&app, after["token"].as_str().unwrap()).await["active"],
        true
    );
}

async fn only_configured_clients_with_well_formed_requests_are_answered(backend: Backend) {
    let app = app_with(&backend, Listener::Public).await;
    let right = basic("billing", SECRET);
    for path in ["/introspect", "/revoke"] {
        for auth in [
            None,
            Some(basic("billing", "wrong")),
            Some(basic("nobody", SECRET)),
        ] {
            let response = post(&app, &app.address, path, auth.as_deref(), "token=x").await;
            assert_eq!(response.status().as_u16(), 401, "{path} {auth:?}");
            assert_eq!(
                response.headers()["www-authenticate"],
                "Basic realm=\"auth-service\""
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "invalid_client");
        }
        for body in [
            "",
            "token=",
            "token_type_hint=access_token",
            "token=a&token=b",
            "token=%FF",
        ] {
            let response = post(&app, &app.address, path, Some(&right), body).await;
            assert_eq!(response.status().as_u16(), 400, "{path} {body:?}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "invalid_request");
            assert!(body["message"].as_str().unwrap().ends_with('.'));
        }
        let json = app
            .client
            .post(format!("{}{path}", app.address))
            .header("authorization", &right)
            .json(&json!({"token": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(json.status().as_u16(), 400, "form encoding only");
        // On the public listener only, as configured.
        let admin = post(&app, &app.admin_address, path, Some(&right), "token=x").await;
        assert_eq!(admin.status().as_u16(), 404);
    }
    let response = post(&app, &app.address, "/introspect", Some(&right), "token=x").await;
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"active": false})
    );

    // A client secret shorter than 32 bytes is refused at start-up.
    let mut settings = test_settings(&backend).await;
    let file = std::env::temp_dir().join(format!("client-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, "short").unwrap();
    settings.introspection.clients = vec![ClientSettings {
        id: "x".into(),
        secret_file: file,
    }];
    let error = auth_service::startup::Application::build(settings)
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("at least 32 bytes"),
        "{error:#}"
    );
}
