//! The login limiter's counters in this instance's memory (`limits.store = "memory"`, and
//! the default on SQLite, whose one file serves one instance).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::known;
use super::window::WindowCounter;
use crate::configuration::LoginSettings;

/// One username as seen from one address.
type Pair = (String, IpAddr);

/// The three failure counters and the addresses known per username.
#[derive(Debug)]
pub struct MemoryLimiter {
    by_pair: WindowCounter<Pair>,
    by_username: WindowCounter<String>,
    by_address: WindowCounter<IpAddr>,
    known: known::KnownAddresses,
}

impl MemoryLimiter {
    /// A limiter with the configured limits.
    pub fn new(settings: &LoginSettings) -> Self {
        let window = Duration::from_secs(settings.failure_window_seconds);
        Self {
            by_pair: WindowCounter::new(settings.max_failures_per_username_and_address, window),
            by_username: WindowCounter::new(
                settings.max_failures_per_username_across_addresses,
                window,
            ),
            by_address: WindowCounter::new(settings.max_failures_per_address, window),
            known: known::KnownAddresses::new(Duration::from_secs(settings.known_address_seconds)),
        }
    }

    /// Counts an attempt against the pair, the username and the address, unless one of
    /// them refuses it: then how long the caller must wait, and nothing is counted. The
    /// counters are checked and counted under their locks, so racing attempts cannot
    /// overtake a limit.
    pub fn reserve(&self, username: &str, address: IpAddr) -> Result<MemoryAttempt<'_>, Duration> {
        let now = Instant::now();
        let pair = (username.to_owned(), address);
        let known = self.known.contains(&pair, now);
        // Always this order: pair, username, address. No lock-order inversion.
        let mut pairs = self.by_pair.lock();
        let mut users = self.by_username.lock();
        let mut addresses = self.by_address.lock();
        let waits = [
            self.by_pair.blocked(&pairs, &pair, now),
            // The owner's known addresses are not refused by what other addresses did.
            self.by_username
                .blocked(&users, &pair.0, now)
                .filter(|_| !known),
            self.by_address.blocked(&addresses, &address, now),
        ];
        if let Some(wait) = waits.into_iter().flatten().max() {
            return Err(wait);
        }
        self.by_pair.count(&mut pairs, pair.clone(), now);
        self.by_username.count(&mut users, pair.0.clone(), now);
        self.by_address.count(&mut addresses, address, now);
        Ok(MemoryAttempt {
            limiter: self,
            pair,
        })
    }
}

/// An attempt counted against its pair, username and address. Dropping it (a wrong
/// password, a client that went away) keeps the counts.
#[derive(Debug)]
#[must_use = "dropping an attempt counts it as a failure"]
pub struct MemoryAttempt<'a> {
    limiter: &'a MemoryLimiter,
    pair: Pair,
}

impl MemoryAttempt<'_> {
    /// A correct password: clears the pair's count, gives the username and the address
    /// their attempt back (not their counts: one success must not reset an attacker's
    /// budget), and remembers the address as known for the username.
    pub fn succeeded(self) {
        let limiter = self.limiter;
        limiter.by_pair.clear(&self.pair);
        limiter.by_username.release(&self.pair.0);
        limiter.by_address.release(&self.pair.1);
        limiter.known.insert(self.pair, Instant::now());
    }

    /// The password was never checked (the hashing queue was full, the store failed):
    /// nothing was guessed, so every count is given back.
    pub fn not_checked(self) {
        let limiter = self.limiter;
        limiter.by_pair.release(&self.pair);
        limiter.by_username.release(&self.pair.0);
        limiter.by_address.release(&self.pair.1);
    }
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
