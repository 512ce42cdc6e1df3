//! Errors of the auth-service's endpoints and their JSON answers.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpResponse, ResponseError};
use service_kit::errors::{INTERNAL_ERROR, json_error};
use shared::messages;

use crate::password::HashingBusy;

/// Why a request to the auth-service failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Unknown user or wrong password; the two are never told apart.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The body is not what the endpoint takes; the message says what is wrong.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// Too many failed logins for this username or address; retry after the duration.
    #[error("too many failed attempts")]
    TooManyAttempts(Duration),
    /// Too many refreshes of this token family or user; retry after the duration.
    #[error("too many refreshes")]
    TooManyRefreshes(Duration),
    /// The password hashing queue is full; retry after the duration.
    #[error("busy")]
    Busy(Duration),
    /// `POST /register` is switched off.
    #[error("registration disabled")]
    RegistrationClosed,
    /// The username is taken.
    #[error("username taken")]
    UsernameTaken,
    /// The refresh token is unknown, expired or revoked.
    #[error("refresh token invalid")]
    RefreshInvalid,
    /// The refresh token was used before; its family is now revoked.
    #[error("refresh token reused")]
    RefreshReused,
    /// Anything else: logged with its cause, answered opaquely.
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

impl From<anyhow::Error> for ApiError {
    /// A full hashing queue, wherever it surfaces, is a 503 to retry, not an internal error.
    fn from(e: anyhow::Error) -> Self {
        match e.downcast_ref::<HashingBusy>() {
            Some(busy) => Self::Busy(busy.retry_after),
            None => Self::Unexpected(e),
        }
    }
}

impl ApiError {
    /// How long the client should wait before retrying, for the answers that say so.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::TooManyAttempts(wait) | Self::TooManyRefreshes(wait) | Self::Busy(wait) => {
                Some(*wait)
            }
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidCredentials | Self::RefreshInvalid | Self::RefreshReused => {
                StatusCode::UNAUTHORIZED
            }
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyAttempts(_) | Self::TooManyRefreshes(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::RegistrationClosed => StatusCode::FORBIDDEN,
            Self::UsernameTaken => StatusCode::CONFLICT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::InvalidCredentials => messages::INVALID_CREDENTIALS.to_owned(),
            Self::BadRequest(reason) => reason.clone(),
            Self::UnsupportedMediaType => "Content-Type must be application/json.".to_owned(),
            Self::TooManyAttempts(_) => {
                "Too many failed login attempts; try again later.".to_owned()
            }
            Self::TooManyRefreshes(_) => "Too many token refreshes; try again later.".to_owned(),
            Self::Busy(_) => "The service is busy; try again shortly.".to_owned(),
            Self::RegistrationClosed => "Registration is disabled.".to_owned(),
            Self::UsernameTaken => "Username is already taken.".to_owned(),
            Self::RefreshInvalid => "Refresh token is invalid.".to_owned(),
            Self::RefreshReused => {
                "Refresh token was already used; the session has been revoked.".to_owned()
            }
            Self::Unexpected(cause) => {
                tracing::error!(error = ?cause, "request failed unexpectedly");
                INTERNAL_ERROR.to_owned()
            }
        };
        let mut response = json_error(self.status_code(), message);
        if let Some(wait) = self.retry_after() {
            // Whole seconds, rounded up so a client that obeys is never early.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if let Ok(value) = seconds.to_string().parse() {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
        }
        response
    }
}
