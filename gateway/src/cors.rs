//! CORS from the settings, through actix-cors.

use actix_cors::Cors;

use crate::configuration::CorsSettings;

/// The CORS middleware the settings describe (validated at load: no wildcard origin with
/// credentials). No origins: cross-origin requests get no CORS headers at all.
pub fn middleware(settings: &CorsSettings) -> Cors {
    let mut cors = Cors::default();
    for origin in &settings.allowed_origins {
        cors = if origin == "*" {
            cors.allow_any_origin().send_wildcard()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors = cors
        .allowed_methods(settings.allowed_methods.iter().map(String::as_str))
        .allowed_headers(settings.allowed_headers.iter().map(String::as_str))
        .expose_headers(settings.expose_headers.iter().map(String::as_str))
        .max_age(settings.max_age_seconds);
    if settings.allow_credentials {
        cors = cors.supports_credentials();
    }
    cors
}
