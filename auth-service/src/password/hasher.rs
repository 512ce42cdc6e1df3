//! The hashing threads and the bounded queue in front of them.
//!
//! A hash holds 19 MiB and a core for tens of milliseconds, so the service runs a fixed
//! number at once and lets a fixed number wait; anyone past that is told at once to come
//! back later ([`HashingBusy`], answered 503 with `Retry-After`) instead of queueing
//! without bound. A caller that goes away while waiting (its future dropped, as actix does
//! when a client disconnects) leaves the queue and its hash never starts; a hash already
//! running finishes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::Context;
use prometheus_client::metrics::histogram::Histogram;
use secrecy::SecretString;
use tokio::sync::Semaphore;

use super::{hash_blocking, verify_blocking};

type Job = Box<dyn FnOnce() + Send>;

/// Every hashing slot is taken and the queue is full: retry after the duration.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("password hashing is at capacity")]
pub struct HashingBusy {
    /// When to retry.
    pub retry_after: Duration,
}

/// Hashes and verifies passwords on a fixed set of dedicated threads, each reusing its own
/// working memory, behind a bounded queue. The threads end when the last clone is dropped.
#[derive(Clone)]
pub struct PasswordHasher {
    jobs: Arc<mpsc::Sender<Job>>,
    /// One permit per thread: held from before a hash is handed over until it ends.
    slots: Arc<Semaphore>,
    /// Callers running or waiting, bounded by `capacity`.
    admitted: Arc<AtomicUsize>,
    threads: usize,
    capacity: usize,
    retry_after: Duration,
    /// Where the time each hash waited for a thread is recorded, if anywhere.
    waits: Option<Histogram>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// One caller's place in the queue; leaving it (drop) makes room for another.
struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordHasher {
    /// `threads` hashes at once (at least one), `max_waiting` callers waiting, and a busy
    /// answer telling the rest to retry after `retry_after`.
    pub fn new(threads: usize, max_waiting: usize, retry_after: Duration) -> Self {
        let threads = threads.max(1);
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || {
                    loop {
                        let job = {
                            let queue = receiver
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            queue.recv()
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // every sender is gone
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Self {
            jobs: Arc::new(sender),
            slots: Arc::new(Semaphore::new(threads)),
            admitted: Arc::new(AtomicUsize::new(0)),
            threads,
            capacity: threads.saturating_add(max_waiting),
            retry_after,
            waits: None,
        }
    }

    /// Records in `waits` how long each hash waits for a thread.
    pub fn recording_waits(mut self, waits: Histogram) -> Self {
        self.waits = Some(waits);
        self
    }

    /// Hashes waiting for a thread, and hashes running, now.
    pub fn load(&self) -> (usize, usize) {
        let running = self.threads.saturating_sub(self.slots.available_permits());
        let admitted = self.admitted.load(Ordering::Acquire);
        (admitted.saturating_sub(running), running)
    }

    /// A hasher for one-off use (the command line): one thread per core, no queue bound
    /// worth speaking of.
    pub fn for_command_line() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cores, 1024, Duration::from_secs(1))
    }

    fn admit(&self) -> Result<Admission, HashingBusy> {
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .map(|_| Admission(Arc::clone(&self.admitted)))
            .map_err(|_| HashingBusy {
                retry_after: self.retry_after,
            })
    }

    /// Runs `work` on a hashing thread once a slot is free, and waits for its result
    /// without blocking; [`HashingBusy`] at once when the queue is full.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let admission = self.admit()?;
        let admitted = std::time::Instant::now();
        let permit = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .context("password hashing is shut down")?;
        if let Some(waits) = &self.waits {
            waits.observe(admitted.elapsed().as_secs_f64());
        }
        let (sender, receiver) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // Both held until this hash ends, even if its caller has gone.
                let slot = (permit, admission);
                if sender.is_closed() {
                    return; // nobody wants the answer: no hash
                }
                let result = work();
                drop(slot);
                let _ = sender.send(result);
            }))
            .ok()
            .context("password hashing threads are gone")?;
        receiver.await.context("password hashing thread stopped")
    }

    /// Hashes `password` with a fresh salt.
    pub async fn hash(&self, password: SecretString) -> anyhow::Result<String> {
        self.run(move || hash_blocking(&password)).await?
    }

    /// Whether `password` matches the PHC string `hash`. A malformed hash counts as no match
    /// but is reported, since it means the store is damaged.
    pub async fn verify(&self, password: SecretString, hash: String) -> anyhow::Result<bool> {
        self.run(move || verify_blocking(&password, &hash)).await?
    }
}

#[cfg(test)]
mod tests;
