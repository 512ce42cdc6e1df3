//! Request-level middleware every service runs, as one stack ([`stack`]): request ids with
//! a span per request, JSON error bodies, and a cap on the total size of request headers.

use std::future::{Ready, ready};
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::ServiceFactory;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, Error, FromRequest, HttpMessage, HttpRequest};
use shared::headers::REQUEST_ID;

use crate::errors::json_error;
use crate::telemetry::{self, RequestFields, in_request};
use crate::trace::{TRACEPARENT, TraceContext};

/// Wraps `app` in the middleware every service runs, in this order from the outside in:
///
/// 1. [`request_id`]: every answer carries `x-request-id`, errors included, and all below
///    runs with the request's log fields;
/// 2. [`json_errors`](crate::errors::json_errors): an error answer from below that is not
///    JSON yet becomes the JSON error body;
/// 3. [`limit_headers`]: headers over [`MAX_HEADER_BYTES`] get 431 before anything of the
///    service's own runs.
///
/// A service's own middleware (the gateway's CORS) is wrapped around `app` before it is
/// passed here, and so runs inside this stack.
pub fn stack<T, B>(
    app: App<T>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
>
where
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = Error,
            InitError = (),
        > + 'static,
    T::Service: 'static,
    B: MessageBody + 'static,
{
    app.wrap(from_fn(limit_headers))
        .wrap(crate::errors::json_errors())
        .wrap(from_fn(request_id))
}

/// Longest request id accepted from a client; longer ones are replaced, not truncated.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Total bytes of header names and values a request may carry. The HTTP parser itself gives
/// up at 128 KiB with an empty 431; this limit answers well before that with a JSON body.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The id of the current request: the client's `x-request-id` when it is sane, a fresh UUID
/// otherwise. Handlers extract it to forward it upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_client(value: Option<&HeaderValue>) -> Self {
        let sane = |id: &&str| {
            !id.is_empty()
                && id.len() <= MAX_REQUEST_ID_LEN
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        };
        match value.and_then(|v| v.to_str().ok()).filter(sane) {
            Some(id) => Self(id.to_owned()),
            // A random (version 4) UUID from a fast generator: ids need to be unique, not
            // unpredictable, and a system call per request for them would show.
            None => Self(
                uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
                    .into_uuid()
                    .to_string(),
            ),
        }
    }
}

impl FromRequest for RequestId {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The middleware always runs first; the fallback only serves handlers under test.
        let id = req.extensions().get::<RequestId>().cloned();
        ready(Ok(id.unwrap_or_else(|| RequestId::from_client(None))))
    }
}

/// Assigns the request id and the request's place in a W3C trace ([`TraceContext`], in the
/// request's extensions for calls made on its behalf), runs the request with both as its
/// log fields ([`in_request`]), echoes the id on the response and logs one access line per
/// request ([`telemetry::completed`]). Paths are logged without their query string, which
/// may carry credentials.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = RequestId::from_client(req.headers().get(REQUEST_ID));
    // Ids are visible ASCII by construction, so this cannot fail.
    let header =
        HeaderValue::from_str(id.as_str()).map_err(actix_web::error::ErrorInternalServerError)?;
    let trace = TraceContext::continue_or_start(req.headers().get(TRACEPARENT));
    let fields = Box::new(RequestFields {
        id: id.0.clone(),
        trace,
        method: req.method().clone(),
        uri: req.uri().clone(),
    });
    {
        let mut extensions = req.extensions_mut();
        extensions.insert(id);
        extensions.insert(trace);
    }
    let started = Instant::now();
    #[cfg(feature = "otlp")]
    let began = std::time::SystemTime::now();
    let (result, fields) = in_request(fields, next.call(req)).await;
    let mut res = match result {
        Ok(res) => res,
        Err(err) => {
            // Only a failing middleware gets here (handlers' errors are responses already);
            // the framework turns it into a response that cannot carry the id.
            let status = err.as_response_error().status_code().as_u16();
            fields.scope(|| tracing::warn!(status, error = %err, "request failed in middleware"));
            return Err(err);
        }
    };
    res.headers_mut()
        .insert(HeaderName::from_static(REQUEST_ID), header);
    let status = res.status().as_u16();
    let latency = started.elapsed();
    #[cfg(feature = "otlp")]
    crate::otlp::record(crate::otlp::Span {
        trace,
        method: fields.method.to_string(),
        path: fields.uri.path().to_owned(),
        status,
        start: began,
        end: began + latency,
    });
    telemetry::completed(fields, status, latency);
    Ok(res)
}

/// Refuses requests whose headers add up to more than [`MAX_HEADER_BYTES`] with 431 JSON.
pub async fn limit_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let total: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if total > MAX_HEADER_BYTES {
        let res = json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("Request headers are too large (limit {MAX_HEADER_BYTES} bytes)."),
        );
        return Ok(req.into_response(res).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}
