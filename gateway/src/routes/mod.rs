//! The gateway's own routes; everything else goes through [`proxy::forward`].

pub mod openapi;
pub mod proxy;
pub mod welcome;

use actix_web::{HttpResponse, web};

use crate::state::GatewayState;

/// Ready once tokens can be verified: in JWKS mode, after the first successful fetch; with
/// `revocations.when_stale = "closed"`, while the revocation list is current; with
/// `jwt.clock_offset_fails_readiness`, while the auth-service's clock agrees with ours.
async fn ready(state: web::Data<GatewayState>) -> HttpResponse {
    let now = service_kit::clock::unix_seconds();
    match &state.jwks {
        Some(cache) if !cache.is_loaded() => service_kit::health::unavailable(),
        Some(cache) if state.clock_offset_fails_readiness && cache.clock_is_off() => {
            service_kit::health::unavailable()
        }
        _ if state.revocations.blocks_readiness(now) => service_kit::health::unavailable(),
        _ => service_kit::health::ready(),
    }
}

/// Registers the gateway's own routes and the proxy as the fallback for every other path.
pub fn configure(cfg: &mut web::ServiceConfig) {
    welcome::configure(cfg);
    openapi::configure(cfg);
    cfg.service(web::resource(service_kit::health::READY_PATH).route(web::get().to(ready)));
    cfg.default_service(web::to(proxy::forward));
}
