//! The gateway's errors and their JSON answers. The status says who failed: the client
//! (4xx), an upstream (502/504) or the gateway itself (500). A failed upstream attempt
//! keeps its cause and says itself whether it may be retried and how it is counted.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use service_kit::errors::{INTERNAL_ERROR, json_error};
use shared::messages;

use actix_web::http::header::{HeaderValue, WWW_AUTHENTICATE};

use std::net::IpAddr;

use crate::auth::Rejection;
use crate::pool::SendError;
use crate::rate_limit::Limited;

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

/// Why a protected route refused its caller.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// No token.
    #[error("token missing")]
    TokenMissing,
    /// The token did not verify; the reason is logged, never answered.
    #[error("token invalid: {0}")]
    TokenInvalid(Rejection),
    /// The token is valid but carries none of the roles the route requires.
    #[error("missing role")]
    MissingRole,
}

/// The realm named in `WWW-Authenticate` challenges.
pub const REALM: &str = "api";

impl Refusal {
    /// The RFC 6750 challenge: no error code when no token came (§3.1), `invalid_token`
    /// with a description that tells an expired token apart (so clients know to refresh,
    /// and nothing else is disclosed), `insufficient_scope` for a missing role.
    pub fn challenge(&self) -> String {
        let error = match self {
            Self::TokenMissing => return format!("Bearer realm=\"{REALM}\""),
            Self::TokenInvalid(Rejection::Expired) => ("invalid_token", "The access token expired"),
            Self::TokenInvalid(_) => ("invalid_token", "The access token is invalid"),
            Self::MissingRole => (
                "insufficient_scope",
                "The access token lacks a role this route requires",
            ),
        };
        format!(
            "Bearer realm=\"{REALM}\", error=\"{}\", error_description=\"{}\"",
            error.0, error.1
        )
    }
}

/// Why the gateway answered instead of the upstream.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A protected route refused the caller, with this status: the configured refusal
    /// status (403 or 401) for a missing or invalid token, always 403 for a missing role.
    #[error("{refusal}")]
    Refused {
        /// Why.
        refusal: Refusal,
        /// The status answered.
        status: StatusCode,
    },
    /// The token cannot be checked now: the signing keys were never fetched, or the
    /// revocation list is stale where that closes the door (the reason says which).
    #[error("token verification unavailable: {0}")]
    Unverifiable(Rejection),
    /// The client address or the subject is over the route's rate limit; the address is
    /// the client's, for the log line.
    #[error("rate limited")]
    TooManyRequests(Limited, IpAddr),
    /// No route matches the path.
    #[error("no route")]
    NotFound,
    /// The path holds dot segments or encoded separators.
    #[error("unsafe path")]
    UnsafePath,
    /// A forward-authentication request without a usable original request.
    #[error("bad forward-auth request")]
    BadForwardAuth(&'static str),
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
            Self::Refused { status, .. } => *status,
            Self::Unverifiable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::TooManyRequests(..) => StatusCode::TOO_MANY_REQUESTS,
            Self::UnsafePath | Self::BadBody(_) | Self::BadForwardAuth(_) => {
                StatusCode::BAD_REQUEST
            }
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
            Self::Refused { refusal, .. } => {
                let message = match refusal {
                    Refusal::TokenMissing => messages::TOKEN_MISSING,
                    Refusal::TokenInvalid(reason) => {
                        tracing::info!(%reason, "token rejected");
                        messages::TOKEN_INVALID
                    }
                    Refusal::MissingRole => "Token lacks a role this route requires.",
                };
                let mut response = json_error(self.status_code(), message.to_owned());
                if let Ok(value) = HeaderValue::from_str(&refusal.challenge()) {
                    response.headers_mut().insert(WWW_AUTHENTICATE, value);
                }
                return response;
            }
            Self::Unverifiable(reason) => {
                tracing::warn!(%reason, "token not verifiable now");
                "Token verification is unavailable.".to_owned()
            }
            Self::TooManyRequests(limited, client) => {
                tracing::info!(%client, "rate limited");
                return limited.answer();
            }
            Self::NotFound => "Not found.".to_owned(),
            Self::UnsafePath => "Path contains dot segments or encoded separators.".to_owned(),
            Self::BadForwardAuth(message) => (*message).to_owned(),
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
