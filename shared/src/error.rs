//! The JSON error body every service answers with, and the exact texts of the seed's messages.

use serde::{Deserialize, Serialize};

/// Body of every error response: `{"message": "..."}`, as the seed answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Human-readable reason; never a stack trace, a token or a secret.
    pub message: String,
}

impl ErrorBody {
    /// An error body with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// Message texts that are part of the wire contract: clients written for the seed compare them.
pub mod messages {
    /// `GET /` on the gateway, word for word as the seed answers.
    pub const WELCOME: &str = "Welcome to the Flask JWT API!";
    /// 200 from `GET /protected`.
    pub const PROTECTED: &str = "This is a protected route!";
    /// 403 when a protected route is called without a token.
    pub const TOKEN_MISSING: &str = "Token is missing!";
    /// 403 when the token is malformed, tampered with, expired or signed with another key.
    pub const TOKEN_INVALID: &str = "Token is invalid!";
    /// 401 from `POST /login` on a wrong username or password.
    pub const INVALID_CREDENTIALS: &str = "Invalid credentials!";
}
