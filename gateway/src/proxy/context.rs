//! What one request carries from stage to stage: filled in by the request filter, read by
//! the later stages and by logging.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use service_kit::RequestId;

use crate::auth::Verified;
use crate::proxy::client_address::ClientAddress;
use crate::rate_limit::Allowance;
use crate::routing::Route;
use crate::upstream::Instance;

/// The per-request context, as pingora's `CTX`.
#[derive(Debug)]
pub struct RequestContext<'a> {
    /// When the gateway took the request.
    pub started: Instant,
    /// The client, as stage 0 resolved it: the rate limiters' key and `X-Forwarded-For`.
    pub client: ClientAddress,
    /// The request id, forwarded upstream and echoed.
    pub request_id: &'a RequestId,
    /// The route the request filter matched (also the metrics label).
    pub route: Option<&'a Route>,
    /// The verified identity on a protected route.
    pub identity: Option<Arc<Verified>>,
    /// The tightest rate-limit allowance on a limited route, for the `RateLimit-*` headers.
    pub allowance: Option<Allowance>,
    /// The instances tried so far, in order.
    pub tried: Vec<Arc<Instance>>,
}

impl<'a> RequestContext<'a> {
    /// A context for a request that has just arrived.
    pub fn new(request_id: &'a RequestId) -> Self {
        Self {
            started: Instant::now(),
            client: ClientAddress {
                ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                https: false,
            },
            request_id,
            route: None,
            identity: None,
            allowance: None,
            tried: Vec::new(),
        }
    }
}
