//! What the tests of every crate do alike (feature `test-support`, for dev-dependencies
//! only): settings on free ports, the JSON error check, HS256 tokens.

// A failed assertion is how a test reports.
#![allow(clippy::unwrap_used)]

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::configuration::{EnvVars, Environment};

pub mod attacks;
pub mod edge;

/// The local profile's settings as `load` (a service's `Settings::load_with`) reads them,
/// with nothing from the shell's environment but port 0 for each of `listeners` (sections
/// such as `application`), so that the system picks free ports.
pub fn local_settings_on_free_ports<S>(
    prefix: &str,
    listeners: &[&str],
    load: impl FnOnce(Environment, EnvVars) -> anyhow::Result<S>,
) -> S {
    let vars = listeners
        .iter()
        .map(|listener| {
            let name = format!("{prefix}__{}__PORT", listener.to_ascii_uppercase());
            (name, "0".to_owned())
        })
        .collect();
    load(Environment::Local, EnvVars::Given(vars)).unwrap()
}

/// Asserts an error answer as every service gives it: `status`, a JSON content type and
/// exactly `{"message": message}`.
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
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "message": message }));
}

/// `claims` signed with HS256 and `secret`.
pub fn hs256_token(claims: &Value, secret: &[u8]) -> String {
    token_with(Header::new(Algorithm::HS256), claims, secret)
}

/// `claims` signed as `header` says, with the HMAC `secret`.
pub fn token_with(header: Header, claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}
