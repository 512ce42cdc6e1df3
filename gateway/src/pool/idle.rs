//! Idle connections to one instance, handed out most recently used first.
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

/// How often idle connections are looked over for expired or closed ones, so that a quiet
/// instance does not keep its connections open much past [`IDLE_TIMEOUT`].
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// Idle connections kept per instance and worker thread; beyond it, the longest unused one
/// is closed.
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
    since: Instant,
}

impl<B> Idle<B> {
    fn stale(&self, now: Instant) -> bool {
        self.sender.is_closed() || now.duration_since(self.since) >= IDLE_TIMEOUT
    }
}

/// The idle connections to one instance, a list per worker thread (oldest first).
pub struct IdlePool<B> {
    workers: Mutex<Vec<(u64, VecDeque<Idle<B>>)>>,
}

impl<B> Default for IdlePool<B> {
    fn default() -> Self {
        Self {
            workers: Mutex::new(Vec::new()),
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
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, VecDeque<Idle<B>>)>> {
        // Nothing can be left half-done under this lock: a poisoned one is still sound.
        self.workers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The most recently used open connection that this thread opened, if any. Closed and
    /// expired ones met on the way are dropped.
    pub fn take(&self) -> Option<SendRequest<B>> {
        let worker = worker();
        let now = Instant::now();
        let mut workers = self.lock();
        let (_, idle) = workers.iter_mut().find(|(id, _)| *id == worker)?;
        while let Some(entry) = idle.pop_back() {
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
        let worker = worker();
        let now = Instant::now();
        let mut workers = self.lock();
        let index = match workers.iter().position(|(id, _)| *id == worker) {
            Some(index) => index,
            None => {
                workers.push((worker, VecDeque::new()));
                workers.len() - 1
            }
        };
        let idle = &mut workers[index].1;
        while idle.front().is_some_and(|oldest| oldest.stale(now)) || idle.len() >= MAX_IDLE {
            idle.pop_front();
        }
        idle.push_back(Idle { sender, since: now });
    }

    /// Drops every closed or expired connection.
    pub fn sweep(&self) {
        let now = Instant::now();
        for (_, idle) in self.lock().iter_mut() {
            idle.retain(|entry| !entry.stale(now));
        }
    }

    /// How many connections are idle.
    pub fn len(&self) -> usize {
        self.lock().iter().map(|(_, idle)| idle.len()).sum()
    }

    /// Whether no connection is idle.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Empty;
    use hyper::body::Bytes;
    use hyper_util::rt::TokioIo;

    /// A client connection over an in-memory pipe whose far end nobody reads; its task is
    /// spawned, and it is ready for a request. Dropping the returned far end closes it.
    async fn connection() -> (SendRequest<Empty<Bytes>>, tokio::io::DuplexStream) {
        let (near, far) = tokio::io::duplex(1024);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(near))
            .await
            .unwrap();
        tokio::spawn(connection);
        sender.ready().await.unwrap();
        (sender, far)
    }

    /// Lets the connection tasks see what happened to their pipes.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn connections_come_back_most_recent_first_to_the_thread_that_made_them() {
        let pool = IdlePool::default();
        assert!(pool.take().is_none());
        let (first, far_first) = connection().await;
        let (second, far_second) = connection().await;
        pool.put(first);
        pool.put(second);
        assert_eq!(pool.len(), 2);
        // Another thread gets none of them.
        std::thread::scope(|scope| {
            scope.spawn(|| assert!(pool.take().is_none()));
        });
        assert_eq!(pool.len(), 2);
        // Close the older one: the most recent comes back, the older is left where it is.
        drop(far_first);
        settle().await;
        let taken = pool.take().unwrap();
        assert!(!taken.is_closed());
        assert_eq!(pool.len(), 1);
        // Closed ones are passed over (and dropped) on the way.
        assert!(pool.take().is_none());
        assert!(pool.is_empty());
        drop(far_second);
    }

    #[tokio::test]
    async fn closed_connections_are_not_kept_and_are_swept() {
        let pool = IdlePool::default();
        let (open, _far_open) = connection().await;
        let (closing, far_closing) = connection().await;
        pool.put(open);
        pool.put(closing);
        drop(far_closing);
        settle().await;
        pool.sweep();
        assert_eq!(pool.len(), 1);
        let (closed, far_closed) = connection().await;
        drop(far_closed);
        settle().await;
        assert!(closed.is_closed());
        pool.put(closed);
        assert_eq!(pool.len(), 1, "a closed connection was pooled");
        assert!(!pool.take().unwrap().is_closed());
        assert!(pool.take().is_none());
    }

    #[tokio::test]
    async fn at_most_max_idle_connections_are_kept_per_thread() {
        let pool = IdlePool::default();
        let mut far_ends = Vec::new();
        for _ in 0..MAX_IDLE + 5 {
            let (sender, far) = connection().await;
            far_ends.push(far);
            pool.put(sender);
        }
        assert_eq!(pool.len(), MAX_IDLE);
    }
}
