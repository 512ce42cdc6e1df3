//! Stage 4, the response filter: the upstream's answer as ours. Its status, its end-to-end
//! headers (the hop-by-hop ones, and those its `Connection` lists, stay behind) and its
//! body, read whole when short or streamed until the deadline.

use std::io;

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header as actix_header};
use actix_web::web::Bytes;
use http_body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::error::AttemptError;
use crate::pool::Connection;
use crate::proxy::body::{AnswerStream, streamed};
use crate::proxy::headers::HopByHop;

/// Upstream answers that declare a length up to this size are read whole before ours
/// starts (one write to the client, no streaming machinery); longer or open-ended ones
/// stream through.
pub const BUFFERED_ANSWER_BYTES: u64 = 64 * 1024;

/// Our answer from the upstream's `response` to a `head` request or not, received on
/// `connection`, which goes back to the pool once the body has been read.
pub async fn response_filter(
    response: http::Response<Incoming>,
    connection: Connection,
    head: bool,
    deadline: tokio::time::Instant,
) -> Result<HttpResponse, AttemptError> {
    let (parts, body) = response.into_parts();
    let status = StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut builder = HttpResponse::build(status);
    let hop_by_hop = HopByHop::of(
        parts
            .headers
            .get_all(http::header::CONNECTION)
            .iter()
            .map(|v| v.as_bytes()),
    );
    for (name, value) in &parts.headers {
        let n = name.as_str();
        // The length is the encoder's to write, from the body it is given.
        if hop_by_hop.drops(n) || n == "content-length" {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            actix_header::HeaderName::from_bytes(n.as_bytes()),
            actix_header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            builder.append_header((name, value));
        }
    }
    if head {
        connection.checkin();
        // No body, but the length (or the chunked framing) a GET would have, as the
        // upstream said: the encoder writes it from the body's declared size.
        let length = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let nothing = futures_util::stream::empty::<io::Result<Bytes>>();
        return Ok(streamed(builder, length, nothing));
    }
    match body.size_hint().exact() {
        Some(length) if length <= BUFFERED_ANSWER_BYTES => {
            let whole = body.collect().await.map_err(AttemptError::Answer)?;
            connection.checkin();
            Ok(builder.body(whole.to_bytes()))
        }
        length => {
            let stream = AnswerStream::new(body, connection, deadline);
            Ok(streamed(builder, length, stream))
        }
    }
}
