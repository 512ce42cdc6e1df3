//! Starting the auth-service for a test, on SQLite or PostgreSQL, and talking to it.

use auth_service::configuration::Settings;
use auth_service::startup::Application;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use service_kit::testing::local_settings_on_free_ports;
use shared::Claims;

/// Where a test's database lives.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A fresh SQLite file in a fresh temporary folder.
    Sqlite,
    /// A fresh database on the PostgreSQL server at this URL.
    Postgres(String),
}

/// Server URL for the PostgreSQL runs, e.g. `postgres://postgres:postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_URL_VARIABLE: &str = "TEST_DATABASE_URL";

impl Backend {
    /// The PostgreSQL backend, or `None` when no server is configured. With
    /// `REQUIRE_POSTGRES=1` (CI) a missing server fails the test instead of skipping it.
    pub fn postgres() -> Option<Self> {
        match std::env::var(POSTGRES_URL_VARIABLE) {
            Ok(url) => Some(Self::Postgres(url)),
            Err(_) if std::env::var_os("REQUIRE_POSTGRES").is_some() => {
                panic!("REQUIRE_POSTGRES is set but {POSTGRES_URL_VARIABLE} is not")
            }
            Err(_) => None,
        }
    }

    /// A URL to a database nobody else uses.
    pub async fn fresh_database_url(&self) -> String {
        let name = format!("auth_test_{}", uuid::Uuid::new_v4().simple());
        match self {
            Self::Sqlite => {
                let folder = std::env::temp_dir().join(name);
                format!("sqlite://{}/auth.db?mode=rwc", folder.display())
            }
            Self::Postgres(server) => {
                use sqlx::Connection;
                sqlx::any::install_default_drivers();
                let mut admin = sqlx::AnyConnection::connect(server).await.unwrap();
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                let mut url = reqwest::Url::parse(server).unwrap();
                url.set_path(&name);
                url.to_string()
            }
        }
    }
}

/// Runs each named `async fn(Backend)` once on SQLite and once on PostgreSQL (skipped, or
/// failed under `REQUIRE_POSTGRES`, when no server is configured).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() {
                if let Some(backend) = $crate::helpers::Backend::postgres() { super::$name(backend).await }
            })*
        }
    };
}

pub struct TestApp {
    pub address: String,
    /// The admin listener (`/metrics`).
    pub admin_address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
}

/// The local profile's settings (with the seed's demo user) on a free port and a fresh
/// database, isolated from the shell's environment.
pub async fn test_settings(backend: &Backend) -> Settings {
    let mut settings =
        local_settings_on_free_ports("AUTH", &["application", "admin"], Settings::load_with);
    settings.database.url = backend.fresh_database_url().await.into();
    // Rotations made by a test show up within a second.
    settings.keys.reload_interval_seconds = 1;
    settings
}

/// Starts the service with `settings`. Set `TEST_LOG=1` to see its logs.
pub async fn spawn_with(settings: Settings) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        // Leaked on purpose: the writer must outlive every test of the process.
        std::mem::forget(service_kit::telemetry::init(Default::default()));
    }
    let app = Application::build(settings.clone()).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let admin_address = format!("http://127.0.0.1:{}", app.admin_port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        admin_address,
        client: reqwest::Client::new(),
        settings,
    }
}

/// The local profile on a fresh database of `backend`.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_with(test_settings(&backend).await).await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_login_raw(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.post_json("/login", body).await
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        let body = json!({ "username": username, "password": password });
        self.post_login_raw(body.to_string()).await
    }

    /// Logs in and returns the token response; panics unless it is 200.
    pub async fn login_ok(&self, username: &str, password: &str) -> Value {
        let response = self.login(username, password).await;
        assert_eq!(response.status().as_u16(), 200, "login of {username}");
        response.json().await.unwrap()
    }

    pub async fn register(&self, username: &str, password: &str) -> reqwest::Response {
        let body = json!({ "username": username, "password": password });
        self.post_json("/register", body.to_string()).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        let body = json!({ "refresh_token": refresh_token });
        self.post_json("/refresh", body.to_string()).await
    }

    pub async fn jwks(&self) -> JwkSet {
        let response = self
            .client
            .get(self.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.unwrap()
    }

    /// Verifies a token the way a strict gateway would: EdDSA with the published key its
    /// `kid` names (or HS256 with the secret), issuer and audience checked.
    pub async fn decode(&self, token: &str) -> Claims {
        let header = jsonwebtoken::decode_header(token).unwrap();
        let (key, algorithm) = match header.alg {
            Algorithm::HS256 => {
                let secret = self.settings.jwt.secret.expose_secret().as_bytes();
                (DecodingKey::from_secret(secret).unwrap(), Algorithm::HS256)
            }
            _ => {
                let kid = header.kid.expect("EdDSA tokens carry a kid");
                let jwks = self.jwks().await;
                let jwk = jwks.find(&kid).expect("the token's key is published");
                (DecodingKey::from_jwk(jwk).unwrap(), Algorithm::EdDSA)
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.settings.jwt.issuer]);
        validation.set_audience(&[&self.settings.jwt.audience]);
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .unwrap()
            .claims
    }
}

pub use service_kit::testing::assert_json_error;
