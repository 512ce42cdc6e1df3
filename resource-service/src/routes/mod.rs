//! HTTP routes of the resource-service, one module per resource.

pub mod protected;

use actix_web::web;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    protected::configure(cfg);
}
