//! What every service's command line has, on clap, so that `--help`, `--version` and
//! argument errors come before any side effect: `serve` (the default), `healthcheck` (the
//! images' health check), `check-config`, and `--config PATH`.

use std::fmt::Debug;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options every service takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// A TOML settings file, layered over the built-in defaults and under the environment
    /// variables. Without it, the file named by GATEWAY_CONFIG, AUTH_CONFIG or
    /// RESOURCE_CONFIG (the service's own) is read, if that is set.
    #[arg(long, value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
}

/// Commands every service has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum CommonCommand {
    /// Serve HTTP (the default).
    Serve,
    /// Exit 0 when the service on this host answers ready (the container health check).
    Healthcheck,
    /// Print the effective settings, secrets redacted; exit 1 naming the key on an error.
    CheckConfig,
}

/// `check-config`: the settings on standard output, or what is wrong with them on standard
/// error and a failing exit code.
pub fn check_config<S: Debug>(loaded: anyhow::Result<S>) -> ExitCode {
    match loaded {
        Ok(settings) => {
            // Secrets are `SecretString`s, whose Debug form is `[REDACTED]`.
            println!("{settings:#?}");
            eprintln!("settings are valid");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("invalid settings: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// What `main` does after the command line and the settings are read.
#[derive(Debug)]
pub enum Next<S> {
    /// Serve with these settings.
    Serve(S),
    /// Exit with this code (`check-config`, `healthcheck`).
    Exit(ExitCode),
}

/// Runs the commands every service has; `port` says which port `healthcheck` probes.
pub fn common<S: Debug>(
    command: CommonCommand,
    loaded: anyhow::Result<S>,
    port: impl FnOnce(&S) -> u16,
) -> anyhow::Result<Next<S>> {
    Ok(match command {
        CommonCommand::CheckConfig => Next::Exit(check_config(loaded)),
        CommonCommand::Healthcheck => Next::Exit(crate::health::probe_exit_code(port(&loaded?))),
        CommonCommand::Serve => Next::Serve(loaded?),
    })
}
