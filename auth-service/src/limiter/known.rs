//! Addresses where a username has logged in correctly: exempt, for a while, from that
//! username's cross-address limit, so a distributed guesser cannot lock the owner out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::window::MAX_TRACKED_KEYS;

/// (username, address) pairs that logged in correctly, each until when it stays known.
#[derive(Debug)]
pub struct KnownAddresses {
    lifetime: Duration,
    until: Mutex<HashMap<(String, IpAddr), Instant>>,
}

impl KnownAddresses {
    /// Pairs are known for `lifetime` after their latest correct login.
    pub fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            until: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `address` logged in as `username` within the lifetime.
    pub fn contains(&self, key: &(String, IpAddr), now: Instant) -> bool {
        self.lock().get(key).is_some_and(|until| *until > now)
    }

    /// Remembers a correct login. At the memory bound, expired pairs are swept first, then
    /// the one closest to expiring is dropped.
    pub fn insert(&self, key: (String, IpAddr), now: Instant) {
        let mut until = self.lock();
        if until.len() >= MAX_TRACKED_KEYS && !until.contains_key(&key) {
            until.retain(|_, u| *u > now);
            if until.len() >= MAX_TRACKED_KEYS {
                let soonest = until
                    .iter()
                    .min_by_key(|(_, u)| **u)
                    .map(|(k, _)| k.clone());
                if let Some(soonest) = soonest {
                    until.remove(&soonest);
                }
            }
        }
        until.insert(key, now + self.lifetime);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, IpAddr), Instant>> {
        self.until.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pairs held now (for the memory-bound test).
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }
}
