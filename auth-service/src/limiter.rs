//! Brute-force protection for `/login`, after OWASP's Authentication Cheat Sheet. Failed
//! attempts are counted three ways in fixed windows:
//!
//! - per (username, client address), with a tight limit: one address guessing one
//!   account is refused early, and nobody else is;
//! - per username across all addresses, with a larger limit: it bounds what a distributed
//!   guesser gets per account per window, but refuses only addresses that have not logged in
//!   as that user lately (the `known` module), so the owner is not locked out by it;
//! - per client address across usernames: one address spraying many accounts.
//!
//! Only failures count, so nobody is slowed by other people's mistakes, and a blocked key is
//! refused before any password is hashed. An attempt is counted when it starts, before its
//! password is hashed, as a reservation: a success or an attempt whose password was never
//! checked (hashing queue full) gives it back; a failure (or a client that went away) keeps
//! it. So N guesses sent at once are checked against the limits as if they came one after
//! another: at most the limit are hashed, the rest are refused at once.
//!
//! The counts live in this instance's memory ([`memory`]) or, for several instances on one
//! PostgreSQL database, in the database ([`shared`]), as `limits.store` says.

mod known;
pub mod memory;
pub mod shared;
mod window;

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context;
pub use memory::{MemoryAttempt, MemoryLimiter};
pub use window::{MAX_TRACKED_KEYS, WindowCounter};

use crate::configuration::LoginSettings;
use crate::db::Pool;
use shared::{Counter, scope};

/// The login limiter, wherever its counts live.
#[derive(Debug)]
pub enum LoginLimiter {
    /// In this instance's memory.
    Memory(Box<MemoryLimiter>),
    /// In the database, shared by every instance on it.
    Database(DatabaseLimiter),
}

/// The limits, with the counts in the database.
#[derive(Debug)]
pub struct DatabaseLimiter {
    pool: Pool,
    settings: LoginSettings,
}

impl LoginLimiter {
    /// Counts in memory.
    pub fn in_memory(settings: &LoginSettings) -> Self {
        Self::Memory(Box::new(MemoryLimiter::new(settings)))
    }

    /// Counts in the PostgreSQL database of `pool`.
    pub fn in_database(settings: &LoginSettings, pool: Pool) -> Self {
        Self::Database(DatabaseLimiter {
            pool,
            settings: settings.clone(),
        })
    }

    /// Counts an attempt against the pair, the username and the address, unless one of
    /// them refuses it: then how long the caller must wait (inner `Err`), and nothing is
    /// counted. The outer error is a database that failed.
    pub async fn reserve(
        &self,
        username: &str,
        address: IpAddr,
    ) -> anyhow::Result<Result<LoginAttempt<'_>, Duration>> {
        match self {
            Self::Memory(limiter) => {
                Ok(limiter.reserve(username, address).map(LoginAttempt::Memory))
            }
            Self::Database(limiter) => limiter.reserve(username, address).await,
        }
    }
}

impl DatabaseLimiter {
    async fn reserve(
        &self,
        username: &str,
        address: IpAddr,
    ) -> anyhow::Result<Result<LoginAttempt<'_>, Duration>> {
        let now = shared::now_ms();
        let address = address.to_string();
        let pair = pair_name(username, &address);
        let s = &self.settings;
        let mut tx = self.pool.begin().await?;
        // Always the username, then the address: see `shared`.
        shared::lock(&mut tx, shared::LOGIN_USERNAME_LOCK, username).await?;
        shared::lock(&mut tx, shared::LOGIN_ADDRESS_LOCK, &address).await?;
        let known = shared::is_known(&mut tx, username, &address, now).await?;
        let counters = [
            Counter {
                scope: scope::PAIR,
                name: &pair,
                limit: s.max_failures_per_username_and_address,
                refuses: true,
            },
            // The owner's known addresses are not refused by what other addresses did.
            Counter {
                scope: scope::USERNAME,
                name: username,
                limit: s.max_failures_per_username_across_addresses,
                refuses: !known,
            },
            Counter {
                scope: scope::ADDRESS,
                name: &address,
                limit: s.max_failures_per_address,
                refuses: true,
            },
        ];
        let window = Duration::from_secs(s.failure_window_seconds);
        if let Err(wait) = shared::reserve(&mut tx, &counters, window, now).await? {
            return Ok(Err(wait));
        }
        tx.commit().await.context("counting a login attempt")?;
        Ok(Ok(LoginAttempt::Database {
            limiter: self,
            username: username.to_owned(),
            address,
        }))
    }
}

/// The pair's name in the database: an address holds no space, so the first space tells the
/// two apart whatever the username holds.
fn pair_name(username: &str, address: &str) -> String {
    format!("{address} {username}")
}

/// An attempt counted against its pair, username and address. Dropping it (a wrong
/// password, a client that went away) keeps the counts.
#[derive(Debug)]
#[must_use = "dropping an attempt counts it as a failure"]
pub enum LoginAttempt<'a> {
    /// Counted in memory.
    Memory(MemoryAttempt<'a>),
    /// Counted in the database.
    Database {
        /// Where.
        limiter: &'a DatabaseLimiter,
        /// By whom.
        username: String,
        /// From where.
        address: String,
    },
}

impl LoginAttempt<'_> {
    /// A correct password: clears the pair's count, gives the username and the address
    /// their attempt back (not their counts: one success must not reset an attacker's
    /// budget), and remembers the address as known for the username. A database that
    /// fails here leaves the counts as they are: the login itself stands.
    pub async fn succeeded(self) {
        match self {
            Self::Memory(attempt) => attempt.succeeded(),
            Self::Database {
                limiter,
                username,
                address,
            } => limiter.give_back(&username, &address, true).await,
        }
    }

    /// The password was never checked (the hashing queue was full, the store failed):
    /// nothing was guessed, so every count is given back.
    pub async fn not_checked(self) {
        match self {
            Self::Memory(attempt) => attempt.not_checked(),
            Self::Database {
                limiter,
                username,
                address,
            } => limiter.give_back(&username, &address, false).await,
        }
    }
}

impl DatabaseLimiter {
    /// Gives the username and the address their attempt back, and the pair its attempt;
    /// after a correct password (`succeeded`) the pair's count is cleared instead and the
    /// address remembered as known. A failing database is logged, the counts left as
    /// they are.
    async fn give_back(&self, username: &str, address: &str, succeeded: bool) {
        let pool = &self.pool;
        let pair = pair_name(username, address);
        let done = async {
            if succeeded {
                shared::clear(pool, scope::PAIR, &pair).await?;
            } else {
                shared::release(pool, scope::PAIR, &pair).await?;
            }
            shared::release(pool, scope::USERNAME, username).await?;
            shared::release(pool, scope::ADDRESS, address).await?;
            if succeeded {
                let lifetime = Duration::from_secs(self.settings.known_address_seconds);
                shared::remember(pool, username, address, lifetime).await?;
            }
            anyhow::Ok(())
        };
        if let Err(e) = done.await {
            tracing::warn!(error = %e, succeeded, "a login attempt's counts were not given back");
        }
    }
}
