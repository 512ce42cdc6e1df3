//! Building the gateway: route table, verifier, proxy client, middleware, listener.

use actix_web::http::StatusCode;
use actix_web::{App, web};
use service_kit::{health, middleware, server};

use std::sync::Arc;
use std::time::Duration;

use tokio::task::AbortHandle;

use crate::auth::revocation::{RevocationCollector, spawn_follower};
use crate::auth::{
    JwksCache, JwksCollector, Providers, Revocations, TokenVerifier, ed25519, keys_client,
};
use crate::configuration::{Settings, VerificationMode};
use crate::cors;
use crate::metrics::Metrics;
use crate::openapi::{ApiDocument, DocumentSettings};
use crate::proxy::Proxy;
use crate::routes;
use crate::routing::RouteTable;
use crate::state::GatewayState;

/// A bound, not yet running, gateway: the public listener and the admin one.
#[derive(Debug)]
pub struct Application {
    main: server::BoundServer,
    admin: server::BoundServer,
    /// The JWKS refresher, the resolvers and the pool sweepers: each holds its owner only
    /// weakly and ends once the application (and so the state) is gone.
    tasks: Vec<AbortHandle>,
}

/// The admin listener: `GET /metrics` (OpenMetrics text).
fn admin_server(settings: &Settings, metrics: Arc<Metrics>) -> anyhow::Result<server::BoundServer> {
    service_kit::admin::start(&settings.admin, Arc::new(move || metrics.encode()))
}

impl Application {
    /// Builds the state and binds the listener; serving starts with
    /// [`Self::run_until_stopped`].
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        ed25519::install_provider();
        if !ed25519::provider_installed() {
            tracing::warn!(
                "another jsonwebtoken crypto provider was chosen first: EdDSA keys will be \
                 decoded for every token checked"
            );
        }
        let mut tasks = Vec::new();
        let jwks = match settings.jwt.mode {
            VerificationMode::Jwks => {
                let cache = Arc::new(JwksCache::new(&settings.jwt)?);
                let refresh = Duration::from_secs(settings.jwt.jwks_refresh_seconds);
                tasks.push(cache.spawn_refresher(refresh).abort_handle());
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
            tasks.push(upstream.spawn_resolver(resolve_every).abort_handle());
            tasks.push(upstream.spawn_sweeper().abort_handle());
        }
        let sweep_every = Duration::from_secs(settings.proxy.rate_limit_sweep_seconds);
        for route in routes.routes() {
            tasks.extend(route.limits.spawn_sweepers(sweep_every));
        }
        let providers = Providers::new(&settings, jwks.clone())?;
        let revocations = Arc::new(Revocations::new(&settings.revocations));
        if !settings.revocations.url.is_empty() {
            // Our auth-service's keys are refetched when one of them is withdrawn.
            let ours = jwks
                .clone()
                .map(|cache| (providers.default_provider().issuer.clone(), cache));
            let follower = spawn_follower(
                &revocations,
                settings.revocations.url.clone(),
                keys_client(None, true)?,
                ours,
            );
            tasks.push(follower.abort_handle());
        }
        let mut metrics = Metrics::default();
        metrics.register_collector(JwksCollector(providers.jwks_caches()));
        metrics.register_collector(RevocationCollector(Arc::clone(&revocations)));
        let metrics = Arc::new(metrics);
        let refresh = Duration::from_secs(settings.jwt.jwks_refresh_seconds);
        for refresher in providers.spawn_refreshers(refresh) {
            tasks.push(refresher.abort_handle());
        }
        let verifier =
            TokenVerifier::with_providers(&settings.jwt, providers, Arc::clone(&metrics))
                .with_revocations(Arc::clone(&revocations));
        // Checked to be 401 or 403 when the settings were loaded.
        let refusal_status =
            StatusCode::from_u16(settings.jwt.refusal_status).unwrap_or(StatusCode::FORBIDDEN);
        let proxy = Proxy::new(
            routes,
            verifier,
            refusal_status,
            &settings.proxy,
            &settings.identity,
            &settings.client_address,
            Arc::clone(&metrics),
        )?;
        let openapi = ApiDocument::new(DocumentSettings {
            public_url: settings.public_url.clone(),
            refusal_status: refusal_status.as_u16(),
            max_body_bytes: settings.proxy.max_body_bytes,
            forward_auth_path: Some(settings.forward_auth.path.clone()).filter(|p| !p.is_empty()),
        })?;
        let state = web::Data::new(GatewayState {
            proxy,
            jwks,
            revocations,
            clock_offset_fails_readiness: settings.jwt.clock_offset_fails_readiness,
            metrics: Arc::clone(&metrics),
            welcome_message: settings.welcome_message.clone(),
            openapi,
        });
        let cors = settings.cors.clone();
        let forward_auth = settings.forward_auth.path.clone();
        let server = server::start(&settings.application, move || {
            // CORS inside the stack every service runs (see `middleware::stack`).
            let app = middleware::stack(App::new().wrap(cors::middleware(&cors)))
                .app_data(state.clone())
                .configure(health::configure_live);
            let app = if forward_auth.is_empty() {
                app
            } else {
                app.route(&forward_auth, web::route().to(routes::proxy::verify))
            };
            app.configure(routes::configure)
        })?;
        Ok(Self {
            main: server,
            admin: admin_server(&settings, metrics)?,
            tasks,
        })
    }

    /// The port the gateway listens on.
    pub fn port(&self) -> u16 {
        self.main.port()
    }

    /// The port of the admin listener (`/metrics`).
    pub fn admin_port(&self) -> u16 {
        self.admin.port()
    }

    /// Handles of the background tasks, to see that they end with the application.
    pub fn background_tasks(&self) -> Vec<AbortHandle> {
        self.tasks.clone()
    }

    /// A handle to stop the public listener (tests drive graceful shutdown with it).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.main.handle()
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests. The admin listener
    /// stops when the public one has: it must not keep the process alive on its own (a
    /// signal that reached the public listener's handler alone once left it running).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let admin_handle = self.admin.handle();
        let admin = tokio::spawn(self.admin.run_until_stopped());
        let main = self.main.run_until_stopped().await;
        admin_handle.stop(false).await;
        let _ = admin.await;
        main
    }
}
