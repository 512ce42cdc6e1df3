//! Rate limits of `/refresh`: rotations per token family and per user in fixed windows.
//! Every rotation writes (and syncs) a row, so without them one stolen or scripted session
//! could grow the database and load its disk without bound.

use std::time::{Duration, Instant};

use crate::configuration::RefreshSettings;
use crate::limiter::WindowCounter;

/// Rotations counted per family and per user.
#[derive(Debug)]
pub struct RefreshLimiter {
    by_family: WindowCounter<String>,
    by_user: WindowCounter<String>,
}

impl RefreshLimiter {
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

    fn limiter(per_family: u32, per_user: u32) -> RefreshLimiter {
        RefreshLimiter::new(&RefreshSettings {
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
