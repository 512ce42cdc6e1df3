//! Header hygiene, both ways: the one hop-by-hop filter that requests and answers pass, and
//! the forwarding headers the gateway writes itself.

use std::cell::RefCell;
use std::net::IpAddr;

use http::HeaderValue;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1); never forwarded
/// in either direction.
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

/// The hop-by-hop headers of one message: the standard ones, plus the ones its own
/// `Connection` header names. Used on the client's request and on the upstream's answer.
#[derive(Debug, Default)]
pub struct HopByHop {
    /// Names `Connection` lists beyond the standard ones (lowercase). Usually empty, and
    /// then never allocated: `Connection: keep-alive` and `close` add nothing.
    listed: Vec<String>,
}

impl HopByHop {
    /// The filter for a message whose `Connection` header values are `values`.
    pub fn of<'v>(values: impl Iterator<Item = &'v [u8]>) -> Self {
        let mut listed = Vec::new();
        for value in values {
            let Ok(value) = std::str::from_utf8(value) else {
                continue;
            };
            for name in value.split(',').map(str::trim) {
                if name.is_empty()
                    || name.eq_ignore_ascii_case("close")
                    || HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
                {
                    continue;
                }
                listed.push(name.to_ascii_lowercase());
            }
        }
        Self { listed }
    }

    /// Whether the header `name` (lowercase, as header maps hold names) stays on this hop.
    pub fn drops(&self, name: &str) -> bool {
        HOP_BY_HOP.contains(&name) || self.listed.iter().any(|listed| listed == name)
    }
}

thread_local! {
    /// The last client address formatted on this worker, with its header value: requests
    /// come in runs from one address (a connection's keep-alive requests, a load balancer
    /// in front), and formatting an address showed in the profile.
    static LAST_PEER: RefCell<Option<(IpAddr, HeaderValue)>> = const { RefCell::new(None) };
}

/// `ip` as the `X-Forwarded-For` value.
pub fn forwarded_for(ip: IpAddr) -> HeaderValue {
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

    #[test]
    fn standard_and_connection_listed_headers_are_hop_by_hop() {
        let filter = HopByHop::of([b"keep-alive, X-Session-Hint".as_slice(), b"close"].into_iter());
        let cases = [
            ("connection", true, "standard"),
            ("transfer-encoding", true, "standard"),
            ("keep-alive", true, "standard, listed too"),
            ("x-session-hint", true, "listed in Connection"),
            ("close", false, "a Connection option, not a header"),
            ("content-type", false, "end to end"),
        ];
        for (name, dropped, why) in cases {
            assert_eq!(filter.drops(name), dropped, "{name}: {why}");
        }
        assert!(HopByHop::of(std::iter::empty()).listed.is_empty());
    }
}
