//! `sessions ...`: a user's logins, and revoking them with every access token issued in
//! them; and user-wide revocation of another issuer's tokens, which gateways apply too.

use std::io::Write;

use anyhow::Context;
use clap::Subcommand;

use crate::db::{Pool, now};
use crate::password::PasswordHasher;
use crate::refresh::RefreshStore;
use crate::revocation::{self, Kind, NewRevocation, Revoker};
use crate::users::UserStore;

/// `sessions ...`
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum SessionsCommand {
    /// List a user's live sessions: id, started, last refreshed (tab-separated).
    List {
        /// The username.
        name: String,
    },
    /// Revoke a user's sessions and the access tokens issued in them: all of them (every
    /// token the user holds), or the one named.
    Revoke {
        /// The username.
        name: String,
        /// Only this session (`sessions list`).
        #[arg(long, value_name = "ID")]
        session: Option<String>,
    },
    /// Revoke every token of one user of another issuer (an OpenID provider the gateways
    /// accept) issued up to now, by its subject. Its tokens can only be revoked this way:
    /// their sessions and ids are not known here.
    RevokeSubject {
        /// The provider's `iss`, exactly as in its tokens.
        #[arg(long)]
        issuer: String,
        /// The user's `sub` at that provider.
        subject: String,
        /// How long gateways keep refusing, in seconds: the provider's longest token life.
        #[arg(long = "for", value_name = "SECS", default_value_t = 86_400)]
        for_seconds: u64,
    },
}

/// Runs a `sessions` command.
pub async fn run(
    pool: Pool,
    command: SessionsCommand,
    revoker: &Revoker,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let users = UserStore::new(pool.clone(), PasswordHasher::for_command_line());
    let refresh = RefreshStore::new(pool.clone(), 0, 0, revoker.clone());
    let users = &users;
    let user = |name: String| async move {
        users
            .find(&name)
            .await?
            .with_context(|| format!("no user {name:?}"))
    };
    match command {
        SessionsCommand::List { name } => {
            let user = user(name).await?;
            for (id, started, last) in refresh.sessions(&user.id).await? {
                writeln!(out, "{id}\tstarted={started}\tlast_refreshed={last}")?;
            }
        }
        SessionsCommand::Revoke {
            name,
            session: Some(session),
        } => {
            let user = user(name).await?;
            if !refresh.revoke_session(&user.id, &session).await? {
                anyhow::bail!("no live session {session:?} of {}", user.username);
            }
            writeln!(out, "session {session} of {} revoked", user.username)?;
        }
        SessionsCommand::Revoke {
            name,
            session: None,
        } => {
            if !users.revoke_all(&name, revoker).await? {
                anyhow::bail!("no user {name:?}");
            }
            writeln!(out, "every session and token of {name} revoked")?;
        }
        SessionsCommand::RevokeSubject {
            issuer,
            subject,
            for_seconds,
        } => {
            if issuer == revoker.issuer() {
                anyhow::bail!(
                    "{issuer} is this service's issuer: use `sessions revoke <username>`"
                );
            }
            let now = now();
            let lifetime = i64::try_from(for_seconds).unwrap_or(i64::MAX / 4);
            let revocation = NewRevocation {
                kind: Kind::Subject,
                issuer,
                value: subject.clone(),
                subject: Some(subject.clone()),
                not_before: Some(now),
                expires_at: now
                    .saturating_add(lifetime)
                    .saturating_add(revocation::MARGIN_SECONDS),
            };
            revocation::append_alone(&pool, &revocation, now).await?;
            writeln!(
                out,
                "tokens of {subject} from {} issued up to now are revoked",
                revocation.issuer
            )?;
        }
    }
    Ok(())
}
