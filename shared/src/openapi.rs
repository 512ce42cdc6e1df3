//! Names the services' OpenAPI documents agree on, so that the gateway can merge them: where
//! each serves its document, and the security schemes of the access token.

/// Where every service, and the gateway for the whole API, serves its OpenAPI document.
pub const DOCUMENT_PATH: &str = "/openapi.json";
/// The security scheme of an access token in `Authorization: Bearer <JWT>` (RFC 6750).
pub const BEARER_SCHEME: &str = "bearer";
/// The security scheme of an access token in the seed's `x-access-token` header.
pub const ACCESS_TOKEN_SCHEME: &str = "access_token";
