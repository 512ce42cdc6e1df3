//! Revocations: what makes access tokens, and signing keys, invalid before they expire.
//! Written in the same transaction as the change that causes them (a logout, a detected
//! refresh-token reuse, a user's removal, role or password change, an admin's `sessions
//! revoke` or `keys revoke`), kept in order, and served to gateways as a stream
//! ([`stream`]).
//!
//! # No gaps
//! A reader asks for the rows after the last sequence number it saw. That is only safe if
//! no row with a smaller number can commit later, which a database sequence does not promise
//! (two transactions take 7 and 8, and 8 commits first). So rows are appended by one writer
//! at a time: on PostgreSQL each appending transaction takes a transaction-scoped advisory
//! lock, held until it commits, before it reads `MAX(seq)`; SQLite has a single writer
//! anyway. Numbers are therefore handed out and committed in the same order, and a reader
//! that has seen N has seen every row before it. Revocations are rare; the lock costs
//! nothing a user would notice.

pub mod stream;

use anyhow::Context;
pub use shared::revocation::{Kind, Revocation};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Pool;

/// The advisory lock every appending transaction takes on PostgreSQL (an arbitrary
/// constant: "7009", the token revocation RFC).
const APPEND_LOCK: i64 = 7009;

/// Seconds a revocation is kept beyond the longest life of a token it names, covering the
/// verifiers' leeway and clock skew (as a retired key stays published).
pub const MARGIN_SECONDS: i64 = 300;

/// A revocation to write; its number and time are given when it is appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRevocation {
    /// What it names.
    pub kind: Kind,
    /// The `iss` of the tokens it applies to.
    pub issuer: String,
    /// The `jti`, `sid`, `sub` or `kid`.
    pub value: String,
    /// The user, where known.
    pub subject: Option<String>,
    /// `subject` revocations: tokens issued at or before this time are revoked.
    pub not_before: Option<i64>,
    /// When it may be forgotten.
    pub expires_at: i64,
}

/// Makes the revocations of our own tokens, each kept as long as a token it names can live.
#[derive(Debug, Clone)]
pub struct Revoker {
    issuer: String,
    /// Seconds a session's access token can live, margin included.
    token_lifetime: i64,
}

/// Seconds any of our tokens can live, margin included: `tokens mint --ttl` may exceed the
/// configured lifetime, and user-wide and key revocations cover minted tokens too.
const LONGEST_LIFETIME: i64 =
    crate::configuration::MAX_ACCESS_TOKEN_TTL_SECONDS as i64 + MARGIN_SECONDS;

impl Revoker {
    /// Revocations of tokens with `iss` `issuer` living at most `access_ttl_seconds`.
    pub fn new(issuer: &str, access_ttl_seconds: u64) -> Self {
        Self {
            issuer: issuer.to_owned(),
            token_lifetime: i64::try_from(access_ttl_seconds)
                .unwrap_or(i64::MAX / 4)
                .saturating_add(MARGIN_SECONDS),
        }
    }

    /// The `iss` of our tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn ours(&self, kind: Kind, value: &str, subject: Option<&str>, now: i64) -> NewRevocation {
        NewRevocation {
            kind,
            issuer: self.issuer.clone(),
            value: value.to_owned(),
            subject: subject.map(str::to_owned),
            not_before: None,
            expires_at: now.saturating_add(self.token_lifetime),
        }
    }

    /// Every access token of session `sid`, of user `subject`.
    pub fn session(&self, sid: &str, subject: &str, now: i64) -> NewRevocation {
        self.ours(Kind::Session, sid, Some(subject), now)
    }

    /// Every access token of user `subject` issued at or before `now`.
    pub fn subject(&self, subject: &str, now: i64) -> NewRevocation {
        NewRevocation {
            not_before: Some(now),
            expires_at: now.saturating_add(LONGEST_LIFETIME),
            ..self.ours(Kind::Subject, subject, Some(subject), now)
        }
    }

    /// Every token signed by key `kid`.
    pub fn key(&self, kid: &str, now: i64) -> NewRevocation {
        NewRevocation {
            expires_at: now.saturating_add(LONGEST_LIFETIME),
            ..self.ours(Kind::Key, kid, None, now)
        }
    }

    /// The access token with id `jti`, of user `subject`, valid until `exp`.
    pub fn token(&self, jti: &str, subject: &str, exp: i64) -> NewRevocation {
        NewRevocation {
            expires_at: exp.saturating_add(MARGIN_SECONDS),
            ..self.ours(Kind::Token, jti, Some(subject), 0)
        }
    }
}

/// Appends `revocation` inside `tx`, numbered after every committed one; returns its
/// number. It is visible to readers when `tx` commits, and no later number can be visible
/// before it (see the module's documentation).
pub async fn append(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    revocation: &NewRevocation,
    now: i64,
) -> anyhow::Result<i64> {
    if tx.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPEND_LOCK)
            .execute(&mut **tx)
            .await
            .context("taking the revocations' append lock")?;
    }
    let row = sqlx::query(
        "INSERT INTO revocations \
         (seq, kind, issuer, value, subject, not_before, expires_at, created_at) \
         SELECT COALESCE(MAX(seq), 0) + 1, $1, $2, $3, $4, $5, $6, $7 FROM revocations \
         RETURNING seq",
    )
    .bind(revocation.kind.as_str())
    .bind(&revocation.issuer)
    .bind(&revocation.value)
    .bind(revocation.subject.as_deref())
    .bind(revocation.not_before)
    .bind(revocation.expires_at)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .context("storing a revocation")?;
    Ok(row.try_get("seq")?)
}

/// Appends `revocation` in a transaction of its own.
pub async fn append_alone(
    pool: &Pool,
    revocation: &NewRevocation,
    now: i64,
) -> anyhow::Result<i64> {
    let mut tx = pool.begin().await.context("revocations")?;
    let seq = append(&mut tx, revocation, now).await?;
    tx.commit().await.context("committing a revocation")?;
    Ok(seq)
}

fn from_row(row: &AnyRow) -> anyhow::Result<Revocation> {
    let kind: String = row.try_get("kind")?;
    Ok(Revocation {
        seq: row.try_get("seq")?,
        kind: Kind::parse(&kind).with_context(|| format!("unknown revocation kind {kind:?}"))?,
        issuer: row.try_get("issuer")?,
        value: row.try_get("value")?,
        subject: row.try_get("subject")?,
        not_before: row.try_get("not_before")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Up to `limit` revocations numbered after `after`, in order, leaving out those expired by
/// `now` (nothing is left for them to refuse).
pub async fn after(
    pool: &Pool,
    after: i64,
    now: i64,
    limit: u32,
) -> anyhow::Result<Vec<Revocation>> {
    let rows = sqlx::query(
        "SELECT seq, kind, issuer, value, subject, not_before, expires_at, created_at \
         FROM revocations WHERE seq > $1 AND expires_at > $2 ORDER BY seq LIMIT $3",
    )
    .bind(after)
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .context("reading revocations")?;
    rows.iter().map(from_row).collect()
}

/// The number of the latest revocation (0 when there is none).
pub async fn latest(pool: &Pool) -> anyhow::Result<i64> {
    let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS latest FROM revocations")
        .fetch_one(pool)
        .await
        .context("reading the latest revocation")?;
    Ok(row.try_get("latest")?)
}

/// Deletes up to `limit` revocations expired by `now`; returns how many. The latest one is
/// always kept, even expired: numbering goes on from it, and a number a gateway has already
/// seen must never be handed out again.
pub async fn purge(pool: &Pool, now: i64, limit: u32) -> anyhow::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM revocations WHERE seq IN ( \
             SELECT seq FROM revocations WHERE expires_at <= $1 \
             AND seq < (SELECT MAX(seq) FROM revocations) LIMIT $2)",
    )
    .bind(now)
    .bind(i64::from(limit))
    .execute(pool)
    .await
    .context("purging revocations")?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_revocations_last_as_long_as_the_tokens_they_name() {
        let revoker = Revoker::new("iss", 3600);
        let session = revoker.session("s", "u", 1_000);
        assert_eq!(session.expires_at, 1_000 + 3600 + MARGIN_SECONDS);
        let subject = revoker.subject("u", 1_000);
        assert_eq!(
            (subject.not_before, subject.value.as_str()),
            (Some(1_000), "u")
        );
        assert_eq!(
            subject.expires_at,
            1_000 + LONGEST_LIFETIME,
            "minted tokens too"
        );
        let token = revoker.token("j", "u", 5_000);
        assert_eq!(token.expires_at, 5_000 + MARGIN_SECONDS);
    }
}
