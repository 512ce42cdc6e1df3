//! Refresh tokens: opaque, stored only as SHA-256 hashes, rotated on every use, with reuse
//! detection that revokes the whole family.
//!
//! Every rotation runs in one transaction whose first statement updates the presented
//! token's row. That row lock (PostgreSQL) or write lock (SQLite) serialises concurrent
//! rotations of one token, so a token never has two live successors.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::{Pool, now};
use crate::revocation::{self, Revoker};

mod error;
mod limits;
mod purge;
mod sessions;

pub use error::RefreshError;
pub use limits::RefreshLimiter;
pub use purge::{PURGE_LOCK, PurgeReport};

/// Random bytes in a refresh token: 256 bits, beyond guessing.
pub const TOKEN_BYTES: usize = 32;

/// A refresh token just handed out.
#[derive(Debug)]
pub struct IssuedRefresh {
    /// The opaque token; only its hash is stored.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The family it belongs to: the session, named in access tokens as `sid`.
    pub family: String,
}

fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Revokes every live token of `family` of user `user_id` and, if any was live, the
/// session's access tokens with them; returns how many refresh tokens were live.
pub(crate) async fn revoke_family_of(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    revoker: &Revoker,
    family: &str,
    user_id: &str,
    now: i64,
) -> anyhow::Result<u64> {
    let revoked = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 \
         WHERE family_id = $2 AND user_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(family)
    .bind(user_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if revoked > 0 {
        revocation::append(tx, &revoker.session(family, user_id, now), now).await?;
    }
    Ok(revoked)
}

/// Refresh tokens in the database.
#[derive(Debug, Clone)]
pub struct RefreshStore {
    pool: Pool,
    ttl_seconds: u64,
    grace_seconds: u64,
    limits: Option<std::sync::Arc<RefreshLimiter>>,
    revoker: Revoker,
}

impl RefreshStore {
    /// A store handing out tokens valid for `ttl_seconds`, with a retry grace window;
    /// revoking a family revokes its access tokens through `revoker`.
    pub fn new(pool: Pool, ttl_seconds: u64, grace_seconds: u64, revoker: Revoker) -> Self {
        Self {
            pool,
            ttl_seconds,
            grace_seconds,
            limits: None,
            revoker,
        }
    }

    /// The same store, refusing rotations past `limits`.
    pub fn limited_by(self, limits: RefreshLimiter) -> Self {
        Self {
            limits: Some(std::sync::Arc::new(limits)),
            ..self
        }
    }

    fn ttl(&self) -> i64 {
        i64::try_from(self.ttl_seconds).unwrap_or(i64::MAX / 2)
    }

    /// Starts a new family for `user_id` (a login).
    pub async fn start_family(&self, user_id: &str) -> anyhow::Result<IssuedRefresh> {
        let mut conn = self.pool.acquire().await.context("refresh token store")?;
        let family = uuid::Uuid::new_v4().to_string();
        self.insert(&mut conn, &family, user_id, None).await
    }

    async fn insert(
        &self,
        conn: &mut sqlx::AnyConnection,
        family: &str,
        user_id: &str,
        parent: Option<&str>,
    ) -> anyhow::Result<IssuedRefresh> {
        let token = new_token()?;
        let now = now();
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, parent_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(family)
        .bind(user_id)
        .bind(hash(&token))
        .bind(parent)
        .bind(now)
        .bind(now + self.ttl())
        .execute(&mut *conn)
        .await
        .context("storing a refresh token")?;
        if let Some(parent) = parent {
            sqlx::query("UPDATE refresh_tokens SET replaced_by = $1 WHERE id = $2")
                .bind(&id)
                .bind(parent)
                .execute(&mut *conn)
                .await
                .context("linking a refresh token to its successor")?;
        }
        Ok(IssuedRefresh {
            token,
            expires_in: self.ttl_seconds,
            family: family.to_owned(),
        })
    }

    /// Exchanges `presented` for its successor; returns the successor and the user id.
    pub async fn rotate(&self, presented: &str) -> Result<(IssuedRefresh, String), RefreshError> {
        let now = now();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE refresh_tokens SET use_count = use_count + 1, used_at = COALESCE(used_at, $1) \
             WHERE token_hash = $2 \
             RETURNING id, family_id, user_id, expires_at, used_at, revoked_at, replaced_by, use_count",
        )
        .bind(now)
        .bind(hash(presented))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(RefreshError::Invalid);
        };
        let id: String = row.try_get("id")?;
        let family: String = row.try_get("family_id")?;
        let user_id: String = row.try_get("user_id")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let used_at: Option<i64> = row.try_get("used_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        let replaced_by: Option<String> = row.try_get("replaced_by")?;
        let use_count: i64 = row.try_get("use_count")?;

        if expires_at <= now {
            tx.commit().await?;
            return Err(RefreshError::Invalid);
        }
        if revoked_at.is_some() {
            // Revoked with its family (logout, reuse): nothing left to protect. Revoked alone,
            // while its family lives on, it was a successor voided by a grace-window retry:
            // whoever presents it saw an answer the retrying client said it never got, so
            // one of the two holds a stolen token. Revoke the family, as for any reuse.
            let live = revoke_family_of(&mut tx, &self.revoker, &family, &user_id, now).await?;
            tx.commit().await?;
            if live == 0 {
                return Err(RefreshError::Invalid);
            }
            tracing::warn!(family = %family, "voided refresh token presented; family revoked");
            return Err(RefreshError::Reused);
        }
        // A first exchange, or a retry within the grace window, hands out a successor: that is
        // what the rate limits count. Reuse (below) is never refused by them.
        let grace = i64::try_from(self.grace_seconds).unwrap_or(0);
        let within_grace = used_at.is_some_and(|first| now - first <= grace);
        if (use_count == 1 || within_grace)
            && let Some(limits) = &self.limits
            && let Err(wait) = limits.admit(&mut tx, &family, &user_id).await?
        {
            // Dropping the transaction rolls the use back: nothing written, nothing synced.
            drop(tx);
            return Err(RefreshError::Limited(wait));
        }
        if use_count == 1 {
            let successor = self.insert(&mut tx, &family, &user_id, Some(&id)).await?;
            tx.commit().await?;
            return Ok((successor, user_id));
        }
        // Within the grace window: void the successor the client never saw (if nobody used
        // it) and hand out another.
        if within_grace {
            let voided = match &replaced_by {
                Some(previous) => {
                    sqlx::query(
                        "UPDATE refresh_tokens SET revoked_at = $1 \
                         WHERE id = $2 AND use_count = 0 AND revoked_at IS NULL",
                    )
                    .bind(now)
                    .bind(previous)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1
                }
                None => true,
            };
            if voided {
                let successor = self.insert(&mut tx, &family, &user_id, Some(&id)).await?;
                tx.commit().await?;
                return Ok((successor, user_id));
            }
        }
        // Reuse: someone holds a token that was already exchanged. Revoke the family.
        revoke_family_of(&mut tx, &self.revoker, &family, &user_id, now).await?;
        tx.commit().await?;
        tracing::warn!(family = %family, "refresh token reuse detected; family revoked");
        Err(RefreshError::Reused)
    }

    /// Revokes the family `presented` belongs to, and the access tokens of that session;
    /// false if the token is unknown or its family was already revoked.
    pub async fn revoke_family(&self, presented: &str) -> anyhow::Result<bool> {
        let now = now();
        let mut tx = self.pool.begin().await.context("refresh token store")?;
        let revoked = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 \
             WHERE revoked_at IS NULL AND family_id = \
             (SELECT family_id FROM refresh_tokens WHERE token_hash = $2) \
             RETURNING family_id, user_id",
        )
        .bind(now)
        .bind(hash(presented))
        .fetch_all(&mut *tx)
        .await
        .context("revoking a refresh token family")?;
        let Some(row) = revoked.first() else {
            return Ok(false);
        };
        let family: String = row.try_get("family_id")?;
        let user_id: String = row.try_get("user_id")?;
        revocation::append(&mut tx, &self.revoker.session(&family, &user_id, now), now).await?;
        tx.commit().await.context("committing a logout")?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
