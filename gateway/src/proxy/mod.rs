//! The request path of every proxied request, as named stages after cloudflare/pingora's
//! `ProxyHttp` phases. A per-request [`RequestContext`] goes through them in order:
//!
//! 0. [`client_address`]: who the client is, past trusted proxies (`client_address.rs`);
//! 1. [`request_filter`]: route, token, roles (`request_filter.rs`);
//! 2. upstream peer: the next healthy instance not tried yet ([`Upstream::pick`]);
//! 3. [`upstream_request`]: the request for that instance, its headers and signed identity
//!    (`upstream_request.rs`, header hygiene in `headers.rs`, bodies in `body.rs`);
//! 4. [`response_filter`]: the upstream's answer as ours (`response_filter.rs`);
//! 5. [`logging`]: metrics for the outcome (`logging.rs`).
//!
//! Stages 2 to 4 are one attempt; a failed attempt goes to another instance where
//! `retry.rs` says that is safe. Connections come from, and go back to, [`crate::pool`].

mod body;
pub mod client_address;
mod context;
mod headers;
mod logging;
mod request_filter;
mod response_filter;
mod retry;
mod upstream_request;
mod verify;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use service_kit::RequestId;
use service_kit::assertion::IdentitySigner;
use service_kit::server;

use crate::auth::TokenVerifier;
use crate::configuration::{ClientAddressSettings, IdentitySettings, ProxySettings};
use crate::error::{AttemptError, GatewayError};
use crate::metrics::Metrics;
use crate::pool::Connector;
use crate::rate_limit::set_rate_limit_headers;
use crate::routing::{Route, RouteTable};
use crate::upstream::Upstream;

pub use body::RETRY_BUFFER_BYTES;
pub use client_address::{ClientAddress, TrustedProxies};
pub use context::RequestContext;
pub use response_filter::BUFFERED_ANSWER_BYTES;

use body::OutgoingBody;
use logging::logging;
use request_filter::request_filter;
use response_filter::response_filter;
use retry::RetryPolicy;
use upstream_request::upstream_request;

/// Everything the stages need: the route table, the token verifier, the connection pool's
/// connector, limits, the identity key and the metrics.
#[derive(Debug)]
pub struct Proxy {
    routes: RouteTable,
    verifier: TokenVerifier,
    connector: Connector,
    max_body_bytes: usize,
    retry: RetryPolicy,
    request_timeout: Duration,
    signer: IdentitySigner,
    metrics: Arc<Metrics>,
    /// Proxies believed about the client's address and scheme.
    trusted: TrustedProxies,
    /// Status of a refusal for a missing or invalid token (403 or 401).
    refusal_status: StatusCode,
}

impl Proxy {
    /// A proxy over `routes` with the configured timeouts, limits, identity key and
    /// trusted proxies.
    pub fn new(
        routes: RouteTable,
        verifier: TokenVerifier,
        refusal_status: StatusCode,
        settings: &ProxySettings,
        identity: &IdentitySettings,
        client_address: &ClientAddressSettings,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        // Redirects are the client's business: this client never follows them.
        Ok(Self {
            routes,
            verifier,
            refusal_status,
            connector: Connector::new(Duration::from_millis(settings.connect_timeout_ms)),
            max_body_bytes: settings.max_body_bytes,
            retry: RetryPolicy {
                max_retries: settings.max_retries,
            },
            request_timeout: Duration::from_millis(settings.request_timeout_ms),
            signer: IdentitySigner::new(&identity.secret)?,
            metrics,
            trusted: TrustedProxies::new(client_address.trusted_proxies.clone()),
        })
    }

    /// The route table.
    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }

    /// Takes `req` through every stage and returns the answer, the upstream's or ours.
    pub async fn handle(
        &self,
        req: &HttpRequest,
        payload: web::Payload,
        request_id: &RequestId,
    ) -> Result<HttpResponse, GatewayError> {
        let mut ctx = self.context(req, request_id);
        let result = self.proxy(req, payload, &mut ctx).await;
        self.finish(&ctx, result)
    }

    /// A request's context with stage 0 done: who the client is.
    fn context<'a>(&self, req: &HttpRequest, request_id: &'a RequestId) -> RequestContext<'a> {
        let mut ctx = RequestContext::new(request_id);
        ctx.client = self
            .trusted
            .resolve(req.peer_addr(), req.headers(), server::is_tls(req));
        ctx
    }

    /// The answer with its rate-limit headers, counted by stage 5.
    fn finish(
        &self,
        ctx: &RequestContext<'_>,
        mut result: Result<HttpResponse, GatewayError>,
    ) -> Result<HttpResponse, GatewayError> {
        if let (Ok(response), Some(allowance)) = (&mut result, ctx.allowance) {
            set_rate_limit_headers(response.headers_mut(), allowance);
        }
        logging(&self.metrics, ctx, &result);
        result
    }

    async fn proxy<'a>(
        &'a self,
        req: &HttpRequest,
        payload: web::Payload,
        ctx: &mut RequestContext<'a>,
    ) -> Result<HttpResponse, GatewayError> {
        let route = request_filter(
            &self.routes,
            &self.verifier,
            self.refusal_status,
            req.path(),
            req.headers(),
            ctx,
        )
        .await?;
        self.forward(req, payload, route, ctx).await
    }

    /// Stages 2 to 4, attempt after attempt, until one answers or none may follow.
    async fn forward(
        &self,
        req: &HttpRequest,
        payload: web::Payload,
        route: &Route,
        ctx: &mut RequestContext<'_>,
    ) -> Result<HttpResponse, GatewayError> {
        let upstream: &Upstream = &route.upstream;
        let mut body = OutgoingBody::read(req, payload, self.max_body_bytes).await?;
        let method = http::Method::from_bytes(req.method().as_str().as_bytes())
            .map_err(|e| GatewayError::Unexpected(e.into()))?;
        let head = method == http::Method::HEAD;
        let deadline = tokio::time::Instant::from_std(Instant::now() + self.request_timeout);
        let failed = |source| GatewayError::Upstream {
            upstream: upstream.name.clone(),
            source,
        };
        let mut last_error = None;
        loop {
            // Stage 2, the upstream peer.
            let Some(instance) = upstream.pick(&ctx.tried) else {
                // Out of instances: the last failure says more than "none healthy".
                return Err(last_error
                    .unwrap_or_else(|| GatewayError::NoHealthyInstance(upstream.name.clone())));
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(failed(AttemptError::Timeout));
            }
            let request = upstream_request(
                req,
                ctx,
                &instance,
                &method,
                body.for_attempt(),
                &self.signer,
            )?;
            let attempt = async {
                let (response, connection) =
                    self.connector.send(&instance.connections, request).await?;
                response_filter(response, connection, head, deadline).await
            };
            let error = match tokio::time::timeout_at(deadline, attempt).await {
                Ok(Ok(response)) => return Ok(response),
                Ok(Err(error)) => error,
                Err(_) => AttemptError::Timeout,
            };
            if body.exceeded() {
                return Err(GatewayError::PayloadTooLarge(self.max_body_bytes));
            }
            // The client's body failed (408 when past its deadline): no fault of the instance.
            if body.client_failed() {
                return Err(GatewayError::BadBody("request body failed".to_owned()));
            }
            if error.ejects_instance() {
                upstream.eject(&instance);
            }
            ctx.tried.push(instance);
            let again = self.retry.retries(
                &error,
                method.is_idempotent(),
                body.resendable(),
                ctx.tried.len(),
            );
            if !again {
                return Err(failed(error));
            }
            tracing::info!(upstream = %upstream.name, attempt = ctx.tried.len() + 1, cause = %error, "retrying on another instance");
            last_error = Some(failed(error));
            self.metrics.upstream_error(&upstream.name, "retry");
        }
    }
}
