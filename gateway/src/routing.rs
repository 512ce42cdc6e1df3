//! The route table: which upstream serves a path, and whether it needs a token.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::configuration::{Access, RouteSettings, UpstreamSettings, check_routes};
use crate::rate_limit::RouteLimits;
use crate::upstream::Upstream;

/// One resolved route.
#[derive(Debug)]
pub struct Route {
    /// Path prefix, matched on whole segments; also the route's metrics label, shared
    /// with it rather than copied for every request.
    pub prefix: Arc<str>,
    /// Where matching requests go.
    pub upstream: Arc<Upstream>,
    /// Public or protected.
    pub access: Access,
    /// Roles of which a token needs one (empty: none needed).
    pub roles: Vec<String>,
    /// Rate limits (none on most routes).
    pub limits: RouteLimits,
}

impl Route {
    /// Whether a caller with `roles` may use this route.
    pub fn admits(&self, roles: &[String]) -> bool {
        self.roles.is_empty() || roles.iter().any(|r| self.roles.contains(r))
    }

    fn matches(&self, path: &str) -> bool {
        match path.strip_prefix(&*self.prefix) {
            None => false,
            Some(rest) => rest.is_empty() || rest.starts_with('/') || self.prefix.ends_with('/'),
        }
    }
}

/// Routes ordered longest prefix first, so the most specific match wins.
#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<Route>,
    upstreams: Vec<Arc<Upstream>>,
}

impl RouteTable {
    /// Resolves route settings against the upstreams, refusing unknown upstream names,
    /// duplicate paths, relative paths and URLs the gateway cannot call. Instances that fail
    /// are skipped for `eject_for`.
    pub fn new(
        routes: &[RouteSettings],
        upstreams: &HashMap<String, UpstreamSettings>,
        eject_for: Duration,
    ) -> anyhow::Result<Self> {
        check_routes(routes, upstreams)?;
        let mut resolved: HashMap<&str, Arc<Upstream>> = HashMap::new();
        for (name, settings) in upstreams {
            let upstream = Upstream::new(name, &settings.url, eject_for)
                .with_context(|| format!("upstream {name:?}"))?;
            resolved.insert(name.as_str(), Arc::new(upstream));
        }
        let mut table = Vec::with_capacity(routes.len());
        for route in routes {
            let upstream = resolved
                .get(route.upstream.as_str())
                .context("route to an unchecked upstream")?;
            table.push(Route {
                prefix: Arc::from(route.path.as_str()),
                upstream: Arc::clone(upstream),
                access: route.access,
                roles: route.roles.clone(),
                limits: RouteLimits::new(
                    &route.rate_limit.per_address,
                    &route.rate_limit.per_subject,
                )
                .map_err(|e| anyhow::anyhow!("route {:?} rate_limit: {e}", route.path))?,
            });
        }
        table.sort_by_key(|route| std::cmp::Reverse(route.prefix.len()));
        Ok(Self {
            routes: table,
            upstreams: resolved.into_values().collect(),
        })
    }

    /// Every route, longest prefix first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Every configured upstream, used by a route or not.
    pub fn upstreams(&self) -> &[Arc<Upstream>] {
        &self.upstreams
    }

    /// The most specific route for `path`, if any.
    pub fn find(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|route| route.matches(path))
    }
}

/// Whether a raw request path is safe to route. Dot segments and encoded dots, slashes or
/// backslashes could make an upstream resolve a different path than the one the route
/// table matched, so they are refused rather than normalised.
pub fn is_safe_path(path: &str) -> bool {
    if !path.starts_with('/') || path.contains('\\') {
        return false;
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return false;
    }
    // One pass, no allocation: this runs on every request.
    let bytes = path.as_bytes();
    !bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && bytes.get(i + 1..i + 3).is_some_and(|hex| {
                matches!(
                    [hex[0].to_ascii_lowercase(), hex[1].to_ascii_lowercase()],
                    [b'2', b'e' | b'f'] | [b'5', b'c'] | [b'0', b'0']
                )
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(paths: &[(&str, Access)]) -> RouteTable {
        let upstreams = HashMap::from([(
            "svc".to_owned(),
            UpstreamSettings {
                url: "http://127.0.0.1:9/".to_owned(),
            },
        )]);
        let routes: Vec<_> = paths
            .iter()
            .map(|(path, access)| RouteSettings {
                path: path.to_string(),
                upstream: "svc".into(),
                access: *access,
                roles: vec![],
                rate_limit: Default::default(),
            })
            .collect();
        RouteTable::new(&routes, &upstreams, Duration::ZERO).unwrap()
    }

    #[test]
    fn prefixes_match_whole_segments_and_the_longest_wins() {
        let t = table(&[("/api", Access::Public), ("/api/admin", Access::Protected)]);
        let cases = [
            ("/api", Some("/api")),
            ("/api/x", Some("/api")),
            ("/apix", None),
            ("/api/admin/users", Some("/api/admin")),
            ("/api/administrator", Some("/api")),
            ("/", None),
        ];
        for (path, expected) in cases {
            assert_eq!(t.find(path).map(|r| &*r.prefix), expected, "{path}");
        }
        assert_eq!(t.find("/api").unwrap().upstream.name, "svc");
    }

    #[test]
    fn bad_route_tables_are_refused_with_a_reason() {
        let upstreams = HashMap::from([(
            "ok".to_owned(),
            UpstreamSettings {
                url: "http://a:1".into(),
            },
        )]);
        let route = |path: &str, upstream: &str| RouteSettings {
            path: path.into(),
            upstream: upstream.into(),
            access: Access::Public,
            roles: vec![],
            rate_limit: Default::default(),
        };
        let cases = [
            (vec![route("/a", "missing")], "unknown upstream"),
            (vec![route("a", "ok")], "must start with"),
            (vec![route("/a", "ok"), route("/a", "ok")], "twice"),
        ];
        for (routes, reason) in cases {
            let err = RouteTable::new(&routes, &upstreams, Duration::ZERO).unwrap_err();
            assert!(format!("{err:#}").contains(reason), "{err:#}");
        }
        for url in ["ftp://a", "not a url", "https://a", "http://a/?q=1"] {
            let bad = HashMap::from([("ok".to_owned(), UpstreamSettings { url: url.into() })]);
            assert!(
                RouteTable::new(&[route("/a", "ok")], &bad, Duration::ZERO).is_err(),
                "{url}"
            );
        }
    }

    #[test]
    fn paths_that_could_be_resolved_differently_upstream_are_unsafe() {
        for path in [
            "/login/../protected",
            "/a/./b",
            "/a/%2e%2e/b",
            "/a%2Fb",
            "/a\\b",
            "/a%00",
            "/a%5C",
            "/a%2E",
            "/x/%2f",
        ] {
            assert!(!is_safe_path(path), "{path}");
        }
        for path in [
            "/",
            "/protected",
            "/api/v1/items",
            "/a..b/c.d",
            "/a%20b",
            "/a%2",
            "/%",
        ] {
            assert!(is_safe_path(path), "{path}");
        }
    }
}
