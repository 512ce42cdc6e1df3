//! `GET /.well-known/jwks.json` (the public signing keys) and the metadata that says where
//! to find them and who signs: `GET /.well-known/oauth-authorization-server` (RFC 8414) and
//! `GET /.well-known/openid-configuration` (OpenID Connect Discovery).
//!
//! This service signs access tokens; it is not an OpenID provider (no authorization
//! endpoint, no ID tokens) nor an OAuth token endpoint (`/login` takes JSON, not a grant).
//! Both documents therefore hold only what is true: the issuer, the JWKS, the subject type
//! and the claims. Left out, on purpose: `authorization_endpoint`, `token_endpoint`,
//! `grant_types_supported` and `id_token_signing_alg_values_supported` (no such endpoints
//! or tokens); `response_types_supported` is the empty list in RFC 8414's document, where it
//! is required, and absent from OpenID's, where listing nothing would claim a provider
//! that cannot answer. The signing algorithm of each key is its JWK's `alg`.
//! Every URL comes from the configured public URL, never from the request's `Host`.

use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::keys::Jwks;
use crate::startup::AppState;

/// Seconds clients may cache the JWKS. Far below the time a new key is published ahead of
/// signing, so every cache sees it before the first token it signs.
pub const JWKS_MAX_AGE_SECONDS: u32 = 60;

/// Path of the JWKS.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Claims our access tokens may carry.
const CLAIMS: [&str; 9] = [
    "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "user", "roles",
];

/// Registers the three routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(JWKS_PATH).route(web::get().to(jwks)))
        .service(
            web::resource("/.well-known/oauth-authorization-server")
                .route(web::get().to(authorization_server)),
        )
        .service(
            web::resource("/.well-known/openid-configuration")
                .route(web::get().to(openid_configuration)),
        );
}

/// The public keys access tokens are verified with (empty in HS256 mode, whose key is
/// secret).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "discovery",
    responses((status = 200, description = "The JWK Set.", body = Jwks,
        headers(("Cache-Control" = String, description = "`public, max-age=60`.")))),
)]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    // HS256 keys are secret: nothing to publish.
    let set = state
        .keys
        .as_ref()
        .map_or(Jwks { keys: Vec::new() }, |ring| ring.jwks());
    let mut response = HttpResponse::Ok().json(set);
    let cache = format!("public, max-age={JWKS_MAX_AGE_SECONDS}");
    if let Ok(value) = HeaderValue::from_str(&cache) {
        response.headers_mut().insert(CACHE_CONTROL, value);
    }
    response
}

/// The fields both metadata documents share.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Metadata<'a> {
    /// The `iss` of our tokens.
    #[schema(value_type = String)]
    issuer: &'a str,
    /// Where the JWK Set is.
    jwks_uri: String,
    /// `["public"]`.
    #[schema(value_type = Vec<String>)]
    subject_types_supported: [&'static str; 1],
    /// The claims our access tokens may carry.
    #[schema(value_type = Vec<String>)]
    claims_supported: [&'static str; 9],
    /// RFC 8414's document only, where it is required: empty (no authorization endpoint).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    response_types_supported: Option<[&'static str; 0]>,
}

fn metadata(state: &AppState, response_types: Option<[&'static str; 0]>) -> HttpResponse {
    HttpResponse::Ok().json(Metadata {
        issuer: &state.issuer,
        jwks_uri: format!("{}{JWKS_PATH}", state.public_url),
        // `sub` is the user's id, the same for every client.
        subject_types_supported: ["public"],
        claims_supported: CLAIMS,
        response_types_supported: response_types,
    })
}

/// OAuth 2.0 authorization server metadata (RFC 8414): the issuer and its keys.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "discovery",
    responses((status = 200, description = "The metadata.", body = Metadata)),
)]
pub async fn authorization_server(state: web::Data<AppState>) -> HttpResponse {
    metadata(&state, Some([]))
}

/// OpenID Connect discovery: the same metadata, without `response_types_supported`.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "discovery",
    responses((status = 200, description = "The metadata.", body = Metadata)),
)]
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    metadata(&state, None)
}
