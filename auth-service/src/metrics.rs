//! The auth-service's metrics, in the OpenMetrics text format on its admin listener: what
//! logins, refreshes and registrations came to, revocations, the password hashing queue,
//! where attacks on the service show first, and the database's latency.

use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::ApiError;
use crate::password::PasswordHasher;

/// Labels of an answer: what it came to.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `success`, or why not (snake_case, see [`outcome`]).
    pub outcome: &'static str,
}

/// Labels of a revocation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RevocationLabels {
    /// `reuse_detected`: a rotated refresh token came back, and its whole family was
    /// revoked. (Logouts are counted apart: one for an unknown token revokes nothing.)
    pub reason: &'static str,
}

/// Every metric the auth-service keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    logins: Family<OutcomeLabels, Counter>,
    refreshes: Family<OutcomeLabels, Counter>,
    registrations: Family<OutcomeLabels, Counter>,
    logouts: Family<OutcomeLabels, Counter>,
    revocations: Family<RevocationLabels, Counter>,
    hash_waiting: Gauge,
    hash_running: Gauge,
    /// Time from a hash's admission to its start on a hashing thread.
    pub hash_wait: Histogram,
    /// What the revocation stream records.
    pub feed: FeedMetrics,
}

/// The revocation stream's readings: the database's latency as its steady poll sees it,
/// the streams open, and the latest revocation handed out.
#[derive(Debug, Clone)]
pub struct FeedMetrics {
    /// Time the database took to answer each poll for new revocations.
    pub database_latency: Histogram,
    /// Streams open on this instance (gateways following it).
    pub streams: Gauge,
    /// Number of the latest revocation handed out.
    pub sequence: Gauge,
}

impl Default for FeedMetrics {
    fn default() -> Self {
        Self {
            // 0.5 ms to ~4 s in 14 doubling buckets.
            database_latency: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            streams: Gauge::default(),
            sequence: Gauge::default(),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("auth");
        let metrics = Self {
            logins: Family::default(),
            refreshes: Family::default(),
            registrations: Family::default(),
            logouts: Family::default(),
            revocations: Family::default(),
            hash_waiting: Gauge::default(),
            hash_running: Gauge::default(),
            // 1 ms to ~16 s in 15 doubling buckets.
            hash_wait: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            feed: FeedMetrics::default(),
            registry: Registry::default(),
        };
        registry.register(
            "logins",
            "POST /login answers, by outcome",
            metrics.logins.clone(),
        );
        registry.register(
            "refreshes",
            "POST /refresh answers, by outcome (refresh_reused: reuse detected)",
            metrics.refreshes.clone(),
        );
        registry.register(
            "registrations",
            "POST /register answers, by outcome",
            metrics.registrations.clone(),
        );
        registry.register(
            "logouts",
            "POST /logout answers, by outcome",
            metrics.logouts.clone(),
        );
        registry.register(
            "revocations",
            "Refresh-token families revoked, by reason",
            metrics.revocations.clone(),
        );
        registry.register(
            "hash_queue_waiting",
            "Password hashes admitted and waiting for a hashing thread",
            metrics.hash_waiting.clone(),
        );
        registry.register(
            "hash_running",
            "Password hashes running",
            metrics.hash_running.clone(),
        );
        registry.register(
            "hash_wait_seconds",
            "Time a password hash waited for a hashing thread",
            metrics.hash_wait.clone(),
        );
        registry.register(
            "database_latency_seconds",
            "Time the database took to answer the revocation poll (one every \
             revocations.poll_interval_ms: a steady reading of its latency)",
            metrics.feed.database_latency.clone(),
        );
        registry.register(
            "revocation_streams",
            "Revocation streams open on this instance (gateways following it)",
            metrics.feed.streams.clone(),
        );
        registry.register(
            "revocation_sequence",
            "Number of the latest revocation this instance handed out",
            metrics.feed.sequence.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }
}

/// The endpoints whose answers are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// `POST /login`.
    Login,
    /// `POST /refresh`.
    Refresh,
    /// `POST /register`.
    Register,
    /// `POST /logout`.
    Logout,
}

impl Counted {
    /// The counted endpoint at `path`, if it is one.
    pub fn of(path: &str) -> Option<Self> {
        match path {
            "/login" => Some(Self::Login),
            "/refresh" => Some(Self::Refresh),
            "/register" => Some(Self::Register),
            "/logout" => Some(Self::Logout),
            _ => None,
        }
    }
}

/// What an answer of the auth-service came to, as a label value.
pub fn outcome(response: Option<&ApiError>) -> &'static str {
    match response {
        None => "success",
        Some(error) => match error {
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::TooManyAttempts(_) => "too_many_attempts",
            ApiError::TooManyRefreshes(_) => "too_many_refreshes",
            ApiError::Busy(_) => "busy",
            ApiError::RegistrationClosed => "registration_closed",
            ApiError::UsernameTaken => "username_taken",
            ApiError::RefreshInvalid => "refresh_invalid",
            ApiError::RefreshReused => "refresh_reused",
            ApiError::Unexpected(_) => "error",
        },
    }
}

impl Metrics {
    /// Counts an answer of a counted endpoint.
    pub fn observe<B>(&self, endpoint: Counted, response: &ServiceResponse<B>) {
        let res = response.response();
        let error = res.error().and_then(|e| e.as_error::<ApiError>());
        // An error answered by the framework (a body too large, an unknown method).
        let outcome = if res.status().is_success() || error.is_some() {
            outcome(error)
        } else if res.status().is_client_error() {
            "bad_request"
        } else {
            "error"
        };
        let family = match endpoint {
            Counted::Login => &self.logins,
            Counted::Refresh => &self.refreshes,
            Counted::Register => &self.registrations,
            Counted::Logout => &self.logouts,
        };
        family.get_or_create(&OutcomeLabels { outcome }).inc();
        if outcome == "refresh_reused" {
            self.revoked("reuse_detected");
        }
    }

    /// Counts a revoked refresh-token family.
    pub fn revoked(&self, reason: &'static str) {
        self.revocations
            .get_or_create(&RevocationLabels { reason })
            .inc();
    }

    /// The metrics in the OpenMetrics text format, with the hashing queue as it is now.
    pub fn encode(&self, hasher: &PasswordHasher) -> String {
        let (waiting, running) = hasher.load();
        self.hash_waiting
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
        self.hash_running
            .set(i64::try_from(running).unwrap_or(i64::MAX));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The metrics shared by the request path and the admin listener.
pub type SharedMetrics = Arc<Metrics>;
