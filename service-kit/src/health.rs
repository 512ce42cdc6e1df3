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

/// Registers both probes. A service whose readiness depends on more than being up (a
/// database, keys) registers its own handler for [`READY_PATH`] first.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(LIVE_PATH, web::get().to(ok))
        .route(READY_PATH, web::get().to(ok));
}

async fn ok() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}
