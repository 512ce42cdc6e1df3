//! The admin listener a service runs beside its public one: `GET /metrics` in the OpenMetrics
//! text format (what the `prometheus-client` crate writes; Prometheus scrapes it). Keep it
//! off the public network: it says how the service is used.

use std::sync::Arc;

use actix_web::{App, HttpResponse, web};

use crate::configuration::ApplicationSettings;
use crate::server::{self, BoundServer};

/// The media type of the metrics' text: OpenMetrics 1.0, which ends with `# EOF` and names
/// counters' samples `_total` (the Prometheus 0.0.4 text format has neither).
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Writes a service's metrics in the OpenMetrics text format.
pub type Encoder = Arc<dyn Fn() -> String + Send + Sync>;

/// Binds the admin listener described by `settings`; it serves `GET /metrics` with what
/// `encode` writes, answered anew on every scrape.
pub fn start(settings: &ApplicationSettings, encode: Encoder) -> anyhow::Result<BoundServer> {
    start_with(settings, encode, |_| {})
}

/// [`start`], with the service's own internal routes added by `routes` (the auth-service's
/// revocation stream); anything else is answered 404 in JSON.
pub fn start_with(
    settings: &ApplicationSettings,
    encode: Encoder,
    routes: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
) -> anyhow::Result<BoundServer> {
    server::start(settings, move || {
        let encode = Arc::clone(&encode);
        App::new()
            .route(
                "/metrics",
                web::get().to(move || {
                    let body = encode();
                    async move { HttpResponse::Ok().content_type(OPENMETRICS).body(body) }
                }),
            )
            .configure(routes.clone())
            .default_service(web::to(crate::errors::not_found))
    })
}
