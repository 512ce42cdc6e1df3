//! Token revocation (RFC 7009, `POST /revoke`) and introspection (RFC 7662,
//! `POST /introspect`) for resource servers that do not sit behind the gateway: form-encoded
//! requests from clients the operator configures, authenticated with HTTP Basic (RFC 6749
//! §2.3.1), served on the admin listener unless the operator puts them on the public one.
//! The gateway's route table does not reach them.

mod clients;
mod routes;

pub use clients::{Client, Clients};
pub use routes::configure;

use std::sync::Arc;

use anyhow::Context;
use serde::Deserialize;
use sqlx::Row;

use crate::db::{Pool, now};
use crate::refresh::RefreshStore;
use crate::revocation::Revoker;
use crate::tokens::TokenIssuer;

/// Where the two endpoints are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Listener {
    /// The admin listener (internal network): the default.
    Admin,
    /// The public listener, beside `/login` (the gateway still does not route them).
    Public,
}

/// `[introspection]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionSettings {
    /// Where the endpoints are served.
    pub listener: Listener,
    /// The clients allowed to call them.
    #[serde(default)]
    pub clients: Vec<ClientSettings>,
}

/// One client, as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// Its id (the Basic user name).
    pub id: String,
    /// A file holding its secret (the Basic password), at least 32 bytes; a final newline
    /// is not part of it.
    pub secret_file: std::path::PathBuf,
}

/// What both endpoints need.
#[derive(Debug)]
pub struct TokenEndpoints {
    pool: Pool,
    tokens: Arc<TokenIssuer>,
    refresh: RefreshStore,
    revoker: Revoker,
    clients: Clients,
}

/// The state of one presented token.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// One of our access tokens, signature and claims valid: its claims, and whether a
    /// revocation names it.
    Access {
        /// Its claims, as signed.
        claims: shared::Claims,
        /// Whether it is revoked.
        revoked: bool,
    },
    /// A refresh token we issued: its user, session, times, and whether it can still be
    /// exchanged.
    Refresh {
        /// The user id.
        user_id: String,
        /// The session (family).
        sid: String,
        /// Issued at.
        created_at: i64,
        /// Expires at.
        expires_at: i64,
        /// Not revoked, not expired, not yet exchanged.
        live: bool,
    },
    /// Nothing we issued, or no longer valid.
    Unknown,
}

impl TokenEndpoints {
    /// The endpoints' state; the clients' secrets are read from their files now.
    pub fn new(
        settings: &IntrospectionSettings,
        pool: Pool,
        tokens: Arc<TokenIssuer>,
        refresh: RefreshStore,
        revoker: Revoker,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            pool,
            tokens,
            refresh,
            revoker,
            clients: Clients::load(&settings.clients)?,
        })
    }

    /// What `token` is: an access token is recognised by its shape (three dot-separated
    /// parts), anything else is looked up as a refresh token.
    pub async fn find(&self, token: &str) -> anyhow::Result<Found> {
        if token.split('.').count() == 3 {
            let Some((claims, kid)) = self.tokens.verify(token) else {
                return Ok(Found::Unknown);
            };
            let revoked = self.is_revoked(&claims, kid.as_deref()).await?;
            return Ok(Found::Access { claims, revoked });
        }
        Ok(self.refresh.describe(token).await?.map_or(
            Found::Unknown,
            |(user_id, sid, created_at, expires_at, live)| Found::Refresh {
                user_id,
                sid,
                created_at,
                expires_at,
                live,
            },
        ))
    }

    /// Whether a stored revocation names the access token with `claims` signed by `kid`.
    async fn is_revoked(&self, claims: &shared::Claims, kid: Option<&str>) -> anyhow::Result<bool> {
        let iat = i64::try_from(claims.iat).unwrap_or(i64::MAX);
        let row = sqlx::query(
            "SELECT COUNT(*) AS hits FROM revocations WHERE issuer = $1 AND expires_at > $2 AND ( \
                 (kind = 'token' AND value = $3) OR (kind = 'session' AND value = $4) \
                 OR (kind = 'key' AND value = $5) \
                 OR (kind = 'subject' AND value = $6 AND not_before >= $7))",
        )
        .bind(&claims.iss)
        .bind(now())
        .bind(&claims.jti)
        .bind(claims.sid.as_deref().unwrap_or(""))
        .bind(kid.unwrap_or(""))
        .bind(&claims.sub)
        .bind(iat)
        .fetch_one(&self.pool)
        .await
        .context("looking up revocations")?;
        let hits: i64 = row.try_get("hits")?;
        Ok(hits > 0)
    }

    /// Revokes `token` (RFC 7009): a refresh token's whole session, or an access token by
    /// its id. Unknown tokens are not an error.
    pub async fn revoke(&self, token: &str) -> anyhow::Result<()> {
        match self.find(token).await? {
            Found::Access {
                claims,
                revoked: false,
            } => {
                let exp = i64::try_from(claims.exp).unwrap_or(i64::MAX / 2);
                let revocation = self.revoker.token(&claims.jti, &claims.sub, exp);
                crate::revocation::append_alone(&self.pool, &revocation, now()).await?;
                tracing::info!(sub = %claims.sub, "access token revoked by a client");
            }
            Found::Refresh { .. } => {
                // The whole session, whichever of its tokens was presented.
                self.refresh.revoke_family(token).await?;
                tracing::info!("refresh token session revoked by a client");
            }
            _ => {}
        }
        Ok(())
    }
}
