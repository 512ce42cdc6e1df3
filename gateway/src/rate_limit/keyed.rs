//! One route's keyed limiter: a token bucket per key in a locked map, swept of idle keys.

use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use governor::RateLimiter;
use governor::clock::{Clock, MonotonicClock};
use governor::middleware::{NoOpMiddleware, StateInformationMiddleware};
use governor::state::keyed::HashMapStateStore;

use super::{Allowance, Limited, Rate, ceil_seconds};

type Store<K> = HashMapStateStore<K, foldhash::fast::RandomState>;
type Inner<K> = RateLimiter<K, Store<K>, MonotonicClock, StateInformationMiddleware>;

/// One route's limiter over keys `K` (addresses or subjects).
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    inner: Inner<K>,
    rate: Rate,
}

impl<K: Hash + Eq + Clone> fmt::Debug for KeyedLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> KeyedLimiter<K> {
    /// A limiter letting `rate` through per key.
    pub fn new(rate: Rate) -> Self {
        let store = Store::new(std::collections::HashMap::with_hasher(Default::default()));
        let inner = RateLimiter::<K, Store<K>, MonotonicClock, NoOpMiddleware<Instant>>::new(
            rate.quota,
            store,
            MonotonicClock,
        )
        .with_middleware();
        Self { inner, rate }
    }

    /// Takes one request from `key`'s bucket, or says how long until one is left.
    pub fn check(&self, key: &K) -> Result<Allowance, Limited> {
        let limit = self.rate.burst();
        match self.inner.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let refill = self.rate.quota.replenish_interval() * (limit - remaining);
                Ok(Allowance {
                    limit,
                    remaining,
                    reset_seconds: ceil_seconds(refill),
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.inner.clock().now());
                Err(Limited {
                    limit,
                    retry_after_seconds: ceil_seconds(wait).max(1),
                })
            }
        }
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Drops keys whose bucket is full again (they behave as new keys would).
    pub fn sweep(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }

    /// Sweeps `limiter` every `every` until it is dropped.
    pub fn spawn_sweeper(limiter: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(limiter);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(limiter) = weak.upgrade() else {
                    return;
                };
                limiter.sweep();
            }
        })
    }
}
