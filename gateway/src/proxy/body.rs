//! Bodies, both ways: the client's request body held (so a failed attempt can be resent) or
//! streamed within the limit, and the upstream's answer streamed back within the deadline.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::header as actix_header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use http_body::Body;
use http_body_util::{Either, Full};
use hyper::body::Incoming;

use crate::error::GatewayError;
use crate::pool::{ChannelBody, Connection, UpstreamBody};

/// Request bodies up to this size are held in memory, so that a failed attempt can be
/// retried on another instance; larger ones stream through and are never retried.
pub const RETRY_BUFFER_BYTES: usize = 64 * 1024;

/// A streamed body's faults on the client's side: none, over the limit, failed to arrive.
const NO_FAULT: u8 = 0;
/// The streamed body grew past the limit.
pub const OVER_LIMIT: u8 = 1;
/// The streamed body could not be read from the client (cut short, or past its deadline).
pub const CLIENT_FAILED: u8 = 2;

/// Chunks in flight between the client connection and the upstream request.
const STREAM_CHANNEL_CHUNKS: usize = 8;

/// The request body as it will be sent.
pub enum OutgoingBody {
    /// Small enough to keep: resendable.
    Buffered(Bytes),
    /// Streamed from the client (taken by the first attempt), with what went wrong on the
    /// client's side, if anything: [`OVER_LIMIT`] or [`CLIENT_FAILED`].
    Streamed(Option<ChannelBody>, Arc<AtomicU8>),
}

impl OutgoingBody {
    /// Holds small bodies, streams large or chunked ones; refuses at once a body whose
    /// declared length is over `limit`.
    pub async fn read(
        req: &HttpRequest,
        mut payload: web::Payload,
        limit: usize,
    ) -> Result<Self, GatewayError> {
        let declared = req
            .headers()
            .get(actix_header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > limit) {
            return Err(GatewayError::PayloadTooLarge(limit));
        }
        let chunked = req.headers().contains_key(actix_header::TRANSFER_ENCODING);
        if !chunked && declared.unwrap_or(0) <= RETRY_BUFFER_BYTES {
            let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0));
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| GatewayError::BadBody(e.to_string()))?;
                if body.len() + chunk.len() > limit {
                    return Err(GatewayError::PayloadTooLarge(limit));
                }
                body.extend_from_slice(&chunk);
            }
            return Ok(Self::Buffered(body.freeze()));
        }
        // The client's payload lives on this worker thread; a local task feeds it, counted
        // against the limit, into a channel the upstream request reads from.
        let fault = Arc::new(AtomicU8::new(NO_FAULT));
        let (sender, chunks) = tokio::sync::mpsc::channel(STREAM_CHANNEL_CHUNKS);
        let flag = Arc::clone(&fault);
        actix_web::rt::spawn(async move {
            let mut total = 0usize;
            while let Some(chunk) = payload.next().await {
                let item = match chunk {
                    Ok(chunk) => {
                        total += chunk.len();
                        if total > limit {
                            flag.store(OVER_LIMIT, Ordering::SeqCst);
                            Err(io::Error::other("request body over the limit"))
                        } else {
                            Ok(chunk)
                        }
                    }
                    // The client's fault (a body cut short or past its deadline), not the
                    // upstream's.
                    Err(e) => {
                        flag.store(CLIENT_FAILED, Ordering::SeqCst);
                        Err(io::Error::other(e.to_string()))
                    }
                };
                let last = item.is_err();
                if sender.send(item).await.is_err() || last {
                    return;
                }
            }
        });
        let length = if chunked {
            None
        } else {
            declared.and_then(|len| u64::try_from(len).ok())
        };
        Ok(Self::Streamed(
            Some(ChannelBody::new(chunks, length)),
            fault,
        ))
    }

    /// The body for the next attempt: the held bytes again, or the stream the first time
    /// (an empty body after; such a request is never retried).
    pub fn for_attempt(&mut self) -> UpstreamBody {
        match self {
            Self::Buffered(bytes) => Either::Left(Full::new(bytes.clone())),
            Self::Streamed(stream, _) => stream
                .take()
                .map_or_else(|| Either::Left(Full::default()), Either::Right),
        }
    }

    /// Whether a failed attempt can send the body again.
    pub fn resendable(&self) -> bool {
        matches!(self, Self::Buffered(_))
    }

    /// Whether the streamed body went over the limit (the attempt failed because of it).
    pub fn exceeded(&self) -> bool {
        self.fault() == OVER_LIMIT
    }

    /// Whether reading the streamed body from the client failed (the attempt failed because
    /// of it, not because of the upstream).
    pub fn client_failed(&self) -> bool {
        self.fault() == CLIENT_FAILED
    }

    fn fault(&self) -> u8 {
        match self {
            Self::Streamed(_, fault) => fault.load(Ordering::SeqCst),
            Self::Buffered(_) => NO_FAULT,
        }
    }
}

/// An upstream answer's body streamed to the client, cut off at the request's deadline. The
/// connection is checked in once the body has come through whole.
pub struct AnswerStream {
    body: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    connection: Option<Connection>,
}

impl AnswerStream {
    /// Streams `body`, read on `connection`, until `deadline`.
    pub fn new(body: Incoming, connection: Connection, deadline: tokio::time::Instant) -> Self {
        Self {
            body,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            connection: Some(connection),
        }
    }
}

impl futures_util::Stream for AnswerStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Checked before every chunk, not only when the upstream pauses: one that keeps
        // sending past the deadline is cut off too.
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the upstream answer did not finish in time",
            ))));
        }
        loop {
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers are hop-by-hop here (the answer is re-framed): dropped.
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    return Poll::Ready(Some(Err(io::Error::other(error))));
                }
                Poll::Ready(None) => {
                    if let Some(connection) = self.connection.take() {
                        connection.checkin();
                    }
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// An answer with `stream` as its body, framed with `length` when it is known (chunked
/// otherwise).
pub fn streamed<S>(
    mut builder: actix_web::HttpResponseBuilder,
    length: Option<u64>,
    stream: S,
) -> HttpResponse
where
    S: futures_util::Stream<Item = io::Result<Bytes>> + 'static,
{
    match length {
        Some(length) => builder.body(SizedStream::new(length, stream)),
        None => builder.body(BodyStream::new(stream)),
    }
}
