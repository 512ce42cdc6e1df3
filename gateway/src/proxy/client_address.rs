//! Stage 0, the client address: who sent the request, as far as the gateway can tell. The
//! TCP peer, unless the peer is a trusted proxy (a load balancer or TLS terminator in front
//! of the gateway); then `X-Forwarded-For` is walked from the right, past every trusted
//! address, to the nearest one that is not trusted (nginx's `real_ip_recursive`).
//!
//! With no trusted proxy (the default) nothing the client sends is read: the peer is the
//! client, so an `X-Forwarded-For` of its own making changes nothing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

/// The header a proxy appends its peer's address to.
const X_FORWARDED_FOR: &str = "x-forwarded-for";
/// The header a TLS terminator names the client's scheme in.
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";

/// The networks whose `X-Forwarded-For` and `X-Forwarded-Proto` the gateway believes.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

/// What stage 0 found out about the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress {
    /// The client's address: the rate limiters' key, forwarded as `X-Forwarded-For`.
    pub ip: IpAddr,
    /// Whether the client spoke HTTPS to a trusted TLS terminator in front of us.
    pub https: bool,
}

impl TrustedProxies {
    /// Trusts proxies in `nets`; none (the default) means the peer is always the client.
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self { nets }
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` with `headers`. `secure` says whether the
    /// gateway's own listener speaks TLS.
    pub fn resolve(
        &self,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
        secure: bool,
    ) -> ClientAddress {
        let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| canonical(p.ip()));
        // The common case costs one empty-list check: nothing is trusted.
        if self.nets.is_empty() || !self.trusts(peer) {
            return ClientAddress {
                ip: peer,
                https: secure,
            };
        }
        let https = secure
            || headers
                .get(X_FORWARDED_PROTO)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
        ClientAddress {
            ip: self.walk(peer, headers),
            https,
        }
    }

    /// The nearest untrusted address in `X-Forwarded-For`, right to left. Every header
    /// line counts, in order. An entry that is not an address ends the walk at the last
    /// trusted hop; a chain of trusted hops only gives its leftmost address.
    fn walk(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let lines: Vec<&str> = headers
            .get_all(X_FORWARDED_FOR)
            .filter_map(|v| v.to_str().ok())
            .collect();
        let mut nearest = peer;
        for entry in lines.iter().rev().flat_map(|line| line.rsplit(',')) {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let Some(ip) = parse_entry(entry) else {
                return nearest;
            };
            nearest = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        nearest
    }
}

/// An `X-Forwarded-For` entry: an address, perhaps with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .map(canonical)
}

/// IPv4 addresses mapped into IPv6 (a dual-stack listener's view) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests;
