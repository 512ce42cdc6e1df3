//! `GET /.well-known/jwks.json` (the public signing keys) and
//! `GET /.well-known/openid-configuration` (where to find them).

use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::keys::{ALGORITHM, Jwks};
use crate::startup::AppState;

/// Seconds clients may cache the JWKS. Far below the time a new key is published ahead of
/// signing, so every cache sees it before the first token it signs.
pub const JWKS_MAX_AGE_SECONDS: u32 = 60;

/// Path of the JWKS.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Registers both routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(JWKS_PATH, web::get().to(jwks)).route(
        "/.well-known/openid-configuration",
        web::get().to(discovery),
    );
}

async fn jwks(state: web::Data<AppState>) -> HttpResponse {
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

#[derive(Debug, Serialize)]
struct Discovery<'a> {
    issuer: &'a str,
    jwks_uri: String,
    id_token_signing_alg_values_supported: [&'static str; 1],
}

async fn discovery(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let info = req.connection_info();
    HttpResponse::Ok().json(Discovery {
        issuer: &state.issuer,
        jwks_uri: format!("{}://{}{JWKS_PATH}", info.scheme(), info.host()),
        id_token_signing_alg_values_supported: [ALGORITHM],
    })
}
