//! Forwarding a request to an upstream instance and its answer back: header hygiene on the
//! way in, bodies streamed both ways within a limit, safe retries on another instance,
//! status, headers and a streamed body on the way out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::SizedStream;
use actix_web::http::{Method, StatusCode, header as actix_header};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use service_kit::RequestId;
use service_kit::assertion::IdentitySigner;
use shared::Identity;
use shared::headers::{ACCESS_TOKEN, IDENTITY_PREFIX, IDENTITY_SIGNATURE, REQUEST_ID};

use crate::configuration::{IdentitySettings, ProxySettings};
use crate::error::GatewayError;
use crate::metrics::Metrics;
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

/// Chunks in flight between the client connection and the upstream request.
const STREAM_CHANNEL_CHUNKS: usize = 8;

/// The request body as it will be sent.
enum OutgoingBody {
    /// Small enough to keep: resendable.
    Buffered(web::Bytes),
    /// Streamed from the client; `exceeded` is set if it grows past the limit.
    Streamed(Option<reqwest::Body>, Arc<AtomicBool>),
}

/// Forwards requests to upstreams over one pooled HTTP client.
#[derive(Debug)]
pub struct Proxy {
    client: reqwest::Client,
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
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            // Redirects are the client's business: pass them through untouched.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
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
        identity: Option<&Identity>,
        request_id: &RequestId,
    ) -> Result<HttpResponse, GatewayError> {
        let mut body = self.outgoing_body(req, payload).await?;
        let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
            .map_err(|e| GatewayError::Unexpected(e.into()))?;
        let idempotent = matches!(
            req.method().as_str(),
            "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "TRACE"
        );
        let mut headers = Some(upstream_headers(req, identity, request_id, &self.signer));
        let deadline = Instant::now() + self.request_timeout;

        let mut tried: Vec<Arc<Instance>> = Vec::new();
        let mut last_error = None;
        loop {
            let Some(instance) = upstream.pick(&tried) else {
                // Out of instances: the last failure says more than "none healthy".
                return Err(last_error
                    .unwrap_or_else(|| GatewayError::NoHealthyInstance(upstream.name.clone())));
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(GatewayError::UpstreamTimeout(upstream.name.clone()));
            }
            let attempt_body = match &mut body {
                OutgoingBody::Buffered(bytes) => reqwest::Body::from(bytes.clone()),
                OutgoingBody::Streamed(stream, _) => {
                    stream.take().unwrap_or_else(|| reqwest::Body::from(""))
                }
            };
            // Built once; rebuilt only for a retry (rare), rather than copied for every try.
            let mut attempt_headers = headers
                .take()
                .unwrap_or_else(|| upstream_headers(req, identity, request_id, &self.signer));
            if let Ok(host) = HeaderValue::from_str(&instance.authority) {
                attempt_headers.insert(reqwest::header::HOST, host);
            }
            let result = self
                .client
                .request(method.clone(), instance.url(req.path(), req.query_string()))
                .headers(attempt_headers)
                .timeout(remaining)
                .body(attempt_body)
                .send()
                .await;
            let error = match result {
                Ok(response) => return Ok(client_response(req.method(), response)),
                Err(error) => error,
            };
            if let OutgoingBody::Streamed(_, exceeded) = &body
                && exceeded.load(Ordering::SeqCst)
            {
                return Err(GatewayError::PayloadTooLarge(self.max_body_bytes));
            }
            if error.is_connect() || error.is_timeout() {
                upstream.eject(&instance);
            }
            let resendable = matches!(body, OutgoingBody::Buffered(_));
            // A refused connection sent nothing and cost little: any method may try the next
            // instance. A timeout already spent a whole budget and is not retried.
            let safe = !error.is_timeout() && (error.is_connect() || idempotent);
            tried.push(instance);
            if !(resendable && safe && tried.len() <= self.max_retries) {
                return Err(upstream_error(&upstream.name, &error));
            }
            last_error = Some(upstream_error(&upstream.name, &error));
            self.metrics.upstream_error(&upstream.name, "retry");
            tracing::info!(upstream = %upstream.name, attempt = tried.len() + 1, "retrying on another instance");
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
        let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_CHANNEL_CHUNKS);
        let flag = Arc::clone(&exceeded);
        actix_web::rt::spawn(async move {
            let mut total = 0usize;
            while let Some(chunk) = payload.next().await {
                let item = match chunk {
                    Ok(chunk) => {
                        total += chunk.len();
                        if total > limit {
                            flag.store(true, Ordering::SeqCst);
                            Err(std::io::Error::other("request body over the limit"))
                        } else {
                            Ok(chunk)
                        }
                    }
                    Err(e) => Err(std::io::Error::other(e.to_string())),
                };
                let last = item.is_err();
                if sender.send(item).await.is_err() || last {
                    return;
                }
            }
        });
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        Ok(OutgoingBody::Streamed(
            Some(reqwest::Body::wrap_stream(stream)),
            exceeded,
        ))
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

/// The headers sent upstream: the client's, minus hop-by-hop headers, any identity or
/// forwarding headers it made up, and (when an identity is forwarded) its credentials;
/// plus our own forwarding headers, the request id and the signed, verified identity.
fn upstream_headers(
    req: &HttpRequest,
    identity: Option<&Identity>,
    request_id: &RequestId,
    signer: &IdentitySigner,
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
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            out.insert(HeaderName::from_static(name), value);
        }
    };
    // The gateway is the edge: what the client claims about earlier hops is not trusted.
    if let Some(peer) = req.peer_addr() {
        set("x-forwarded-for", &peer.ip().to_string());
    }
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
    if let Some(identity) = identity {
        let headers = identity.to_headers();
        let lookup = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let assertion = signer.sign(now, req.method().as_str(), req.path(), lookup);
        for (name, value) in &headers {
            set(name, value);
        }
        set(IDENTITY_SIGNATURE, &assertion);
    }
    out
}

/// The upstream's answer as ours: same status, end-to-end headers, body streamed through.
fn client_response(method: &Method, response: reqwest::Response) -> HttpResponse {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut builder = HttpResponse::build(status);
    for (name, value) in response.headers() {
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
    if method == Method::HEAD {
        return builder.finish();
    }
    let length = response.content_length();
    let stream = response.bytes_stream();
    match length {
        Some(len) => builder.body(SizedStream::new(len, Box::pin(stream))),
        None => builder.streaming(stream),
    }
}

fn upstream_error(upstream: &str, error: &reqwest::Error) -> GatewayError {
    if error.is_timeout() && !error.is_connect() {
        return GatewayError::UpstreamTimeout(upstream.to_owned());
    }
    let mut cause = error.to_string();
    let mut source = std::error::Error::source(error);
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
