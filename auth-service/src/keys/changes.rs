//! Changes to the key set beyond rotation: the first key, made once however many replicas
//! start together, and the emergency withdrawal of a key.

use anyhow::Context;
use sqlx::Row;

use super::{StoredKey, create_in, list};
use crate::db::{Pool, now};

/// The advisory lock under which a first key is made (PostgreSQL).
const FIRST_KEY_LOCK: i64 = 7517;

/// Creates a key that signs at once if no key exists yet; `None` when one did (another
/// instance made it first).
pub(super) async fn create_first(pool: &Pool) -> anyhow::Result<Option<StoredKey>> {
    let mut tx = pool.begin().await.context("signing keys")?;
    if tx.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FIRST_KEY_LOCK)
            .execute(&mut *tx)
            .await
            .context("taking the first key's lock")?;
    }
    // Counting withdrawn keys too: a database whose every key was withdrawn got a new one
    // with the withdrawal.
    let existing: i64 = sqlx::query("SELECT COUNT(*) AS n FROM signing_keys")
        .fetch_one(&mut *tx)
        .await
        .context("counting signing keys")?
        .try_get("n")?;
    if existing > 0 {
        return Ok(None);
    }
    let key = create_in(&mut tx, 0).await?;
    tx.commit()
        .await
        .context("committing the first signing key")?;
    Ok(Some(key))
}

/// Withdraws key `kid` at once, for a key that leaked: it is no longer published nor used
/// to sign, and a `key` revocation tells gateways to refuse every token it signed (and
/// every instance to reload its keys). If it was the signing key, a new key signs from now
/// on: the publish-ahead wait is skipped on purpose, and gateways learn the new key from
/// the revocation rather than from their next scheduled fetch. Returns that new key.
pub async fn withdraw(
    pool: &Pool,
    kid: &str,
    revoker: &crate::revocation::Revoker,
) -> anyhow::Result<Option<StoredKey>> {
    let now = now();
    let signing = list(pool)
        .await?
        .into_iter()
        .rev()
        .find(|k| k.activates_at <= now)
        .is_some_and(|k| k.kid == kid);
    let mut tx = pool.begin().await.context("signing keys")?;
    let withdrawn = sqlx::query(
        "UPDATE signing_keys SET withdrawn_at = $1 WHERE kid = $2 AND withdrawn_at IS NULL",
    )
    .bind(now)
    .bind(kid)
    .execute(&mut *tx)
    .await
    .context("withdrawing a signing key")?
    .rows_affected();
    if withdrawn == 0 {
        anyhow::bail!("no key {kid:?} (see `keys list`), or it was withdrawn already");
    }
    // Otherwise the key before it would sign again.
    let successor = if signing {
        Some(create_in(&mut tx, 0).await?)
    } else {
        None
    };
    crate::revocation::append(&mut tx, &revoker.key(kid, now), now).await?;
    tx.commit().await.context("committing a key withdrawal")?;
    Ok(successor)
}
