//! Errors of the auth-service's endpoints and their JSON answers.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use service_kit::errors::{INTERNAL_ERROR, json_error};
use shared::messages;

/// Why a `/login` failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password; the two are never told apart.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The body is not what `/login` takes; the message says what is wrong.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// Anything else: logged with its cause, answered opaquely.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ResponseError for LoginError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::InvalidCredentials => messages::INVALID_CREDENTIALS.to_owned(),
            Self::BadRequest(reason) => reason.clone(),
            Self::UnsupportedMediaType => "Content-Type must be application/json.".to_owned(),
            Self::Unexpected(cause) => {
                tracing::error!(error = ?cause, "login failed unexpectedly");
                INTERNAL_ERROR.to_owned()
            }
        };
        json_error(self.status_code(), message)
    }
}
