//! A request counted as being served from its dispatch until its answer's body is sent (or
//! dropped), so that the connection knows when it is idle.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

use actix_http::body::{BodySize, MessageBody};
use actix_web::web::Bytes;

use super::conn::ConnState;

/// One request being served on a connection; dropping it ends that.
#[derive(Debug)]
pub struct InFlight {
    state: Arc<ConnState>,
    /// The connection's task, woken at the end when the connection is to close then: it
    /// may otherwise sit waiting for input that never comes.
    wake: Option<Waker>,
}

impl InFlight {
    /// Counts a request dispatched on the connection of `state`.
    pub fn begin(state: Arc<ConnState>) -> Self {
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        state.dispatched.fetch_add(1, Ordering::AcqRel);
        Self { state, wake: None }
    }

    /// The connection's shared state.
    pub fn state(&self) -> &ConnState {
        &self.state
    }

    /// Closes the connection once this request's answer is sent.
    pub fn close_after(&mut self, cx: &Context<'_>) {
        self.state.closing.store(true, Ordering::Release);
        self.wake = Some(cx.waker().clone());
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::AcqRel);
        if let Some(waker) = self.wake.take() {
            waker.wake();
        }
    }
}

pin_project_lite::pin_project! {
    /// An answer's body that keeps its request counted as being served until it is sent.
    pub struct Tracked<B> {
        #[pin]
        body: B,
        in_flight: Option<InFlight>,
    }
}

impl<B> Tracked<B> {
    /// `body`, keeping `in_flight` (if any) until it is sent or dropped.
    pub fn new(body: B, in_flight: Option<InFlight>) -> Self {
        Self { body, in_flight }
    }
}

impl<B: MessageBody> MessageBody for Tracked<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let next = this.body.poll_next(cx);
        if matches!(next, Poll::Ready(None)) {
            this.in_flight.take();
        }
        next
    }
}
