//! The command line: serving (the default), the commands every service has, and the admin
//! commands `users ...`, `keys ...`, `tokens mint` and `hash-password`, working on the same database as the
//! running service, found from the same settings.
//! Passwords are read from standard input, never from arguments (which `ps` shows).

use std::io::{BufRead, Write};

use clap::{Parser, Subcommand};
use secrecy::SecretString;
use service_kit::cli::{CommonArgs, CommonCommand};

use crate::configuration::Settings;
use crate::db::{self, now};
use crate::keys;
use crate::password::PasswordHasher;
use crate::revocation::Revoker;
use crate::users::{CreateUserError, UserStore};

mod mint;
mod sessions;

pub use sessions::SessionsCommand;

/// Examples printed under the help text.
const EXAMPLES: &str = "\
Examples:
  echo -n 's3cret-password' | auth-service users add alice admin   (roles after the name)
  auth-service users list
  auth-service users set-roles alice reader   (revokes alice's tokens)
  echo -n 'n3w-password' | auth-service users set-password alice   (revokes them too)
  auth-service users remove alice
  auth-service sessions list alice
  auth-service sessions revoke alice          every session and access token of alice
  auth-service sessions revoke alice --session <id>
  auth-service sessions revoke-subject --issuer https://idp.example.com <sub>
  auth-service keys list
  auth-service keys rotate          new key, published now, signing later
  auth-service keys revoke <kid>    withdrawn at once; its tokens refused
  auth-service tokens mint --user alice --count 1000 > tokens.txt   (for load tests)
  echo -n 'ops-password' | auth-service hash-password   (for users.bootstrap)

Settings (database URL, ...) come from APP_ENVIRONMENT, --config or AUTH_CONFIG, and AUTH__*
variables, exactly as for serving; admin commands say which database they opened.";

/// Issues JWTs: owns users, password hashes and signing keys.
#[derive(Debug, Parser)]
#[command(version, after_help = EXAMPLES)]
pub struct Cli {
    /// Options every service takes.
    #[command(flatten)]
    pub common: CommonArgs,
    /// What to do; serving HTTP when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the binary is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// The commands every service has.
    #[command(flatten)]
    Common(CommonCommand),
    /// An admin command on the service's database.
    #[command(flatten)]
    Admin(Admin),
}

/// Admin commands: they work on the same database as the running service.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Admin {
    /// Users and their roles; passwords are read from standard input.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Sessions (logins) and the access tokens issued in them.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Access tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Print the argon2id hash of the password on standard input (for users.bootstrap).
    HashPassword,
}

/// `users ...`
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum UsersCommand {
    /// Create a user; its password is read from standard input.
    Add {
        /// The username.
        name: String,
        /// Its roles.
        roles: Vec<String>,
    },
    /// List users: name, id and roles, tab-separated (never a hash).
    List,
    /// Set a user's password, read from standard input; revokes their tokens.
    SetPassword {
        /// The username.
        name: String,
    },
    /// Replace a user's roles; revokes their tokens (which carry the old roles).
    SetRoles {
        /// The username.
        name: String,
        /// Its new roles (none: no roles).
        roles: Vec<String>,
    },
    /// Remove a user, with their refresh tokens; revokes their access tokens.
    Remove {
        /// The username.
        name: String,
    },
}

/// `keys ...`
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their state.
    List,
    /// Create a key: published now, signing once gateways have had time to fetch it.
    Rotate,
    /// Withdraw a key that leaked: unpublished at once, every token it signed refused by
    /// the gateways within seconds; if it was signing, a new key signs from now on.
    Revoke {
        /// The key id (`keys list`). Key ids are base64url and may begin with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

/// `tokens ...`
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum TokensCommand {
    /// Write valid access tokens for a user, one per line, signed with the active key (for
    /// load tests). Treat the output as credentials.
    Mint {
        /// The username.
        #[arg(long, value_name = "NAME")]
        user: String,
        /// How many tokens (each with its own id).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=mint::MAX_COUNT))]
        count: u64,
        /// Lifetime in seconds; default: the configured access-token lifetime. Tokens that
        /// outlive it may stop verifying after a key rotation.
        #[arg(long, value_name = "SECS")]
        ttl: Option<u64>,
    },
}

fn read_password() -> anyhow::Result<SecretString> {
    let stdin = std::io::stdin();
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        anyhow::bail!(
            "no password on standard input (pipe it in: `echo -n ... | auth-service ...`)"
        );
    }
    Ok(SecretString::from(password))
}

/// Runs an admin command, writing its report to `out`.
/// The database it opened is named on `err`.
pub async fn run(
    settings: Settings,
    command: Admin,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<()> {
    if command == Admin::HashPassword {
        let hash = PasswordHasher::for_command_line()
            .hash(read_password()?)
            .await?;
        writeln!(out, "{hash}")?;
        return Ok(());
    }
    writeln!(err, "database: {}", db::describe(&settings.database)?)?;
    let pool = db::connect_existing(&settings.database).await?;
    let revoker = Revoker::new(&settings.jwt.issuer, settings.jwt.access_token_ttl_seconds);
    match command {
        Admin::Users(UsersCommand::Add { name, roles }) => {
            let users = UserStore::new(pool, PasswordHasher::for_command_line());
            match users.create(&name, read_password()?, &roles).await {
                Ok(user) => writeln!(out, "created {} ({})", user.username, user.id)?,
                Err(CreateUserError::Taken) => anyhow::bail!("user {name:?} already exists"),
                Err(e) => anyhow::bail!("{e}"),
            }
        }
        Admin::Users(UsersCommand::List) => {
            let users = UserStore::new(pool, PasswordHasher::for_command_line());
            for user in users.list().await? {
                writeln!(
                    out,
                    "{}\t{}\t{}",
                    user.username,
                    user.id,
                    user.roles.join(",")
                )?;
            }
        }
        Admin::Users(UsersCommand::SetPassword { name }) => {
            let users = UserStore::new(pool, PasswordHasher::for_command_line());
            match users.set_password(&name, read_password()?, &revoker).await {
                Ok(true) => writeln!(out, "password of {name} set; their tokens are revoked")?,
                Ok(false) => anyhow::bail!("no user {name:?}"),
                Err(e) => anyhow::bail!("{e}"),
            }
        }
        Admin::Users(UsersCommand::SetRoles { name, roles }) => {
            let users = UserStore::new(pool, PasswordHasher::for_command_line());
            match users.set_roles(&name, &roles, &revoker).await {
                Ok(true) => writeln!(out, "roles of {name}: {}", roles.join(","))?,
                Ok(false) => anyhow::bail!("no user {name:?}"),
                Err(e) => anyhow::bail!("{e}"),
            }
        }
        Admin::Users(UsersCommand::Remove { name }) => {
            let users = UserStore::new(pool, PasswordHasher::for_command_line());
            if !users.remove(&name, &revoker).await? {
                anyhow::bail!("no user {name:?}");
            }
            writeln!(out, "removed {name}")?;
        }
        Admin::Keys(KeysCommand::List) => {
            let now = now();
            let all = keys::list(&pool).await?;
            let active = all
                .iter()
                .rev()
                .find(|k| k.activates_at <= now)
                .map(|k| k.kid.clone());
            for key in &all {
                let state = if Some(&key.kid) == active.as_ref() {
                    "signing"
                } else if key.activates_at > now {
                    "published, signs later"
                } else {
                    "retired"
                };
                writeln!(
                    out,
                    "{}\tactivates_at={}\t{state}",
                    key.kid, key.activates_at
                )?;
            }
        }
        Admin::Keys(KeysCommand::Revoke { kid }) => {
            let successor = keys::withdraw(&pool, &kid, &revoker).await?;
            writeln!(out, "key {kid} withdrawn; tokens it signed are revoked")?;
            if let Some(key) = successor {
                writeln!(out, "new key {} signs from now on", key.kid)?;
            }
        }
        Admin::Sessions(command) => sessions::run(pool, command, &revoker, out).await?,
        Admin::Keys(KeysCommand::Rotate) => {
            let key = keys::create(&pool, settings.keys.publish_ahead_seconds).await?;
            writeln!(
                out,
                "new key {} published now, signs from {} (in {} s)",
                key.kid, key.activates_at, settings.keys.publish_ahead_seconds
            )?;
        }
        Admin::Tokens(TokensCommand::Mint { user, count, ttl }) => {
            mint::mint(&settings, pool, &user, count, ttl, out).await?;
        }
        Admin::HashPassword => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::Parser;

    use super::*;

    #[test]
    fn a_key_id_beginning_with_a_hyphen_is_taken_as_the_key_id() {
        let cli = Cli::try_parse_from(["auth-service", "keys", "revoke", "-zq3Xw_k"]).unwrap();
        assert_eq!(
            cli.command,
            Some(Command::Admin(Admin::Keys(KeysCommand::Revoke {
                kid: "-zq3Xw_k".into()
            })))
        );
    }
}
