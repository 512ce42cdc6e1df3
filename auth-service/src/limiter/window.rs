//! A fixed-window counter per key, bounded in memory: the building block of the login and
//! refresh limits.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Keys tracked at most per counter; past this, expired entries are swept, and if none
/// expired the oldest window is dropped, so an attacker cycling usernames, addresses or
/// token families cannot grow memory without bound.
pub const MAX_TRACKED_KEYS: usize = 100_000;

/// One key's window: when it started and what it has counted.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    started: Instant,
    /// Events counted in this window.
    pub count: u32,
}

/// Events per key in fixed windows, refused past `limit`.
#[derive(Debug)]
pub struct WindowCounter<K> {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<K, Window>>,
}

/// The locked map of one counter, for checking several counters under their locks.
pub type Windows<'a, K> = MutexGuard<'a, HashMap<K, Window>>;

impl<K: Hash + Eq + Clone> WindowCounter<K> {
    /// A counter refusing a key after `limit` events within `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The map, locked (a panic elsewhere leaves plain counts, still usable).
    pub fn lock(&self) -> Windows<'_, K> {
        self.windows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Time left until `key` may go again, if it is at its limit.
    pub fn blocked(&self, windows: &HashMap<K, Window>, key: &K, now: Instant) -> Option<Duration> {
        let w = windows.get(key)?;
        let left = self.window.checked_sub(now.duration_since(w.started))?;
        (w.count >= self.limit).then_some(left)
    }

    /// Counts one event for `key`, starting a new window if its last one ended.
    pub fn count(&self, windows: &mut HashMap<K, Window>, key: K, now: Instant) {
        if windows.len() >= MAX_TRACKED_KEYS && !windows.contains_key(&key) {
            windows.retain(|_, w| now.duration_since(w.started) < self.window);
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
            count: 0,
        });
        if now.duration_since(entry.started) >= self.window {
            *entry = Window {
                started: now,
                count: 0,
            };
        }
        entry.count = entry.count.saturating_add(1);
    }

    /// Gives back one counted event.
    pub fn release(&self, key: &K) {
        if let Some(w) = self.lock().get_mut(key) {
            w.count = w.count.saturating_sub(1);
        }
    }

    /// Forgets `key`'s window.
    pub fn clear(&self, key: &K) {
        self.lock().remove(key);
    }
}
