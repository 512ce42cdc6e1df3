//! Header names the services agree on.

/// The seed's token header.
pub const ACCESS_TOKEN: &str = "x-access-token";
/// Correlates one request across the gateway and the services; echoed on every response.
pub const REQUEST_ID: &str = "x-request-id";
/// Every header with this prefix carries verified identity. The gateway removes all of them
/// from client requests before it adds its own, so a client can never forge one.
pub const IDENTITY_PREFIX: &str = "x-auth-";
/// Verified username (the token's `user`), percent-encoded.
pub const IDENTITY_USER: &str = "x-auth-user";
/// Verified subject (the token's `sub`), percent-encoded.
pub const IDENTITY_SUBJECT: &str = "x-auth-subject";
/// Verified roles, comma-separated, each percent-encoded.
pub const IDENTITY_ROLES: &str = "x-auth-roles";
/// The token's `jti`, percent-encoded.
pub const IDENTITY_TOKEN_ID: &str = "x-auth-token-id";
/// The gateway's signature over the identity headers (see `service_kit::assertion`).
pub const IDENTITY_SIGNATURE: &str = "x-auth-signature";
