//! Forwarding a request to an upstream and its answer back: header hygiene on the way in,
//! status, headers and a streamed body on the way out.

use std::time::Duration;

use actix_web::body::SizedStream;
use actix_web::http::{Method, StatusCode, header as actix_header};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use service_kit::RequestId;
use service_kit::assertion::IdentitySigner;
use shared::Identity;
use shared::headers::{ACCESS_TOKEN, IDENTITY_PREFIX, IDENTITY_SIGNATURE, REQUEST_ID};

use crate::configuration::{IdentitySettings, ProxySettings};
use crate::error::GatewayError;
use crate::routing::Upstream;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1); never forwarded.
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

/// Forwards requests to upstreams over one pooled HTTP client.
#[derive(Debug)]
pub struct Proxy {
    client: reqwest::Client,
    max_body_bytes: usize,
    signer: IdentitySigner,
}

impl Proxy {
    /// A proxy with the configured timeouts and body limit.
    pub fn new(settings: &ProxySettings, identity: &IdentitySettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            .timeout(Duration::from_millis(settings.request_timeout_ms))
            // Redirects are the client's business: pass them through untouched.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            max_body_bytes: settings.max_body_bytes,
            signer: IdentitySigner::new(&identity.secret)?,
        })
    }

    /// Sends `req` with its body to `upstream` and returns the upstream's answer. With an
    /// identity (protected routes) the client's credentials are dropped and the verified
    /// identity is added instead.
    pub async fn forward(
        &self,
        req: &HttpRequest,
        payload: web::Payload,
        upstream: &Upstream,
        identity: Option<&Identity>,
        request_id: &RequestId,
    ) -> Result<HttpResponse, GatewayError> {
        let body = self.read_body(req, payload).await?;
        let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
            .map_err(|e| GatewayError::Unexpected(e.into()))?;
        let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let url = format!("{}{}", upstream.base_url, path_and_query);
        let headers = upstream_headers(req, identity, request_id, &self.signer);

        let response = self
            .client
            .request(method, url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| upstream_error(&upstream.name, &e))?;
        Ok(client_response(req.method(), response))
    }

    /// Reads the body up to the limit, refusing early when `Content-Length` already says
    /// it is too large.
    async fn read_body(
        &self,
        req: &HttpRequest,
        mut payload: web::Payload,
    ) -> Result<web::Bytes, GatewayError> {
        let limit = self.max_body_bytes;
        let declared = req
            .headers()
            .get(actix_header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > limit) {
            return Err(GatewayError::PayloadTooLarge(limit));
        }
        let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| GatewayError::BadBody(e.to_string()))?;
            if body.len() + chunk.len() > limit {
                return Err(GatewayError::PayloadTooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

/// Names the `Connection` header lists, which are hop-by-hop for this message too.
fn connection_listed(req: &HttpRequest) -> Vec<String> {
    req.headers()
        .get_all(actix_header::CONNECTION)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect()
}

/// The headers sent upstream: the client's, minus hop-by-hop headers, any identity or
/// forwarding headers it made up, and (when an identity is forwarded) its credentials;
/// plus our own forwarding headers, the request id and the verified identity.
fn upstream_headers(
    req: &HttpRequest,
    identity: Option<&Identity>,
    request_id: &RequestId,
    signer: &IdentitySigner,
) -> HeaderMap {
    let listed = connection_listed(req);
    let mut out = HeaderMap::with_capacity(req.headers().len() + 8);
    for (name, value) in req.headers() {
        let n = name.as_str();
        let dropped = HOP_BY_HOP.contains(&n)
            || listed.iter().any(|l| l == n)
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
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            out.insert(HeaderName::from_static(name), value);
        }
    };
    // The gateway is the edge: what the client claims about earlier hops is not trusted.
    if let Some(peer) = req.peer_addr() {
        set("x-forwarded-for", &peer.ip().to_string());
    }
    set(
        "x-forwarded-proto",
        if req.app_config().secure() {
            "https"
        } else {
            "http"
        },
    );
    if let Some(host) = req
        .headers()
        .get(actix_header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        set("x-forwarded-host", host);
    }
    set(REQUEST_ID, request_id.as_str());
    if let Some(identity) = identity {
        let headers = identity.to_headers();
        let lookup = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let assertion = signer.sign(now, req.method().as_str(), req.path(), lookup);
        for (name, value) in &headers {
            set(name, value);
        }
        set(IDENTITY_SIGNATURE, &assertion);
    }
    out
}

/// The upstream's answer as ours: same status, end-to-end headers, body streamed through.
fn client_response(method: &Method, response: reqwest::Response) -> HttpResponse {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut builder = HttpResponse::build(status);
    for (name, value) in response.headers() {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || n == "content-length" {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            actix_header::HeaderName::from_bytes(n.as_bytes()),
            actix_header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            builder.append_header((name, value));
        }
    }
    if method == Method::HEAD {
        return builder.finish();
    }
    let length = response.content_length();
    let stream = response.bytes_stream();
    match length {
        Some(len) => builder.body(SizedStream::new(len, Box::pin(stream))),
        None => builder.streaming(stream),
    }
}

fn upstream_error(upstream: &str, error: &reqwest::Error) -> GatewayError {
    if error.is_timeout() {
        return GatewayError::UpstreamTimeout(upstream.to_owned());
    }
    let mut cause = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause.push_str(": ");
        cause.push_str(&inner.to_string());
        source = inner.source();
    }
    GatewayError::UpstreamUnavailable {
        upstream: upstream.to_owned(),
        cause,
    }
}
