//! The user store: usernames, argon2id password hashes and roles, in the database.

use anyhow::Context;
use secrecy::SecretString;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{Pool, now};
use crate::password::PasswordHasher;

mod changes;

/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Shortest password a new user may choose, in characters (NIST SP 800-63B §5.1.1.2).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest role name, in characters.
pub const MAX_ROLE_CHARS: usize = 64;

/// A user as the store knows it (the password hash stays inside the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id (the token's `sub`).
    pub id: String,
    /// Username (the token's `user`).
    pub username: String,
    /// Roles (the token's `roles`).
    pub roles: Vec<String>,
    /// When the user was created, seconds since the epoch.
    pub created_at: i64,
    /// Their tokens issued at or before this time are revoked (a role or password change,
    /// an admin's `sessions revoke`); new ones are issued after it.
    pub revoked_before: Option<i64>,
}

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// The username is taken.
    #[error("username is taken")]
    Taken,
    /// The username, password or a role breaks the rules; the message says which.
    #[error("{0}")]
    Invalid(String),
    /// The database or the hasher failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// [`validate_username`]'s rule as a regular expression (ECMA-262 and Python alike), for
/// the OpenAPI document: no control character (Unicode `Cc`: U+0000-U+001F, U+007F-U+009F)
/// anywhere, and no whitespace (Unicode `White_Space`, what `str::trim` removes) at either
/// end. The length is stated apart, as `minLength`/`maxLength`.
pub const USERNAME_PATTERN: &str = concat!(
    r"^[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    r"(?:[^\x00-\x1f\x7f-\x9f]*",
    r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$",
);

/// Checks a new username: 1 to 64 characters, no control characters, no blank ends.
pub fn validate_username(username: &str) -> Result<(), String> {
    let chars = username.chars().count();
    if chars == 0 || chars > MAX_USERNAME_CHARS {
        return Err(format!(
            "Username must be 1 to {MAX_USERNAME_CHARS} characters long."
        ));
    }
    if username.chars().any(char::is_control) || username.trim() != username {
        return Err("Username must not contain control characters or blank ends.".to_owned());
    }
    Ok(())
}

/// Checks a new password's length.
pub fn validate_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "Password must be at least {MIN_PASSWORD_CHARS} characters long."
        ));
    }
    Ok(())
}

/// Checks role names: 1 to 64 of `[a-z0-9_.:-]`.
pub fn validate_roles(roles: &[String]) -> Result<(), String> {
    let ok = |r: &String| {
        !r.is_empty()
            && r.len() <= MAX_ROLE_CHARS
            && r.bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b':' | b'-'))
    };
    match roles.iter().find(|r| !ok(r)) {
        Some(bad) => Err(format!(
            "Role {bad:?} is not 1 to {MAX_ROLE_CHARS} characters of a-z, 0-9, '_', '.', ':', '-'."
        )),
        None => Ok(()),
    }
}

pub(crate) fn join_roles(roles: &[String]) -> String {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    roles.join(",")
}

fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    let roles: String = row.try_get("roles")?;
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        roles: roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: row.try_get("created_at")?,
        revoked_before: row.try_get("revoked_before")?,
    })
}

/// Verified against when a username is unknown, so that case costs the same argon2 run as
/// a wrong password. Its password is random and was thrown away; knowing it would not help
/// anyone, since an unknown username never authenticates whatever the outcome. A constant
/// rather than a hash made at start: start-up stays fast and touches none of argon2's
/// 19 MiB working memory.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$65JaoXRh8zQvKA9bLyj2Ig$pYq1RDlH+dRUPNVGfvfg7Lc2xRbJpp7AWmm444K+KX4";

/// Users in the database, with password checks that take as long for unknown usernames as
/// for known ones.
#[derive(Debug)]
pub struct UserStore {
    pool: Pool,
    hasher: PasswordHasher,
}

impl UserStore {
    /// A store over `pool`.
    pub fn new(pool: Pool, hasher: PasswordHasher) -> Self {
        Self { pool, hasher }
    }

    /// Creates a user from a clear-text password, after checking all three inputs.
    pub async fn create(
        &self,
        username: &str,
        password: SecretString,
        roles: &[String],
    ) -> Result<User, CreateUserError> {
        use secrecy::ExposeSecret;
        validate_username(username).map_err(CreateUserError::Invalid)?;
        validate_password(password.expose_secret()).map_err(CreateUserError::Invalid)?;
        validate_roles(roles).map_err(CreateUserError::Invalid)?;
        if self.find(username).await?.is_some() {
            // Saves an argon2 run; the unique index below still settles races.
            return Err(CreateUserError::Taken);
        }
        let hash = self.hasher.hash(password).await?;
        self.insert(username, &hash, roles).await
    }

    /// Creates a user from an existing argon2id PHC hash.
    pub async fn create_with_hash(
        &self,
        username: &str,
        password_hash: &str,
        roles: &[String],
    ) -> Result<User, CreateUserError> {
        validate_username(username).map_err(CreateUserError::Invalid)?;
        validate_roles(roles).map_err(CreateUserError::Invalid)?;
        if !password_hash.starts_with("$argon2id$")
            || argon2::PasswordHash::new(password_hash).is_err()
        {
            return Err(CreateUserError::Invalid(
                "password_hash is not an argon2id PHC string".into(),
            ));
        }
        self.insert(username, password_hash, roles).await
    }

    async fn insert(
        &self,
        username: &str,
        hash: &str,
        roles: &[String],
    ) -> Result<User, CreateUserError> {
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            username: username.to_owned(),
            roles: join_roles(roles)
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
            created_at: now(),
            revoked_before: None,
        };
        let result = sqlx::query(
            "INSERT INTO users (id, username, password_hash, roles, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(hash)
        .bind(join_roles(&user.roles))
        .bind(user.created_at)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(user),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(CreateUserError::Taken),
            Err(e) => Err(CreateUserError::Unexpected(
                anyhow::Error::new(e).context("inserting a user"),
            )),
        }
    }

    /// The user and their password hash.
    async fn find_with_hash(&self, username: &str) -> anyhow::Result<Option<(User, String)>> {
        let row = sqlx::query(
            "SELECT id, username, roles, created_at, revoked_before, password_hash FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .context("looking up a user")?;
        row.map(|row| Ok((user_from_row(&row)?, row.try_get("password_hash")?)))
            .transpose()
            .map_err(|e: sqlx::Error| anyhow::Error::new(e).context("reading a user"))
    }

    /// The user named `username`.
    pub async fn find(&self, username: &str) -> anyhow::Result<Option<User>> {
        Ok(self.find_with_hash(username).await?.map(|(user, _)| user))
    }

    /// The user with id `id`.
    pub async fn find_by_id(&self, id: &str) -> anyhow::Result<Option<User>> {
        let row = sqlx::query(
            "SELECT id, username, roles, created_at, revoked_before FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("looking up a user by id")?;
        Ok(row.map(|r| user_from_row(&r)).transpose()?)
    }

    /// Every user, by username.
    pub async fn list(&self) -> anyhow::Result<Vec<User>> {
        let rows = sqlx::query(
            "SELECT id, username, roles, created_at, revoked_before FROM users ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing users")?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    /// The user, if `username` exists and `password` is theirs. Unknown usernames cost one
    /// argon2 verification too.
    pub async fn authenticate(
        &self,
        username: &str,
        password: SecretString,
    ) -> anyhow::Result<Option<User>> {
        let found = self.find_with_hash(username).await?;
        let hash = found
            .as_ref()
            .map_or(DUMMY_HASH, |(_, hash)| hash)
            .to_owned();
        let matches = self.hasher.verify(password, hash).await?;
        Ok(found.filter(|_| matches).map(|(user, _)| user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        // Unknown usernames must take as long as known ones: same algorithm, same cost.
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        argon2::PasswordHash::new(DUMMY_HASH).unwrap();
    }
}
