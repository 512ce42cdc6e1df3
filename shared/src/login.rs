//! `POST /login` and `/refresh`: the answer body. The auth-service reads request bodies
//! field by field instead, so that a 400 can name the field that is wrong.

use serde::{Deserialize, Serialize};

/// What a successful `/login` or `/refresh` answers. `token` is the seed's field; the rest
/// are extras in the shape of an OAuth 2.0 token response (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
