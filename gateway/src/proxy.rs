//! Forwarding a request to an upstream instance and its answer back: header hygiene on the
//! way in, bodies streamed both ways within a limit, safe retries on another instance,
//! status, headers and a streamed body on the way out.

use std::cell::RefCell;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::{StatusCode, header as actix_header};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::client::legacy::connect::HttpConnector;
use service_kit::RequestId;
use service_kit::assertion::IdentitySigner;
use shared::headers::{ACCESS_TOKEN, IDENTITY_PREFIX, IDENTITY_SIGNATURE, REQUEST_ID};
use tower_service::Service;

use crate::auth::Verified;
use crate::configuration::{IdentitySettings, ProxySettings};
use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::pool;
use crate::upstream::{Instance, Upstream};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1); never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Request bodies up to this size are held in memory, so that a failed attempt can be
/// retried on another instance; larger ones stream through and are never retried.
pub const RETRY_BUFFER_BYTES: usize = 64 * 1024;

/// Upstream answers that declare a length up to this size are read whole before ours
/// starts (one write to the client, no streaming machinery); longer or open-ended ones
/// stream through.
pub const BUFFERED_ANSWER_BYTES: u64 = 64 * 1024;

/// Chunks in flight between the client connection and the upstream request.
const STREAM_CHANNEL_CHUNKS: usize = 8;

/// TCP keep-alive probes on upstream connections: first after this much silence, then at
/// this interval.
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);

/// Unacknowledged data for this long closes an upstream connection.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// A request body on its way upstream: held, or streamed from the client connection.
pub type UpstreamBody = Either<Full<Bytes>, ChannelBody>;

/// The request body as it will be sent.
enum OutgoingBody {
    /// Small enough to keep: resendable.
    Buffered(Bytes),
    /// Streamed from the client; `exceeded` is set if it grows past the limit.
    Streamed(Option<ChannelBody>, Arc<AtomicBool>),
}

/// A request body fed, chunk by chunk, by the task reading the client's payload.
#[derive(Debug)]
pub struct ChannelBody {
    chunks: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    /// The declared length, when there is one (sent upstream as `Content-Length`).
    length: Option<u64>,
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

/// An upstream answer's body streamed to the client, cut off at the request's deadline. The
/// connection goes back to the pool once the body has come through whole.
struct AnswerStream {
    body: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    connection: Option<(SendRequest<UpstreamBody>, Arc<Instance>)>,
}

impl futures_util::Stream for AnswerStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Checked before every chunk, not only when the upstream pauses: one that keeps
        // sending past the deadline is cut off too.
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the upstream answer did not finish in time",
            ))));
        }
        loop {
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers are hop-by-hop here (the answer is re-framed): dropped.
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    return Poll::Ready(Some(Err(io::Error::other(error))));
                }
                Poll::Ready(None) => {
                    if let Some((sender, instance)) = self.connection.take() {
                        release(&instance, sender);
                    }
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Why one attempt failed.
enum AttemptError {
    /// No connection could be made: nothing was sent.
    Connect(Box<dyn std::error::Error + Send + Sync>),
    /// The deadline passed.
    Timeout,
    /// The exchange broke after the request may have been sent.
    Exchange(Box<dyn std::error::Error + Send + Sync>),
}

/// Forwards requests to upstreams over pooled HTTP/1.1 connections (see [`crate::pool`]).
#[derive(Debug)]
pub struct Proxy {
    connector: HttpConnector,
    handshake: http1::Builder,
    max_body_bytes: usize,
    max_retries: usize,
    request_timeout: Duration,
    signer: IdentitySigner,
    metrics: Arc<Metrics>,
}

impl Proxy {
    /// A proxy with the configured timeouts, limits and identity key.
    pub fn new(
        settings: &ProxySettings,
        identity: &IdentitySettings,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)));
        // Pooled connections to an upstream that vanished without a word (a container gone,
        // a dropped flow) are found out by the kernel instead of by a request's deadline.
        connector.set_keepalive(Some(TCP_KEEPALIVE));
        connector.set_keepalive_interval(Some(TCP_KEEPALIVE));
        connector.set_keepalive_retries(Some(3));
        connector.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT));
        // Redirects are the client's business: this client never follows them.
        Ok(Self {
            connector,
            handshake: http1::Builder::new(),
            max_body_bytes: settings.max_body_bytes,
            max_retries: settings.max_retries,
            request_timeout: Duration::from_millis(settings.request_timeout_ms),
            signer: IdentitySigner::new(&identity.secret)?,
            metrics,
        })
    }

    /// Sends `req` with its body to an instance of `upstream` and returns the answer. With
    /// an identity (protected routes) the client's credentials are dropped and the signed,
    /// verified identity is added instead.
    pub async fn forward(
        &self,
        req: &HttpRequest,
        payload: web::Payload,
        upstream: &Upstream,
        identity: Option<&Verified>,
        request_id: &RequestId,
    ) -> Result<HttpResponse, GatewayError> {
        let mut body = self.outgoing_body(req, payload).await?;
        let method = http::Method::from_bytes(req.method().as_str().as_bytes())
            .map_err(|e| GatewayError::Unexpected(e.into()))?;
        let idempotent = method.is_idempotent();
        let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let deadline = tokio::time::Instant::from_std(Instant::now() + self.request_timeout);

        let mut tried: Vec<Arc<Instance>> = Vec::new();
        let mut last_error = None;
        loop {
            let Some(instance) = upstream.pick(&tried) else {
                // Out of instances: the last failure says more than "none healthy".
                return Err(last_error
                    .unwrap_or_else(|| GatewayError::NoHealthyInstance(upstream.name.clone())));
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(GatewayError::UpstreamTimeout(upstream.name.clone()));
            }
            let attempt_body = match &mut body {
                OutgoingBody::Buffered(bytes) => Either::Left(Full::new(bytes.clone())),
                OutgoingBody::Streamed(stream, _) => stream
                    .take()
                    .map_or_else(|| Either::Left(Full::default()), Either::Right),
            };
            // The client's request line was parsed already; only its length can fail here.
            let uri = instance
                .uri(path_and_query)
                .map_err(|_| GatewayError::PathTooLong)?;
            // Each attempt builds its own headers: the identity assertion signs the path
            // this instance receives, behind its own prefix.
            let headers = upstream_headers(req, identity, request_id, &self.signer, uri.path());
            let mut request = http::Request::new(attempt_body);
            *request.method_mut() = method.clone();
            *request.uri_mut() = uri;
            *request.headers_mut() = headers;
            request
                .headers_mut()
                .insert(http::header::HOST, instance.host_header.clone());

            let outcome =
                tokio::time::timeout_at(deadline, self.exchange(&instance, request, deadline))
                    .await
                    .unwrap_or(Err(AttemptError::Timeout));
            let error = match outcome {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            if let OutgoingBody::Streamed(_, exceeded) = &body
                && exceeded.load(Ordering::SeqCst)
            {
                return Err(GatewayError::PayloadTooLarge(self.max_body_bytes));
            }
            if matches!(error, AttemptError::Connect(_) | AttemptError::Timeout) {
                upstream.eject(&instance);
            }
            let resendable = matches!(body, OutgoingBody::Buffered(_));
            // A connection refused, or not made within the connect timeout, sent nothing:
            // any method may try the next instance. A timeout of the exchange already spent
            // the whole budget and is not retried.
            let safe = match error {
                AttemptError::Connect(_) => true,
                AttemptError::Timeout => false,
                AttemptError::Exchange(_) => idempotent,
            };
            tried.push(instance);
            let error = upstream_error(&upstream.name, &error);
            if !(resendable && safe && tried.len() <= self.max_retries) {
                return Err(error);
            }
            last_error = Some(error);
            self.metrics.upstream_error(&upstream.name, "retry");
            tracing::info!(upstream = %upstream.name, attempt = tried.len() + 1, "retrying on another instance");
        }
    }

    /// A new connection to `instance`, its task spawned on this thread.
    async fn connect(
        &self,
        instance: &Instance,
    ) -> Result<SendRequest<UpstreamBody>, AttemptError> {
        let io = self
            .connector
            .clone()
            .call(instance.connect_uri.clone())
            .await
            .map_err(|error| AttemptError::Connect(error.into()))?;
        let (sender, connection) = self
            .handshake
            .handshake(io)
            .await
            .map_err(|error| AttemptError::Exchange(error.into()))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "upstream connection closed on an error");
            }
        });
        Ok(sender)
    }

    /// Sends `request` on an idle connection to `instance`, or on a new one. A pooled
    /// connection that turns out closed before the request went out (the upstream closed it
    /// while idle) is passed over for the next, the same request unsent.
    async fn send(
        &self,
        instance: &Instance,
        mut request: http::Request<UpstreamBody>,
    ) -> Result<(http::Response<Incoming>, SendRequest<UpstreamBody>), AttemptError> {
        loop {
            let (mut sender, reused) = match instance.idle.take() {
                Some(sender) => (sender, true),
                None => (self.connect(instance).await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, sender)),
                Err(mut error) => match error.take_message() {
                    Some(unsent) if reused => request = unsent,
                    // A new connection closed before the request went out: nothing was
                    // sent, as when the connection is refused.
                    Some(_) => return Err(AttemptError::Connect(error.into_error().into())),
                    None => return Err(AttemptError::Exchange(error.into_error().into())),
                },
            }
        }
    }

    /// One attempt: the request to one instance, and its answer as ours (status,
    /// end-to-end headers, body read whole when short or streamed until `deadline`).
    async fn exchange(
        &self,
        instance: &Arc<Instance>,
        request: http::Request<UpstreamBody>,
        deadline: tokio::time::Instant,
    ) -> Result<HttpResponse, AttemptError> {
        let head = request.method() == http::Method::HEAD;
        let (response, sender) = self.send(instance, request).await?;
        let (parts, body) = response.into_parts();
        let status = StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut builder = HttpResponse::build(status);
        for (name, value) in &parts.headers {
            let n = name.as_str();
            if HOP_BY_HOP.contains(&n) || n == "content-length" {
                continue;
            }
            if let (Ok(name), Ok(value)) = (
                actix_header::HeaderName::from_bytes(n.as_bytes()),
                actix_header::HeaderValue::from_bytes(value.as_bytes()),
            ) {
                builder.append_header((name, value));
            }
        }
        if head {
            release(instance, sender);
            // No body, but the length (or the chunked framing) a GET would have, as the
            // upstream said: the encoder writes it from the body's declared size.
            let length = parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let nothing = futures_util::stream::empty::<io::Result<Bytes>>();
            return Ok(streamed(builder, length, nothing));
        }
        match body.size_hint().exact() {
            Some(length) if length <= BUFFERED_ANSWER_BYTES => {
                let whole = body
                    .collect()
                    .await
                    .map_err(|e| AttemptError::Exchange(e.into()))?;
                release(instance, sender);
                Ok(builder.body(whole.to_bytes()))
            }
            length => {
                let stream = AnswerStream {
                    body,
                    deadline: Box::pin(tokio::time::sleep_until(deadline)),
                    connection: Some((sender, Arc::clone(instance))),
                };
                Ok(streamed(builder, length, stream))
            }
        }
    }

    /// Holds small bodies, streams large or chunked ones; refuses at once a body whose
    /// declared length is over the limit.
    async fn outgoing_body(
        &self,
        req: &HttpRequest,
        mut payload: web::Payload,
    ) -> Result<OutgoingBody, GatewayError> {
        let limit = self.max_body_bytes;
        let declared = req
            .headers()
            .get(actix_header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > limit) {
            return Err(GatewayError::PayloadTooLarge(limit));
        }
        let chunked = req.headers().contains_key(actix_header::TRANSFER_ENCODING);
        if !chunked && declared.unwrap_or(0) <= RETRY_BUFFER_BYTES {
            let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0));
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| GatewayError::BadBody(e.to_string()))?;
                if body.len() + chunk.len() > limit {
                    return Err(GatewayError::PayloadTooLarge(limit));
                }
                body.extend_from_slice(&chunk);
            }
            return Ok(OutgoingBody::Buffered(body.freeze()));
        }
        // The client's payload lives on this worker thread; a local task feeds it, counted
        // against the limit, into a channel the upstream request reads from.
        let exceeded = Arc::new(AtomicBool::new(false));
        let (sender, chunks) = tokio::sync::mpsc::channel(STREAM_CHANNEL_CHUNKS);
        let flag = Arc::clone(&exceeded);
        actix_web::rt::spawn(async move {
            let mut total = 0usize;
            while let Some(chunk) = payload.next().await {
                let item = match chunk {
                    Ok(chunk) => {
                        total += chunk.len();
                        if total > limit {
                            flag.store(true, Ordering::SeqCst);
                            Err(io::Error::other("request body over the limit"))
                        } else {
                            Ok(chunk)
                        }
                    }
                    Err(e) => Err(io::Error::other(e.to_string())),
                };
                let last = item.is_err();
                if sender.send(item).await.is_err() || last {
                    return;
                }
            }
        });
        let length = if chunked {
            None
        } else {
            declared.and_then(|len| u64::try_from(len).ok())
        };
        Ok(OutgoingBody::Streamed(
            Some(ChannelBody { chunks, length }),
            exceeded,
        ))
    }
}

/// An answer with `stream` as its body, framed with `length` when it is known (chunked
/// otherwise).
fn streamed<S>(
    mut builder: actix_web::HttpResponseBuilder,
    length: Option<u64>,
    stream: S,
) -> HttpResponse
where
    S: futures_util::Stream<Item = io::Result<Bytes>> + 'static,
{
    match length {
        Some(length) => builder.body(SizedStream::new(length, stream)),
        None => builder.body(BodyStream::new(stream)),
    }
}

/// Puts a connection whose exchange is over back in `instance`'s pool: at once when it is
/// ready for the next request, else once its task has finished with the last answer.
fn release(instance: &Arc<Instance>, mut sender: SendRequest<UpstreamBody>) {
    if sender.is_ready() {
        instance.idle.put(sender);
    } else if !sender.is_closed() {
        // Not idle yet: the upstream answered before it had read the whole request body,
        // which is still coming from the client. Bounded, as a client may stall it.
        let instance = Arc::clone(instance);
        tokio::spawn(async move {
            if let Ok(Ok(())) = tokio::time::timeout(pool::IDLE_TIMEOUT, sender.ready()).await {
                instance.idle.put(sender);
            }
        });
    }
}

/// Names the `Connection` header lists, which are hop-by-hop for this message too.
fn connection_listed(req: &HttpRequest) -> Vec<String> {
    req.headers()
        .get_all(actix_header::CONNECTION)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect()
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

thread_local! {
    /// The last client address formatted on this worker, with its header value: requests
    /// come in runs from one address (a connection's keep-alive requests, a load balancer
    /// in front), and formatting an address showed in the profile.
    static LAST_PEER: RefCell<Option<(IpAddr, HeaderValue)>> = const { RefCell::new(None) };
}

/// `ip` as the `X-Forwarded-For` value.
fn forwarded_for(ip: IpAddr) -> HeaderValue {
    LAST_PEER.with_borrow_mut(|last| match last {
        Some((seen, value)) if *seen == ip => value.clone(),
        _ => {
            let value = HeaderValue::try_from(ip.to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
            *last = Some((ip, value.clone()));
            value
        }
    })
}

/// The headers sent upstream: the client's, minus hop-by-hop headers, any identity or
/// forwarding headers it made up, and (when an identity is forwarded) its credentials;
/// plus our own forwarding headers, the request id and the signed, verified identity. The
/// assertion covers `upstream_path`, the path the upstream receives (without the query).
fn upstream_headers(
    req: &HttpRequest,
    identity: Option<&Verified>,
    request_id: &RequestId,
    signer: &IdentitySigner,
    upstream_path: &str,
) -> HeaderMap {
    let listed = connection_listed(req);
    let mut out = HeaderMap::with_capacity(req.headers().len() + 8);
    for (name, value) in req.headers() {
        let n = name.as_str();
        let dropped = HOP_BY_HOP.contains(&n)
            || listed.iter().any(|l| l == n)
            || n == "host"
            || n == "content-length"
            || n == "forwarded"
            || n == REQUEST_ID
            || n.starts_with("x-forwarded-")
            || n.starts_with(IDENTITY_PREFIX)
            || (identity.is_some() && (n == ACCESS_TOKEN || n == "authorization"));
        if dropped {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(name, value);
        }
    }
    // The gateway is the edge: what the client claims about earlier hops is not trusted.
    if let Some(peer) = req.peer_addr() {
        out.insert(X_FORWARDED_FOR, forwarded_for(peer.ip()));
    }
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            out.insert(HeaderName::from_static(name), value);
        }
    };
    set(
        "x-forwarded-proto",
        if req.app_config().secure() {
            "https"
        } else {
            "http"
        },
    );
    if let Some(host) = req
        .headers()
        .get(actix_header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        set("x-forwarded-host", host);
    }
    set(REQUEST_ID, request_id.as_str());
    if let Some(verified) = identity {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let assertion = signer.sign(now, req.method().as_str(), upstream_path, |name| {
            verified.header(name)
        });
        set(IDENTITY_SIGNATURE, &assertion);
        for (name, value) in &verified.headers {
            out.insert(name.clone(), value.clone());
        }
    }
    out
}

fn upstream_error(upstream: &str, error: &AttemptError) -> GatewayError {
    let error: &(dyn std::error::Error + 'static) = match error {
        AttemptError::Timeout => return GatewayError::UpstreamTimeout(upstream.to_owned()),
        AttemptError::Connect(error) | AttemptError::Exchange(error) => error.as_ref(),
    };
    let mut cause = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        cause.push_str(": ");
        cause.push_str(&inner.to_string());
        source = inner.source();
    }
    GatewayError::UpstreamUnavailable {
        upstream: upstream.to_owned(),
        cause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarded_for_value_follows_the_client_address() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        for (ip, expected) in [
            (v4, "10.0.0.1"),
            (v4, "10.0.0.1"),
            (v6, "2001:db8::1"),
            (v4, "10.0.0.1"),
        ] {
            assert_eq!(forwarded_for(ip), expected);
        }
    }
}
