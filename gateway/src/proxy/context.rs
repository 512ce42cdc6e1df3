//! What one request carries from stage to stage: filled in by the request filter, read by
//! the later stages and by logging.

use std::sync::Arc;
use std::time::Instant;

use service_kit::RequestId;

use crate::auth::Verified;
use crate::routing::Route;
use crate::upstream::Instance;

/// The per-request context, as pingora's `CTX`.
#[derive(Debug)]
pub struct RequestContext<'a> {
    /// When the gateway took the request.
    pub started: Instant,
    /// The request id, forwarded upstream and echoed.
    pub request_id: &'a RequestId,
    /// The route the request filter matched (also the metrics label).
    pub route: Option<&'a Route>,
    /// The verified identity on a protected route.
    pub identity: Option<Arc<Verified>>,
    /// The instances tried so far, in order.
    pub tried: Vec<Arc<Instance>>,
}

impl<'a> RequestContext<'a> {
    /// A context for a request that has just arrived.
    pub fn new(request_id: &'a RequestId) -> Self {
        Self {
            started: Instant::now(),
            request_id,
            route: None,
            identity: None,
            tried: Vec::new(),
        }
    }
}
