//! The gateway's errors and their JSON answers. The status says who failed: the client
//! (4xx), an upstream (502/504) or the gateway itself (500).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use service_kit::errors::{INTERNAL_ERROR, json_error};
use shared::messages;

use crate::auth::Rejection;

/// Why the gateway answered instead of the upstream.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A protected route was called without a token.
    #[error("token missing")]
    TokenMissing,
    /// The token did not verify; the reason is logged, never answered.
    #[error("token invalid: {0}")]
    TokenInvalid(#[from] crate::auth::Rejection),
    /// The token is valid but carries none of the roles the route requires.
    #[error("missing role")]
    MissingRole,
    /// No route matches the path.
    #[error("no route")]
    NotFound,
    /// The path holds dot segments or encoded separators.
    #[error("unsafe path")]
    UnsafePath,
    /// The path (with its query) is too long to forward.
    #[error("path too long")]
    PathTooLong,
    /// The request body is over the limit.
    #[error("request body too large")]
    PayloadTooLarge(usize),
    /// The request body could not be read from the client.
    #[error("request body unreadable: {0}")]
    BadBody(String),
    /// The upstream could not be reached or broke the exchange.
    #[error("upstream {upstream} unavailable: {cause}")]
    UpstreamUnavailable {
        /// Upstream name.
        upstream: String,
        /// What went wrong.
        cause: String,
    },
    /// Every instance of the upstream is ejected, or its name resolves to nothing.
    #[error("no healthy instance of {0}")]
    NoHealthyInstance(String),
    /// The upstream took longer than the request timeout.
    #[error("upstream {0} timed out")]
    UpstreamTimeout(String),
    /// A bug or an impossible state: logged, answered opaquely.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ResponseError for GatewayError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::TokenInvalid(Rejection::KeysUnavailable) => StatusCode::SERVICE_UNAVAILABLE,
            Self::TokenMissing | Self::TokenInvalid(_) | Self::MissingRole => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::UnsafePath | Self::BadBody(_) => StatusCode::BAD_REQUEST,
            Self::PathTooLong => StatusCode::URI_TOO_LONG,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UpstreamUnavailable { .. } => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::NoHealthyInstance(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::TokenMissing => messages::TOKEN_MISSING.to_owned(),
            Self::TokenInvalid(Rejection::KeysUnavailable) => {
                tracing::warn!("token not verifiable: JWKS never fetched");
                "Token verification is unavailable.".to_owned()
            }
            Self::TokenInvalid(reason) => {
                tracing::info!(%reason, "token rejected");
                messages::TOKEN_INVALID.to_owned()
            }
            Self::MissingRole => "Token lacks a role this route requires.".to_owned(),
            Self::NotFound => "Not found.".to_owned(),
            Self::UnsafePath => "Path contains dot segments or encoded separators.".to_owned(),
            Self::PathTooLong => "Request path is too long.".to_owned(),
            Self::PayloadTooLarge(limit) => {
                format!("Request body is too large (limit {limit} bytes).")
            }
            Self::BadBody(_) => "Request body could not be read.".to_owned(),
            Self::UpstreamUnavailable { upstream, cause } => {
                tracing::warn!(upstream, cause, "upstream unavailable");
                "Upstream service is unavailable.".to_owned()
            }
            Self::NoHealthyInstance(upstream) => {
                tracing::warn!(upstream, "no healthy instance");
                "No healthy upstream instance.".to_owned()
            }
            Self::UpstreamTimeout(upstream) => {
                tracing::warn!(upstream, "upstream timed out");
                "Upstream service timed out.".to_owned()
            }
            Self::Unexpected(cause) => {
                tracing::error!(error = ?cause, "gateway failed");
                INTERNAL_ERROR.to_owned()
            }
        };
        json_error(self.status_code(), message)
    }
}
