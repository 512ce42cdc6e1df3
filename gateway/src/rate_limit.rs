//! Per-route rate limits: token buckets (GCRA, from `governor`) keyed by client address or
//! by verified subject. Each gateway replica counts on its own, so N replicas let N times
//! the configured rate through.
//!
//! Keys whose bucket has refilled are indistinguishable from new ones, so a background task
//! drops them every sweep ([`KeyedLimiter::spawn_sweeper`]): memory holds only the keys
//! seen within about one sweep interval plus one refill.

mod keyed;

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use governor::Quota;
use service_kit::errors::json_error;

pub use keyed::KeyedLimiter;

/// A rate as configured: `"10/s"`, `"600/m burst 20"`, `"100/h"`. The burst (how many
/// requests may come at once) defaults to the count per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub(crate) quota: Quota,
}

impl Rate {
    /// Parses `spec`; the error says what a rate looks like.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let bad = || format!("rate {spec:?} is not like \"10/s\", \"600/m burst 20\" or \"100/h\"");
        let mut words = spec.split_whitespace();
        let (count, period) = words
            .next()
            .and_then(|w| w.split_once('/'))
            .ok_or_else(bad)?;
        let count: NonZeroU32 = count.parse().map_err(|_| bad())?;
        let quota = match period {
            "s" => Quota::per_second(count),
            "m" => Quota::per_minute(count),
            "h" => Quota::per_hour(count),
            _ => return Err(bad()),
        };
        let quota = match (words.next(), words.next(), words.next()) {
            (None, ..) => quota,
            (Some("burst"), Some(burst), None) => {
                quota.allow_burst(burst.parse().map_err(|_| bad())?)
            }
            _ => return Err(bad()),
        };
        Ok(Self { quota })
    }

    /// The burst size: `RateLimit-Limit`.
    pub fn burst(&self) -> u32 {
        self.quota.burst_size().get()
    }
}

/// A request let through, and how much of the bucket is left (`RateLimit-*` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// The burst size.
    pub limit: u32,
    /// Requests that may follow at once.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_seconds: u64,
}

impl Allowance {
    /// The tighter of two allowances (the one with fewer requests left).
    pub fn tighter(self, other: Option<Self>) -> Self {
        match other {
            Some(other) if other.remaining < self.remaining => other,
            _ => self,
        }
    }
}

/// A request refused: over the limit until `retry_after_seconds` have passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// The burst size.
    pub limit: u32,
    /// Seconds until one more request is let through (at least 1).
    pub retry_after_seconds: u64,
}

impl Limited {
    /// The 429 answer: JSON message, `Retry-After` and the `RateLimit-*` headers.
    pub fn answer(&self) -> HttpResponse {
        let mut response = json_error(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            "Too many requests.".to_owned(),
        );
        let wait = self.retry_after_seconds;
        let headers = response.headers_mut();
        set_rate_limit_headers(
            headers,
            Allowance {
                limit: self.limit,
                remaining: 0,
                reset_seconds: wait,
            },
        );
        headers.insert(RETRY_AFTER, HeaderValue::from(wait));
        response
    }
}

/// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (the IETF draft's
/// separate headers, which clients read today), on refusals and on limited routes' answers.
pub fn set_rate_limit_headers(headers: &mut HeaderMap, allowance: Allowance) {
    for (name, value) in [
        ("ratelimit-limit", u64::from(allowance.limit)),
        ("ratelimit-remaining", u64::from(allowance.remaining)),
        ("ratelimit-reset", allowance.reset_seconds),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}

/// A client address as a limiter key: IPv6 clients by their /64, which one client
/// usually holds whole (each of its addresses would otherwise get a bucket of its own).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}

/// `duration` in whole seconds, rounded up.
pub(crate) fn ceil_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// A route's limiters: per client address (checked before the token), per verified
/// subject (protected routes, checked after it). Both `None` on an unlimited route.
#[derive(Debug, Default)]
pub struct RouteLimits {
    /// Keyed by [`address_key`] of the client address.
    pub per_address: Option<Arc<KeyedLimiter<IpAddr>>>,
    /// Keyed by the token's `sub`.
    pub per_subject: Option<Arc<KeyedLimiter<String>>>,
}

impl RouteLimits {
    /// Limiters for the configured rates (empty: none).
    pub fn new(per_address: &str, per_subject: &str) -> Result<Self, String> {
        let limiter = |spec: &str| -> Result<_, String> {
            Ok(if spec.trim().is_empty() {
                None
            } else {
                Some(Rate::parse(spec)?)
            })
        };
        Ok(Self {
            per_address: limiter(per_address)?.map(|r| Arc::new(KeyedLimiter::new(r))),
            per_subject: limiter(per_subject)?.map(|r| Arc::new(KeyedLimiter::new(r))),
        })
    }

    /// Starts a sweeper for each limiter; each ends once its limiter is dropped.
    pub fn spawn_sweepers(&self, every: Duration) -> Vec<tokio::task::AbortHandle> {
        let mut tasks = Vec::new();
        if let Some(limiter) = &self.per_address {
            tasks.push(KeyedLimiter::spawn_sweeper(limiter, every).abort_handle());
        }
        if let Some(limiter) = &self.per_subject {
            tasks.push(KeyedLimiter::spawn_sweeper(limiter, every).abort_handle());
        }
        tasks
    }
}

#[cfg(test)]
mod tests;
