//! `GET /openapi.json` on the gateway: the public API's OpenAPI 3.1 document. It holds the
//! gateway's own operations (`own.rs`) and, from each upstream's document (fetched from its
//! `/openapi.json`, `fetch.rs`), the paths that the route table sends to that upstream, each
//! operation completed with what the gateway itself answers on its route (`answers.rs`).
//! Merging happens on JSON values (`merge.rs`, `components.rs`, `responses.rs`): the gateway
//! knows no service's types.
//!
//! The document is built when asked for, never on the proxy's path, and kept for
//! [`FRESH_FOR`]; one request builds it while the others wait for that build. An upstream
//! whose document cannot be had is left out, and the document says so (in
//! `info.description` and in `x-missing-upstreams`) rather than failing whole: the other
//! upstreams' operations and the gateway's own are still described. Such an incomplete
//! document is kept only for [`INCOMPLETE_FRESH_FOR`], so that it heals soon.

mod answers;
mod components;
mod fetch;
mod merge;
mod own;
mod responses;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use anyhow::Context;
use serde_json::Value;

use crate::routing::RouteTable;
use crate::upstream::Upstream;

pub use fetch::{FETCH_TIMEOUT, FetchError, MAX_DOCUMENT_BYTES};

/// How long a complete document is served before it is built again (upstreams' documents
/// change when they are deployed, not from one request to the next).
pub const FRESH_FOR: Duration = Duration::from_secs(60);
/// How long a document that lacks an upstream's operations is served before another try.
pub const INCOMPLETE_FRESH_FOR: Duration = Duration::from_secs(5);

/// What the document says about the gateway's own answers, from its settings.
#[derive(Debug, Clone)]
pub struct DocumentSettings {
    /// The address clients reach the API at: the document's only server.
    pub public_url: String,
    /// Status of a refusal for a missing or invalid token (401 or 403).
    pub refusal_status: u16,
    /// Largest request body the gateway forwards.
    pub max_body_bytes: usize,
    /// The forward-authentication path, when it is on.
    pub forward_auth_path: Option<String>,
}

/// A built document and how long it may be served.
#[derive(Debug)]
struct Cached {
    built: Instant,
    fresh_for: Duration,
    body: Bytes,
}

/// The public API's document: built from the upstreams' documents, cached.
#[derive(Debug)]
pub struct ApiDocument {
    settings: DocumentSettings,
    fetcher: fetch::Fetcher,
    cached: tokio::sync::Mutex<Option<Cached>>,
}

impl ApiDocument {
    /// A document for these settings; nothing is fetched until it is first asked for.
    pub fn new(settings: DocumentSettings) -> anyhow::Result<Self> {
        Ok(Self {
            settings,
            fetcher: fetch::Fetcher::new()?,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// The document as JSON, from the cache while it is fresh, else built anew over
    /// `routes`.
    pub async fn json(&self, routes: &RouteTable) -> anyhow::Result<Bytes> {
        let mut cached = self.cached.lock().await;
        if let Some(fresh) = cached.as_ref().filter(|c| c.built.elapsed() < c.fresh_for) {
            return Ok(fresh.body.clone());
        }
        let (document, complete) = self.build(routes).await;
        let body = Bytes::from(serde_json::to_vec(&document).context("serialising")?);
        *cached = Some(Cached {
            built: Instant::now(),
            fresh_for: if complete {
                FRESH_FOR
            } else {
                INCOMPLETE_FRESH_FOR
            },
            body: body.clone(),
        });
        Ok(body)
    }

    /// The document, and whether every upstream's part is in it.
    async fn build(&self, routes: &RouteTable) -> (Value, bool) {
        let mut document = own::document(&self.settings);
        let upstreams = routed_upstreams(routes);
        let fetches = upstreams
            .iter()
            .map(|upstream| self.fetcher.fetch(upstream));
        let fetched = futures_util::future::join_all(fetches).await;
        let mut missing = Vec::new();
        for (upstream, result) in upstreams.iter().zip(fetched) {
            match result {
                Ok(part) => merge::merge(&mut document, routes, upstream, part, &self.settings),
                Err(error) => {
                    tracing::warn!(upstream = %upstream.name, %error, "OpenAPI document of an upstream left out");
                    missing.push(upstream.name.as_str());
                }
            }
        }
        own::note_missing(&mut document, &missing);
        (document, missing.is_empty())
    }
}

/// The upstreams at least one route sends requests to, each once, by name.
fn routed_upstreams(routes: &RouteTable) -> Vec<Arc<Upstream>> {
    let mut upstreams: Vec<Arc<Upstream>> = Vec::new();
    for route in routes.routes() {
        if !upstreams.iter().any(|u| Arc::ptr_eq(u, &route.upstream)) {
            upstreams.push(Arc::clone(&route.upstream));
        }
    }
    upstreams.sort_by(|a, b| a.name.cmp(&b.name));
    upstreams
}
