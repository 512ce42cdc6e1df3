//! Binding and running an HTTP server the same way in every service, with the same
//! defences at the edge: a cap on open connections across workers ([`gate`]), deadlines on
//! every read of a client ([`conn`], [`deadline`]) and refusal of what is never served
//! ([`guard`]); TLS with HTTP/2 where configured ([`tls`]).

mod conn;
mod deadline;
mod gate;
mod guard;
mod stream;
mod tls;
mod tracked;

use std::net::TcpListener;
use std::time::Duration;

use actix_http::{HttpService, KeepAlive, Protocol, Request};
use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
use actix_web::HttpRequest;
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Response, Service, ServiceFactory};
use actix_web::rt::net::TcpStream;
use anyhow::Context;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::configuration::ApplicationSettings;
use conn::{Conn, Limits};
use gate::Gate;
use guard::GuardFactory;
use stream::Stream;
use tls::Tls;

/// Marks a connection that speaks TLS, among its data.
#[derive(Debug, Clone, Copy)]
struct Secure;

/// Reads a listener's certificate and key as start-up would (for `check-config`): an error
/// names the setting at fault.
pub fn check_tls(settings: &crate::configuration::TlsSettings) -> anyhow::Result<()> {
    tls::check(settings)
}

/// Whether `req` came over TLS to this listener (not to a proxy in front of it).
pub fn is_tls(req: &HttpRequest) -> bool {
    req.conn_data::<Secure>().is_some()
}

/// Seconds in-flight requests get to finish after SIGTERM/SIGINT before workers are stopped.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 10;

/// How long a connection closed with a request body unread keeps reading (and dropping) what
/// the client still sends, so that the close does not reset the answer away.
const LINGER: Duration = Duration::from_secs(1);

/// Binds the configured address and starts an HTTP server on it the way every service
/// does: the configured worker count, `TCP_NODELAY` (answers go out in several writes that
/// must not wait on acknowledgements), the settings' deadlines and connection cap, and
/// [`SHUTDOWN_TIMEOUT_SECS`] of draining on SIGTERM/SIGINT. Serving begins when the
/// returned server is awaited.
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
    let limits = limits(settings)?;
    let allow_half_closed = settings.allow_half_closed;
    gate::raise_open_files_limit(settings.max_connections);
    let gate = Gate::new(settings.max_connections);
    let tls = settings.tls.as_ref().map(Tls::start).transpose()?;
    let acceptor = tls.as_ref().map(|tls| tls.acceptor.clone());
    let builder = actix_web::dev::Server::build();
    let shutdown = builder.graceful_shutdown_signal();
    let server = builder
        .workers(workers(settings))
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .listen("http", listener, move || {
            let app = factory()
                .into_factory()
                .map_err(|err| Response::from(err.into().error_response()))
                .map(Into::into);
            let shutdown = shutdown.clone();
            let builder = HttpService::build();
            let builder = if acceptor.is_some() {
                builder.secure()
            } else {
                builder
            };
            let http = builder
                .keep_alive(KeepAlive::Timeout(limits.keep_alive))
                .client_request_timeout(limits.header)
                .client_disconnect_timeout(LINGER)
                .h1_allow_half_closed(allow_half_closed)
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .on_connect_ext(|io: &Conn, data| {
                    data.insert(io.state());
                    if io.is_tls() {
                        data.insert(Secure);
                    }
                })
                .finish(GuardFactory(map_config(app, |()| AppConfig::default())))
                .map_err(|_| ());
            let gate = gate.clone();
            let acceptor = acceptor.clone();
            fn_service(move |stream: TcpStream| {
                let gate = gate.clone();
                let acceptor = acceptor.clone();
                async move { accept(stream, &gate, limits, acceptor.as_ref()).await }
            })
            .and_then(http)
        })?
        .run();
    Ok(BoundServer {
        port,
        server,
        _tls: tls,
    })
}

/// The listener's deadlines; each must be above zero, as must the connection cap.
fn limits(settings: &ApplicationSettings) -> anyhow::Result<Limits> {
    let positive = |key: &str, value: u64| {
        anyhow::ensure!(value > 0, "application.{key} must be above 0");
        Ok(Duration::from_millis(value))
    };
    anyhow::ensure!(
        settings.max_connections > 0,
        "application.max_connections must be above 0"
    );
    Ok(Limits {
        header: positive("header_timeout_ms", settings.header_timeout_ms)?,
        body_idle: positive("body_idle_timeout_ms", settings.body_idle_timeout_ms)?,
        body_total: positive("body_timeout_ms", settings.body_timeout_ms)?,
        keep_alive: positive("keep_alive_timeout_ms", settings.keep_alive_timeout_ms)?,
    })
}

/// Lets a new connection in under the cap, or answers it 503 and closes it; on a TLS
/// listener, completes the handshake within the header timeout, the protocol chosen by ALPN.
async fn accept(
    stream: TcpStream,
    gate: &Gate,
    limits: Limits,
    tls: Option<&TlsAcceptor>,
) -> Result<(Conn, Protocol, Option<std::net::SocketAddr>), ()> {
    let Some(permit) = gate.try_enter() else {
        // A TLS client could not read a plain answer: it is just closed.
        if tls.is_none() {
            gate.refuse(stream).await;
        }
        return Err(());
    };
    let opened = Instant::now();
    // Answers go out in several writes that must not wait on acknowledgements.
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    let Some(acceptor) = tls else {
        let conn = Conn::new(Stream::Plain(stream), limits, permit, opened, false);
        return Ok((conn, Protocol::Http1, peer));
    };
    let handshake = tokio::time::timeout_at(opened + limits.header, acceptor.accept(stream));
    let tls = match handshake.await {
        Ok(Ok(tls)) => tls,
        // Scanners and impatient clients: not worth a line each at the default level.
        Ok(Err(error)) => {
            tracing::debug!(%error, "TLS handshake failed");
            return Err(());
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            return Err(());
        }
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(tls::H2);
    let protocol = if h2 { Protocol::Http2 } else { Protocol::Http1 };
    let conn = Conn::new(Stream::Tls(Box::new(tls)), limits, permit, opened, h2);
    Ok((conn, protocol, peer))
}

/// Connections the kernel completes and queues for the listener before it accepts them
/// (capped by `net.core.somaxconn`, 4096 on current kernels). The standard library's
/// listeners queue 128: a burst of more new connections than that, as when a load balancer
/// or a fleet of clients reconnects at once, had its excess connection attempts dropped and
/// retried a second later. nginx queues 511 by default, HAProxy its `maxconn`.
pub const LISTEN_BACKLOG: i32 = 4096;

/// Binds the configured address with a backlog of [`LISTEN_BACKLOG`]; port 0 picks a free
/// port (tests read it back).
fn bind(settings: &ApplicationSettings) -> anyhow::Result<TcpListener> {
    let address = format!("{}:{}", settings.host, settings.port);
    let listener = TcpListener::bind(&address).with_context(|| format!("binding {address}"))?;
    // Listening again on a listening socket only sets its backlog.
    socket2::SockRef::from(&listener)
        .listen(LISTEN_BACKLOG)
        .with_context(|| format!("setting the listen backlog of {address}"))?;
    Ok(listener)
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
    /// The listener's TLS, whose certificate reloads stop with the server.
    _tls: Option<Tls>,
}

impl std::fmt::Debug for BoundServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl BoundServer {
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

#[cfg(test)]
mod tests;
