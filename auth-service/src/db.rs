//! The database: one pool over SQLite or PostgreSQL (chosen by the URL), migrated at start.

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

/// SQLite creates the file but not its folder.
fn create_sqlite_folder(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the database folder {}", parent.display()))?;
    }
    Ok(())
}
