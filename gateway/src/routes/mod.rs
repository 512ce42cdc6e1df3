//! The gateway's own routes; everything else goes through [`proxy::forward`].

pub mod openapi;
pub mod proxy;
pub mod welcome;

use actix_web::{HttpResponse, web};

use crate::state::GatewayState;

/// Ready once tokens can be verified: in JWKS mode, after the first successful fetch; with
/// `revocations.when_stale = "closed"`, while the revocation list is current; with
/// `jwt.clock_offset_fails_readiness`, while the auth-service's clock agrees with ours.
///
/// Where a revocation stream is followed, the answer also says how current the list is
/// (`revocations`: lag, last number applied, entries, folds), whatever the policy.
async fn ready(state: web::Data<GatewayState>) -> HttpResponse {
    let now = service_kit::clock::unix_seconds();
    let ready = match &state.jwks {
        Some(cache) if !cache.is_loaded() => false,
        Some(cache) if state.clock_offset_fails_readiness && cache.clock_is_off() => false,
        _ => !state.revocations.blocks_readiness(now),
    };
    let Some(lag) = state.revocations.lag_seconds(now) else {
        return if ready {
            service_kit::health::ready()
        } else {
            service_kit::health::unavailable()
        };
    };
    let (entries, folds) = state.revocations.occupancy();
    let body = serde_json::json!({
        "status": if ready { "ok" } else { "unavailable" },
        "revocations": {
            "lag_seconds": lag,
            "sequence": state.revocations.applied(),
            "entries": entries,
            "folds": folds,
        },
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Registers the gateway's own routes and the proxy as the fallback for every other path.
pub fn configure(cfg: &mut web::ServiceConfig) {
    welcome::configure(cfg);
    openapi::configure(cfg);
    cfg.service(web::resource(service_kit::health::READY_PATH).route(web::get().to(ready)));
    cfg.default_service(web::to(proxy::forward));
}
