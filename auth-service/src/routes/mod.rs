//! HTTP routes of the auth-service, one module per resource.

pub mod login;

use actix_web::web;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    login::configure(cfg);
}
