//! `tokens mint`: access tokens for an existing user, signed as the service signs them (the
//! active key, the configured issuer and audience), for load tests that need many distinct
//! valid tokens without a login each.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;

use crate::configuration::{MAX_ACCESS_TOKEN_TTL_SECONDS, Settings, SigningAlgorithm};
use crate::db::Pool;
use crate::keys::KeyRing;
use crate::password::PasswordHasher;
use crate::tokens::TokenIssuer;
use crate::users::UserStore;

/// Most tokens one command mints.
pub const MAX_COUNT: u64 = 1_000_000;

/// Writes `count` access tokens for `user`, one per line, to `out`. Each lives `ttl`
/// seconds (default: the configured access-token lifetime).
pub async fn mint(
    settings: &Settings,
    pool: Pool,
    user: &str,
    count: u64,
    ttl: Option<u64>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if count == 0 || count > MAX_COUNT {
        anyhow::bail!("--count must be between 1 and {MAX_COUNT}");
    }
    let mut jwt = settings.jwt.clone();
    if let Some(ttl) = ttl {
        if ttl == 0 || ttl > MAX_ACCESS_TOKEN_TTL_SECONDS {
            anyhow::bail!("--ttl must be between 1 and {MAX_ACCESS_TOKEN_TTL_SECONDS} seconds");
        }
        jwt.access_token_ttl_seconds = ttl;
    }
    let users = UserStore::new(pool.clone(), PasswordHasher::for_command_line());
    let user = users
        .find(user)
        .await?
        .with_context(|| format!("no user {user:?}"))?;
    let keys = match jwt.algorithm {
        SigningAlgorithm::EdDSA => Some(Arc::new(
            KeyRing::load(pool, settings.jwt.access_token_ttl_seconds).await?,
        )),
        SigningAlgorithm::HS256 => None,
    };
    let issuer = TokenIssuer::new(&jwt, keys)?;
    let mut out = std::io::BufWriter::new(out);
    for _ in 0..count {
        let issued = issuer.issue(&user, None)?;
        writeln!(out, "{}", issued.token)?;
    }
    out.flush()?;
    Ok(())
}
