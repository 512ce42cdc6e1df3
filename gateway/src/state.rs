//! What every request handler shares.

use std::sync::Arc;

use crate::auth::{JwksCache, Revocations};
use crate::metrics::Metrics;
use crate::openapi::ApiDocument;
use crate::proxy::Proxy;

/// The gateway's shared state, one per process.
#[derive(Debug)]
pub struct GatewayState {
    /// The request path: route table, token verification, upstream connections.
    pub proxy: Proxy,
    /// The JWKS cache (JWKS mode only).
    pub jwks: Option<Arc<JwksCache>>,
    /// The revocation list (readiness, where stale closes the door).
    pub revocations: Arc<Revocations>,
    /// Whether an auth-service clock off by more than the leeway fails readiness.
    pub clock_offset_fails_readiness: bool,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Body of `GET /`.
    pub welcome_message: String,
    /// The public API's OpenAPI document, `GET /openapi.json`.
    pub openapi: ApiDocument,
}
