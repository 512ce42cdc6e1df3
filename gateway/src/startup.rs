//! Building the gateway: route table, verifier, proxy client, middleware, listener.

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use service_kit::{errors, health, middleware, server};

use std::sync::Arc;
use std::time::Duration;

use crate::auth::{JwksCache, TokenVerifier};
use crate::configuration::{Settings, VerificationMode};
use crate::proxy::Proxy;
use crate::routes;
use crate::routing::RouteTable;

/// What every request handler shares.
#[derive(Debug)]
pub struct GatewayState {
    /// Path to upstream and access.
    pub routes: RouteTable,
    /// Token verification.
    pub verifier: TokenVerifier,
    /// The JWKS cache (JWKS mode only).
    pub jwks: Option<Arc<JwksCache>>,
    /// Upstream client.
    pub proxy: Proxy,
    /// Body of `GET /`.
    pub welcome_message: String,
}

/// A bound, not yet running, gateway.
#[derive(Debug)]
pub struct Application(server::BoundServer);

impl Application {
    /// Builds the state and binds the listener; serving starts with
    /// [`Self::run_until_stopped`].
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        let jwks = match settings.jwt.mode {
            VerificationMode::Jwks => {
                let cache = Arc::new(JwksCache::new(&settings.jwt)?);
                cache.spawn_refresher(Duration::from_secs(settings.jwt.jwks_refresh_seconds));
                Some(cache)
            }
            VerificationMode::Hs256 => None,
        };
        let routes = RouteTable::new(
            &settings.routes,
            &settings.upstreams,
            Duration::from_secs(settings.proxy.eject_seconds),
        )?;
        let resolve_every = Duration::from_secs(settings.proxy.resolve_interval_seconds);
        for upstream in routes.upstreams() {
            upstream.resolve_blocking();
            upstream.spawn_resolver(resolve_every);
        }
        let state = web::Data::new(GatewayState {
            routes,
            verifier: TokenVerifier::new(&settings.jwt, jwks.clone())?,
            jwks,
            proxy: Proxy::new(&settings.proxy, &settings.identity)?,
            welcome_message: settings.welcome_message.clone(),
        });
        let listener = server::bind(&settings.application)?;
        let port = server::port_of(&listener)?;
        let server = HttpServer::new(move || {
            App::new()
                .wrap(errors::json_errors())
                .wrap(from_fn(middleware::limit_headers))
                .wrap(from_fn(middleware::request_id))
                .app_data(state.clone())
                .configure(health::configure_live)
                .configure(routes::configure)
        })
        .shutdown_timeout(server::SHUTDOWN_TIMEOUT_SECS)
        .listen(listener)?
        .run();
        Ok(Self(server::BoundServer::new(port, server)))
    }

    /// The port the gateway listens on.
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.0.run_until_stopped().await
    }
}
