//! Settings of the defences keyed on who the client is: which proxies may say so, and the
//! routes' rate limits.

use serde::Deserialize;

use super::Access;

/// Which proxies in front of the gateway (load balancers, TLS terminators) are believed
/// about the client's address (`X-Forwarded-For`) and scheme (`X-Forwarded-Proto`).
#[derive(Debug, Clone, Deserialize)]
pub struct ClientAddressSettings {
    /// Networks of trusted proxies, e.g. `10.0.0.0/8`; empty (the default): the TCP peer is
    /// the client and forwarding headers from it are ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// A route's rate limits, each a rate like `"10/s burst 20"` (see
/// [`crate::rate_limit::Rate`]); empty: no limit of that kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Requests per client address.
    #[serde(default)]
    pub per_address: String,
    /// Requests per verified subject (the token's `sub`); protected routes only.
    #[serde(default)]
    pub per_subject: String,
}

impl RateLimitSettings {
    /// Refuses rates that do not parse, and per-subject limits on the public route `path`
    /// (`access`), which has no subject.
    pub fn check(&self, path: &str, access: Access) -> anyhow::Result<()> {
        if access == Access::Public && !self.per_subject.trim().is_empty() {
            anyhow::bail!("route {path:?} is public: it has no subject to limit (per_subject)");
        }
        crate::rate_limit::RouteLimits::new(&self.per_address, &self.per_subject)
            .map_err(|e| anyhow::anyhow!("route {path:?} rate_limit: {e}"))?;
        Ok(())
    }
}
