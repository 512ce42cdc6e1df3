//! Stage 3, the upstream request filter: the request one attempt sends to the instance the
//! upstream peer stage picked. Built anew for every attempt, since instances differ in
//! path prefix and `Host`, and the identity assertion signs the path the instance receives.

use actix_web::http::header as actix_header;
use actix_web::{HttpMessage, HttpRequest};
use http::{HeaderMap, HeaderName, HeaderValue};
use service_kit::assertion::IdentitySigner;
use service_kit::clock::unix_seconds;
use service_kit::trace::{TRACEPARENT, TraceContext};
use shared::headers::{ACCESS_TOKEN, IDENTITY_PREFIX, IDENTITY_SIGNATURE, REQUEST_ID};

use crate::error::GatewayError;
use crate::pool::UpstreamBody;
use crate::proxy::context::RequestContext;
use crate::proxy::headers::{self, HopByHop};
use crate::upstream::Instance;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The request for one attempt on `instance`: the client's method, the path and query
/// behind the instance's prefix, the filtered headers and `body`.
pub fn upstream_request(
    req: &HttpRequest,
    ctx: &RequestContext<'_>,
    instance: &Instance,
    method: &http::Method,
    body: UpstreamBody,
    signer: &IdentitySigner,
) -> Result<http::Request<UpstreamBody>, GatewayError> {
    let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    // The client's request line was parsed already; only its length can fail here.
    let uri = instance
        .uri(path_and_query)
        .map_err(|_| GatewayError::PathTooLong)?;
    let mut headers = upstream_headers(req, ctx, signer, uri.path());
    headers.insert(http::header::HOST, instance.host_header.clone());
    let mut request = http::Request::new(body);
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

/// The headers sent upstream: the client's, minus hop-by-hop headers, any identity or
/// forwarding headers it made up, and (when an identity is forwarded) its credentials;
/// plus our own forwarding headers, the request id and the signed, verified identity. The
/// assertion covers `upstream_path`, the path the upstream receives (without the query).
fn upstream_headers(
    req: &HttpRequest,
    ctx: &RequestContext<'_>,
    signer: &IdentitySigner,
    upstream_path: &str,
) -> HeaderMap {
    let identity = ctx.identity.as_deref();
    let hop_by_hop = HopByHop::of(
        req.headers()
            .get_all(actix_header::CONNECTION)
            .map(|v| v.as_bytes()),
    );
    let mut out = HeaderMap::with_capacity(req.headers().len() + 8);
    for (name, value) in req.headers() {
        let n = name.as_str();
        let dropped = hop_by_hop.drops(n)
            || n == "host"
            || n == "content-length"
            || n == "forwarded"
            || n == REQUEST_ID
            || n.starts_with("x-forwarded-")
            || n.starts_with(IDENTITY_PREFIX)
            || (identity.is_some() && (n == ACCESS_TOKEN || n == "authorization"));
        if dropped {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(name, value);
        }
    }
    // Only the client stage 0 resolved goes on: what the client claims about earlier hops
    // was believed only from trusted proxies, and the upstream (which trusts the gateway
    // and takes the nearest untrusted address) then keys its limits on the real client.
    out.insert(X_FORWARDED_FOR, headers::forwarded_for(ctx.client.ip));
    out.remove(TRACEPARENT);
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            out.insert(HeaderName::from_static(name), value);
        }
    };
    set(
        "x-forwarded-proto",
        if ctx.client.https { "https" } else { "http" },
    );
    // HTTP/2 carries the host in the request's authority, not in a Host header.
    let host = req
        .headers()
        .get(actix_header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if let Some(host) = host {
        set("x-forwarded-host", host);
    }
    set(REQUEST_ID, ctx.request_id.as_str());
    // This trace, the gateway's hop as the parent (the client's header was removed above).
    let trace = req
        .extensions()
        .get::<TraceContext>()
        .map(TraceContext::header_text);
    if let Some(traceparent) = trace {
        set(TRACEPARENT, &traceparent);
    }
    if let Some(verified) = identity {
        let assertion = signer.sign(
            unix_seconds(),
            req.method().as_str(),
            upstream_path,
            |name| verified.header(name),
        );
        set(IDENTITY_SIGNATURE, &assertion);
        for (name, value) in &verified.headers {
            out.insert(name.clone(), value.clone());
        }
    }
    out
}
