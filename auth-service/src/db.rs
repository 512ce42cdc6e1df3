//! The database: one pool over SQLite or PostgreSQL (chosen by the URL), migrated at start.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

use crate::configuration::DatabaseSettings;

/// How long a statement waits for SQLite's write lock before giving up. Writers queue on
/// it; under a burst of registrations this is what keeps them from failing.
pub const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

/// Time to get a connection from the pool before a request fails.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection pool, shared by every store.
pub type Pool = AnyPool;

/// Seconds since the Unix epoch, as the database stores times.
pub fn now() -> i64 {
    i64::try_from(service_kit::clock::unix_seconds()).unwrap_or(i64::MAX)
}

/// Opens the pool and brings the schema up to date.
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<Pool> {
    sqlx::any::install_default_drivers();
    let url = settings.url.expose_secret();
    let is_sqlite = url.starts_with("sqlite:");
    if is_sqlite {
        create_sqlite_folder(url)?;
    }
    let options: AnyConnectOptions = url
        .parse::<AnyConnectOptions>()
        .context("database.url is not a valid database URL")?
        .disable_statement_logging();
    let pool = AnyPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if is_sqlite {
                    // WAL lets readers run beside the writer; FULL makes every commit
                    // survive a crash of the process or the machine.
                    conn.execute(
                        format!(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};"
                        )
                        .as_str(),
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .context("connecting to the database")?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .context("migrating the database")?;
    Ok(pool)
}

/// The file of a `sqlite:` URL (`None` for other URLs and in-memory databases), as given:
/// relative paths are relative to the working directory.
fn sqlite_path(url: &str) -> Option<&Path> {
    let path = url
        .strip_prefix("sqlite:")?
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or("");
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// Which database the settings name, for people: a SQLite file's absolute path, or a
/// server's address and database name (never a password).
pub fn describe(settings: &DatabaseSettings) -> anyhow::Result<String> {
    let url = settings.url.expose_secret();
    if let Some(path) = sqlite_path(url) {
        let absolute = std::path::absolute(path)
            .with_context(|| format!("resolving the database path {}", path.display()))?;
        return Ok(format!("SQLite file {}", absolute.display()));
    }
    if url.starts_with("sqlite:") {
        return Ok("SQLite in memory".to_owned());
    }
    // scheme://[user[:password]@]host[:port]/database[?options]
    let (scheme, rest) = url.split_once("://").unwrap_or(("database", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.split('?').next().unwrap_or(rest);
    Ok(format!("{scheme} at {rest}"))
}

/// Opens an existing database for the admin command line: a SQLite file that does not
/// exist is an error, not a new empty database (which is what a command run from another
/// folder than the service's would otherwise silently work on).
pub async fn connect_existing(settings: &DatabaseSettings) -> anyhow::Result<Pool> {
    if let Some(path) = sqlite_path(settings.url.expose_secret())
        && !path.exists()
    {
        anyhow::bail!(
            "no database at {}: the service creates it when it first starts; run this \
             command with the service's settings (working folder, --config, \
             AUTH__DATABASE__URL)",
            std::path::absolute(path)
                .unwrap_or_else(|_| path.to_path_buf())
                .display()
        );
    }
    connect(settings).await
}

/// SQLite creates the file but not its folder.
fn create_sqlite_folder(url: &str) -> anyhow::Result<()> {
    let Some(path) = sqlite_path(url) else {
        return Ok(());
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the database folder {}", parent.display()))?;
    }
    Ok(())
}
