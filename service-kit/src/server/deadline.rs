//! A request body read under deadlines: a longest gap between chunks and a time for the whole
//! body. A missed deadline fails the body's stream and marks the connection, so that the
//! request is answered 408 whatever the handler made of the failure.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use actix_http::Payload;
use actix_http::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use super::conn::ConnState;

pin_project_lite::pin_project! {
    /// The body of one request, with its deadlines.
    pub struct Deadlined {
        #[pin]
        inner: Payload,
        #[pin]
        timer: Sleep,
        end: Instant,
        state: Arc<ConnState>,
        finished: bool,
    }
}

impl Deadlined {
    /// Wraps `inner`, whose deadlines start now.
    pub fn new(inner: Payload, state: Arc<ConnState>) -> Self {
        let now = Instant::now();
        let limits = state.limits;
        let end = now + limits.body_total;
        Self {
            inner,
            timer: tokio::time::sleep_until(end.min(now + limits.body_idle)),
            end,
            state,
            finished: false,
        }
    }
}

impl Stream for Deadlined {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if *this.finished {
            return Poll::Ready(None);
        }
        match this.inner.poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let next = Instant::now() + this.state.limits.body_idle;
                this.timer.reset((*this.end).min(next));
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(other) => {
                *this.finished = true;
                this.state.body_open.store(false, Ordering::Release);
                Poll::Ready(other)
            }
            Poll::Pending => {
                if this.timer.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                *this.finished = true;
                this.state.body_timed_out.store(true, Ordering::Release);
                Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request body timed out",
                )))))
            }
        }
    }
}
