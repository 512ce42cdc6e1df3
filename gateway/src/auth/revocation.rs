//! Revoked tokens: the list the gateway keeps from the auth-service's revocation stream
//! ([`follow`]), and the check every token passes.
//!
//! The list is kept per issuer: token ids (`jti`), sessions (`sid`), users (`sub`, with the
//! time before which their tokens are revoked) and key ids, each until the tokens it names
//! have expired. Checking is cheap where nothing changed: the list has an epoch, bumped by
//! every revocation applied, and a verified token remembers the epoch it was last checked
//! at, so a token served from the cache is checked again only after a revocation arrived.
//! The epoch is read before the check, so a revocation applied during a check is seen by
//! the next request at the latest.

mod collector;
mod follow;
mod list;

pub use collector::RevocationCollector;
pub use follow::spawn_follower;
pub use list::{Denials, Kind, Revocation};

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use super::{Rejection, Verified};
use crate::configuration::{RevocationSettings, WhenStale};

/// Revocations applied so far, and how current they are.
#[derive(Debug)]
pub struct Revocations {
    denials: std::sync::RwLock<Denials>,
    epoch: AtomicU64,
    /// Whether a stream is followed at all.
    followed: bool,
    /// Seconds of silence after which the list is stale.
    max_lag_seconds: u64,
    when_stale: WhenStale,
    /// The number of the last revocation applied (where a reconnection resumes).
    applied: AtomicI64,
    /// When the stream was last heard from, seconds since the epoch (0: never).
    heard_at: AtomicU64,
    /// Revocations applied, by kind (token, session, subject, key).
    counts: [AtomicU64; 4],
}

impl Revocations {
    /// An empty list, following the stream `settings` name (if any).
    pub fn new(settings: &RevocationSettings) -> Self {
        Self {
            denials: std::sync::RwLock::new(Denials::new(settings.capacity)),
            epoch: AtomicU64::new(0),
            followed: !settings.url.is_empty(),
            max_lag_seconds: settings.max_lag_seconds,
            when_stale: settings.when_stale,
            applied: AtomicI64::new(0),
            heard_at: AtomicU64::new(0),
            counts: Default::default(),
        }
    }

    /// A list that never holds anything (no stream is followed).
    pub fn disabled() -> Self {
        Self::new(&RevocationSettings {
            url: String::new(),
            max_lag_seconds: u64::MAX,
            when_stale: WhenStale::Open,
            capacity: 100,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Denials> {
        self.denials
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Denials> {
        self.denials
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The epoch to check tokens against: read before checking.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Whether `verified` may be used at `now`: not revoked, and the list not stale where
    /// that closes the door. Checked against the list only if a revocation was applied
    /// since it last was (`epoch`, read before).
    pub fn admit(&self, verified: &Verified, epoch: u64, now: u64) -> Result<(), Rejection> {
        if self.when_stale == WhenStale::Closed
            && self
                .lag_seconds(now)
                .is_some_and(|lag| lag > self.max_lag_seconds)
        {
            return Err(Rejection::RevocationsStale);
        }
        if verified.revocation_epoch.load(Ordering::Relaxed) == epoch {
            return Ok(());
        }
        if self.read().refuses(verified) {
            return Err(Rejection::Revoked);
        }
        verified.revocation_epoch.store(epoch, Ordering::Relaxed);
        Ok(())
    }

    /// Applies `event` (from the stream) at `now`; returns whether it was new.
    pub fn apply(&self, event: &Revocation, now: u64) -> bool {
        if event.seq <= self.applied() {
            return false;
        }
        let folded = self.write().insert(event, now);
        if folded {
            tracing::error!(
                issuer = %event.issuer,
                "revocation list full: entries folded into user-wide or issuer-wide ones \
                 (raise revocations.capacity)"
            );
        }
        self.epoch.fetch_add(1, Ordering::Release);
        self.applied.store(event.seq, Ordering::Release);
        self.counts[event.kind as usize].fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Forgets entries whose tokens have all expired by `now`.
    pub fn purge(&self, now: u64) {
        self.write().purge(now);
    }

    /// The stream said something at `now`.
    pub fn heard(&self, now: u64) {
        self.heard_at.store(now, Ordering::Release);
    }

    /// Starts again from the first revocation (the stream's numbering went backwards: its
    /// database was restored or replaced). What is held stays held.
    pub fn restart(&self) {
        self.applied.store(0, Ordering::Release);
    }

    /// The number of the last revocation applied.
    pub fn applied(&self) -> i64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Seconds since the stream was last heard from; `None` when no stream is followed.
    /// Before the first word it counts from the start of the epoch: stale.
    pub fn lag_seconds(&self, now: u64) -> Option<u64> {
        self.followed
            .then(|| now.saturating_sub(self.heard_at.load(Ordering::Acquire)))
    }

    /// Whether the gateway should take no traffic: the list is stale and the policy says
    /// closed.
    pub fn blocks_readiness(&self, now: u64) -> bool {
        self.when_stale == WhenStale::Closed
            && self
                .lag_seconds(now)
                .is_some_and(|lag| lag > self.max_lag_seconds)
    }

    /// Revocations applied of each kind.
    pub fn counts(&self) -> [(Kind, u64); 4] {
        Kind::ALL.map(|kind| (kind, self.counts[kind as usize].load(Ordering::Relaxed)))
    }

    /// Entries held, and how often the list had to fold entries for lack of room.
    pub fn occupancy(&self) -> (usize, u64) {
        let denials = self.read();
        (denials.len(), denials.folds())
    }
}

#[cfg(test)]
mod tests;
