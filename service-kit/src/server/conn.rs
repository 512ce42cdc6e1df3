//! One client connection as the HTTP dispatcher reads it: the socket (or TLS over it), with a
//! deadline armed whenever no request of the connection is being served.
//!
//! HTTP/1.1: while idle it waits for the next request up to the keep-alive timeout
//! (actix-http's own timer); from the next request's first byte (the connection's opening,
//! for the first), its headers must arrive within the header timeout, for every request:
//! past it reads fail and the connection closes.
//!
//! HTTP/2 (multiplexed): the first request must arrive within the header timeout of the
//! connection's opening (the TLS handshake included); afterwards, a connection without a
//! request being served for the keep-alive timeout is closed, whatever control frames or
//! unfinished header blocks the client keeps sending.
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::gate::Permit;
use super::stream::Stream;

/// The deadlines of one listener, from its settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From a request's first byte to the end of its headers.
    pub header: Duration,
    /// Longest gap between two chunks of a request body.
    pub body_idle: Duration,
    /// Time a whole request body may take.
    pub body_total: Duration,
    /// Idle time between requests.
    pub keep_alive: Duration,
}

/// What the connection and the service handling its requests share (one per connection,
/// found by the service among the connection's data).
#[derive(Debug)]
pub struct ConnState {
    /// Requests dispatched so far: a request may be dispatched and answered between two
    /// reads, unseen by the in-flight count.
    pub dispatched: AtomicUsize,
    /// Requests being served (dispatched, and their answers not yet fully sent).
    pub in_flight: AtomicUsize,
    /// Set when an answer said `Connection: close` for a request whose body is not read to
    /// its end: the connection ends once that answer is sent, and no more is read from it.
    pub closing: AtomicBool,
    /// Whether the body of the request being served is still being read: bytes arriving
    /// then are the body's, not the next request's.
    pub body_open: AtomicBool,
    /// Set when a request body missed its deadline: the request is answered 408.
    pub body_timed_out: AtomicBool,
    /// The listener's deadlines.
    pub limits: Limits,
    /// HTTP/2: requests are served side by side, each with its own body flags above
    /// (the connection's are unused), and a connection is never closed for one of them.
    pub multiplexed: bool,
}

impl ConnState {
    /// A fresh state: nothing dispatched, no body, not closing.
    pub fn new(limits: Limits, multiplexed: bool) -> Self {
        Self {
            dispatched: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            body_open: AtomicBool::new(false),
            body_timed_out: AtomicBool::new(false),
            limits,
            multiplexed,
        }
    }
}

/// Where the connection is between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for headers: the deadline is the header timeout.
    Headers,
    /// Idle after an answer, no byte of a next request yet: actix-http's keep-alive timer
    /// (set to the same timeout) closes the connection if none comes; on HTTP/2, ours.
    Idle,
    /// A request is being served: no deadline here (the body has its own).
    Busy,
}

/// A client connection with read deadlines; it holds its place under the connection cap
/// until dropped.
#[derive(Debug)]
pub struct Conn {
    io: Stream,
    state: Arc<ConnState>,
    phase: Phase,
    /// The dispatch count last seen.
    seen: usize,
    /// When the first byte of the next request arrived while the previous was served.
    next_started: Option<Instant>,
    timer: Pin<Box<Sleep>>,
    _permit: Permit,
}

impl Conn {
    /// Wraps a connection accepted at `opened`: its first request's headers are due within
    /// the header timeout from then.
    pub fn new(
        io: Stream,
        limits: Limits,
        permit: Permit,
        opened: Instant,
        multiplexed: bool,
    ) -> Self {
        let state = Arc::new(ConnState::new(limits, multiplexed));
        Self {
            io,
            state,
            phase: Phase::Headers,
            seen: 0,
            next_started: None,
            timer: Box::pin(tokio::time::sleep_until(opened + limits.header)),
            _permit: permit,
        }
    }

    /// The state shared with the service.
    pub fn state(&self) -> Arc<ConnState> {
        Arc::clone(&self.state)
    }

    fn arm(&mut self, phase: Phase, deadline: Instant) {
        self.phase = phase;
        self.timer.as_mut().reset(deadline);
    }

    /// Whether the connection speaks TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.io, Stream::Tls(_))
    }

    /// HTTP/2's phases: busy while any request is served, else idle up to the keep-alive
    /// timeout from the last answer (before the first request: the header timeout).
    fn track_multiplexed(&mut self) {
        let busy = self.state.in_flight.load(Ordering::Acquire) > 0;
        let dispatched = self.state.dispatched.load(Ordering::Acquire);
        let new_requests = dispatched != self.seen;
        self.seen = dispatched;
        if busy {
            self.phase = Phase::Busy;
        } else if self.phase == Phase::Busy || new_requests {
            let keep_alive = self.state.limits.keep_alive;
            self.arm(Phase::Idle, Instant::now() + keep_alive);
        }
    }

    /// Moves between phases as requests start and finish; called on every read.
    fn track(&mut self, got_bytes: bool) {
        if self.state.multiplexed {
            return self.track_multiplexed();
        }
        let busy = self.state.in_flight.load(Ordering::Acquire) > 0;
        let dispatched = self.state.dispatched.load(Ordering::Acquire);
        if dispatched != self.seen {
            self.seen = dispatched;
            if self.phase != Phase::Busy {
                self.phase = Phase::Busy;
                self.next_started = None;
            }
        }
        let limits = self.state.limits;
        match (self.phase, busy) {
            (Phase::Busy, true) => {
                if got_bytes
                    && self.next_started.is_none()
                    && !self.state.body_open.load(Ordering::Acquire)
                {
                    self.next_started = Some(Instant::now());
                }
            }
            (Phase::Busy, false) => match self.next_started.take() {
                Some(first_byte) => self.arm(Phase::Headers, first_byte + limits.header),
                None if got_bytes => self.arm(Phase::Headers, Instant::now() + limits.header),
                // actix-http's own keep-alive timer watches a silent idle connection: no
                // timer of ours to reset on every answer.
                None => self.phase = Phase::Idle,
            },
            (_, true) => {
                self.phase = Phase::Busy;
                self.next_started = None;
            }
            (Phase::Idle, false) if got_bytes => {
                self.arm(Phase::Headers, Instant::now() + limits.header);
            }
            (Phase::Idle | Phase::Headers, false) => {}
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.state.closing.load(Ordering::Acquire)
            && self.state.in_flight.load(Ordering::Acquire) == 0
        {
            // The closing answer is sent: end of input, and the connection shuts down.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut self.io).poll_read(cx, buf);
        let got_bytes = buf.filled().len() > before;
        self.track(got_bytes);
        let watched = match self.phase {
            Phase::Headers => true,
            Phase::Idle => self.state.multiplexed,
            Phase::Busy => false,
        };
        if watched && self.timer.as_mut().poll(cx).is_ready() {
            if self.phase == Phase::Idle {
                // An idle HTTP/2 connection past its keep-alive: end of input, closing it.
                return Poll::Ready(Ok(()));
            }
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request headers timed out",
            )));
        }
        read
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
