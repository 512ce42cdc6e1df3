//! End-to-end test support: starts the three real services in-process on free ports,
//! wired together as in a deployment, so tests in `tests/` talk to the gateway port only.

// Test support: a failure to start is the test's failure.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use service_kit::testing::local_settings_on_free_ports;

/// The running stack, seen from a client.
#[derive(Debug)]
pub struct Stack {
    /// The gateway's base URL.
    pub gateway: String,
    /// The gateway's admin listener (`/metrics`).
    pub gateway_admin: String,
    /// A client for it.
    pub client: reqwest::Client,
    /// The auth-service's settings (its database, for admin commands), when it runs.
    pub auth: Option<auth_service::configuration::Settings>,
}

/// Starts the three services with their local profiles, on free ports, wired together.
/// `with_auth` false leaves the auth-service out, as if it were down.
pub async fn spawn_stack(with_auth: bool) -> Stack {
    let mut auth = local_settings_on_free_ports(
        "AUTH",
        &["application", "admin"],
        auth_service::configuration::Settings::load_with,
    );
    // A database of this stack's own, so tests neither see nor leave each other's users.
    let data = std::env::temp_dir().join(format!("e2e-{}", uuid::Uuid::new_v4().simple()));
    auth.database.url = format!("sqlite://{}/auth.db?mode=rwc", data.display()).into();
    let (auth_url, revocations_url, auth) = if with_auth {
        let app = auth_service::startup::Application::build(auth.clone())
            .await
            .unwrap();
        let url = format!("http://127.0.0.1:{}", app.port());
        let stream = format!("http://127.0.0.1:{}/revocations", app.admin_port());
        tokio::spawn(app.run_until_stopped());
        (url, stream, Some(auth))
    } else {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        (url.clone(), format!("{url}/revocations"), None)
    };

    let resource = local_settings_on_free_ports(
        "RESOURCE",
        &["application"],
        resource_service::configuration::Settings::load_with,
    );
    let app = resource_service::startup::Application::build(resource).unwrap();
    let resource_url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    let mut gateway = local_settings_on_free_ports(
        "GATEWAY",
        &["application", "admin"],
        gateway::configuration::Settings::load_with,
    );
    gateway.jwt.jwks_url = format!("{auth_url}/.well-known/jwks.json");
    gateway.revocations.url = revocations_url;
    gateway.upstreams.get_mut("auth").unwrap().url = auth_url;
    gateway.upstreams.get_mut("resource").unwrap().url = resource_url;
    let app = gateway::startup::Application::build(gateway).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let admin = format!("http://127.0.0.1:{}", app.admin_port());
    tokio::spawn(app.run_until_stopped());

    Stack {
        gateway: address,
        gateway_admin: admin,
        client: reqwest::Client::new(),
        auth,
    }
}

impl Stack {
    /// The gateway URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    /// `POST /login` with a raw body.
    pub async fn login(&self, body: &str) -> reqwest::Response {
        self.client
            .post(self.url("/login"))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// Logs the demo user in; returns the access token.
    pub async fn token(&self) -> String {
        let response = self
            .login(r#"{"username":"user1","password":"password123"}"#)
            .await;
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// `GET /protected` with `headers`; the status and JSON body.
    pub async fn protected(&self, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.client.get(self.url("/protected"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        (status, response.json().await.unwrap())
    }
}
