//! Deleting refresh tokens nobody can use any more, in bounded batches (and, on the same
//! schedule, revocations whose tokens have all expired and the limits' ended windows), by one
//! instance at a time.
//!
//! A family is dead when none of its tokens is live (each is expired or revoked); then no
//! token of it can be exchanged, and presenting one is answered as for an unknown token,
//! which is what its row would have answered too. Families with a live token keep every row:
//! their used and voided tokens are what reuse detection recognises.

use std::time::Duration;

use anyhow::Context;
use sqlx::Row;

use super::RefreshStore;

/// Statements one purge runs at most, so a huge backlog is worked off over several runs.
pub const MAX_BATCHES_PER_PURGE: u32 = 1000;

/// The advisory lock a scheduled purge holds on PostgreSQL, so that of several instances on
/// one database one purges at a time (the others skip that round).
pub const PURGE_LOCK: i64 = 7518;

/// What one purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Rows deleted.
    pub deleted: u64,
    /// Statements run (each deletes at most the batch size).
    pub batches: u32,
}

impl RefreshStore {
    /// Deletes the rows of families that are dead at `now` (seconds since the epoch),
    /// `batch_size` rows per statement, until none is left or [`MAX_BATCHES_PER_PURGE`].
    pub async fn purge(&self, now: i64, batch_size: u32) -> anyhow::Result<PurgeReport> {
        let mut report = PurgeReport::default();
        while report.batches < MAX_BATCHES_PER_PURGE {
            let deleted = sqlx::query(
                "DELETE FROM refresh_tokens WHERE id IN ( \
                     SELECT id FROM refresh_tokens AS dead WHERE NOT EXISTS ( \
                         SELECT 1 FROM refresh_tokens AS live \
                         WHERE live.family_id = dead.family_id \
                         AND live.revoked_at IS NULL AND live.expires_at > $1) \
                     LIMIT $2)",
            )
            .bind(now)
            .bind(i64::from(batch_size))
            .execute(&self.pool)
            .await
            .context("purging refresh tokens")?
            .rows_affected();
            report.batches += 1;
            report.deleted += deleted;
            if deleted < u64::from(batch_size) {
                break;
            }
        }
        Ok(report)
    }

    /// [`Self::purge`] and the expired revocations' purge, unless another instance is
    /// purging the same PostgreSQL database right now (`None`: skipped, nothing done).
    pub async fn purge_alone(&self, now: i64, batch_size: u32) -> anyhow::Result<Option<u64>> {
        let mut holder = self.pool.acquire().await.context("refresh token store")?;
        let postgres = holder.backend_name() == "PostgreSQL";
        if postgres {
            let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1) AS got")
                .bind(PURGE_LOCK)
                .fetch_one(&mut *holder)
                .await
                .context("taking the purge lock")?
                .try_get("got")?;
            if !got {
                return Ok(None);
            }
        }
        let purged = async {
            let report = self.purge(now, batch_size).await?;
            if report.deleted > 0 {
                tracing::info!(deleted = report.deleted, "dead refresh tokens purged");
            }
            // Revocations whose tokens have all expired go at the same pace.
            let revocations = crate::revocation::purge(&self.pool, now, batch_size).await?;
            if revocations > 0 {
                tracing::info!(deleted = revocations, "expired revocations purged");
            }
            // And the limits' windows that ended (kept in the database by `limits.store`).
            let windows = crate::limiter::shared::purge(
                &self.pool,
                crate::limiter::shared::now_ms(),
                batch_size,
                MAX_BATCHES_PER_PURGE,
            )
            .await?;
            if windows > 0 {
                tracing::info!(deleted = windows, "ended limit windows purged");
            }
            anyhow::Ok(report.deleted + revocations + windows)
        }
        .await;
        if postgres {
            // Released with the connection too, should this fail.
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(PURGE_LOCK)
                .execute(&mut *holder)
                .await
                .context("releasing the purge lock")?;
        }
        purged.map(Some)
    }

    /// Purges every `interval`, the first time one interval after start, until the returned
    /// task is aborted.
    pub fn spawn_purger(&self, interval: Duration, batch_size: u32) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let first = tokio::time::Instant::now() + interval;
            let mut ticker = tokio::time::interval_at(first, interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                match store.purge_alone(crate::db::now(), batch_size).await {
                    Ok(Some(_)) => {}
                    Ok(None) => tracing::debug!("another instance is purging; skipped"),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "purging failed"),
                }
            }
        })
    }
}
