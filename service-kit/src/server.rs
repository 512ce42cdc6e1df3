//! Binding and running an HTTP server the same way in every service.

use std::net::TcpListener;

use actix_http::Request;
use actix_service::IntoServiceFactory;
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Response, Service, ServiceFactory};
use anyhow::Context;

use crate::configuration::ApplicationSettings;

/// Seconds in-flight requests get to finish after SIGTERM/SIGINT before workers are stopped.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 10;

/// Binds the configured address and starts an HTTP server on it the way every service
/// does: the configured worker count, `TCP_NODELAY` (answers go out in several writes that
/// must not wait on acknowledgements), and [`SHUTDOWN_TIMEOUT_SECS`] of draining on
/// SIGTERM/SIGINT. Serving begins when the returned server is awaited.
pub fn start<F, I, S, B>(settings: &ApplicationSettings, factory: F) -> anyhow::Result<BoundServer>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let listener = bind(settings)?;
    let port = port_of(&listener)?;
    let server = actix_web::HttpServer::new(factory)
        .workers(workers(settings))
        .tcp_nodelay(true)
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .listen(listener)?
        .run();
    Ok(BoundServer::new(port, server))
}

/// Binds the configured address; port 0 picks a free port (tests read it back).
fn bind(settings: &ApplicationSettings) -> anyhow::Result<TcpListener> {
    let address = format!("{}:{}", settings.host, settings.port);
    TcpListener::bind(&address).with_context(|| format!("binding {address}"))
}

/// The number of worker threads to run: the configured one, else one per core.
fn workers(settings: &ApplicationSettings) -> usize {
    settings
        .workers
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// The port a listener is bound to.
fn port_of(listener: &TcpListener) -> anyhow::Result<u16> {
    Ok(listener
        .local_addr()
        .context("reading the bound address")?
        .port())
}

/// A server bound to its port, not yet serving: what every service's `Application` wraps.
pub struct BoundServer {
    port: u16,
    server: actix_web::dev::Server,
}

impl std::fmt::Debug for BoundServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl BoundServer {
    /// Pairs a built server with the port its listener is bound to.
    pub fn new(port: u16, server: actix_web::dev::Server) -> Self {
        Self { port, server }
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server, gracefully or not.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM, then lets in-flight requests finish (up to
    /// [`SHUTDOWN_TIMEOUT_SECS`]) before returning.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
