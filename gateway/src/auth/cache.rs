//! Tokens already verified, kept until they expire, so a client's repeated requests skip
//! the signature check. Keyed by the token's SHA-256: any change to it is a miss, and the
//! token itself is not kept. The digest is 32 bytes where a token is hundreds (570 for an
//! RS256 token of a typical OpenID provider), so a megabyte holds two to three times as
//! many tokens as it would keyed by the tokens; and finding another token with the same
//! digest, which would pass for the first, is SHA-256's collision problem.
//!
//! Bounded in bytes, and full means evicting the entries least
//! likely to be asked for again (quick_cache's CLOCK-Pro), never emptying the whole cache: a
//! flood of distinct valid tokens costs the flood's own hit rate, not everyone's.
//!
//! Entries can be dropped by token id, subject or key id (for revocations and key
//! retirement). Those walk the cache once: they are rare, and the walk keeps lookups and
//! inserts free of index upkeep. A token verifying while such a walk runs may still be
//! inserted after it; a revocation must therefore also be checked where tokens are verified.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::Verified;

/// Bytes counted per entry beyond its strings: the cache's slot, the `Arc`s, the fields.
const ENTRY_OVERHEAD_BYTES: u64 = 160;

/// What an entry of a typical token weighs (a user name, two UUIDs, a role or two, and
/// their headers), for sizing the table up front.
const TYPICAL_ENTRY_BYTES: u64 = 576;

/// A verified token's identity and how long it may be reused.
#[derive(Debug)]
struct Entry {
    identity: Arc<Verified>,
    /// The token's `exp`; the entry is dead from then on (no leeway: a token near its end
    /// goes through full verification again).
    expires_at: u64,
    /// The key set it was verified against; a different key set means a miss.
    generation: u64,
    /// The key id it was verified with (JWKS mode).
    kid: Option<Box<str>>,
    /// What the entry weighs, its token aside (computed once, when inserted).
    weight: u64,
}

/// What an entry is found by: its token's SHA-256.
type Digest = [u8; 32];

fn digest(token: &str) -> Digest {
    let mut out = [0; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref());
    out
}

/// An entry's weight: its key plus its own.
#[derive(Debug, Clone, Copy)]
struct Bytes;

impl Weighter<Digest, Arc<Entry>> for Bytes {
    fn weight(&self, _: &Digest, entry: &Arc<Entry>) -> u64 {
        size_of::<Digest>() as u64 + entry.weight
    }
}

/// The table's own hash of a digest, seeded at random per process; only tokens that
/// verified are ever stored.
type Entries = Cache<Digest, Arc<Entry>, Bytes, foldhash::fast::RandomState>;

/// The verified-token cache, bounded in bytes.
pub struct TokenCache {
    /// `None` when the capacity is 0 (the cache is off).
    entries: Option<Entries>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.len())
            .field("bytes", &self.weight())
            .finish()
    }
}

impl TokenCache {
    /// A cache holding at most `capacity_bytes` of entries (digests and identities); 0
    /// disables it.
    pub fn new(capacity_bytes: u64) -> Self {
        if capacity_bytes == 0 {
            return Self { entries: None };
        }
        // Shards of at least 256 KiB, so that even an identity from the largest token fits.
        let shards = (capacity_bytes / (256 * 1024))
            .clamp(1, 16)
            .next_power_of_two();
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity((capacity_bytes / TYPICAL_ENTRY_BYTES).max(16) as usize)
            .weight_capacity(capacity_bytes)
            .shards(shards as usize)
            .build();
        let entries = options.ok().map(|options| {
            Entries::with_options(options, Bytes, Default::default(), Default::default())
        });
        Self { entries }
    }

    /// The identity of `token`, if it was verified against key set `generation` and has
    /// not expired by `now`.
    pub fn get(&self, token: &str, now: u64, generation: u64) -> Option<Arc<Verified>> {
        let entries = self.entries.as_ref()?;
        let key = digest(token);
        let entry = entries.get(&key)?;
        if entry.expires_at <= now {
            entries.remove(&key);
            return None;
        }
        (entry.generation == generation).then(|| Arc::clone(&entry.identity))
    }

    /// Remembers a token that just verified with key `kid` (if named) against key set
    /// `generation`, until `expires_at`.
    pub fn insert(
        &self,
        token: &str,
        identity: Arc<Verified>,
        kid: Option<&str>,
        expires_at: u64,
        now: u64,
        generation: u64,
    ) {
        let Some(entries) = &self.entries else { return };
        if expires_at <= now {
            return;
        }
        let id = &identity.identity;
        let strings = id.user.len()
            + id.subject.len()
            + id.token_id.len()
            + id.roles.iter().map(|r| r.len() + 24).sum::<usize>()
            + identity
                .headers
                .iter()
                .map(|(_, v)| v.len() + 32)
                .sum::<usize>()
            + kid.map_or(0, str::len);
        let entry = Entry {
            identity,
            expires_at,
            generation,
            kid: kid.map(Box::from),
            weight: strings as u64 + ENTRY_OVERHEAD_BYTES,
        };
        entries.insert(digest(token), Arc::new(entry));
    }

    /// Drops the entry of `token`, if any.
    pub fn remove(&self, token: &str) {
        if let Some(entries) = &self.entries {
            entries.remove(&digest(token));
        }
    }

    /// Drops every entry for the token with id (`jti`) `token_id`; returns how many.
    pub fn remove_token_id(&self, token_id: &str) -> usize {
        self.remove_where(|entry| entry.identity.identity.token_id == token_id)
    }

    /// Drops every entry for subject (`sub`) `subject`; returns how many.
    pub fn remove_subject(&self, subject: &str) -> usize {
        self.remove_where(|entry| entry.identity.identity.subject == subject)
    }

    /// Drops every entry verified with key id `kid`; returns how many.
    pub fn remove_key_id(&self, kid: &str) -> usize {
        self.remove_where(|entry| entry.kid.as_deref() == Some(kid))
    }

    /// Drops every entry expired by `now`; returns how many.
    pub fn remove_expired(&self, now: u64) -> usize {
        self.remove_where(|entry| entry.expires_at <= now)
    }

    fn remove_where(&self, doomed: impl Fn(&Entry) -> bool) -> usize {
        let Some(entries) = &self.entries else {
            return 0;
        };
        let removed = AtomicUsize::new(0);
        entries.retain(|_, entry| {
            let keep = !doomed(entry);
            if !keep {
                removed.fetch_add(1, Ordering::Relaxed);
            }
            keep
        });
        removed.into_inner()
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, Entries::len)
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held now, as the entries are weighed.
    pub fn weight(&self) -> u64 {
        self.entries.as_ref().map_or(0, Entries::weight)
    }
}

#[cfg(test)]
mod tests;
