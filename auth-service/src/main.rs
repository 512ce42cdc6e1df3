use std::process::ExitCode;

use clap::Parser;

/// Returns the memory of finished work to the system more readily than glibc's allocator
/// (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use auth_service::cli::{self, Cli, Command};
use auth_service::configuration::Settings;
use auth_service::startup::Application;
use service_kit::cli::{CommonCommand, Next};

#[actix_web::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let loaded = Settings::load(cli.common.config.as_deref());
    let command = match cli.command.unwrap_or(Command::Common(CommonCommand::Serve)) {
        Command::Admin(admin) => {
            cli::run(
                loaded?,
                admin,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            )
            .await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Common(command) => command,
    };
    let settings = match service_kit::cli::common(command, loaded, |s| s.application.port)? {
        Next::Serve(settings) => settings,
        Next::Exit(code) => return Ok(code),
    };
    // Kept until the server has stopped, so the last lines are written out.
    let _logs = service_kit::telemetry::init_with(&settings.telemetry, "auth-service")?;
    let application = Application::build(settings).await?;
    tracing::info!(port = application.port(), "auth-service listening");
    application.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}
