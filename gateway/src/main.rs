use std::process::ExitCode;

use clap::Parser;

/// Proxying allocates and frees many small buffers per request; mimalloc does that
/// markedly faster than the system allocator (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use gateway::configuration::Settings;
use gateway::startup::Application;
use service_kit::cli::{CommonArgs, CommonCommand, Next};

/// The single public entry point: verifies tokens and proxies to the services.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Option<CommonCommand>,
}

#[actix_web::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let loaded = Settings::load(cli.common.config.as_deref());
    let command = cli.command.unwrap_or(CommonCommand::Serve);
    let settings = match service_kit::cli::common(command, loaded, |s| s.application.port)? {
        Next::Serve(settings) => settings,
        Next::Exit(code) => return Ok(code),
    };
    // Kept until the server has stopped, so the last lines are written out.
    let _logs = service_kit::telemetry::init_with(&settings.telemetry, "gateway")?;
    let application = Application::build(settings)?;
    tracing::info!(port = application.port(), "gateway listening");
    application.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}
