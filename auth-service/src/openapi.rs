//! The auth-service's OpenAPI 3.1 document, generated from its handlers' `#[utoipa::path]`
//! annotations and the schemas of the types they take and answer with; served at
//! `GET /openapi.json`. The gateway merges it into the public API's document, keeping the
//! paths its route table sends here. The health probes are left out: they describe this
//! process, not the API, and the gateway answers its own.

use utoipa::OpenApi;

use crate::routes::{login, refresh, register, well_known};

/// The document's operations and tags.
#[derive(Debug, OpenApi)]
#[openapi(
    paths(
        login::login,
        register::register,
        refresh::refresh,
        refresh::logout,
        well_known::jwks,
        well_known::authorization_server,
        well_known::openid_configuration,
    ),
    tags(
        (name = "tokens", description = "Logging in, refreshing and revoking tokens."),
        (name = "users", description = "Accounts."),
        (name = "discovery", description = "Who signs the tokens, and their public keys."),
    )
)]
pub struct ApiDoc;

/// The document as JSON text.
pub fn document() -> anyhow::Result<String> {
    Ok(ApiDoc::openapi().to_json()?)
}
