//! The gateway's errors and their JSON answers. The status says who failed: the client
//! (4xx), an upstream (502/504) or the gateway itself (500). A failed upstream attempt
//! keeps its cause and says itself whether it may be retried and how it is counted.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use service_kit::errors::{INTERNAL_ERROR, json_error};
use shared::messages;

use crate::auth::Rejection;
use crate::pool::SendError;

/// Why one attempt on one upstream instance failed.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// The request could not be sent, or no answer's head came back.
    #[error(transparent)]
    Send(#[from] SendError),
    /// The answer's body broke off while it was read.
    #[error("the upstream answer broke off")]
    Answer(#[source] hyper::Error),
    /// The request's deadline passed.
    #[error("no answer within the request timeout")]
    Timeout,
}

impl AttemptError {
    /// Whether nothing reached the upstream: no connection was made.
    pub fn nothing_sent(&self) -> bool {
        matches!(self, Self::Send(SendError::Connect(_)))
    }

    /// Whether the instance is taken out of rotation for a while (passive health check).
    pub fn ejects_instance(&self) -> bool {
        self.nothing_sent() || matches!(self, Self::Timeout)
    }

    /// Whether the request may go to another instance after this failure. Any method may
    /// when nothing was sent; an idempotent one may after a broken exchange; a timeout
    /// spent the whole budget and is never retried.
    pub fn retryable(&self, idempotent: bool) -> bool {
        match self {
            Self::Timeout => false,
            _ if self.nothing_sent() => true,
            _ => idempotent,
        }
    }

    /// The `kind` label of `gateway_upstream_errors_total` it counts under.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            _ => "unavailable",
        }
    }
}

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
    /// The upstream could not be reached, broke the exchange or took longer than the
    /// request timeout (the last attempt's failure).
    #[error("upstream {upstream} failed")]
    Upstream {
        /// Upstream name.
        upstream: String,
        /// What went wrong.
        #[source]
        source: AttemptError,
    },
    /// Every instance of the upstream is ejected, or its name resolves to nothing.
    #[error("no healthy instance of {0}")]
    NoHealthyInstance(String),
    /// A bug or an impossible state: logged, answered opaquely.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl GatewayError {
    /// The upstream and the `kind` label this failure counts under in
    /// `gateway_upstream_errors_total`, when an upstream failed.
    pub fn upstream_failure(&self) -> Option<(&str, &'static str)> {
        match self {
            Self::Upstream { upstream, source } => Some((upstream, source.metric_label())),
            Self::NoHealthyInstance(upstream) => Some((upstream, "no_healthy_instance")),
            _ => None,
        }
    }
}

/// An error and its causes, `: `-separated, for a log line.
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
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
            Self::Upstream {
                source: AttemptError::Timeout,
                ..
            } => StatusCode::GATEWAY_TIMEOUT,
            Self::Upstream { .. } => StatusCode::BAD_GATEWAY,
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
            Self::Upstream {
                upstream,
                source: AttemptError::Timeout,
            } => {
                tracing::warn!(upstream, "upstream timed out");
                "Upstream service timed out.".to_owned()
            }
            Self::Upstream { upstream, source } => {
                tracing::warn!(upstream, cause = %Chain(source), "upstream unavailable");
                "Upstream service is unavailable.".to_owned()
            }
            Self::NoHealthyInstance(upstream) => {
                tracing::warn!(upstream, "no healthy instance");
                "No healthy upstream instance.".to_owned()
            }
            Self::Unexpected(cause) => {
                tracing::error!(error = ?cause, "gateway failed");
                INTERNAL_ERROR.to_owned()
            }
        };
        json_error(self.status_code(), message)
    }
}
