//! The user store: usernames, password hashes, roles. In memory for now, filled at start.

use std::collections::HashMap;

use secrecy::SecretString;

use crate::configuration::DemoUser;
use crate::password::{PasswordHasher, hash_blocking};

/// A user whose password was just verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedUser {
    /// Username (the token's `user`).
    pub username: String,
    /// Stable id (the token's `sub`).
    pub subject: String,
    /// Roles (the token's `roles`).
    pub roles: Vec<String>,
}

#[derive(Debug)]
struct StoredUser {
    subject: String,
    password_hash: String,
    roles: Vec<String>,
}

/// Looks users up and checks their passwords in constant time with respect to whether the
/// username exists.
#[derive(Debug)]
pub struct UserStore {
    users: HashMap<String, StoredUser>,
    /// Verified against when the username is unknown, so unknown and known names cost the
    /// same argon2 run and cannot be told apart by timing.
    dummy_hash: String,
    hasher: PasswordHasher,
}

impl UserStore {
    /// A store holding the given demo users, their passwords hashed now.
    pub fn with_demo_users(demo: &[DemoUser]) -> anyhow::Result<Self> {
        let mut users = HashMap::with_capacity(demo.len());
        for user in demo {
            let stored = StoredUser {
                subject: user.username.clone(),
                password_hash: hash_blocking(&user.password)?,
                roles: Vec::new(),
            };
            users.insert(user.username.clone(), stored);
        }
        let dummy = uuid::Uuid::new_v4().to_string();
        Ok(Self {
            users,
            dummy_hash: hash_blocking(&SecretString::from(dummy))?,
            hasher: PasswordHasher::default(),
        })
    }

    /// The user, if `username` exists and `password` is theirs.
    pub async fn authenticate(
        &self,
        username: &str,
        password: SecretString,
    ) -> anyhow::Result<Option<AuthenticatedUser>> {
        let user = self.users.get(username);
        let hash = user.map_or(&self.dummy_hash, |u| &u.password_hash).clone();
        let matches = self.hasher.verify(password, hash).await?;
        Ok(user.filter(|_| matches).map(|u| AuthenticatedUser {
            username: username.to_owned(),
            subject: u.subject.clone(),
            roles: u.roles.clone(),
        }))
    }
}
