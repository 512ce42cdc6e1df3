//! Brute-force protection for `/login`: failed attempts counted per username and per
//! client address in fixed windows. Only failures count, so nobody is slowed by other
//! people's mistakes, and a blocked key is refused before any password is hashed.
//!
//! An attempt is counted when it starts, before its password is hashed, as a reservation:
//! a success gives it back, a failure (or a client that went away) keeps it. So N guesses
//! sent at once are checked against the limit as if they came one after another: at most
//! the limit are hashed, the rest are refused at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::configuration::LoginSettings;

/// Keys tracked at most per counter; past this, expired entries are swept, and if none
/// expired the oldest window is dropped, so an attacker cycling usernames cannot grow
/// memory without bound.
pub const MAX_TRACKED_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

#[derive(Debug)]
struct Counter<K> {
    limit: u32,
    windows: Mutex<HashMap<K, Window>>,
}

impl<K: std::hash::Hash + Eq + Clone> Counter<K> {
    fn new(limit: u32) -> Self {
        Self {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Window>> {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Time left until `key` may try again, if it is over the limit.
    fn blocked(
        &self,
        windows: &HashMap<K, Window>,
        key: &K,
        window: Duration,
        now: Instant,
    ) -> Option<Duration> {
        let w = windows.get(key)?;
        let left = window.checked_sub(now.duration_since(w.started))?;
        (w.failures >= self.limit).then_some(left)
    }

    fn fail(&self, windows: &mut HashMap<K, Window>, key: K, window: Duration, now: Instant) {
        if windows.len() >= MAX_TRACKED_KEYS && !windows.contains_key(&key) {
            windows.retain(|_, w| now.duration_since(w.started) < window);
            if windows.len() >= MAX_TRACKED_KEYS {
                let oldest = windows
                    .iter()
                    .min_by_key(|(_, w)| w.started)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    windows.remove(&oldest);
                }
            }
        }
        let entry = windows.entry(key).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.duration_since(entry.started) >= window {
            *entry = Window {
                started: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
    }

    /// Gives back one counted attempt.
    fn release(&self, key: &K) {
        if let Some(w) = self.lock().get_mut(key) {
            w.failures = w.failures.saturating_sub(1);
        }
    }

    fn clear(&self, key: &K) {
        self.lock().remove(key);
    }
}

/// Per-username and per-address failure counters.
#[derive(Debug)]
pub struct LoginLimiter {
    window: Duration,
    by_username: Counter<String>,
    by_address: Counter<IpAddr>,
}

impl LoginLimiter {
    /// A limiter with the configured limits.
    pub fn new(settings: &LoginSettings) -> Self {
        Self {
            window: Duration::from_secs(settings.failure_window_seconds),
            by_username: Counter::new(settings.max_failures_per_username),
            by_address: Counter::new(settings.max_failures_per_address),
        }
    }

    /// Counts an attempt against the username and the address, unless either is over its
    /// limit: then how long the caller must wait, and nothing is counted. Both counters are
    /// checked and counted under their locks, so racing attempts cannot overtake the limit.
    pub fn reserve(&self, username: &str, address: IpAddr) -> Result<LoginAttempt<'_>, Duration> {
        let now = Instant::now();
        let username = username.to_owned();
        // Always the username's lock first, then the address's: no lock-order inversion.
        let mut users = self.by_username.lock();
        let mut addresses = self.by_address.lock();
        let user = self
            .by_username
            .blocked(&users, &username, self.window, now);
        let addr = self
            .by_address
            .blocked(&addresses, &address, self.window, now);
        if let Some(wait) = user.into_iter().chain(addr).max() {
            return Err(wait);
        }
        self.by_username
            .fail(&mut users, username.clone(), self.window, now);
        self.by_address
            .fail(&mut addresses, address, self.window, now);
        Ok(LoginAttempt {
            limiter: self,
            username,
            address,
        })
    }
}

/// An attempt counted against its username and address. [`LoginAttempt::succeeded`] gives
/// the count back; dropping it (a wrong password, a client that went away) keeps it.
#[derive(Debug)]
#[must_use = "dropping an attempt counts it as a failure"]
pub struct LoginAttempt<'a> {
    limiter: &'a LoginLimiter,
    username: String,
    address: IpAddr,
}

impl LoginAttempt<'_> {
    /// A correct password: clears the username's count and gives the address its attempt
    /// back (not its count: one success must not reset an attacker's budget for guessing
    /// other accounts).
    pub fn succeeded(self) {
        self.limiter.by_username.clear(&self.username);
        self.limiter.by_address.release(&self.address);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn limiter(per_user: u32, per_addr: u32) -> LoginLimiter {
        LoginLimiter::new(&LoginSettings {
            max_failures_per_username: per_user,
            max_failures_per_address: per_addr,
            failure_window_seconds: 60,
            trusted_proxies: vec![],
        })
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn fail(l: &LoginLimiter, username: &str, address: IpAddr) {
        drop(l.reserve(username, address).expect("not blocked yet"));
    }

    #[test]
    fn a_username_is_blocked_after_its_limit_from_any_address() {
        let l = limiter(3, 100);
        for _ in 0..3 {
            fail(&l, "alice", A);
        }
        let wait = l.reserve("alice", B).unwrap_err();
        assert!(
            wait <= Duration::from_secs(60) && wait > Duration::from_secs(58),
            "{wait:?}"
        );
        assert!(l.reserve("bob", B).is_ok(), "other users are not affected");
    }

    #[test]
    fn an_address_is_blocked_after_its_limit_across_usernames() {
        let l = limiter(100, 5);
        for i in 0..5 {
            fail(&l, &format!("user{i}"), A);
        }
        assert!(l.reserve("someone", A).is_err());
        assert!(
            l.reserve("someone", B).is_ok(),
            "other addresses are not affected"
        );
    }

    #[test]
    fn success_clears_the_username_and_gives_back_only_its_own_attempt() {
        let l = limiter(3, 3);
        fail(&l, "alice", A);
        fail(&l, "alice", A);
        l.reserve("alice", B).unwrap().succeeded();
        assert_eq!(l.by_username.lock().get("alice").map(|w| w.failures), None);
        assert_eq!(
            l.by_address.lock()[&B].failures,
            0,
            "B's attempt given back"
        );
        fail(&l, "carol", A);
        assert!(
            l.reserve("dave", A).is_err(),
            "A's earlier failures are kept"
        );
    }

    #[test]
    fn memory_stays_bounded_under_username_cycling() {
        let l = limiter(5, u32::MAX);
        for i in 0..(MAX_TRACKED_KEYS + 10) {
            fail(&l, &i.to_string(), A);
        }
        assert!(l.by_username.lock().len() <= MAX_TRACKED_KEYS);
    }
}

#[cfg(test)]
mod concurrency {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn racing_attempts_never_get_past_the_limit() {
        let l = LoginLimiter::new(&LoginSettings {
            max_failures_per_username: 10,
            max_failures_per_address: 1000,
            failure_window_seconds: 60,
            trusted_proxies: vec![],
        });
        let admitted = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for i in 0..120u8 {
                let (l, admitted) = (&l, &admitted);
                scope.spawn(move || {
                    let address = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, i));
                    if let Ok(attempt) = l.reserve("alice", address) {
                        admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        // Held while the (slow) password check would run.
                        std::thread::sleep(Duration::from_millis(20));
                        drop(attempt);
                    }
                });
            }
        });
        assert_eq!(admitted.into_inner(), 10);
    }
}
