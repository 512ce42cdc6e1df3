//! Settings of the auth-service's defences: login limits, the hashing queue, refresh limits,
//! and where the limits' counts live.

use serde::Deserialize;

/// Longest duration any of these settings may name: ten years. Far past any sensible value,
/// and far from where adding it to a clock reading could overflow.
pub const MAX_SECONDS: u64 = 10 * 366 * 24 * 60 * 60;

/// Most hashing threads: each may hold 19 MiB.
pub const MAX_CONCURRENT_HASHES: usize = 256;

fn at_most_ten_years(key: &str, seconds: u64) -> anyhow::Result<()> {
    if seconds > MAX_SECONDS {
        anyhow::bail!("{key} must be at most {MAX_SECONDS} seconds (ten years)");
    }
    Ok(())
}

/// Brute-force protection of `/login` (the model is described in `crate::limiter`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSettings {
    /// Failures for one username from one client address within the window before that
    /// address is refused for that username (the tight limit).
    pub max_failures_per_username_and_address: u32,
    /// Failures for one username from all addresses together within the window before
    /// addresses that never logged in as that user are refused for it.
    pub max_failures_per_username_across_addresses: u32,
    /// Failures per client address, across usernames, within the window before 429.
    pub max_failures_per_address: u32,
    /// Window length in seconds.
    pub failure_window_seconds: u64,
    /// Seconds an address where a username logged in correctly stays exempt from that
    /// username's cross-address limit.
    pub known_address_seconds: u64,
    /// Networks (CIDR) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The key this model replaced; present only to refuse it at start-up with a message
    /// naming its successors.
    #[serde(default, rename = "max_failures_per_username")]
    pub replaced_max_failures_per_username: Option<u32>,
}

impl LoginSettings {
    /// Refuses the replaced key and limits that would refuse everyone.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.replaced_max_failures_per_username.is_some() {
            anyhow::bail!(
                "login.max_failures_per_username (AUTH__LOGIN__MAX_FAILURES_PER_USERNAME) was \
                 replaced: set login.max_failures_per_username_and_address \
                 (AUTH__LOGIN__MAX_FAILURES_PER_USERNAME_AND_ADDRESS) for one address's \
                 guesses at one username, and login.max_failures_per_username_across_addresses \
                 (AUTH__LOGIN__MAX_FAILURES_PER_USERNAME_ACROSS_ADDRESSES) for all addresses' \
                 together"
            );
        }
        if self.max_failures_per_username_and_address == 0
            || self.max_failures_per_username_across_addresses == 0
            || self.max_failures_per_address == 0
            || self.failure_window_seconds == 0
        {
            anyhow::bail!("login limits and login.failure_window_seconds must be positive");
        }
        at_most_ten_years("login.failure_window_seconds", self.failure_window_seconds)?;
        at_most_ten_years("login.known_address_seconds", self.known_address_seconds)
    }
}

/// The bounded queue in front of argon2: at most `concurrent_hashes` run, at most
/// `max_waiting` wait, and anyone past that is answered 503 at once.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashingSettings {
    /// Hashes run at the same time (each needs 19 MiB); 0: one per core.
    pub concurrent_hashes: usize,
    /// Requests waiting for a hash slot before further ones get 503.
    pub max_waiting: usize,
    /// `Retry-After` of that 503, in seconds.
    pub busy_retry_after_seconds: u64,
}

impl HashingSettings {
    /// The number of hashing threads: `concurrent_hashes`, or one per core for 0.
    pub fn threads(&self) -> usize {
        match self.concurrent_hashes {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }

    /// Refuses a `Retry-After` of zero, which invites an immediate retry storm.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.busy_retry_after_seconds == 0 {
            anyhow::bail!("hashing.busy_retry_after_seconds must be positive");
        }
        if self.concurrent_hashes > MAX_CONCURRENT_HASHES {
            anyhow::bail!("hashing.concurrent_hashes must be at most {MAX_CONCURRENT_HASHES}");
        }
        at_most_ten_years(
            "hashing.busy_retry_after_seconds",
            self.busy_retry_after_seconds,
        )
    }
}

/// Rate limits of `/refresh` and the purge of refresh tokens nobody can use any more.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshSettings {
    /// Rotations of one token family within the window before 429.
    pub max_per_family: u32,
    /// Rotations of all of one user's families within the window before 429.
    pub max_per_user: u32,
    /// Window length in seconds.
    pub window_seconds: u64,
    /// Seconds between purges of dead refresh tokens.
    pub purge_interval_seconds: u64,
    /// Rows deleted per statement of a purge.
    pub purge_batch_size: u32,
}

impl RefreshSettings {
    /// Refuses zero limits, windows, intervals and batches.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.max_per_family == 0
            || self.max_per_user == 0
            || self.window_seconds == 0
            || self.purge_interval_seconds == 0
            || self.purge_batch_size == 0
        {
            anyhow::bail!("every refresh.* setting must be positive");
        }
        at_most_ten_years("refresh.window_seconds", self.window_seconds)?;
        at_most_ten_years(
            "refresh.purge_interval_seconds",
            self.purge_interval_seconds,
        )
    }
}

/// Where the login and `/refresh` limits keep their counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitStore {
    /// The database on PostgreSQL (instances may share it), memory on SQLite (one file, one
    /// instance).
    Auto,
    /// This instance's memory: with N instances behind a load balancer, every limit is
    /// multiplied by up to N.
    Memory,
    /// The PostgreSQL database, shared by every instance on it.
    Database,
}

/// Where the limits keep their counts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSettings {
    /// `auto`, `memory` or `database`.
    pub store: LimitStore,
}

impl LimitsSettings {
    /// Whether the counts go to the database, for a database that is PostgreSQL or not.
    /// `database` on SQLite is refused: its one file serves one instance, whose memory is
    /// the faster place for them.
    pub fn in_database(&self, postgres: bool) -> anyhow::Result<bool> {
        match (self.store, postgres) {
            (LimitStore::Database, false) => anyhow::bail!(
                "limits.store = \"database\" needs a PostgreSQL database.url: on SQLite the \
                 counts stay in memory (limits.store = \"memory\" or \"auto\")"
            ),
            (LimitStore::Memory, _) => Ok(false),
            (LimitStore::Database | LimitStore::Auto, postgres) => Ok(postgres),
        }
    }
}
