//! `POST /register`: self-service sign-up, when the configuration allows it.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Serialize;

use super::body::{MAX_BODY_BYTES, json_object};
use super::login::{MAX_PASSWORD_BYTES, MAX_USERNAME_BYTES};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::users::CreateUserError;

/// Registers the route with its body limit.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/register")
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .route(web::post().to(register)),
    );
}

/// The new user, without anything secret.
#[derive(Debug, Serialize)]
struct Registered {
    id: String,
    username: String,
    roles: Vec<String>,
}

#[tracing::instrument(name = "register", skip_all)]
async fn register(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !state.registration_enabled {
        return Err(ApiError::RegistrationClosed);
    }
    let mut fields = json_object(&req, &body)?;
    let username = fields.string("username", MAX_USERNAME_BYTES)?;
    let password = SecretString::from(fields.string("password", MAX_PASSWORD_BYTES)?);
    let user = state
        .users
        .create(&username, password, &[])
        .await
        .map_err(|e| match e {
            CreateUserError::Taken => ApiError::UsernameTaken,
            CreateUserError::Invalid(reason) => ApiError::BadRequest(reason),
            CreateUserError::Unexpected(e) => ApiError::from(e),
        })?;
    tracing::info!(user_id = %user.id, "user registered");
    Ok(HttpResponse::Created().json(Registered {
        id: user.id,
        username: user.username,
        roles: user.roles,
    }))
}
