//! Unit tests of the client-address walk.

use actix_web::http::header::{HeaderName, HeaderValue};

use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn peer(ip: &str) -> Option<SocketAddr> {
    Some(SocketAddr::new(ip.parse().unwrap(), 4000))
}

fn trusted(nets: &[&str]) -> TrustedProxies {
    TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect())
}

#[test]
fn with_no_trusted_proxy_the_peer_is_the_client_whatever_it_claims() {
    let claims = headers(&[
        ("x-forwarded-for", "1.2.3.4"),
        ("x-forwarded-proto", "https"),
    ]);
    let resolved = TrustedProxies::default().resolve(peer("203.0.113.9"), &claims, false);
    assert_eq!(resolved.ip, "203.0.113.9".parse::<IpAddr>().unwrap());
    assert!(!resolved.https);
}

#[test]
fn the_walk_skips_trusted_hops_from_the_right() {
    let proxies = trusted(&["10.0.0.0/8", "192.168.1.1/32"]);
    let cases = [
        ("203.0.113.9", "10.0.0.5", "spoofed first entry is ignored"),
        ("1.1.1.1, 203.0.113.9", "10.0.0.5", "nearest untrusted wins"),
        (
            "1.1.1.1, 203.0.113.9, 192.168.1.1",
            "10.0.0.5",
            "two trusted hops",
        ),
        ("203.0.113.9:5555", "10.0.0.5", "with a port"),
        (
            "garbage, 10.1.1.1",
            "10.0.0.5",
            "garbage stops at the last trusted hop",
        ),
        (
            "10.9.9.9, 10.1.1.1",
            "10.0.0.5",
            "all trusted: the leftmost",
        ),
        ("", "10.0.0.5", "empty: the peer"),
    ];
    let expected = [
        "203.0.113.9",
        "203.0.113.9",
        "203.0.113.9",
        "203.0.113.9",
        "10.1.1.1",
        "10.9.9.9",
        "10.0.0.5",
    ];
    for ((xff, from, why), want) in cases.into_iter().zip(expected) {
        let resolved = proxies.resolve(peer(from), &headers(&[("x-forwarded-for", xff)]), false);
        assert_eq!(resolved.ip, want.parse::<IpAddr>().unwrap(), "{why}");
    }
}

#[test]
fn several_header_lines_make_one_chain() {
    let proxies = trusted(&["10.0.0.0/8"]);
    let map = headers(&[
        ("x-forwarded-for", "198.51.100.1"),
        ("x-forwarded-for", "203.0.113.9, 10.2.2.2"),
    ]);
    let resolved = proxies.resolve(peer("10.0.0.5"), &map, false);
    assert_eq!(resolved.ip, "203.0.113.9".parse::<IpAddr>().unwrap());
}

#[test]
fn the_scheme_is_believed_only_from_a_trusted_peer() {
    let proxies = trusted(&["10.0.0.0/8"]);
    let https = headers(&[("x-forwarded-proto", "https")]);
    assert!(proxies.resolve(peer("10.0.0.5"), &https, false).https);
    assert!(!proxies.resolve(peer("203.0.113.9"), &https, false).https);
    assert!(
        proxies
            .resolve(peer("203.0.113.9"), &headers(&[]), true)
            .https
    );
}

#[test]
fn mapped_ipv4_peers_match_ipv4_networks() {
    let proxies = trusted(&["127.0.0.0/8"]);
    assert!(proxies.trusts("::ffff:127.0.0.1".parse().unwrap()));
    assert!(!proxies.trusts("::1".parse().unwrap()));
}
