//! Starting the auth-service for a test and talking to it.

use std::collections::HashMap;

use auth_service::configuration::Settings;
use auth_service::startup::Application;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use service_kit::configuration::{EnvVars, Environment};
use shared::Claims;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
}

/// The local profile (with the seed's demo user), on a free port, isolated from the shell's
/// environment. Set `TEST_LOG=1` to see the service's logs.
pub async fn spawn_app() -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        service_kit::telemetry::init(Default::default());
    }
    let mut settings =
        Settings::load_with(Environment::Local, EnvVars::Given(HashMap::new())).unwrap();
    settings.application.port = 0;
    let app = Application::build(settings.clone()).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        settings,
    }
}

impl TestApp {
    pub async fn post_login_raw(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(format!("{}/login", self.address))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        let body = serde_json::json!({ "username": username, "password": password });
        self.post_login_raw(body.to_string()).await
    }

    /// Decodes a token with the service's own key and strict validation.
    pub fn decode(&self, token: &str) -> Claims {
        let secret = self.settings.jwt.secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.settings.jwt.issuer]);
        validation.set_audience(&[&self.settings.jwt.audience]);
        jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(secret).unwrap(),
            &validation,
        )
        .unwrap()
        .claims
    }
}

/// Asserts a JSON error answer: status, content type and exact message.
pub async fn assert_json_error(response: reqwest::Response, status: u16, message: &str) {
    assert_eq!(response.status().as_u16(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["message"], message, "{body}");
}
