//! A user's sessions (refresh-token families), for the admin command line and for changes
//! that end all of them.

use anyhow::Context;
use sqlx::Row;

use super::{RefreshStore, revoke_family_of};
use crate::db::now;

impl RefreshStore {
    /// Revokes every live family of user `user_id` inside `tx` (a user-wide revocation
    /// covers their access tokens); returns how many refresh tokens were live.
    pub async fn revoke_user_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        user_id: &str,
        now: i64,
    ) -> anyhow::Result<u64> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&mut **tx)
        .await
        .context("revoking a user's refresh tokens")?;
        Ok(done.rows_affected())
    }

    /// Revokes one family of user `user_id` and its access tokens; false if it had no live
    /// token.
    pub async fn revoke_session(&self, user_id: &str, family: &str) -> anyhow::Result<bool> {
        let now = now();
        let mut tx = self.pool.begin().await.context("refresh token store")?;
        let live = revoke_family_of(&mut tx, &self.revoker, family, user_id, now).await?;
        tx.commit()
            .await
            .context("committing a session revocation")?;
        Ok(live > 0)
    }

    /// The families of user `user_id` with a live token: id, start, last use.
    pub async fn sessions(&self, user_id: &str) -> anyhow::Result<Vec<(String, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT family_id, MIN(created_at) AS started, MAX(created_at) AS last \
             FROM refresh_tokens WHERE user_id = $1 GROUP BY family_id \
             HAVING SUM(CASE WHEN revoked_at IS NULL AND expires_at > $2 THEN 1 ELSE 0 END) > 0 \
             ORDER BY started",
        )
        .bind(user_id)
        .bind(now())
        .fetch_all(&self.pool)
        .await
        .context("listing sessions")?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("family_id")?,
                    row.try_get("started")?,
                    row.try_get("last")?,
                ))
            })
            .collect()
    }

    /// The refresh token `presented`, if we issued it: its user, session, issue and expiry
    /// times, and whether it can still be exchanged (not revoked, not expired, not already
    /// exchanged).
    pub async fn describe(
        &self,
        presented: &str,
    ) -> anyhow::Result<Option<(String, String, i64, i64, bool)>> {
        let row = sqlx::query(
            "SELECT user_id, family_id, created_at, expires_at, revoked_at, replaced_by \
             FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(super::hash(presented))
        .fetch_optional(&self.pool)
        .await
        .context("looking up a refresh token")?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: i64 = row.try_get("expires_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        let replaced_by: Option<String> = row.try_get("replaced_by")?;
        let live = revoked_at.is_none() && replaced_by.is_none() && expires_at > now();
        Ok(Some((
            row.try_get("user_id")?,
            row.try_get("family_id")?,
            row.try_get("created_at")?,
            expires_at,
            live,
        )))
    }
}
