//! Brute-force protection for `/login`: failed attempts counted per username and per
//! client address in fixed windows. Only failures count, so nobody is slowed by other
//! people's mistakes, and a blocked key is refused before any password is hashed.

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
    fn blocked(&self, key: &K, window: Duration, now: Instant) -> Option<Duration> {
        let windows = self.lock();
        let w = windows.get(key)?;
        let left = window.checked_sub(now.duration_since(w.started))?;
        (w.failures >= self.limit).then_some(left)
    }

    fn fail(&self, key: K, window: Duration, now: Instant) {
        let mut windows = self.lock();
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

    /// How long the caller must wait, if either the username or the address is blocked.
    pub fn check(&self, username: &str, address: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let user = self
            .by_username
            .blocked(&username.to_owned(), self.window, now);
        let addr = self.by_address.blocked(&address, self.window, now);
        user.into_iter().chain(addr).max()
    }

    /// Counts a failed attempt against both.
    pub fn record_failure(&self, username: &str, address: IpAddr) {
        let now = Instant::now();
        self.by_username.fail(username.to_owned(), self.window, now);
        self.by_address.fail(address, self.window, now);
    }

    /// A correct password clears the username's count (not the address's: one success
    /// must not reset an attacker's budget for guessing other accounts).
    pub fn record_success(&self, username: &str) {
        self.by_username.clear(&username.to_owned());
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn a_username_is_blocked_after_its_limit_from_any_address() {
        let l = limiter(3, 100);
        for _ in 0..3 {
            assert!(l.check("alice", A).is_none());
            l.record_failure("alice", A);
        }
        let wait = l.check("alice", B).unwrap();
        assert!(
            wait <= Duration::from_secs(60) && wait > Duration::from_secs(58),
            "{wait:?}"
        );
        assert!(l.check("bob", B).is_none(), "other users are not affected");
    }

    #[test]
    fn an_address_is_blocked_after_its_limit_across_usernames() {
        let l = limiter(100, 5);
        for i in 0..5 {
            l.record_failure(&format!("user{i}"), A);
        }
        assert!(l.check("someone", A).is_some());
        assert!(
            l.check("someone", B).is_none(),
            "other addresses are not affected"
        );
    }

    #[test]
    fn success_clears_the_username_but_not_the_address() {
        let l = limiter(2, 3);
        l.record_failure("alice", A);
        l.record_failure("alice", A);
        assert!(l.check("alice", B).is_some());
        l.record_success("alice");
        assert!(l.check("alice", B).is_none());
        l.record_failure("carol", A);
        assert!(l.check("dave", A).is_some(), "address budget kept");
    }

    #[test]
    fn memory_stays_bounded_under_username_cycling() {
        let l = limiter(5, u32::MAX);
        for i in 0..(MAX_TRACKED_KEYS + 10) {
            l.record_failure(&i.to_string(), A);
        }
        assert!(l.by_username.lock().len() <= MAX_TRACKED_KEYS);
    }
}
