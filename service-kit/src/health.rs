//! Liveness and readiness endpoints, the same on every service.

use actix_web::{HttpResponse, web};
use serde::Serialize;

/// Path of the liveness probe: the process is up and serving HTTP.
pub const LIVE_PATH: &str = "/health/live";
/// Path of the readiness probe: the service can do its work.
pub const READY_PATH: &str = "/health/ready";

#[derive(Debug, Serialize)]
struct Status {
    status: &'static str,
}

/// Registers both probes, for a service that is ready as soon as it is up.
pub fn configure(cfg: &mut web::ServiceConfig) {
    configure_live(cfg);
    cfg.route(READY_PATH, web::get().to(ok));
}

/// Registers the liveness probe only, for a service whose readiness depends on more (a
/// database): it registers its own handler at [`READY_PATH`].
pub fn configure_live(cfg: &mut web::ServiceConfig) {
    cfg.route(LIVE_PATH, web::get().to(ok));
}

async fn ok() -> HttpResponse {
    ready()
}

/// The readiness answer when a dependency is down: 503 `{"status":"unavailable"}`.
pub fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(Status {
        status: "unavailable",
    })
}

/// The readiness answer when everything is up: 200 `{"status":"ok"}`.
pub fn ready() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}
