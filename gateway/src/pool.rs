//! Idle upstream connections, kept per instance and handed out most recently used first.
//!
//! Each connection is hyper's HTTP/1.1 client connection; its task runs on the worker thread
//! that opened it, and only that thread takes it from the pool again: a request and the
//! connection carrying it then share one thread, with no wake-ups across threads.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;

/// How long a connection may sit unused in the pool before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Idle connections kept per instance (all worker threads together); beyond it, the
/// longest unused one is closed.
pub const MAX_IDLE: usize = 256;

static NEXT_WORKER: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's number among the ones that open connections (0: not numbered yet).
    static WORKER: Cell<u64> = const { Cell::new(0) };
}

/// A number for the current thread, cheaper to read than `std::thread::current().id()`.
fn worker() -> u64 {
    WORKER.with(|worker| match worker.get() {
        0 => {
            let id = NEXT_WORKER.fetch_add(1, Ordering::Relaxed);
            worker.set(id);
            id
        }
        id => id,
    })
}

struct Idle<B> {
    sender: SendRequest<B>,
    worker: u64,
    since: Instant,
}

impl<B> Idle<B> {
    fn stale(&self, now: Instant) -> bool {
        self.sender.is_closed() || now.duration_since(self.since) >= IDLE_TIMEOUT
    }
}

/// The idle connections to one instance.
pub struct IdlePool<B> {
    idle: Mutex<VecDeque<Idle<B>>>,
}

impl<B> Default for IdlePool<B> {
    fn default() -> Self {
        Self {
            idle: Mutex::new(VecDeque::new()),
        }
    }
}

impl<B> std::fmt::Debug for IdlePool<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdlePool")
            .field("idle", &self.len())
            .finish()
    }
}

impl<B> IdlePool<B> {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle<B>>> {
        // Nothing can be left half-done under this lock: a poisoned one is still sound.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The most recently used open connection that this thread opened, if any. Closed and
    /// expired ones met on the way are dropped.
    pub fn take(&self) -> Option<SendRequest<B>> {
        let worker = worker();
        let now = Instant::now();
        let mut idle = self.lock();
        let mut index = idle.len();
        while index > 0 {
            index -= 1;
            if idle[index].worker != worker {
                continue;
            }
            let entry = idle.remove(index)?;
            if !entry.stale(now) {
                return Some(entry.sender);
            }
        }
        None
    }

    /// Returns a connection that is ready for its next request. One that is closed or busy
    /// is dropped instead (a busy one still has a body in flight: dropping it closes it).
    pub fn put(&self, sender: SendRequest<B>) {
        if !sender.is_ready() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.lock();
        while idle.front().is_some_and(|oldest| oldest.stale(now)) || idle.len() >= MAX_IDLE {
            idle.pop_front();
        }
        idle.push_back(Idle {
            sender,
            worker: worker(),
            since: now,
        });
    }

    /// Drops every closed or expired connection (run now and then, so that a quiet instance
    /// does not keep its connections open for ever).
    pub fn sweep(&self) {
        let now = Instant::now();
        self.lock().retain(|entry| !entry.stale(now));
    }

    /// How many connections are idle.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no connection is idle.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
