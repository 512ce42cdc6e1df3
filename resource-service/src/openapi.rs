//! The resource-service's OpenAPI 3.1 document, generated from its handlers' annotations and
//! served at `GET /openapi.json`, like the health probes open to callers that did not come
//! through the gateway: it is metadata about the API, and holds nothing about a caller. Its
//! operations name the access token's security schemes, which the gateway checks before it
//! forwards; the gateway merges this document into the public API's.

use shared::headers::ACCESS_TOKEN;
use shared::openapi::{ACCESS_TOKEN_SCHEME, BEARER_SCHEME};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::protected;

/// The document's operations, tags and security schemes.
#[derive(Debug, OpenApi)]
#[openapi(
    paths(protected::protected),
    modifiers(&TokenSchemes),
    tags((name = "resources", description = "The protected endpoints."))
)]
pub struct ApiDoc;

/// The access token's two places: `Authorization: Bearer` and the seed's `x-access-token`.
#[derive(Debug)]
struct TokenSchemes;

impl Modify for TokenSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            ACCESS_TOKEN_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                ACCESS_TOKEN,
                "The access token (JWT), as the seed's clients send it.",
            ))),
        );
    }
}

/// The document as JSON text.
pub fn document() -> anyhow::Result<String> {
    Ok(ApiDoc::openapi().to_json()?)
}
