//! The whole life of an upstream connection: checked out (taken idle, or made), lent to one
//! exchange, then checked in for the next one or released (closed), and the request body
//! type it carries. [`idle`] keeps the connections between exchanges; a sweeper closes the
//! ones that expired while nobody asked for them.
//!
//! Each connection is hyper's HTTP/1.1 client connection; its task runs on the worker
//! thread that opened it, and only that thread checks it out again.

mod idle;

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::web::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

use idle::IdlePool;
pub use idle::{IDLE_TIMEOUT, MAX_IDLE, SWEEP_INTERVAL};

/// Any error, boxed, as a cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body on its way upstream: held whole, or streamed from the client connection.
pub type UpstreamBody = Either<Full<Bytes>, ChannelBody>;

/// TCP keep-alive probes on upstream connections: first after this much silence, then at
/// this interval.
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);

/// Keep-alive probes unanswered before the kernel gives the connection up.
const TCP_KEEPALIVE_RETRIES: u32 = 3;

/// Unacknowledged data for this long closes an upstream connection.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// A request body fed, chunk by chunk, by the task reading the client's payload.
#[derive(Debug)]
pub struct ChannelBody {
    chunks: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    /// The declared length, when there is one (sent upstream as `Content-Length`).
    length: Option<u64>,
}

impl ChannelBody {
    /// A body made of what arrives on `chunks`, `length` bytes long when that is known.
    pub fn new(
        chunks: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
        length: Option<u64>,
    ) -> Self {
        Self { chunks, length }
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        self.chunks
            .poll_recv(cx)
            .map(|item| item.map(|chunk| chunk.map(Frame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        self.length
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

/// Why a request could not be sent, or its answer's head not received.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection could be made, or a new one closed before it took the request:
    /// nothing was sent.
    #[error("no connection to the upstream")]
    Connect(#[source] BoxError),
    /// The exchange broke after the request may have been sent.
    #[error("the upstream exchange broke")]
    Exchange(#[source] hyper::Error),
}

/// The connections to one instance: where they are made, and the idle ones.
#[derive(Debug)]
pub struct Connections {
    address: http::Uri,
    idle: IdlePool<UpstreamBody>,
}

impl Connections {
    /// No connection yet to `address` (`http://ip:port`).
    pub fn new(address: http::Uri) -> Self {
        Self {
            address,
            idle: IdlePool::default(),
        }
    }

    /// Where connections are made.
    pub fn address(&self) -> &http::Uri {
        &self.address
    }

    /// How many connections are idle.
    pub fn idle_count(&self) -> usize {
        self.idle.len()
    }
}

/// A connection lent to one exchange. [`Connection::checkin`] returns it for the next
/// request; dropped instead, it is released (closed).
#[derive(Debug)]
pub struct Connection {
    sender: SendRequest<UpstreamBody>,
    home: Arc<Connections>,
}

impl Connection {
    /// Puts the connection, its exchange over, back in its instance's pool: at once when it
    /// is ready for the next request, else once its task has finished with the last
    /// answer. A closed one is released.
    pub fn checkin(self) {
        let Self { mut sender, home } = self;
        if sender.is_ready() {
            home.idle.put(sender);
        } else if !sender.is_closed() {
            // Not idle yet: the upstream answered before it had read the whole request
            // body, which is still coming from the client. Bounded, as a client may stall.
            tokio::spawn(async move {
                if let Ok(Ok(())) = tokio::time::timeout(IDLE_TIMEOUT, sender.ready()).await {
                    home.idle.put(sender);
                }
            });
        }
    }
}

/// Makes connections (timeouts, socket options) and sends requests on pooled ones.
#[derive(Debug)]
pub struct Connector {
    connector: HttpConnector,
    handshake: http1::Builder,
}

impl Connector {
    /// A connector that gives up on a connection not made within `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(connect_timeout));
        // Pooled connections to an upstream that vanished without a word (a container gone,
        // a dropped flow) are found out by the kernel instead of by a request's deadline.
        connector.set_keepalive(Some(TCP_KEEPALIVE));
        connector.set_keepalive_interval(Some(TCP_KEEPALIVE));
        connector.set_keepalive_retries(Some(TCP_KEEPALIVE_RETRIES));
        connector.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT));
        Self {
            connector,
            handshake: http1::Builder::new(),
        }
    }

    /// A new connection to `address`, its task spawned on this thread.
    async fn connect(&self, address: &http::Uri) -> Result<SendRequest<UpstreamBody>, SendError> {
        let io = self
            .connector
            .clone()
            .call(address.clone())
            .await
            .map_err(|error| SendError::Connect(error.into()))?;
        let (sender, connection) = self
            .handshake
            .handshake(io)
            .await
            .map_err(SendError::Exchange)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "upstream connection closed on an error");
            }
        });
        Ok(sender)
    }

    /// Checks out a connection to `home` (the most recent idle one, or a new one) and sends
    /// `request` on it. A pooled connection that turns out closed before the request went
    /// out (the upstream closed it while idle) is passed over for the next, the same
    /// request unsent.
    pub async fn send(
        &self,
        home: &Arc<Connections>,
        mut request: http::Request<UpstreamBody>,
    ) -> Result<(http::Response<Incoming>, Connection), SendError> {
        loop {
            let (mut sender, reused) = match home.idle.take() {
                Some(sender) => (sender, true),
                None => (self.connect(&home.address).await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let home = Arc::clone(home);
                    return Ok((response, Connection { sender, home }));
                }
                Err(mut error) => match error.take_message() {
                    Some(unsent) if reused => request = unsent,
                    // A new connection closed before the request went out: nothing was
                    // sent, as when the connection is refused.
                    Some(_) => return Err(SendError::Connect(error.into_error().into())),
                    None => return Err(SendError::Exchange(error.into_error())),
                },
            }
        }
    }
}

/// Every [`SWEEP_INTERVAL`], closes the idle connections that expired or that the instance
/// closed, among those `connections` lists for `owner`. Ends once the owner is dropped:
/// the task holds it only weakly.
pub fn spawn_sweeper<O>(
    owner: &Arc<O>,
    connections: fn(&O) -> Vec<Arc<Connections>>,
) -> tokio::task::JoinHandle<()>
where
    O: Send + Sync + 'static,
{
    let owner: Weak<O> = Arc::downgrade(owner);
    tokio::spawn(async move {
        loop {
            let Some(strong) = owner.upgrade() else {
                return;
            };
            for home in connections(&strong) {
                home.idle.sweep();
            }
            drop(strong);
            tokio::time::sleep(SWEEP_INTERVAL).await;
        }
    })
}
