//! Rate limits of `/refresh`: rotations per token family and per user in fixed windows.
//! Every rotation writes (and syncs) a row, so without them one stolen or scripted session
//! could grow the database and load its disk without bound. The counts live in this
//! instance's memory or in the database (`limits.store`, see `crate::limiter::shared`).

use std::time::{Duration, Instant};

use sqlx::AnyConnection;

use crate::configuration::RefreshSettings;
use crate::limiter::WindowCounter;
use crate::limiter::shared::{self, Counter, scope};

/// Rotations counted per family and per user.
#[derive(Debug)]
pub enum RefreshLimiter {
    /// In this instance's memory.
    Memory(MemoryRefreshLimiter),
    /// In the database, shared by every instance on it.
    Database(RefreshSettings),
}

impl RefreshLimiter {
    /// Counts in memory.
    pub fn in_memory(settings: &RefreshSettings) -> Self {
        Self::Memory(MemoryRefreshLimiter::new(settings))
    }

    /// Counts in the (PostgreSQL) database the rotation's transaction runs on.
    pub fn in_database(settings: &RefreshSettings) -> Self {
        Self::Database(settings.clone())
    }

    /// Counts a rotation of `family` for `user`, unless either is at its limit: then how
    /// long to wait (inner `Err`), and nothing is counted. In the database, the count is
    /// part of `tx`, the rotation's own transaction: it stands only if the rotation commits.
    pub async fn admit(
        &self,
        tx: &mut AnyConnection,
        family: &str,
        user: &str,
    ) -> anyhow::Result<Result<(), Duration>> {
        let settings = match self {
            Self::Memory(limiter) => return Ok(limiter.admit(family, user)),
            Self::Database(settings) => settings,
        };
        // The user's lock covers the user's families.
        shared::lock(tx, shared::REFRESH_USER_LOCK, user).await?;
        let counters = [
            Counter {
                scope: scope::FAMILY,
                name: family,
                limit: settings.max_per_family,
                refuses: true,
            },
            Counter {
                scope: scope::USER,
                name: user,
                limit: settings.max_per_user,
                refuses: true,
            },
        ];
        let window = Duration::from_secs(settings.window_seconds);
        shared::reserve(tx, &counters, window, shared::now_ms()).await
    }
}

/// Rotations counted per family and per user in this instance's memory.
#[derive(Debug)]
pub struct MemoryRefreshLimiter {
    by_family: WindowCounter<String>,
    by_user: WindowCounter<String>,
}

impl MemoryRefreshLimiter {
    /// A limiter with the configured limits.
    pub fn new(settings: &RefreshSettings) -> Self {
        let window = Duration::from_secs(settings.window_seconds);
        Self {
            by_family: WindowCounter::new(settings.max_per_family, window),
            by_user: WindowCounter::new(settings.max_per_user, window),
        }
    }

    /// Counts a rotation of `family` for `user`, unless either is at its limit: then how
    /// long to wait, and nothing is counted.
    pub fn admit(&self, family: &str, user: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let (family, user) = (family.to_owned(), user.to_owned());
        // Always family first, then user.
        let mut families = self.by_family.lock();
        let mut users = self.by_user.lock();
        let waits = [
            self.by_family.blocked(&families, &family, now),
            self.by_user.blocked(&users, &user, now),
        ];
        if let Some(wait) = waits.into_iter().flatten().max() {
            return Err(wait);
        }
        self.by_family.count(&mut families, family, now);
        self.by_user.count(&mut users, user, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn limiter(per_family: u32, per_user: u32) -> MemoryRefreshLimiter {
        MemoryRefreshLimiter::new(&RefreshSettings {
            max_per_family: per_family,
            max_per_user: per_user,
            window_seconds: 60,
            purge_interval_seconds: 60,
            purge_batch_size: 10,
        })
    }

    #[test]
    fn a_family_and_a_user_are_each_limited() {
        let l = limiter(2, 3);
        l.admit("f1", "u").unwrap();
        l.admit("f1", "u").unwrap();
        let wait = l.admit("f1", "u").unwrap_err();
        assert!(wait > Duration::from_secs(58), "{wait:?}");
        l.admit("f2", "u").unwrap();
        assert!(
            l.admit("f3", "u").is_err(),
            "the user's limit, across families"
        );
        l.admit("f3", "someone else").unwrap();
    }
}
