//! Changes to a user that end their sessions: a role change (tokens carry roles), a
//! password change, removal, and an admin's `sessions revoke`. Each runs in one
//! transaction with the revocation it causes: the user's refresh tokens, and every access
//! token they hold (a `subject` revocation), so gateways refuse them within seconds.

use anyhow::Context;
use secrecy::SecretString;
use sqlx::Row;

use super::{CreateUserError, UserStore, join_roles, validate_password, validate_roles};
use crate::db::now;
use crate::refresh::RefreshStore;
use crate::revocation::{self, Revoker};

impl UserStore {
    /// Runs `change` (an `UPDATE` or `DELETE` of the user named `username` that returns
    /// their `id`), then revokes everything they hold; false if there is no such user.
    async fn change_and_revoke<'q>(
        &self,
        change: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        revoker: &Revoker,
        now: i64,
    ) -> anyhow::Result<bool> {
        // The change is the transaction's first statement: it takes the write lock at
        // once (SQLite), before anything is read.
        let mut tx = self.pool.begin().await.context("user store")?;
        let Some(row) = change
            .fetch_optional(&mut *tx)
            .await
            .context("changing a user")?
        else {
            return Ok(false);
        };
        let id: String = row.try_get("id")?;
        RefreshStore::revoke_user_in(&mut tx, &id, now).await?;
        revocation::append(&mut tx, &revoker.subject(&id, now), now).await?;
        tx.commit().await.context("committing a user change")?;
        Ok(true)
    }

    /// Replaces a user's roles and revokes their tokens (which carry the old ones); false
    /// if there is no such user.
    pub async fn set_roles(
        &self,
        username: &str,
        roles: &[String],
        revoker: &Revoker,
    ) -> Result<bool, CreateUserError> {
        validate_roles(roles).map_err(CreateUserError::Invalid)?;
        let now = now();
        let change = sqlx::query(
            "UPDATE users SET roles = $1, revoked_before = $2 WHERE username = $3 RETURNING id",
        )
        .bind(join_roles(roles))
        .bind(now)
        .bind(username);
        Ok(self.change_and_revoke(change, revoker, now).await?)
    }

    /// Sets a user's password and revokes their tokens; false if there is no such user.
    pub async fn set_password(
        &self,
        username: &str,
        password: SecretString,
        revoker: &Revoker,
    ) -> Result<bool, CreateUserError> {
        use secrecy::ExposeSecret;
        validate_password(password.expose_secret()).map_err(CreateUserError::Invalid)?;
        if self.find(username).await?.is_none() {
            // Saves an argon2 run.
            return Ok(false);
        }
        let hash = self.hasher.hash(password).await?;
        let now = now();
        let change = sqlx::query(
            "UPDATE users SET password_hash = $1, revoked_before = $2 WHERE username = $3 \
             RETURNING id",
        )
        .bind(hash)
        .bind(now)
        .bind(username);
        Ok(self.change_and_revoke(change, revoker, now).await?)
    }

    /// Revokes every session and access token of a user; false if there is no such user.
    pub async fn revoke_all(&self, username: &str, revoker: &Revoker) -> anyhow::Result<bool> {
        let now = now();
        let change =
            sqlx::query("UPDATE users SET revoked_before = $1 WHERE username = $2 RETURNING id")
                .bind(now)
                .bind(username);
        self.change_and_revoke(change, revoker, now).await
    }

    /// Deletes a user with their refresh tokens, and revokes their access tokens; false if
    /// there is no such user.
    pub async fn remove(&self, username: &str, revoker: &Revoker) -> anyhow::Result<bool> {
        let change =
            sqlx::query("DELETE FROM users WHERE username = $1 RETURNING id").bind(username);
        self.change_and_revoke(change, revoker, now()).await
    }
}
