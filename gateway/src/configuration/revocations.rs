//! Following the auth-service's revocation stream.

use serde::Deserialize;

/// What the gateway does with tokens while its revocation list may be out of date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenStale {
    /// Keep accepting valid tokens (a revocation made meanwhile is applied once the stream
    /// is back); readiness stays as it is.
    Open,
    /// Answer every token 503 and fail readiness until the stream is back.
    Closed,
}

/// The revocation stream and the list the gateway keeps from it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationSettings {
    /// The auth-service's stream (`GET /revocations` on its admin listener); empty: no
    /// revocation, tokens are valid until they expire.
    pub url: String,
    /// Seconds without a word from the stream (it sends a heartbeat every second) after
    /// which the list counts as stale.
    pub max_lag_seconds: u64,
    /// What happens to tokens while the list is stale.
    pub when_stale: WhenStale,
    /// Entries the list holds at most (each about 150 bytes); past it a user's entries are
    /// folded into one user-wide entry, and if that frees nothing every token of the issuer
    /// issued so far is refused: a revocation is never forgotten.
    pub capacity: usize,
}

impl RevocationSettings {
    /// Refuses values that make no sense.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.url.is_empty()
            && !self.url.starts_with("http://")
            && !self.url.starts_with("https://")
        {
            anyhow::bail!("revocations.url must be an http:// or https:// URL, or empty");
        }
        if self.max_lag_seconds < 2 {
            anyhow::bail!(
                "revocations.max_lag_seconds must be at least 2 (heartbeats come every second)"
            );
        }
        if self.capacity < 100 {
            anyhow::bail!("revocations.capacity must be at least 100");
        }
        Ok(())
    }
}
