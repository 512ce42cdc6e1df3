//! Binding and running an HTTP server the same way in every service.

use std::net::TcpListener;

use anyhow::Context;

use crate::configuration::ApplicationSettings;

/// Seconds in-flight requests get to finish after SIGTERM/SIGINT before workers are stopped.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 10;

/// Binds the configured address; port 0 picks a free port (tests read it back).
pub fn bind(settings: &ApplicationSettings) -> anyhow::Result<TcpListener> {
    let address = format!("{}:{}", settings.host, settings.port);
    TcpListener::bind(&address).with_context(|| format!("binding {address}"))
}

/// The number of worker threads to run: the configured one, else one per core.
pub fn workers(settings: &ApplicationSettings) -> usize {
    settings
        .workers
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// The port a listener is bound to.
pub fn port_of(listener: &TcpListener) -> anyhow::Result<u16> {
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
