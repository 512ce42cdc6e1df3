//! The login and `/refresh` counters in PostgreSQL, for several instances on one database
//! (`limits.store = "database"`): counted in each instance's memory, every limit would be
//! multiplied by the number of instances. The model is the in-memory one's (fixed windows,
//! reservations given back, the owner's known addresses); only where the counts live
//! differs.
//!
//! # One check at a time
//! A check and its count run in one transaction under transaction-scoped advisory locks:
//! the username's (which covers its pairs) and then the address's for a login, the user's
//! (which covers the user's families) for a rotation. Racing attempts on any instance are
//! therefore checked as if they came one after another, and as every transaction takes its
//! locks in the same order, none waits on another in a cycle. Giving a count back and
//! clearing one are single-row statements, atomic on their own.
//!
//! # Time
//! Windows end at a time of the instance's clock, in milliseconds. Instances on one
//! database keep their clocks in step (NTP); a skew of a second shifts a 15-minute window
//! by that second, and never lets a count through.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::{AnyConnection, Row};

use crate::db::Pool;

/// The first key of the advisory locks (the second is a hash of the name). Their high half
/// is not 0, so they never meet the single-key locks the service takes (7009, 7517, 7518).
pub const LOGIN_USERNAME_LOCK: i32 = 7601;
/// The address's lock of a login, taken after the username's.
pub const LOGIN_ADDRESS_LOCK: i32 = 7602;
/// The user's lock of a rotation.
pub const REFRESH_USER_LOCK: i32 = 7603;

/// The scopes counters are stored under.
pub mod scope {
    /// One username from one address.
    pub const PAIR: &str = "login-pair";
    /// One username from every address.
    pub const USERNAME: &str = "login-username";
    /// One address across usernames.
    pub const ADDRESS: &str = "login-address";
    /// Rotations of one refresh-token family.
    pub const FAMILY: &str = "refresh-family";
    /// Rotations of one user's families.
    pub const USER: &str = "refresh-user";
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// One counter a reservation checks and counts.
#[derive(Debug, Clone, Copy)]
pub struct Counter<'a> {
    /// One of [`scope`].
    pub scope: &'static str,
    /// The key within the scope.
    pub name: &'a str,
    /// Events in a window before it refuses.
    pub limit: u32,
    /// Whether it refuses at its limit; when not, it still counts (the username's
    /// cross-address counter, for an address known to be the owner's).
    pub refuses: bool,
}

/// Takes the transaction-scoped advisory lock `(class, hash of name)`, released at commit
/// or rollback.
pub async fn lock(conn: &mut AnyConnection, class: i32, name: &str) -> anyhow::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(class)
        .bind(name)
        .execute(conn)
        .await
        .context("taking a limiter lock")?;
    Ok(())
}

/// Within the caller's transaction, after its locks: if a refusing counter is at its limit,
/// the longest wait and nothing counted; otherwise one event counted on each counter, in a
/// window of `window` starting now where its last one ended.
pub async fn reserve(
    conn: &mut AnyConnection,
    counters: &[Counter<'_>],
    window: Duration,
    now: i64,
) -> anyhow::Result<Result<(), Duration>> {
    let mut wait: Option<i64> = None;
    for c in counters.iter().filter(|c| c.refuses) {
        let row = sqlx::query(
            "SELECT hits, ends_at FROM limit_windows \
             WHERE scope = $1 AND name = $2 AND ends_at > $3",
        )
        .bind(c.scope)
        .bind(c.name)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await
        .context("reading a limit window")?;
        if let Some(row) = row {
            let (hits, ends_at): (i64, i64) = (row.try_get("hits")?, row.try_get("ends_at")?);
            if hits >= i64::from(c.limit) {
                wait = wait.max(Some(ends_at - now));
            }
        }
    }
    if let Some(wait) = wait {
        return Ok(Err(Duration::from_millis(wait.unsigned_abs())));
    }
    let ends_at = now.saturating_add(millis(window));
    for c in counters {
        sqlx::query(
            "INSERT INTO limit_windows (scope, name, hits, ends_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (scope, name) DO UPDATE SET \
                 hits = CASE WHEN limit_windows.ends_at > $4 THEN limit_windows.hits + 1 ELSE 1 END, \
                 ends_at = CASE WHEN limit_windows.ends_at > $4 THEN limit_windows.ends_at \
                                ELSE excluded.ends_at END",
        )
        .bind(c.scope)
        .bind(c.name)
        .bind(ends_at)
        .bind(now)
        .execute(&mut *conn)
        .await
        .context("counting in a limit window")?;
    }
    Ok(Ok(()))
}

/// Gives back one event counted in the current window of `(scope, name)`.
pub async fn release(pool: &Pool, scope: &str, name: &str) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE limit_windows SET hits = hits - 1 \
         WHERE scope = $1 AND name = $2 AND hits > 0 AND ends_at > $3",
    )
    .bind(scope)
    .bind(name)
    .bind(now_ms())
    .execute(pool)
    .await
    .context("giving back a limit count")?;
    Ok(())
}

/// Forgets the window of `(scope, name)`.
pub async fn clear(pool: &Pool, scope: &str, name: &str) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM limit_windows WHERE scope = $1 AND name = $2")
        .bind(scope)
        .bind(name)
        .execute(pool)
        .await
        .context("clearing a limit window")?;
    Ok(())
}

/// Whether `address` logged in as `username` recently enough to be known.
pub async fn is_known(
    conn: &mut AnyConnection,
    username: &str,
    address: &str,
    now: i64,
) -> anyhow::Result<bool> {
    let row = sqlx::query(
        "SELECT 1 AS known FROM login_known_addresses \
         WHERE username = $1 AND address = $2 AND until > $3",
    )
    .bind(username)
    .bind(address)
    .bind(now)
    .fetch_optional(conn)
    .await
    .context("reading the known addresses")?;
    Ok(row.is_some())
}

/// Remembers a correct login of `username` from `address` for `lifetime`.
pub async fn remember(
    pool: &Pool,
    username: &str,
    address: &str,
    lifetime: Duration,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO login_known_addresses (username, address, until) VALUES ($1, $2, $3) \
         ON CONFLICT (username, address) DO UPDATE SET until = excluded.until",
    )
    .bind(username)
    .bind(address)
    .bind(now_ms().saturating_add(millis(lifetime)))
    .execute(pool)
    .await
    .context("remembering a known address")?;
    Ok(())
}

/// Deletes windows that ended and known addresses that expired before `now`, at most
/// `batch_size` rows per statement and `max_batches` statements per table; the rows
/// deleted.
pub async fn purge(
    pool: &Pool,
    now: i64,
    batch_size: u32,
    max_batches: u32,
) -> anyhow::Result<u64> {
    let statements = [
        "DELETE FROM limit_windows WHERE (scope, name) IN ( \
             SELECT scope, name FROM limit_windows WHERE ends_at <= $1 LIMIT $2)",
        "DELETE FROM login_known_addresses WHERE (username, address) IN ( \
             SELECT username, address FROM login_known_addresses WHERE until <= $1 LIMIT $2)",
    ];
    let mut deleted = 0;
    for statement in statements {
        for _ in 0..max_batches {
            let n = sqlx::query(statement)
                .bind(now)
                .bind(i64::from(batch_size))
                .execute(pool)
                .await
                .context("purging limit windows")?
                .rows_affected();
            deleted += n;
            if n < u64::from(batch_size) {
                break;
            }
        }
    }
    Ok(deleted)
}
