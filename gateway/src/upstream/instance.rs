//! One reachable address of an upstream, and the configured URLs instances come from.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::pool::Connections;

/// Milliseconds since the epoch, the unit of ejection times.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One configured URL: `http://host:port/prefix`.
#[derive(Debug)]
pub(super) struct Target {
    /// Host name or address, as configured.
    pub(super) host: String,
    /// Port, as configured or the scheme's default.
    pub(super) port: u16,
    /// Path prefix, without a trailing `/`.
    pub(super) prefix: String,
    /// `host:port` as configured, sent as the `Host` header.
    pub(super) authority: String,
}

/// One reachable address of an upstream.
#[derive(Debug)]
pub struct Instance {
    /// `http://ip:port/prefix`, to which the request's path and query are appended.
    pub base_url: String,
    /// The connections to this instance (made to `http://ip:port`).
    pub connections: Arc<Connections>,
    /// The configured path prefix, without a trailing `/`.
    prefix: String,
    /// The `Host` header the upstream expects.
    pub authority: String,
    /// `authority` as a header value, validated once.
    pub host_header: http::HeaderValue,
    /// Skipped until this time (ms since the epoch) after a failure.
    ejected_until: AtomicU64,
}

impl Instance {
    pub(super) fn new(
        base_url: String,
        address: SocketAddr,
        target: &Target,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            base_url,
            connections: Arc::new(Connections::new(http::Uri::try_from(format!(
                "http://{address}"
            ))?)),
            prefix: target.prefix.clone(),
            authority: target.authority.clone(),
            host_header: http::HeaderValue::from_str(&target.authority)?,
            ejected_until: AtomicU64::new(0),
        })
    }

    /// The request target for `path_and_query` (as the client sent it) on this instance:
    /// origin form, behind the configured prefix.
    pub fn uri(&self, path_and_query: &str) -> Result<http::Uri, http::Error> {
        let path_and_query = if self.prefix.is_empty() {
            http::uri::PathAndQuery::try_from(path_and_query)?
        } else {
            http::uri::PathAndQuery::try_from(format!("{}{path_and_query}", self.prefix))?
        };
        Ok(http::Uri::from(path_and_query))
    }

    /// The configured path prefix, without a trailing `/` (empty: none).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(super) fn healthy(&self, now: u64) -> bool {
        self.ejected_until.load(Ordering::Relaxed) <= now
    }

    /// Skips the instance until `until` (ms since the epoch).
    pub(super) fn eject_until(&self, until: u64) {
        self.ejected_until.store(until, Ordering::Relaxed);
    }
}

/// Parses one configured `http://host:port[/prefix]`.
pub(super) fn parse_target(url: &str) -> anyhow::Result<Target> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    if parsed.scheme() != "http" {
        anyhow::bail!(
            "{url:?}: only http:// upstreams are supported (services sit on a private network)"
        );
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        anyhow::bail!("{url:?}: an upstream URL takes no query or fragment");
    }
    let host = parsed
        .host_str()
        .with_context(|| format!("{url:?} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed.port_or_known_default().context("no port")?;
    let authority = match parsed.port() {
        Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
        None => parsed.host_str().unwrap_or_default().to_owned(),
    };
    Ok(Target {
        host,
        port,
        prefix: parsed.path().trim_end_matches('/').to_owned(),
        authority,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::upstream::Upstream;

    fn upstream(urls: &str) -> Upstream {
        let u = Upstream::new("svc", urls, Duration::from_secs(60)).unwrap();
        u.resolve_blocking();
        u
    }

    #[test]
    fn the_host_header_is_the_configured_authority() {
        let u = upstream("http://localhost:8082");
        let instance = u.pick(&[]).unwrap();
        assert_eq!(instance.authority, "localhost:8082");
        assert!(
            instance.base_url.starts_with("http://127.0.0.1:8082")
                || instance.base_url.starts_with("http://[::1]:8082")
        );
    }

    #[test]
    fn request_urls_keep_the_prefix_path_and_query() {
        let u = upstream("http://127.0.0.1:1/base/");
        let instance = u.pick(&[]).unwrap();
        // Origin form: the request line carries the path; the host goes in `Host`.
        assert_eq!(
            instance.uri("/x/y?a=1&b=%2F").unwrap().to_string(),
            "/base/x/y?a=1&b=%2F"
        );
        assert_eq!(
            instance.connections.address().to_string(),
            "http://127.0.0.1:1/"
        );
        let plain = upstream("http://127.0.0.1:2").pick(&[]).unwrap();
        assert_eq!(plain.uri("/p%20q").unwrap().to_string(), "/p%20q");
        assert_eq!(plain.host_header, "127.0.0.1:2");
    }

    #[test]
    fn bad_urls_are_refused() {
        for url in ["ftp://a", "not a url", "https://a", "http://a/?q=1", ""] {
            assert!(Upstream::new("svc", url, Duration::ZERO).is_err(), "{url}");
        }
    }
}
