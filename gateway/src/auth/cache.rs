//! Tokens already verified, kept until they expire, so a client's repeated requests skip
//! the signature check. Keyed by the whole token: any change to it is a miss.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::Verified;

/// A verified token's identity and how long it may be reused.
#[derive(Debug)]
struct Entry {
    identity: Arc<Verified>,
    /// The token's `exp`; the entry is dead from then on (no leeway: a token near its end
    /// goes through full verification again).
    expires_at: u64,
    /// The key set it was verified against; a different key set means a miss.
    generation: u64,
}

/// Tokens are hashed whole on every lookup, so the hasher is a fast one, seeded at random
/// per process: lookups of made-up tokens cannot aim at collisions, and only tokens that
/// verified are ever stored.
type Entries = HashMap<Box<str>, Entry, foldhash::fast::RandomState>;

/// The verified-token cache, bounded to a number of entries.
#[derive(Debug)]
pub struct TokenCache {
    entries: RwLock<Entries>,
    capacity: usize,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; 0 disables it.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: RwLock::new(Entries::with_capacity_and_hasher(
                capacity.min(1024),
                foldhash::fast::RandomState::default(),
            )),
            capacity,
        }
    }

    /// The identity of `token`, if it was verified against key set `generation` and has
    /// not expired by `now`.
    pub fn get(&self, token: &str, now: u64, generation: u64) -> Option<Arc<Verified>> {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = entries.get(token)?;
        (entry.expires_at > now && entry.generation == generation)
            .then(|| Arc::clone(&entry.identity))
    }

    /// Remembers a token that just verified. When full, expired entries go first; if none
    /// has expired, everything goes (a flood of distinct valid tokens must not grow memory).
    pub fn insert(
        &self,
        token: &str,
        identity: Arc<Verified>,
        expires_at: u64,
        now: u64,
        generation: u64,
    ) {
        if self.capacity == 0 || expires_at <= now {
            return;
        }
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= self.capacity {
            entries.retain(|_, e| e.expires_at > now && e.generation == generation);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            token.into(),
            Entry {
                identity,
                expires_at,
                generation,
            },
        );
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(user: &str) -> Arc<Verified> {
        Arc::new(Verified::new(shared::Identity {
            user: user.into(),
            subject: "s".into(),
            roles: vec![],
            token_id: "t".into(),
        }))
    }

    #[test]
    fn a_cached_token_is_found_until_it_expires_and_only_for_its_key_set() {
        let cache = TokenCache::new(10);
        cache.insert("a.b.c", identity("u"), 100, 50, 1);
        assert_eq!(cache.get("a.b.c", 99, 1).unwrap().identity.user, "u");
        assert!(cache.get("a.b.c", 100, 1).is_none(), "expired");
        assert!(cache.get("a.b.c", 60, 2).is_none(), "keys changed since");
        assert!(cache.get("a.b.d", 60, 1).is_none(), "another token");
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = TokenCache::new(3);
        for i in 0..10 {
            cache.insert(&format!("token-{i}"), identity("u"), 1000, 0, 1);
            assert!(cache.len() <= 3);
        }
        assert!(
            cache.get("token-9", 1, 1).is_some(),
            "the newest entry is kept"
        );
        let disabled = TokenCache::new(0);
        disabled.insert("t", identity("u"), 1000, 0, 1);
        assert!(disabled.is_empty());
    }
}
