//! `POST /login`, `/refresh` and `/logout`: the request and answer bodies.

use serde::{Deserialize, Serialize};

/// What the seed's client sends to `/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The user's name.
    pub username: String,
    /// The user's password in clear; only ever compared against an argon2id hash.
    pub password: String,
}

/// What a successful `/login` or `/refresh` answers. `token` is the seed's field; the rest
/// are extras in the shape of an OAuth 2.0 token response (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The signed access token (JWT).
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until `token` expires.
    pub expires_in: u64,
    /// Opaque token for `POST /refresh`; single use, replaced on every refresh.
    pub refresh_token: String,
    /// Seconds until `refresh_token` expires.
    pub refresh_expires_in: u64,
}

/// What `/refresh` and `/logout` take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRequest {
    /// The refresh token from the last `/login` or `/refresh`.
    pub refresh_token: String,
}
