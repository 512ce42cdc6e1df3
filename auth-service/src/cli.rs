//! The admin command line: `auth-service users ...`, `auth-service keys ...` and
//! `auth-service hash-password`, working on the same database as the running service.
//! Passwords are read from standard input, never from arguments (which `ps` shows).

use std::io::{BufRead, Write};

use secrecy::SecretString;

use crate::configuration::Settings;
use crate::db::{self, now};
use crate::keys;
use crate::password::PasswordHasher;
use crate::users::{CreateUserError, UserStore};

/// Usage text of the command line.
pub const USAGE: &str = "\
usage: auth-service                         serve HTTP (the default)
       auth-service users add <name> [role...]   password read from standard input
       auth-service users list
       auth-service users set-roles <name> [role...]
       auth-service users remove <name>
       auth-service keys list
       auth-service keys rotate                  new key, published now, signing later
       auth-service hash-password                 argon2id hash of standard input, for
                                                  users.bootstrap in the configuration
       auth-service healthcheck                   exit 0 if the service on this host is ready
Settings (database URL, ...) come from APP_ENVIRONMENT and AUTH__* variables, as for serving.";

/// What `main` should do.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Serve HTTP.
    Serve,
    /// Print the usage text.
    Help,
    /// Probe the running service's readiness (the container health check).
    HealthCheck,
    /// Run an admin command with these arguments.
    Admin(Vec<String>),
}

/// Reads the command from the process arguments (without the program name).
pub fn parse(args: Vec<String>) -> Command {
    match args.first().map(String::as_str) {
        None | Some("serve") => Command::Serve,
        Some("-h" | "--help" | "help") => Command::Help,
        Some("healthcheck") => Command::HealthCheck,
        Some(_) => Command::Admin(args),
    }
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
pub async fn run(settings: Settings, args: &[String], out: &mut impl Write) -> anyhow::Result<()> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    if words == ["hash-password"] {
        let hash = PasswordHasher::default().hash(read_password()?).await?;
        writeln!(out, "{hash}")?;
        return Ok(());
    }
    let pool = db::connect(&settings.database).await?;
    match words.as_slice() {
        ["users", "add", name, roles @ ..] => {
            let users = UserStore::new(pool, PasswordHasher::default());
            let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
            match users.create(name, read_password()?, &roles).await {
                Ok(user) => writeln!(out, "created {} ({})", user.username, user.id)?,
                Err(CreateUserError::Taken) => anyhow::bail!("user {name:?} already exists"),
                Err(e) => anyhow::bail!("{e}"),
            }
        }
        ["users", "list"] => {
            let users = UserStore::new(pool, PasswordHasher::default());
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
        ["users", "set-roles", name, roles @ ..] => {
            let users = UserStore::new(pool, PasswordHasher::default());
            let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
            match users.set_roles(name, &roles).await {
                Ok(true) => writeln!(out, "roles of {name}: {}", roles.join(","))?,
                Ok(false) => anyhow::bail!("no user {name:?}"),
                Err(e) => anyhow::bail!("{e}"),
            }
        }
        ["users", "remove", name] => {
            let users = UserStore::new(pool, PasswordHasher::default());
            if !users.remove(name).await? {
                anyhow::bail!("no user {name:?}");
            }
            writeln!(out, "removed {name}")?;
        }
        ["keys", "list"] => {
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
        ["keys", "rotate"] => {
            let key = keys::create(&pool, settings.keys.publish_ahead_seconds).await?;
            writeln!(
                out,
                "new key {} published now, signs from {} (in {} s)",
                key.kid, key.activates_at, settings.keys.publish_ahead_seconds
            )?;
        }
        _ => anyhow::bail!("unknown command `{}`\n{USAGE}", args.join(" ")),
    }
    Ok(())
}
