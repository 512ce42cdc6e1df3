//! The gateway's metrics, in the OpenMetrics text format on the admin listener.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a request: the route it matched (its path prefix, `gateway` for the
/// gateway's own answers, `none` when no route matched) and the answer's status.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route prefix.
    pub route: Arc<str>,
    /// Status code.
    pub status: u16,
}

/// Labels naming a route only.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Route prefix.
    pub route: Arc<str>,
}

/// Labels naming why a token was refused.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The rejection reason (`expired`, `bad_signature`, ...).
    pub reason: &'static str,
}

/// Labels of an upstream failure.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    /// Upstream name.
    pub upstream: String,
    /// `unavailable`, `timeout`, `no_healthy_instance` or `retry`.
    pub kind: String,
}

/// Labels of the token cache.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `hit` or `miss`.
    pub result: &'static str,
}

/// Every metric the gateway keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Proxied and refused requests.
    pub requests: Family<RequestLabels, Counter>,
    /// Time to answer, per route.
    pub duration: Family<RouteLabels, Histogram>,
    /// Refused tokens, per reason.
    pub token_rejections: Family<ReasonLabels, Counter>,
    /// Verified-token cache lookups that hit (`token_cache{result="hit"}`), looked up in
    /// its family once rather than on every request.
    pub token_cache_hits: Counter,
    /// Lookups that missed (`token_cache{result="miss"}`).
    pub token_cache_misses: Counter,
    /// Upstream failures and retries.
    pub upstream_errors: Family<UpstreamLabels, Counter>,
    /// Requests refused at a protected route, by why (`missing_token`, `invalid_token`,
    /// `role_denied`).
    pub refusals: Family<ReasonLabels, Counter>,
    /// The route label of requests no route matched (`none`), made once.
    pub unmatched: Arc<str>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        // 0.5 ms to ~33 s in 16 doubling buckets.
        let duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let token_rejections = Family::<ReasonLabels, Counter>::default();
        let token_cache = Family::<CacheLabels, Counter>::default();
        let token_cache_hits = token_cache
            .get_or_create(&CacheLabels { result: "hit" })
            .clone();
        let token_cache_misses = token_cache
            .get_or_create(&CacheLabels { result: "miss" })
            .clone();
        let upstream_errors = Family::<UpstreamLabels, Counter>::default();
        let refusals = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "refusals",
            "Requests refused at protected routes: missing_token, invalid_token, role_denied",
            refusals.clone(),
        );
        registry.register(
            "requests",
            "Requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer, by route",
            duration.clone(),
        );
        registry.register(
            "token_rejections",
            "Tokens refused, by reason",
            token_rejections.clone(),
        );
        registry.register("token_cache", "Verified-token cache lookups", token_cache);
        registry.register(
            "upstream_errors",
            "Upstream failures and retries",
            upstream_errors.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            token_rejections,
            token_cache_hits,
            token_cache_misses,
            upstream_errors,
            refusals,
            unmatched: Arc::from("none"),
        }
    }
}

impl Metrics {
    /// Adds what `collector` reads on every scrape (the JWKS caches' fetches, key age and
    /// clock offset).
    pub fn register_collector(&mut self, collector: impl Collector) {
        self.registry.register_collector(Box::new(collector));
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Counts an upstream failure of `kind`.
    pub fn upstream_error(&self, upstream: &str, kind: &str) {
        self.upstream_errors
            .get_or_create(&UpstreamLabels {
                upstream: upstream.to_owned(),
                kind: kind.to_owned(),
            })
            .inc();
    }
}
