//! `POST /login`: username and password in, signed access token out.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde_json::Value;
use shared::login::LoginResponse;

use crate::error::LoginError;
use crate::startup::AppState;

/// Largest `/login` body accepted; a username and a password fit many times over.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest username accepted, in bytes.
pub const MAX_USERNAME_BYTES: usize = 256;
/// Longest password accepted, in bytes. Bounds the hashing work one request can cause.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Registers the route with its body limit.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/login")
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .route(web::post().to(login)),
    );
}

#[tracing::instrument(name = "login", skip_all, fields(username = tracing::field::Empty))]
async fn login(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, LoginError> {
    require_json(&req)?;
    let (username, password) = parse(&body)?;
    tracing::Span::current().record("username", username.as_str());
    let user = state
        .users
        .authenticate(&username, password)
        .await?
        .ok_or(LoginError::InvalidCredentials)?;
    let issued = state.tokens.issue(&user)?;
    tracing::info!("token issued");
    Ok(HttpResponse::Ok().json(LoginResponse {
        token: issued.token,
        token_type: "Bearer".to_owned(),
        expires_in: issued.expires_in,
    }))
}

/// A body without a Content-Type is read as JSON (curl's `-d` with `-H` forgotten is common);
/// any other declared type is refused.
fn require_json(req: &HttpRequest) -> Result<(), LoginError> {
    match req.headers().get(header::CONTENT_TYPE) {
        None => Ok(()),
        Some(value) => {
            let essence = value.to_str().unwrap_or("").split(';').next().unwrap_or("");
            let essence = essence.trim().to_ascii_lowercase();
            if essence == "application/json" || essence.ends_with("+json") {
                Ok(())
            } else {
                Err(LoginError::UnsupportedMediaType)
            }
        }
    }
}

/// Reads `{"username": string, "password": string}`, naming the field that is wrong and
/// never echoing a value back.
fn parse(body: &[u8]) -> Result<(String, SecretString), LoginError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| LoginError::BadRequest("Request body is not valid JSON.".to_owned()))?;
    let Value::Object(mut fields) = value else {
        return Err(LoginError::BadRequest(
            "Request body must be a JSON object.".to_owned(),
        ));
    };
    let mut field = |name: &str, max: usize| match fields.remove(name) {
        Some(Value::String(s)) if s.len() <= max => Ok(s),
        Some(Value::String(_)) => Err(LoginError::BadRequest(format!(
            "Field \"{name}\" is too long (at most {max} bytes)."
        ))),
        Some(_) => Err(LoginError::BadRequest(format!(
            "Field \"{name}\" must be a string."
        ))),
        None => Err(LoginError::BadRequest(format!(
            "Field \"{name}\" is required."
        ))),
    };
    let username = field("username", MAX_USERNAME_BYTES)?;
    let password = field("password", MAX_PASSWORD_BYTES)?;
    Ok((username, SecretString::from(password)))
}
