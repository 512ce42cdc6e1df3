//! The gateway's own routes; everything else goes through [`proxy::forward`].

pub mod proxy;
pub mod welcome;

use actix_web::web;

/// Registers the gateway's own routes and the proxy as the fallback for every other path.
pub fn configure(cfg: &mut web::ServiceConfig) {
    welcome::configure(cfg);
    cfg.default_service(web::to(proxy::forward));
}
