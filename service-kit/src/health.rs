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
    cfg.service(web::resource(READY_PATH).route(web::get().to(ok)));
}

/// Registers the liveness probe only, for a service whose readiness depends on more (a
/// database): it registers its own handler at [`READY_PATH`].
pub fn configure_live(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(LIVE_PATH).route(web::get().to(ok)));
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

/// How long the container health probe waits for an answer.
pub const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The container health check: asks `GET /health/ready` on the service's own port over
/// loopback and says whether it answered 200. Needs no curl in the image: the binary
/// probes itself (`<service> healthcheck`).
pub fn probe(port: u16) -> bool {
    use std::io::{Read, Write};
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&address, PROBE_TIMEOUT) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(PROBE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(PROBE_TIMEOUT));
    let request = format!("GET {READY_PATH} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[8..12] == b" 200"
}

/// `main`'s answer to `healthcheck`: exit status 0 when ready, 1 otherwise.
pub fn probe_exit_code(port: u16) -> std::process::ExitCode {
    if probe(port) {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
