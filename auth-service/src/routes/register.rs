//! `POST /register`: self-service sign-up, when the configuration allows it.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use shared::ErrorBody;
use utoipa::ToSchema;

use super::body::MAX_BODY_BYTES;
use super::requests::{Credentials, NewUser};
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
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    /// The user's stable id: the `sub` of their tokens.
    id: String,
    /// The username, as given.
    username: String,
    /// Roles granted (none to a self-registered user).
    roles: Vec<String>,
}

/// Sign up, when registration is open (`registration.enabled`).
#[utoipa::path(
    post,
    path = "/register",
    tag = "users",
    request_body(content = NewUser, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered.", body = Registered),
        (status = 400, description = "The body is not a JSON object with the fields as described; the message says what is wrong.", body = ErrorBody),
        (status = 403, description = "Registration is disabled.", body = ErrorBody),
        (status = 409, description = "The username is taken.", body = ErrorBody),
        (status = 413, description = "The body is over 16 KiB.", body = ErrorBody),
        (status = 415, description = "A `Content-Type` other than JSON.", body = ErrorBody),
        (status = 503, description = "The password hashing queue is full.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying."))),
    ),
)]
#[tracing::instrument(name = "register", skip_all)]
pub async fn register(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !state.registration_enabled {
        return Err(ApiError::RegistrationClosed);
    }
    let NewUser(Credentials { username, password }) = NewUser::read(&req, &body)?;
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
